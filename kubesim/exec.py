"""Pod exec: the WebSocket upgrade and the Kubernetes channel protocol.

`GET /api/v1/namespaces/<ns>/pods/<name>/exec?command=sh&stdin=true&tty=true`
with `Upgrade: websocket` and one of the subprotocols `v5.channel.k8s.io` or
`v4.channel.k8s.io` is answered 101, then every frame starts with a channel
byte: 0 stdin, 1 stdout, 2 stderr, 3 status (a JSON Status with the exit
code, sent once, just before the server closes), 4 resize (JSON
`{"Width", "Height"}`) and, in v5 only, 255 close (the next byte names the
channel the client closed; closing stdin is end of input).

The command runs in `kubesim.shell`, never on the host. Every open session
is tracked in `ExecSessions`, so a test can check that a closed terminal
left no shell behind. A session ends when its command exits, when the
client goes, when the pod is deleted or its container stops (exit 137, as
a killed process), or when the server stops.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import logging
import posixpath
import queue
import struct
import threading
from dataclasses import dataclass, field

from . import errors
from . import resources as r
from .shell import COMMANDS, SHELLS, LineEditor, Shell, pod_facts, virtual_files

logger = logging.getLogger(__name__)

# TODO(exec-attach): attach (to the container's main process) is not served;
# kubesim has no process whose stdin could be attached to.
SUBRESOURCES = ("exec",)
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
V5 = "v5.channel.k8s.io"
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

STDIN, STDOUT, STDERR, STATUS, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
# Exit status of a process the kubelet killed (SIGKILL).
KILLED = 137
POLL_SECONDS = 0.25
MAX_FRAME = 16 * 2**20

_ids = itertools.count(1)


# --- Session tracking -----------------------------------------------------------


@dataclass
class ExecSession:
    """One open exec connection."""

    id: int
    namespace: str
    pod: str
    container: str
    command: list[str]
    tty: bool
    protocol: str
    started: str

    def as_dict(self) -> dict:
        """Return the session as JSON."""
        return {
            "id": self.id,
            "namespace": self.namespace,
            "pod": self.pod,
            "container": self.container,
            "command": list(self.command),
            "tty": self.tty,
            "protocol": self.protocol,
            "started": self.started,
        }


@dataclass
class ExecSessions:
    """The exec sessions open right now, and how many ever opened."""

    _open: dict[int, ExecSession] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    opened: int = 0

    def add(self, session: ExecSession) -> None:
        """Record a session that just opened."""
        with self._lock:
            self._open[session.id] = session
            self.opened += 1

    def remove(self, session: ExecSession) -> None:
        """Forget a session that ended."""
        with self._lock:
            self._open.pop(session.id, None)

    def list(self) -> list[dict]:
        """Return the open sessions, oldest first."""
        with self._lock:
            return [
                s.as_dict() for s in sorted(self._open.values(), key=lambda s: s.id)
            ]


# --- WebSocket framing (RFC 6455, server side) -----------------------------------


class WebSocket:
    """Frames over the connection of an upgraded HTTP request."""

    def __init__(self, rfile, wfile) -> None:
        self.rfile = rfile
        self.wfile = wfile
        self._write_lock = threading.Lock()
        self.closed = False

    def read_message(self) -> tuple[int, bytes] | None:
        """Return the next (opcode, payload), joining fragments; None at EOF."""
        opcode, payload, final = self._read_frame()
        if opcode is None:
            return None
        while not final and opcode not in (OP_CLOSE, OP_PING, OP_PONG):
            more, chunk, final = self._read_frame()
            if more is None:
                return None
            payload += chunk
        return opcode, payload

    def _read_frame(self):
        head = self._read_exactly(2)
        if head is None:
            return None, b"", True
        final, opcode = bool(head[0] & 0x80), head[0] & 0x0F
        masked, length = bool(head[1] & 0x80), head[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read_exactly(2) or b"\0\0")[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read_exactly(8) or b"\0" * 8)[0]
        if length > MAX_FRAME:
            raise ValueError(f"frame of {length} bytes is too large")
        mask = self._read_exactly(4) if masked else b""
        payload = self._read_exactly(length) if length else b""
        if payload is None or mask is None:
            return None, b"", True
        if masked:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return opcode, payload, final

    def _read_exactly(self, size: int) -> bytes | None:
        try:
            data = self.rfile.read(size)
        except (OSError, ValueError):
            return None
        return data if data is not None and len(data) == size else None

    def send(self, opcode: int, payload: bytes) -> None:
        """Send one unmasked frame; a gone peer is noted, not raised."""
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, length)
        elif length < 2**16:
            header = struct.pack("!BBH", 0x80 | opcode, 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 127, length)
        with self._write_lock:
            if self.closed:
                return
            try:
                self.wfile.write(header + payload)
                self.wfile.flush()
            except (OSError, ValueError):
                self.closed = True

    def send_channel(self, channel: int, data: bytes) -> None:
        """Send data on one channel of the Kubernetes protocol."""
        self.send(OP_BINARY, bytes([channel]) + data)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame; nothing more is sent afterwards."""
        self.send(OP_CLOSE, struct.pack("!H", code) + reason.encode()[:120])
        self.closed = True


def accept_key(key: str) -> str:
    """Return the Sec-WebSocket-Accept value for a client's key."""
    digest = hashlib.sha1(
        (key + WEBSOCKET_GUID).encode()
    ).digest()  # RFC 6455 asks for SHA-1
    return base64.b64encode(digest).decode()


# --- Statuses on channel 3 ------------------------------------------------------


def exit_status(command: list[str], code: int) -> dict:
    """Return the Status a kubelet sends when a command exits."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    shown = " ".join(command)
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            "command terminated with non-zero exit code: error executing command "
            f"[{shown}], exit code {code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def not_found_status(program: str) -> dict:
    """Return the Status of a command that is not in the image."""
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            "Internal error occurred: error executing command in container: failed "
            "to exec in container: OCI runtime exec failed: exec failed: unable to "
            f'start container process: exec: "{program}": executable file not found '
            "in $PATH: unknown"
        ),
        "reason": "InternalError",
        "code": 500,
        "details": {"causes": [{"message": f'exec: "{program}": not found'}]},
    }


# --- The request ------------------------------------------------------------------


@dataclass(frozen=True)
class ExecRequest:
    """What the client asked for in the query string."""

    command: list[str]
    container: str
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool


def serve(api, request, out, namespace: str, name: str) -> None:
    """Answer an exec request: check it, upgrade, run the session."""
    pod = api.store.get(r.POD, namespace, name)
    if pod is None:
        raise errors.not_found(r.POD, name)
    wanted = _parse_request(request, pod)
    _check_running(pod, wanted.container)
    protocol = _pick_protocol(request)
    key = request.headers.get("sec-websocket-key")
    if "websocket" not in request.headers.get("upgrade", "").lower() or not key:
        raise errors.bad_request("Upgrade request required")
    _switch_protocols(out, key, protocol)
    socket = WebSocket(out.rfile, out.wfile)
    session = ExecSession(
        id=next(_ids),
        namespace=namespace,
        pod=name,
        container=wanted.container,
        command=wanted.command,
        tty=wanted.tty,
        protocol=protocol,
        started=api.clock.stamp(),
    )
    api.exec_sessions.add(session)
    logger.info("exec %s into %s/%s: %s", session.id, namespace, name, wanted.command)
    try:
        _Session(api, pod, wanted, socket, protocol).run(
            ended=lambda: api.exec_sessions.remove(session)
        )
    except Exception:
        # The connection is a WebSocket now: no HTTP error can be sent.
        logger.exception("exec %s failed", session.id)
        socket.close(1011, "internal error")
    finally:
        api.exec_sessions.remove(session)
        logger.info("exec %s ended", session.id)


def _parse_request(request, pod: dict) -> ExecRequest:
    command = [c for c in request.query.get("command", []) if c != ""]
    if not command:
        raise errors.bad_request(
            "you must specify at least one command for the container"
        )
    streams = {s: request.flag(s) for s in ("stdin", "stdout", "stderr")}
    if not any(streams.values()):
        raise errors.bad_request("you must specify at least 1 of stdin, stdout, stderr")
    tty = request.flag("tty")
    return ExecRequest(
        command=command,
        container=_container(request.param("container"), pod),
        stdin=streams["stdin"],
        stdout=streams["stdout"],
        stderr=streams["stderr"] and not tty,
        tty=tty,
    )


def _container(name: str | None, pod: dict) -> str:
    names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    pod_name = pod["metadata"]["name"]
    if not name:
        default = (pod["metadata"].get("annotations") or {}).get(
            "kubectl.kubernetes.io/default-container"
        )
        if default in names:
            return default
        if len(names) == 1:
            return names[0]
        raise errors.bad_request(
            f"a container name must be specified for pod {pod_name}, "
            f"choose one of: [{' '.join(names)}]"
        )
    if name not in names:
        raise errors.bad_request(f"container {name} is not valid for pod {pod_name}")
    return name


def _check_running(pod: dict, container: str) -> None:
    if not _is_running(pod, container):
        raise errors.bad_request(
            f'unable to upgrade connection: container not found ("{container}")'
        )


def _is_running(pod: dict | None, container: str) -> bool:
    if pod is None or (pod.get("status") or {}).get("phase") != "Running":
        return False
    for entry in (pod.get("status") or {}).get("containerStatuses") or []:
        if entry.get("name") == container:
            return "running" in (entry.get("state") or {})
    return False


def _pick_protocol(request) -> str:
    offered = [
        p.strip()
        for p in request.headers.get("sec-websocket-protocol", "").split(",")
        if p.strip()
    ]
    for protocol in offered:
        if protocol in PROTOCOLS:
            return protocol
    raise errors.bad_request(
        f"unable to upgrade: none of the subprotocols {offered} is supported; "
        f"kubesim speaks {', '.join(PROTOCOLS)}"
    )


def _switch_protocols(out, key: str, protocol: str) -> None:
    out._streaming = True
    out.close_connection = True
    out.send_response(101, "Switching Protocols")
    out.send_header("Upgrade", "websocket")
    out.send_header("Connection", "Upgrade")
    out.send_header("Sec-WebSocket-Accept", accept_key(key))
    out.send_header("Sec-WebSocket-Protocol", protocol)
    out.end_headers()
    out.wfile.flush()


# --- One session ------------------------------------------------------------------


class _Session:
    """Feeds stdin frames to the shell and its output back as frames."""

    def __init__(self, api, pod: dict, wanted: ExecRequest, socket, protocol) -> None:
        self.api = api
        self.pod = pod
        self.wanted = wanted
        self.socket = socket
        self.protocol = protocol
        self.messages: queue.Queue = queue.Queue()
        self.editor = LineEditor(wanted.tty)
        facts = pod_facts(api.store, pod, wanted.container)
        files = virtual_files(api.store, pod, facts)
        self.shell = Shell(
            facts, files, api.clock.now, tty=wanted.tty, program=wanted.command[0]
        )

    def run(self, ended=lambda: None) -> None:
        """Run until the command exits or the connection ends.

        `ended` runs once the shell is gone and before the client hears the
        exit status, so a client that saw it never finds the session open.
        """
        threading.Thread(target=self._read, daemon=True, name="kubesim-exec").start()
        status = self._start()
        while status is None:
            status = self._next()
        ended()
        if status is not False:
            self.socket.send_channel(STATUS, json.dumps(status).encode())
            self.socket.close(1000)

    def _read(self) -> None:
        """Put every message from the client on the queue; None when it goes."""
        try:
            while True:
                message = self.socket.read_message()
                self.messages.put(message)
                if message is None or message[0] == OP_CLOSE:
                    return
        except ValueError as error:
            logger.warning("exec frame refused: %s", error)
            self.messages.put(None)

    def _start(self) -> dict | None:
        """Run a one-off command at once; show the prompt of an interactive shell."""
        command = self.wanted.command
        program = posixpath.basename(command[0])
        if program in SHELLS and "-c" in command:
            script = command[command.index("-c") + 1 :]
            self._print(self.shell.run_line(script[0] if script else ""))
            return exit_status(command, self.shell.status)
        if program in SHELLS:
            if not self.wanted.stdin:
                return exit_status(command, 0)
            self._prompt()
            return None
        if program not in COMMANDS:
            return not_found_status(command[0])
        self._print(self.shell.run_words(command))
        return exit_status(command, self.shell.status)

    def _next(self) -> dict | bool | None:
        """Handle one message; return a Status to end, False when the client went."""
        try:
            message = self.messages.get(timeout=POLL_SECONDS)
        except queue.Empty:
            return self._check_alive()
        if message is None:
            return False
        opcode, payload = message
        if opcode == OP_PING:
            self.socket.send(OP_PONG, payload)
            return None
        if opcode == OP_CLOSE:
            self.socket.close(1000)
            return False
        if opcode in (OP_TEXT, OP_BINARY) and payload:
            return self._channel(payload[0], payload[1:])
        return None

    def _check_alive(self) -> dict | bool | None:
        """End the session when the server stops or the container is gone."""
        if self.api.stopping.is_set():
            self.socket.close(1001, "server stopping")
            return False
        meta = self.pod["metadata"]
        live = self.api.store.get(r.POD, meta["namespace"], meta["name"])
        same = live is not None and live["metadata"].get("uid") == meta.get("uid")
        if not same or not _is_running(live, self.wanted.container):
            return exit_status(self.wanted.command, KILLED)
        return None

    def _channel(self, channel: int, data: bytes) -> dict | None:
        if channel == STDIN:
            return self._input(self.editor.feed(data))
        if channel == RESIZE:
            self._resize(data)
            return None
        if channel == CLOSE and self.protocol == V5 and data[:1] == bytes([STDIN]):
            return self._input(self.editor.end_of_input())
        return None

    def _resize(self, data: bytes) -> None:
        try:
            size = json.loads(data)
            self.shell.size = (int(size["Width"]), int(size["Height"]))
        except (ValueError, KeyError, TypeError):
            logger.warning("exec resize frame refused: %r", data[:100])

    def _input(self, events: list[tuple[str, str]]) -> dict | None:
        """Act on what the line editor made of the input."""
        for event, text in events:
            if event == "echo":
                self._write(STDOUT, text)
            elif event == "line":
                if text.strip():
                    self._print(self.shell.run_line(text))
                if self.shell.exited is not None:
                    return exit_status(self.wanted.command, self.shell.exited)
                self._prompt()
            elif event == "interrupt":
                self.shell.status = 130
                self._prompt()
            elif event == "redraw":
                self._write(STDOUT, "\x1b[H\x1b[2J")
                self._prompt()
                self._write(STDOUT, self.editor.line)
            elif event == "eof":
                if self.wanted.tty:
                    self._write(STDOUT, "exit\r\n")
                return exit_status(self.wanted.command, self.shell.status)
        return None

    def _prompt(self) -> None:
        if self.wanted.tty:
            self._write(STDOUT, self.shell.prompt())

    def _print(self, output) -> None:
        self._write(STDOUT, output.stdout)
        self._write(STDOUT if self.wanted.tty else STDERR, output.stderr)

    def _write(self, channel: int, text: str) -> None:
        if not text:
            return
        if channel == STDOUT and not self.wanted.stdout:
            return
        if channel == STDERR and not self.wanted.stderr:
            return
        if self.wanted.tty:
            text = text.replace("\r\n", "\n").replace("\n", "\r\n")
        self.socket.send_channel(channel, text.encode())
