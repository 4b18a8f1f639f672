"""Pod logs of a workflow node: its pods, one log or several merged, followed.

Pods are found by the ownership labels of their node, and a pod named by a
client is only read after checking, on the cluster, that it lives in the
node's namespace and carries the labels of this workflow and node: a name
alone never reaches a pod.

Every line is read with `timestamps=true`. A `LogCursor` keeps, per pod and
container, the last timestamp seen and how many lines carried it; after a
cut (the container restarted, the server ended the stream, a browser came
back) reading resumes with `sinceTime` at that second and drops what was
already seen, so no line is lost or shown twice.

No Django here: callers pass an authenticated `kubernetes.client.ApiClient`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

import urllib3

from runs.engine import NODE_LABEL, WORKFLOW_LABEL

logger = logging.getLogger(__name__)

MASK = "********"
# Shortest secret value masked in logs; shorter ones would mask ordinary words.
MIN_MASKED_LENGTH = 4
DEFAULT_TAIL = 200
MAX_TAIL = 10_000
RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 5.0
STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$")


class PodNotFound(Exception):
    """The pod does not exist, or does not belong to this workflow node."""


class LogsUnavailable(Exception):
    """The cluster refused the log request or did not answer; says why."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# --- Pods of a node -------------------------------------------------------------


@dataclass(frozen=True)
class PodInfo:
    """What a pod picker shows about one pod."""

    name: str
    phase: str
    ready: bool
    restarts: int
    containers: tuple[str, ...]
    init_containers: tuple[str, ...]
    created: str
    node_name: str
    has_previous: tuple[str, ...] = ()

    @classmethod
    def of(cls, pod: dict) -> PodInfo:
        """Summarise a pod object."""
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        statuses = status.get("containerStatuses") or []
        conditions = {
            c.get("type"): c.get("status") for c in status.get("conditions") or []
        }
        return cls(
            name=pod["metadata"]["name"],
            phase=status.get("phase") or "Pending",
            ready=conditions.get("Ready") == "True",
            restarts=sum(s.get("restartCount", 0) for s in statuses),
            containers=tuple(c["name"] for c in spec.get("containers") or []),
            init_containers=tuple(c["name"] for c in spec.get("initContainers") or []),
            created=pod["metadata"].get("creationTimestamp") or "",
            node_name=spec.get("nodeName") or "",
            has_previous=tuple(
                s["name"]
                for s in statuses
                if (s.get("lastState") or {}).get("terminated")
            ),
        )

    def as_dict(self) -> dict:
        """Return the pod as JSON."""
        return {
            "name": self.name,
            "phase": self.phase,
            "ready": self.ready,
            "restarts": self.restarts,
            "containers": list(self.containers),
            "init_containers": list(self.init_containers),
            "created": self.created,
            "node_name": self.node_name,
            "has_previous": list(self.has_previous),
        }


def node_selector(workflow_id: str, node_id: str) -> str:
    """Return the label selector of a node's pods."""
    return f"{WORKFLOW_LABEL}={workflow_id},{NODE_LABEL}={node_id}"


def list_node_pods(
    api_client, namespace: str, workflow_id: str, node_id: str
) -> list[PodInfo]:
    """Return the pods of a workflow node, oldest first."""
    answer = _get_json(
        api_client,
        f"/api/v1/namespaces/{quote(namespace, safe='')}/pods",
        {"labelSelector": node_selector(workflow_id, node_id)},
    )
    pods = [PodInfo.of(item) for item in answer.get("items") or []]
    return sorted(pods, key=lambda p: (p.created, p.name))


def find_pod(
    api_client, namespace: str, workflow_id: str, node_id: str, name: str
) -> dict:
    """Return a pod of the node by name, after checking it really is one.

    The pod is read from the node's namespace (never one the client names)
    and must carry this workflow's and node's labels; anything else is
    PodNotFound, as if it did not exist.
    """
    path = _pod_path(namespace, name)
    try:
        pod = _get_json(api_client, path)
    except LogsUnavailable as error:
        if error.code == 404:
            raise PodNotFound(name) from None
        raise
    labels = pod.get("metadata", {}).get("labels") or {}
    belongs = (
        labels.get(WORKFLOW_LABEL) == str(workflow_id)
        and labels.get(NODE_LABEL) == node_id
        and pod.get("metadata", {}).get("namespace") == namespace
    )
    if not belongs:
        logger.warning(
            "pod %s/%s is not part of node %s of workflow %s",
            namespace,
            name,
            node_id,
            workflow_id,
        )
        raise PodNotFound(name)
    return pod


def default_container(pod: dict, wanted: str | None = None) -> str:
    """Return the container to read: the one asked for if the pod has it."""
    spec = pod.get("spec") or {}
    names = [c["name"] for c in spec.get("containers") or []]
    names += [c["name"] for c in spec.get("initContainers") or []]
    if wanted:
        if wanted not in names:
            raise PodNotFound(f"{pod['metadata']['name']} has no container {wanted}")
        return wanted
    annotated = (pod["metadata"].get("annotations") or {}).get(
        "kubectl.kubernetes.io/default-container"
    )
    return annotated if annotated in names else names[0]


# --- Lines, timestamps and cursors ---------------------------------------------


def parse_stamp(stamp: str) -> tuple[int, int]:
    """Return (epoch seconds, nanoseconds) of an RFC 3339(Nano) UTC stamp."""
    match = STAMP.match(stamp)
    if not match:
        raise ValueError(f"not an RFC 3339 UTC timestamp: {stamp!r}")
    moment = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return int(moment.timestamp()), int((match.group(2) or "0").ljust(9, "0"))


@dataclass(frozen=True)
class LogLine:
    """One line of one container's log, with the server's timestamp."""

    pod: str
    container: str
    stamp: str
    text: str

    @property
    def key(self) -> tuple[int, int]:
        """Return the line's time, for ordering (unstamped lines sort first)."""
        try:
            return parse_stamp(self.stamp)
        except ValueError:
            return (0, 0)

    def render(self, *, prefix: bool = False, timestamps: bool = False) -> str:
        """Return the line as kubectl prints it, without the newline."""
        parts = []
        if prefix:
            parts.append(f"[pod/{self.pod}/{self.container}]")
        if timestamps and self.stamp:
            parts.append(self.stamp)
        parts.append(self.text)
        return " ".join(parts)

    def as_dict(self) -> dict:
        """Return the line as JSON."""
        return {
            "pod": self.pod,
            "container": self.container,
            "ts": self.stamp,
            "text": self.text,
        }


def split_stamped(pod: str, container: str, raw: str) -> LogLine:
    """Split a line read with timestamps=true into its stamp and text."""
    stamp, _, text = raw.partition(" ")
    if not STAMP.match(stamp):
        return LogLine(pod, container, "", raw)
    return LogLine(pod, container, stamp, text)


@dataclass
class LogCursor:
    """How far a reader got in one container's log.

    `stamp` is the last timestamp seen and `seen_at_stamp` how many lines
    carried it. Resuming asks for `sinceTime` at that second, so the lines
    already seen come again: those before `stamp` are dropped by time, and
    the first `replay_skip` lines at `stamp` by count.
    """

    stamp: str = ""
    seen_at_stamp: int = 0
    replay_skip: int = field(default=0, repr=False)

    def since_time(self) -> str | None:
        """Return the sinceTime to resume from: the last stamp's second."""
        if not self.stamp:
            return None
        return self.stamp[:19] + "Z"

    def admit(self, line: LogLine) -> bool:
        """Return True for a line not seen yet, and remember it."""
        if not line.stamp:
            return True
        key = line.key
        last = parse_stamp(self.stamp) if self.stamp else None
        if last is not None and key < last:
            return False
        if last is not None and key == last:
            if self.replay_skip > 0:
                self.replay_skip -= 1
                return False
            self.seen_at_stamp += 1
            return True
        self.stamp, self.seen_at_stamp, self.replay_skip = line.stamp, 1, 0
        return True

    def rewind(self) -> None:
        """Prepare to read again from since_time(): repeats will be dropped."""
        self.replay_skip = self.seen_at_stamp

    def as_dict(self) -> dict:
        """Return the cursor as JSON (what a browser sends back to resume)."""
        return {"ts": self.stamp, "seen": self.seen_at_stamp}

    @classmethod
    def from_dict(cls, data: dict | None) -> LogCursor:
        """Rebuild a cursor a browser sent back; nonsense gives a fresh one."""
        data = data or {}
        stamp, seen = str(data.get("ts") or ""), data.get("seen")
        if not STAMP.match(stamp) or not isinstance(seen, int) or seen < 0:
            return cls()
        cursor = cls(stamp=stamp, seen_at_stamp=seen)
        cursor.rewind()
        return cursor


class Masker:
    """Replaces known secret values in log text with the mask."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        kept = {v for v in values if isinstance(v, str) and len(v) >= MIN_MASKED_LENGTH}
        # Longest first, so a value containing another is masked whole.
        ordered = sorted(kept, key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None
        )

    def __call__(self, text: str) -> str:
        """Return text with every known secret value masked."""
        if self._pattern is None:
            return text
        return self._pattern.sub(MASK, text)

    def line(self, line: LogLine) -> LogLine:
        """Return a line with its text masked."""
        masked = self(line.text)
        if masked == line.text:
            return line
        return LogLine(line.pod, line.container, line.stamp, masked)


# --- Reading --------------------------------------------------------------------


@dataclass(frozen=True)
class LogOptions:
    """What to read from one container."""

    container: str | None = None
    tail_lines: int | None = DEFAULT_TAIL
    previous: bool = False
    since_seconds: int | None = None
    limit_bytes: int | None = None

    def query(self, container: str, *, follow: bool, cursor: LogCursor | None) -> dict:
        """Return the query string of the log request."""
        query: dict = {"container": container, "timestamps": "true"}
        resume = cursor.since_time() if cursor else None
        if resume:
            query["sinceTime"] = resume
        else:
            if self.tail_lines is not None:
                query["tailLines"] = str(self.tail_lines)
            if self.since_seconds:
                query["sinceSeconds"] = str(self.since_seconds)
        if self.previous:
            query["previous"] = "true"
        if follow:
            query["follow"] = "true"
        if self.limit_bytes and not follow:
            query["limitBytes"] = str(self.limit_bytes)
        return query


def read_lines(
    api_client, namespace: str, pod: dict, options: LogOptions
) -> list[LogLine]:
    """Return what one container of a pod has logged (no follow)."""
    name = pod["metadata"]["name"]
    container = default_container(pod, options.container)
    response = _log_response(
        api_client, namespace, name, options.query(container, follow=False, cursor=None)
    )
    try:
        text = response.data.decode("utf-8", errors="replace")
    finally:
        response.release_conn()
    return [split_stamped(name, container, raw) for raw in text.splitlines()]


def read_merged(
    api_client, namespace: str, pods: list[dict], options: LogOptions
) -> list[LogLine]:
    """Return the lines of several pods merged in time order."""
    lines: list[LogLine] = []
    for pod in pods:
        try:
            lines += read_lines(api_client, namespace, pod, options)
        except LogsUnavailable as error:
            # One pod still starting must not hide the others' logs.
            logger.info("no logs from pod %s: %s", pod["metadata"]["name"], error)
    return sorted(lines, key=lambda line: line.key)


def follow_lines(
    api_client,
    namespace: str,
    pod: dict,
    options: LogOptions,
    cursor: LogCursor,
    stop: threading.Event,
    on_response: Callable[[object], None] = lambda response: None,
) -> Iterator[LogLine]:
    """Yield one container's new lines as they come, across restarts and cuts.

    Ends when the pod is deleted (or replaced) or `stop` is set. A stream the
    server ends (the container stopped) or that breaks is opened again from
    the cursor after a short pause.
    """
    name, uid = pod["metadata"]["name"], pod["metadata"].get("uid")
    container = default_container(pod, options.container)
    pause = RETRY_SECONDS
    while not stop.is_set():
        query = options.query(container, follow=True, cursor=cursor)
        try:
            response = _log_response(api_client, namespace, name, query)
        except LogsUnavailable as error:
            if error.code == 404:
                return
            logger.debug("log of %s/%s not readable yet: %s", name, container, error)
        else:
            on_response(response)
            fresh = 0
            for line in _stream_lines(response, name, container, cursor, stop):
                fresh += 1
                yield line
            # A container in back-off answers at once with nothing new:
            # ask less often until it writes again.
            if fresh:
                pause = RETRY_SECONDS
        if stop.wait(pause) or not _same_pod_exists(api_client, namespace, name, uid):
            return
        pause = min(pause * 2, MAX_RETRY_SECONDS)
        cursor.rewind()


def _stream_lines(
    response, pod: str, container: str, cursor: LogCursor, stop
) -> Iterator[LogLine]:
    """Yield the admitted lines of one streamed log response."""
    pending = b""
    try:
        for chunk in response.stream(64 * 1024, decode_content=False):
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                line = split_stamped(
                    pod, container, raw.decode("utf-8", errors="replace")
                )
                if cursor.admit(line):
                    yield line
            if stop.is_set():
                return
    except (urllib3.exceptions.HTTPError, OSError, ValueError, AttributeError) as error:
        # AttributeError: urllib3 reading a connection shut by stop().
        if not stop.is_set():
            logger.info("log stream of %s/%s broke: %s", pod, container, error)
    finally:
        response.release_conn()


def _same_pod_exists(api_client, namespace: str, name: str, uid: str | None) -> bool:
    path = _pod_path(namespace, name)
    try:
        pod = _get_json(api_client, path)
    except LogsUnavailable as error:
        return error.code != 404
    return uid is None or pod.get("metadata", {}).get("uid") == uid


class NodeLogFollower:
    """Follows the logs of a node's pods, in threads, merged into one feed.

    `on_line` is called from the reader threads with each new (masked) line.
    With `pods=None` every pod of the node is followed, and pods that appear
    later (a rollout) are picked up on each relist.
    """

    def __init__(
        self,
        api_client,
        *,
        namespace: str,
        workflow_id: str,
        node_id: str,
        options: LogOptions,
        on_line: Callable[[LogLine], None],
        pods: list[str] | None = None,
        cursors: dict[str, LogCursor] | None = None,
        masker: Masker | None = None,
        relist_seconds: float = 2.0,
    ) -> None:
        self.api_client = api_client
        self.namespace = namespace
        self.workflow_id = workflow_id
        self.node_id = node_id
        self.options = options
        self.on_line = on_line
        self.pods = pods
        self.cursors = cursors or {}
        self.masker = masker or Masker()
        self.relist_seconds = relist_seconds
        self.stop_event = threading.Event()
        self._threads: dict[str, threading.Thread] = {}
        self._responses: list = []
        self._lock = threading.Lock()
        self._lister: threading.Thread | None = None

    def start(self) -> None:
        """Start following (returns at once)."""
        self._lister = threading.Thread(
            target=self._list_loop, daemon=True, name="logs-list"
        )
        self._lister.start()

    def stop(self) -> None:
        """Stop every reader and close their streams."""
        self.stop_event.set()
        with self._lock:
            responses = list(self._responses)
        for response in responses:
            try:
                response.shutdown()
            except Exception:  # closing what may be closed already
                logger.debug("closing a log stream failed", exc_info=True)

    def join(self, timeout: float = 5.0) -> None:
        """Wait for the reader threads to end."""
        if self._lister is not None:
            self._lister.join(timeout)
        for thread in list(self._threads.values()):
            thread.join(timeout)

    def cursor_for(self, pod: str, container: str) -> LogCursor:
        """Return the cursor of one container (created on first use)."""
        key = f"{pod}/{container}"
        with self._lock:
            return self.cursors.setdefault(key, LogCursor())

    def _list_loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                self._follow_new_pods()
            except (LogsUnavailable, PodNotFound) as error:
                logger.info("listing pods of node %s failed: %s", self.node_id, error)
            if self.pods is not None or self.stop_event.wait(self.relist_seconds):
                return

    def _follow_new_pods(self) -> None:
        if self.pods is None:
            names = [
                p.name
                for p in list_node_pods(
                    self.api_client, self.namespace, self.workflow_id, self.node_id
                )
            ]
        else:
            names = list(self.pods)
        for name in names:
            running = self._threads.get(name)
            if (running and running.is_alive()) or self.stop_event.is_set():
                continue
            pod = find_pod(
                self.api_client, self.namespace, self.workflow_id, self.node_id, name
            )
            thread = threading.Thread(
                target=self._follow_pod, args=(pod,), daemon=True, name=f"logs-{name}"
            )
            self._threads[name] = thread
            thread.start()

    def _follow_pod(self, pod: dict) -> None:
        name = pod["metadata"]["name"]
        container = default_container(pod, self.options.container)
        cursor = self.cursor_for(name, container)
        try:
            for line in follow_lines(
                self.api_client,
                self.namespace,
                pod,
                self.options,
                cursor,
                self.stop_event,
                on_response=self._track,
            ):
                self.on_line(self.masker.line(line))
        except Exception:
            logger.exception("following the log of pod %s failed", name)

    def _track(self, response) -> None:
        with self._lock:
            self._responses = [r for r in self._responses if not r.closed] + [response]
        if self.stop_event.is_set():
            response.shutdown()


# --- HTTP --------------------------------------------------------------------------


def _log_response(api_client, namespace: str, name: str, query: dict):
    """Open a log request; raise LogsUnavailable with the server's message."""
    path = _pod_path(namespace, name) + "/log"
    response = _request(api_client, path, query, accept="text/plain, */*")
    if response.status != 200:
        raise LogsUnavailable(_status_message(response), response.status)
    return response


def _pod_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(name, safe='')}"


def _get_json(api_client, path: str, query: dict | None = None) -> dict:
    response = _request(api_client, path, query, accept="application/json")
    try:
        if response.status != 200:
            raise LogsUnavailable(_status_message(response), response.status)
        return json.loads(response.data)
    finally:
        response.release_conn()


def _request(api_client, path: str, query: dict | None, *, accept: str):
    """Send a GET through the client's pool, with its credentials; stream the body."""
    url = api_client.configuration.host.rstrip("/") + path
    if query:
        url += "?" + urlencode(query)
    headers = {"Accept": accept, "User-Agent": "kubeorch"}
    api_client.update_params_for_auth(headers, [], ["BearerToken"], path, "GET", None)
    try:
        answer = api_client.call_api("GET", url, headers)
    except urllib3.exceptions.HTTPError as error:
        raise LogsUnavailable(f"the cluster did not answer: {error}") from error
    return answer.response


def _status_message(response) -> str:
    body = response.data or b""
    try:
        return (
            json.loads(body).get("message") or f"the server answered {response.status}"
        )
    except ValueError:
        return (
            body[:200].decode(errors="replace")
            or f"the server answered {response.status}"
        )
