"""`manage.py up`: run KubeOrch and all it needs, in the foreground.

On a bare machine it starts, as children of this process: an embedded Valkey
(unless REDIS_URL is set), kubesim in realistic mode (unless
KUBEORCH_KUBECONFIG names a real cluster), then daphne, a Celery worker and
Celery beat. Database set-up (migrate, static files, the admin user, its API
token, the simulated cluster) runs in a child too, so that it reads the same
REDIS_URL as the others: this process read its settings before Valkey existed.

A child that dies stops everything with exit code 1; SIGINT or SIGTERM stop
everything with exit code 0. Children die with this process even on SIGKILL
(see `kubeorch.embedded`).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from kubeorch import embedded

logger = logging.getLogger(__name__)

ADMIN_USERNAME = "admin"
PASSWORD_FILE = "admin-password"
TOKEN_FILE = "admin-api-token"
TOKEN_NAME = "manage.py up"
GIVEN_CLUSTER_NAME = "KUBEORCH_KUBECONFIG"
DEFAULT_PORT = 8000
DEFAULT_WORKER_CONCURRENCY = 4
SERVICE_START_TIMEOUT = 30.0
WEB_START_TIMEOUT = 90.0
# Long enough for a worker's warm shutdown to finish a short task; a run cut
# off here is redelivered by the broker (acks_late).
APP_STOP_TIMEOUT = 20.0
INFRA_STOP_TIMEOUT = 5.0
SUPERVISE_INTERVAL = 0.5


class StopRequested(Exception):
    """SIGINT or SIGTERM arrived: stop everything and exit 0."""


class ChildDied(Exception):
    """A child exited while it should be running."""

    def __init__(self, child: embedded.Child):
        code = child.process.returncode
        super().__init__(f"{child.name} (pid {child.pid}) exited with code {code}")
        self.child = child


@dataclass
class Options:
    """What `manage.py up` was asked to run, read from the environment."""

    base_dir: Path
    data_dir: Path
    port: int
    redis_url: str | None
    kubeconfig: Path | None
    worker_concurrency: int

    @classmethod
    def from_environment(cls, base_dir: Path, data_dir: Path) -> Options:
        """Read the launcher's variables; a malformed one fails loudly."""
        kubeconfig = os.environ.get("KUBEORCH_KUBECONFIG")
        return cls(
            base_dir=Path(base_dir),
            data_dir=Path(data_dir),
            port=_int_variable("KUBEORCH_PORT", DEFAULT_PORT),
            redis_url=os.environ.get("REDIS_URL") or None,
            kubeconfig=Path(kubeconfig).resolve() if kubeconfig else None,
            worker_concurrency=_int_variable(
                "KUBEORCH_WORKER_CONCURRENCY", DEFAULT_WORKER_CONCURRENCY
            ),
        )


def _int_variable(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"{name}={value!r} is not a whole number") from None


@dataclass
class Launcher:
    """Start the children in order, print how to log in, supervise them."""

    options: Options
    out: TextIO = sys.stdout
    infra: list[embedded.Child] = field(default_factory=list)
    apps: list[embedded.Child] = field(default_factory=list)
    redis_url: str = ""
    kubeconfig: Path | None = None
    kubesim_url: str | None = None
    _stopping: bool = False

    @property
    def web_url(self) -> str:
        return f"http://{embedded.LOOPBACK}:{self.options.port}/"

    @property
    def logs_dir(self) -> Path:
        return self.options.data_dir / "logs"

    def run(self) -> int:
        """Run until a signal (exit 0) or a child's death (exit 1)."""
        self._install_signal_handlers()
        try:
            self._check_inputs()
            self._start_services()
            credentials = self._prepare_database()
            self._start_apps()
            self._wait_for_web()
            self._print_banner(credentials)
            self._supervise()
        except StopRequested as stop:
            self._say(f"{stop}: stopping")
            return 0
        except ChildDied as death:
            self._say(f"{death} unexpectedly; stopping everything")
            return 1
        except (TimeoutError, RuntimeError) as error:
            self._say(f"start-up failed: {error}; stopping everything")
            return 1
        finally:
            self._stop_everything()
        return 0

    def _install_signal_handlers(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame) -> None:
        # Only the first signal interrupts; later ones must not break the
        # orderly stop that the first one started.
        if self._stopping:
            return
        self._stopping = True
        raise StopRequested(signal.Signals(signum).name)

    def _check_inputs(self) -> None:
        """Refuse to start anything that would fail a moment later."""
        if not embedded.port_is_free(self.options.port):
            raise RuntimeError(
                f"port {self.options.port} is taken; set KUBEORCH_PORT to another"
            )
        kubeconfig = self.options.kubeconfig
        if kubeconfig and not kubeconfig.is_file():
            raise RuntimeError(f"KUBEORCH_KUBECONFIG={kubeconfig} is no file")

    def _start_services(self) -> None:
        """Start Valkey and kubesim when no real ones were given."""
        self.options.data_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(exist_ok=True)
        self.redis_url = self.options.redis_url or self._start_valkey()
        if self.options.kubeconfig:
            self.kubeconfig = self.options.kubeconfig
        else:
            self.kubeconfig = self._start_kubesim()

    def _start_valkey(self) -> str:
        child, url = embedded.start_valkey(
            self.options.data_dir / "valkey",
            log_path=self.logs_dir / "valkey.log",
            echo=self.out,
            timeout=SERVICE_START_TIMEOUT,
        )
        self.infra.append(child)
        return url

    def _start_kubesim(self) -> Path:
        port = embedded.free_port()
        kubeconfig = self.options.data_dir / "kubesim" / "kubeconfig"
        kubeconfig.parent.mkdir(exist_ok=True)
        kubeconfig.unlink(missing_ok=True)
        argv = embedded.python_argv(
            "-m", "kubesim", "serve",
            "--host", embedded.LOOPBACK,
            "--port", str(port),
            "--mode", "realistic",
            "--kubeconfig", str(kubeconfig),
        )  # fmt: skip
        child = self._spawn(self.infra, "kubesim", argv)
        # It prints this line once it listens and its kubeconfig is written.
        _wait_for_log_line(child, "kubesim listening on", SERVICE_START_TIMEOUT)
        if not kubeconfig.exists():
            raise RuntimeError(f"kubesim is listening but wrote no {kubeconfig}")
        self.kubesim_url = f"http://{embedded.LOOPBACK}:{port}"
        return kubeconfig

    def _prepare_database(self) -> dict:
        """Run `up --prepare` in a child and return what it reports."""
        result_path = self.options.data_dir / "prepare-result.json"
        result_path.unlink(missing_ok=True)
        argv = embedded.python_argv(
            "manage.py", "up", "--prepare", str(result_path),
            "--kubeconfig", str(self.kubeconfig),
        )  # fmt: skip
        if not self.options.kubeconfig:
            argv.append("--simulated")
        setup = self._spawn(self.apps, "setup", argv)
        setup.process.wait()
        self.apps.remove(setup)
        if setup.process.returncode != 0:
            raise ChildDied(setup)
        result = json.loads(result_path.read_text())
        result_path.unlink()
        return result

    def _start_apps(self) -> None:
        """Start the web server, a Celery worker, Celery beat and the watcher."""
        self._spawn(self.apps, "web", self._web_argv())
        self._spawn(self.apps, "worker", self._worker_argv())
        self._spawn(self.apps, "beat", self._beat_argv())
        self._spawn(self.apps, "watcher", self._watcher_argv())

    def _web_argv(self) -> list[str]:
        return embedded.python_argv(
            "-m", "daphne",
            "-b", embedded.LOOPBACK,
            "-p", str(self.options.port),
            "kubeorch.asgi:application",
        )  # fmt: skip

    def _worker_argv(self) -> list[str]:
        # Prefork, not threads: only a pool process can be killed at a task's
        # hard time limit, and a lost pool process requeues its task
        # (task_reject_on_worker_lost).
        return embedded.python_argv(
            "-m", "celery", "-A", "kubeorch", "worker",
            "--pool=prefork",
            f"--concurrency={self.options.worker_concurrency}",
            "--loglevel=INFO",
        )  # fmt: skip

    def _beat_argv(self) -> list[str]:
        return embedded.python_argv(
            "-m", "celery", "-A", "kubeorch", "beat",
            "--scheduler=django_celery_beat.schedulers:DatabaseScheduler",
            "--loglevel=INFO",
        )  # fmt: skip

    def _watcher_argv(self) -> list[str]:
        # A fixed replica id lets a restarted watcher take its lease back
        # at once instead of waiting for it to expire.
        return embedded.python_argv(
            "manage.py", "watch", "--replica-id", "launcher",
        )  # fmt: skip

    def _spawn(
        self, group: list[embedded.Child], name: str, argv: list[str]
    ) -> embedded.Child:
        child = embedded.spawn(
            name,
            argv,
            env=self._child_environment(),
            cwd=self.options.base_dir,
            log_path=self.logs_dir / f"{name}.log",
            echo=self.out,
        )
        group.append(child)
        return child

    def _child_environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            REDIS_URL=self.redis_url,
            KUBEORCH_DATA_DIR=str(self.options.data_dir),
            DJANGO_SETTINGS_MODULE="kubeorch.settings",
            PYTHONUNBUFFERED="1",
        )
        return env

    def _wait_for_web(self) -> None:
        web = next(child for child in self.apps if child.name == "web")
        deadline = time.monotonic() + WEB_START_TIMEOUT
        while True:
            self._raise_if_any_died()
            try:
                embedded.wait_for_http(
                    self.web_url + "admin/login/", timeout=1, process=web.process
                )
                return
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise

    def _print_banner(self, credentials: dict) -> None:
        token = credentials["token"]
        data_dir = self.options.data_dir
        lines = [
            "",
            "=" * 72,
            "KubeOrch is running.",
            f"  URL:         {self.web_url}",
            f"  Login:       {ADMIN_USERNAME} / {credentials['password']}"
            f"   (kept in {data_dir / PASSWORD_FILE})",
            f"  API token:   {token}   (kept in {data_dir / TOKEN_FILE})",
            f"  Kubeconfig:  {self.kubeconfig}" + self._cluster_note(credentials),
            f"  Redis:       {self.redis_url}"
            + ("" if self.options.redis_url else " (embedded Valkey)"),
            f"  Logs:        {self.logs_dir}/",
            "  Try:",
            f'    curl -H "Authorization: Bearer {token}" '
            f"{self.web_url}v1/api/workflows",
            f"    kubectl --kubeconfig {self.kubeconfig} get nodes",
            "Press Ctrl-C to stop.",
            "=" * 72,
            "",
        ]
        self._say("\n".join(lines))

    def _cluster_note(self, credentials: dict) -> str:
        cluster = credentials["cluster"]
        where = f" at {self.kubesim_url}" if self.kubesim_url else ""
        return f"   (cluster {cluster!r}{where})"

    def _supervise(self) -> None:
        while True:
            self._raise_if_any_died()
            time.sleep(SUPERVISE_INTERVAL)

    def _raise_if_any_died(self) -> None:
        for child in self.infra + self.apps:
            if not child.is_running():
                raise ChildDied(child)

    def _stop_everything(self) -> None:
        """Stop the apps, then the services they use; leave no process behind."""
        self._stopping = True
        embedded.stop_all(reversed(self.apps), timeout=APP_STOP_TIMEOUT)
        embedded.stop_all(reversed(self.infra), timeout=INFRA_STOP_TIMEOUT)
        self._say("stopped")

    def _say(self, text: str) -> None:
        self.out.write(f"{'up':>8} | " + text.replace("\n", f"\n{'up':>8} | ") + "\n")
        self.out.flush()


def _wait_for_log_line(child: embedded.Child, needle: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if child.log_path.exists() and needle in child.log_path.read_text():
            return
        if not child.is_running():
            raise ChildDied(child)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{child.name} printed no {needle!r} in {timeout:.0f} s")
        time.sleep(0.05)


# Database preparation: runs inside the `up --prepare` child, with Django set
# up on the final environment.


def prepare(data_dir: Path, kubeconfig: Path, simulated: bool) -> dict:
    """Migrate, collect static files, ensure the admin, its token and cluster."""
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=1)
    if settings.STATIC_ROOT:
        call_command("collectstatic", interactive=False, verbosity=0)
    admin, password = ensure_admin(data_dir)
    token = ensure_api_token(admin, data_dir)
    cluster = register_cluster(admin, kubeconfig.read_text(), simulated)
    return {"password": password, "token": token, "cluster": cluster}


def ensure_admin(data_dir: Path) -> tuple[object, str]:
    """Return the admin superuser and its password, creating both once."""
    from django.contrib.auth import get_user_model

    password_file = Path(data_dir) / PASSWORD_FILE
    password = _read_secret(password_file)
    user_model = get_user_model()
    admin = user_model.objects.filter(username=ADMIN_USERNAME).first()
    if admin is None:
        password = password or secrets.token_urlsafe(12)
        admin = user_model.objects.create_superuser(
            ADMIN_USERNAME, email="", password=password
        )
        _write_secret(password_file, password)
        logger.info("created superuser %s", ADMIN_USERNAME)
    elif password is None:
        # Created by hand (or its file was removed): never reset it silently.
        password = f"(not known: the {ADMIN_USERNAME} user was made elsewhere)"
    return admin, password


def ensure_api_token(admin, data_dir: Path) -> str:
    """Return the admin's launcher token, issuing a new one if it is gone."""
    from kubeorch.management.commands.apitoken import issue_token
    from kubeorch.models import ApiToken

    token_file = Path(data_dir) / TOKEN_FILE
    token = _read_secret(token_file)
    known = ApiToken.objects.find(token) if token else None
    if known is not None and known.user_id == admin.pk:
        return token
    token = issue_token(admin.username, name=TOKEN_NAME)
    _write_secret(token_file, token)
    return token


def register_cluster(owner, kubeconfig_text: str, simulated: bool) -> str:
    """Register (or refresh) the cluster `up` runs against; return its name."""
    from clusters import actions
    from clusters.models import Cluster

    if simulated:
        return actions.register_simulated_cluster(owner, kubeconfig_text).name
    credentials = {"kubeconfig": kubeconfig_text}
    # Saved even when unreachable, so `up` starts and the admin shows why.
    cluster = Cluster.objects.filter(owner=owner, name=GIVEN_CLUSTER_NAME).first()
    if cluster is None:
        cluster = actions.register_cluster(
            owner,
            name=GIVEN_CLUSTER_NAME,
            auth_method=Cluster.AuthMethod.KUBECONFIG,
            credentials=credentials,
            description="The cluster of KUBEORCH_KUBECONFIG, registered by up.",
            test=False,
        )
    else:
        actions.update_cluster(cluster, credentials=credentials, test=False)
    return actions.check_cluster(cluster).name


def _read_secret(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def _write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(value + "\n")
    path.chmod(0o600)


def write_prepare_result(path: Path, result: dict) -> None:
    """Hand the prepare step's result (it holds secrets) to the launcher."""
    _write_secret(Path(path), json.dumps(result))
