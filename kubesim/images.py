"""How each image behaves in the simulated cluster, and what it logs.

The failure modes chosen by image are documented in FAILURE-MODES.md; this
module is their one implementation. Everything here is a pure function of
the image, the container spec and times, so the controllers stay
level-triggered and the logs are the same every time they are read.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from .controllers.quantities import parse_quantity

MI = 2**20
PRIVATE_REGISTRY = "private.registry.example"
MISSING_MARKERS = ("doesnotexist", "notfound")
OOM_EXIT_CODE = 137
# Memory a few well-known images need to start; anything else needs DEFAULT_NEED.
MEMORY_NEEDS = {
    "postgres": 32 * MI,
    "mysql": 128 * MI,
    "mariadb": 96 * MI,
    "mongo": 96 * MI,
    "redis": 4 * MI,
    "nginx": 4 * MI,
    "busybox": 1 * MI,
    "alpine": 1 * MI,
}
DEFAULT_NEED = 2 * MI
DEFAULT_CPU_UTILIZATION = 30
# TODO(log-window): past this many periodic lines the oldest are dropped, so a
# follow that counts lines (rather than timestamps) sees nothing new after.
MAX_PERIODIC_LINES = 1000

_REFERENCE = re.compile(
    r"^(?:(?P<host>[a-z0-9.-]+(?::\d+)?)/)?"
    r"(?P<path>[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference, normalised the way containerd shows it."""

    host: str
    path: str
    tag: str
    digest: str | None

    @property
    def name(self) -> str:
        """Return the last path segment ("nginx" for docker.io/library/nginx)."""
        return self.path.rsplit("/", 1)[-1]

    @property
    def repository(self) -> str:
        """Return host and path ("docker.io/library/nginx")."""
        return f"{self.host}/{self.path}"

    @property
    def full(self) -> str:
        """Return the normalised reference ("docker.io/library/nginx:latest")."""
        if self.digest:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag}"

    @property
    def image_id(self) -> str:
        """Return the repository digest the runtime reports as imageID."""
        digest = self.digest or "sha256:" + _sha(self.full)
        return f"{self.repository}@{digest}"


def parse_image(image: str) -> ImageRef | None:
    """Parse an image reference; None when it is not a valid one."""
    match = _REFERENCE.match(image or "")
    if not match:
        return None
    host, path = match["host"], match["path"]
    if host is None or ("." not in host and ":" not in host and host != "localhost"):
        # The first segment is a namespace on Docker Hub, not a registry host.
        path = f"{host}/{path}" if host else path
        host = "docker.io"
    if host == "docker.io" and "/" not in path:
        path = f"library/{path}"
    return ImageRef(host, path, match["tag"] or "latest", match["digest"])


@dataclass(frozen=True)
class PullFailure:
    """Why the kubelet cannot get an image: the waiting reason and the error."""

    reason: str  # ErrImagePull or InvalidImageName
    message: str


def pull_failure(image: str, has_pull_secret: bool) -> PullFailure | None:
    """Return why an image cannot be pulled, or None when it can."""
    ref = parse_image(image)
    if ref is None:
        return PullFailure(
            "InvalidImageName",
            f'Failed to apply default image tag "{image}": couldn\'t parse image name '
            f'"{image}": invalid reference format',
        )
    if any(marker in image.lower() for marker in MISSING_MARKERS):
        return PullFailure(
            "ErrImagePull",
            "rpc error: code = NotFound desc = failed to pull and unpack image "
            f'"{ref.full}":'
            f' failed to resolve reference "{ref.full}": {ref.full}: not found',
        )
    if ref.host == PRIVATE_REGISTRY and not has_pull_secret:
        return PullFailure(
            "ErrImagePull",
            "rpc error: code = Unknown desc = failed to pull and unpack image "
            f'"{ref.full}":'
            f' failed to resolve reference "{ref.full}": pull access denied, '
            "repository "
            "does not exist or may require authorization: authorization failed: no "
            "basic "
            "auth credentials",
        )
    return None


@dataclass(frozen=True)
class Outcome:
    """How one run of a container ends: after how long, with which code."""

    exit_after: float | None  # seconds after start; None runs until stopped
    exit_code: int = 0
    reason: str = "Completed"  # terminated reason: Completed, Error, OOMKilled


@dataclass(frozen=True)
class Timings:
    """How long simulated work takes; every value is 0 in instant mode."""

    run_to_completion: float  # a batch container's default run time
    crash_after: float  # how long a crashing container runs


def memory_need(image: str) -> int | None:
    """Return the bytes an image needs to run; None when it never has enough."""
    ref = parse_image(image)
    if ref is None:
        return DEFAULT_NEED
    if ref.path == "kubesim/oom":
        return None
    if ref.path == "kubesim/memhog":
        return _memhog_need(ref.tag)
    return MEMORY_NEEDS.get(ref.name, DEFAULT_NEED)


def _memhog_need(tag: str) -> int:
    try:
        return int(parse_quantity(tag))
    except ValueError:
        return 256 * MI


def run_outcome(container: dict, *, batch: bool, timings: Timings) -> Outcome:
    """Return how a container's run ends, from its image, limits and role."""
    image = container.get("image") or ""
    ref = parse_image(image)
    if _is_oom_killed(container):
        return Outcome(timings.crash_after, OOM_EXIT_CODE, "OOMKilled")
    path = ref.path if ref else ""
    if path == "kubesim/crashloop":
        return Outcome(timings.crash_after, 1, "Error")
    if path == "kubesim/fail":
        return Outcome(timings.run_to_completion, 1, "Error")
    if path == "kubesim/sleep":
        return Outcome(_seconds(ref.tag, 30.0), 0, "Completed")
    if batch:
        return Outcome(timings.run_to_completion, 0, "Completed")
    return Outcome(None)


def _is_oom_killed(container: dict) -> bool:
    need = memory_need(container.get("image") or "")
    limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    if need is None:
        return True
    if limit is None:
        return False
    try:
        return need > parse_quantity(limit)
    except ValueError:
        return False


def _seconds(tag: str, default: float) -> float:
    try:
        return max(0.0, float(tag))
    except ValueError:
        return default


def passes_readiness(container: dict) -> bool:
    """Return whether the container's readiness probe succeeds."""
    ref = parse_image(container.get("image") or "")
    has_probe = bool(container.get("readinessProbe"))
    return not (has_probe and ref is not None and ref.path == "kubesim/unready")


def cpu_utilization(image: str) -> int:
    """Return the simulated CPU use of an image, in percent of its request."""
    ref = parse_image(image)
    return (
        90
        if ref is not None and ref.path == "kubesim/cpuhog"
        else DEFAULT_CPU_UTILIZATION
    )


# ----- logs


@dataclass(frozen=True)
class Run:
    """One run of a container: when it started, and how it ended if it did."""

    started: datetime
    finished: datetime | None = None
    exit_code: int | None = None
    reason: str | None = None


@dataclass(frozen=True)
class LogProfile:
    """What an image prints: lines at start, now and then, and before exiting."""

    start: tuple[str, ...]
    every: float  # seconds between periodic lines
    periodic: str  # a format with {n}, {when} and {uptime}
    failure: tuple[str, ...] = ()


def log_lines(
    container: dict, pod: dict, run: Run, now: datetime
) -> list[tuple[datetime, str]]:
    """Return the timestamped lines one run of a container has printed by now."""
    profile = _profile(container, pod)
    end = min(run.finished, now) if run.finished else now
    lines = _timed(run.started, profile.start)
    if _allocates(container):
        lines += _memhog_lines(container, run, end)
    if run.reason == "OOMKilled":
        return lines  # killed mid-sentence: nothing more gets written
    if run.exit_code is not None and run.exit_code != 0:
        return lines + _timed(
            run.started + timedelta(milliseconds=500), profile.failure
        )
    if run.finished is not None and run.exit_code == 0:
        return lines + [(run.finished, _completion_line(container))]
    return lines + _periodic(profile, pod, run.started, end)


def _allocates(container: dict) -> bool:
    ref = parse_image(container.get("image") or "")
    return ref is not None and ref.path in ("kubesim/memhog", "kubesim/oom")


def _timed(start: datetime, texts: tuple[str, ...]) -> list[tuple[datetime, str]]:
    lines = []
    for i, text in enumerate(texts):
        when = start + timedelta(milliseconds=10 * i)
        lines.append((when, _stamped(text, when)))
    return lines


def _stamped(text: str, when: datetime) -> str:
    """Put the image's own time format where a line asks for it."""
    if "{nginx_time}" in text:
        text = text.replace("{nginx_time}", when.strftime("%Y/%m/%d %H:%M:%S"))
    if "{pg_time}" in text:
        text = text.replace(
            "{pg_time}", when.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"
        )
    return text


def _periodic(
    profile: LogProfile, pod: dict, started: datetime, end: datetime
) -> list[tuple[datetime, str]]:
    total = int((end - started).total_seconds() // profile.every)
    first = max(1, total - MAX_PERIODIC_LINES + 1)
    lines = []
    for n in range(first, total + 1):
        when = started + timedelta(seconds=n * profile.every)
        text = profile.periodic.format(
            n=n,
            when=when.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            uptime=f"{int(n * profile.every)}s",
            stamp=when.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC",
            client=_probe_source(pod),
        )
        lines.append((when, text))
    return lines


def _probe_source(pod: dict) -> str:
    host_ip = (pod.get("status") or {}).get("hostIP") or "10.244.0.1"
    return host_ip


def _memhog_lines(
    container: dict, run: Run, end: datetime
) -> list[tuple[datetime, str]]:
    """Return the allocation lines: up to the limit when killed, else up to the need."""
    limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    need = memory_need(container.get("image") or "")
    killed = run.reason == "OOMKilled"
    target = parse_quantity(limit) if killed and limit else (need or 64 * MI)
    steps = max(1, min(64, int(target // (16 * MI))))
    lines = [(run.started, "allocating memory in 16Mi chunks")]
    for i in range(1, steps + 1):
        lines.append(
            (run.started + timedelta(milliseconds=5 * i), f"allocated {16 * i}Mi")
        )
    if not killed:
        lines.append(
            (
                run.started + timedelta(milliseconds=5 * steps + 5),
                f"holding {int(target // MI)}Mi",
            )
        )
    return [(min(when, end), text) for when, text in lines]


def _completion_line(container: dict) -> str:
    ref = parse_image(container.get("image") or "")
    if ref is not None and ref.path == "kubesim/sleep":
        return "done"
    return "completed successfully"


def _profile(container: dict, pod: dict) -> LogProfile:
    ref = parse_image(container.get("image") or "")
    name = ref.name if ref else "app"
    path = ref.path if ref else ""
    if path.startswith("kubesim/"):
        return _kubesim_profile(path, ref.tag, container)
    if name == "nginx":
        return _nginx_profile(ref.tag)
    if name == "postgres":
        return _postgres_profile(ref.tag)
    if name == "redis":
        return _redis_profile(ref.tag)
    if name in ("mysql", "mariadb"):
        return _mysql_profile(ref.tag)
    if name in ("busybox", "alpine", "ubuntu", "debian"):
        return _shell_profile(container)
    return _generic_profile(container.get("name") or name)


def _nginx_profile(tag: str) -> LogProfile:
    version = tag if tag[:1].isdigit() else "1.27.3"
    return LogProfile(
        start=(
            "/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt "
            "to "
            "perform configuration",
            "/docker-entrypoint.sh: Looking for shell scripts in /docker-entrypoint.d/",
            "/docker-entrypoint.sh: Launching "
            "/docker-entrypoint.d/10-listen-on-ipv6-by-default.sh",
            "/docker-entrypoint.sh: Configuration complete; ready for start up",
            '{nginx_time} [notice] 1#1: using the "epoll" event method',
            f"{{nginx_time}} [notice] 1#1: nginx/{version}",
            "{nginx_time} [notice] 1#1: start worker processes",
        ),
        every=10.0,
        periodic=(
            '{client} - - [{when}] "GET / HTTP/1.1" 200 615 "-" "kube-probe/1.32" "-"'
        ),
    )


def _postgres_profile(tag: str) -> LogProfile:
    version = tag.split("-")[0] if tag[:1].isdigit() else "16.4"
    return LogProfile(
        start=(
            "PostgreSQL init process complete; ready for start up.",
            f"{{pg_time}} [1] LOG:  starting PostgreSQL {version} on "
            "x86_64-pc-linux-gnu, compiled by gcc",
            '{pg_time} [1] LOG:  listening on IPv4 address "0.0.0.0", port 5432',
            "{pg_time} [1] LOG:  listening on Unix socket "
            '"/var/run/postgresql/.s.PGSQL.5432"',
            "{pg_time} [1] LOG:  database system was shut down at startup",
            "{pg_time} [1] LOG:  database system is ready to accept connections",
        ),
        every=300.0,
        periodic="{stamp} [27] LOG:  checkpoint starting: time",
    )


def _redis_profile(tag: str) -> LogProfile:
    version = tag if tag[:1].isdigit() else "7.4.1"
    return LogProfile(
        start=(
            "1:C # oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo",
            f"1:C # Redis version={version}, bits=64, commit=00000000, modified=0, "
            "pid=1",
            "1:M * Running mode=standalone, port=6379.",
            "1:M * Server initialized",
            "1:M * Ready to accept connections tcp",
        ),
        every=3600.0,
        periodic="1:M * 1 changes in 3600 seconds. Saving...",
    )


def _mysql_profile(tag: str) -> LogProfile:
    return LogProfile(
        start=(
            "[Entrypoint]: Entrypoint script for MySQL Server started.",
            "[System] [MY-010116] [Server] /usr/sbin/mysqld starting as process 1",
            "[System] [MY-010931] [Server] /usr/sbin/mysqld: ready for connections. "
            "port: 3306",
        ),
        every=3600.0,
        periodic="[System] [MY-013172] [Server] still running, uptime {uptime}",
    )


def _shell_profile(container: dict) -> LogProfile:
    script = " ".join(str(part) for part in (container.get("command") or []))
    script += " " + " ".join(str(part) for part in (container.get("args") or []))
    echoed = tuple(m.strip("'\" ") for m in re.findall(r"echo\s+([^;&|]+)", script))
    return LogProfile(start=echoed, every=3600.0, periodic="")


def _generic_profile(name: str) -> LogProfile:
    return LogProfile(
        start=(
            f'level=info msg="starting {name}"',
            'level=info msg="configuration loaded"',
            'level=info msg="listening on :8080"',
        ),
        every=30.0,
        periodic='level=info msg="heartbeat" uptime={uptime}',
    )


def _kubesim_profile(path: str, tag: str, container: dict) -> LogProfile:
    name = container.get("name") or "app"
    if path == "kubesim/crashloop":
        return LogProfile(
            start=(
                f'level=info msg="starting {name}"',
                'level=info msg="loading configuration from /etc/app/config.yaml"',
                'level=info msg="connecting to database at db:5432"',
            ),
            every=3600.0,
            periodic="",
            failure=(
                'level=error msg="cannot reach database" error="dial tcp '
                '10.96.0.20:5432: connect: connection refused"',
                "panic: dial tcp 10.96.0.20:5432: connect: connection refused",
                "",
                "goroutine 1 [running]:",
                "main.main()",
                "\t/app/main.go:42 +0x1d4",
            ),
        )
    if path == "kubesim/fail":
        return LogProfile(
            start=("running step 1/3: fetch input", "running step 2/3: transform"),
            every=3600.0,
            periodic="",
            failure=("error: step 2/3 failed: input file /data/input.csv not found",),
        )
    if path == "kubesim/sleep":
        return LogProfile(
            start=(f"sleeping for {tag} seconds",), every=3600.0, periodic=""
        )
    if path in ("kubesim/memhog", "kubesim/oom"):
        return LogProfile(
            start=(), every=60.0, periodic="still holding memory, uptime={uptime}"
        )
    return _generic_profile(name)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def container_id(pod_uid: str, container: str, restart_count: int) -> str:
    """Return a stable containerd id for one run of a container."""
    return "containerd://" + _sha(f"{pod_uid}/{container}/{restart_count}")
