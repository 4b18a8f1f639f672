"""The fake shell behind pod exec: a few commands over virtual files.

Nothing here runs on the host: every command is a Python function reading a
virtual file tree built from the pod (its name, namespace, image, env and the
ConfigMap volumes it mounts, read from the store).

Secrets: a real container shows the values of mounted Secrets and of env
variables read from Secrets. kubesim's shell never does: the files of a
Secret volume are listed with their real sizes, but reading one prints the
mask, and such env variables show the mask too. kubesim is reached from
demos, browser tests and screenshots, where a clear value would leak, and no
fake workload needs the value. A terminal into a real cluster shows them,
as `kubectl exec` does, to whoever may open it.
"""

from __future__ import annotations

import base64
import codecs
import logging
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from . import resources as r

logger = logging.getLogger(__name__)

MASK = "********"
SHELLS = ("sh", "bash", "ash", "dash")
KERNEL = "6.1.0-kubesim"
BUSYBOX_IMAGES = ("busybox", "alpine")
KUBERNETES_ENV = {
    "KUBERNETES_SERVICE_HOST": "10.96.0.1",
    "KUBERNETES_SERVICE_PORT": "443",
    "KUBERNETES_PORT": "tcp://10.96.0.1:443",
}
COMMANDS_DIR = "/bin"
CLEAR_SCREEN = "\x1b[H\x1b[2J"
# Characters a tty line discipline handles itself.
ENTER = ("\r", "\n")
ERASE = ("\x7f", "\x08")
INTERRUPT = "\x03"
END_OF_FILE = "\x04"
KILL_LINE = "\x15"
REDRAW = "\x0c"


@dataclass
class Output:
    """What a command printed, and its exit status."""

    stdout: str = ""
    stderr: str = ""
    status: int = 0

    def add(self, other: Output) -> None:
        """Append another command's output and take its status."""
        self.stdout += other.stdout
        self.stderr += other.stderr
        self.status = other.status


@dataclass
class VirtualFiles:
    """A read-only file tree: path -> text, plus the directories holding them."""

    files: dict[str, str] = field(default_factory=dict)
    secret_files: dict[str, int] = field(default_factory=dict)

    def directories(self) -> set[str]:
        """Return every directory that holds a file, and the root."""
        found = {"/"}
        for path in [*self.files, *self.secret_files]:
            parent = posixpath.dirname(path)
            while parent not in found:
                found.add(parent)
                parent = posixpath.dirname(parent)
        return found

    def is_dir(self, path: str) -> bool:
        """Tell whether a path is a directory."""
        return path in self.directories()

    def exists(self, path: str) -> bool:
        """Tell whether a path is a file or a directory."""
        return path in self.files or path in self.secret_files or self.is_dir(path)

    def read(self, path: str) -> str:
        """Return a file's text; a Secret's file reads as the mask."""
        if path in self.secret_files:
            return MASK + "\n"
        return self.files[path]

    def size(self, path: str) -> int:
        """Return a file's size in bytes (a Secret's true size)."""
        if path in self.secret_files:
            return self.secret_files[path]
        return len(self.files[path].encode())

    def entries(self, directory: str) -> list[str]:
        """Return the names directly inside a directory, sorted."""
        prefix = directory.rstrip("/") + "/"
        names = set()
        for path in [*self.files, *self.secret_files, *self.directories()]:
            if path != directory and path.startswith(prefix):
                names.add(path[len(prefix) :].split("/", 1)[0])
        return sorted(names)


@dataclass(frozen=True)
class PodFacts:
    """What the shell knows about the container it runs in."""

    pod: str
    namespace: str
    container: str
    image: str
    pod_ip: str
    node: str
    env: dict[str, str]
    main_command: str
    run_as_user: int | None = None


def image_family(image: str) -> str:
    """Return the base name of an image: 'nginx' for docker.io/library/nginx:1."""
    last = image.rsplit("/", 1)[-1]
    return last.split("@", 1)[0].split(":", 1)[0].lower()


def os_release(image: str) -> str:
    """Return /etc/os-release for the distribution an image is built on."""
    if image_family(image) in BUSYBOX_IMAGES:
        return (
            'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.3\n'
            'PRETTY_NAME="Alpine Linux v3.20"\n'
            'HOME_URL="https://alpinelinux.org/"\n'
        )
    return (
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
        'VERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\n'
        'ID=debian\nHOME_URL="https://www.debian.org/"\n'
    )


# --- Building the view of a pod ----------------------------------------------


def pod_facts(store, pod: dict, container: str) -> PodFacts:
    """Read what the shell shows from a pod and the objects it refers to."""
    spec = pod.get("spec") or {}
    entry = next(
        (c for c in spec.get("containers") or [] if c.get("name") == container), {}
    )
    namespace = pod["metadata"]["namespace"]
    status = pod.get("status") or {}
    security = {
        **(spec.get("securityContext") or {}),
        **(entry.get("securityContext") or {}),
    }
    return PodFacts(
        pod=pod["metadata"]["name"],
        namespace=namespace,
        container=container,
        image=entry.get("image") or "",
        pod_ip=status.get("podIP") or "10.244.0.2",
        node=spec.get("nodeName") or "",
        env=container_env(store, namespace, entry),
        main_command=_main_command(entry),
        run_as_user=security.get("runAsUser"),
    )


def container_env(store, namespace: str, container: dict) -> dict[str, str]:
    """Resolve a container's env: plain values, ConfigMap values, masked Secrets."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix") or ""
        if "configMapRef" in source:
            data = _configmap_data(store, namespace, source["configMapRef"]["name"])
            env.update({prefix + k: v for k, v in data.items()})
        elif "secretRef" in source:
            keys = _secret_data(store, namespace, source["secretRef"]["name"])
            env.update({prefix + k: MASK for k in keys})
    for var in container.get("env") or []:
        env[var["name"]] = _env_value(store, namespace, var)
    return env


def _env_value(store, namespace: str, var: dict) -> str:
    source = var.get("valueFrom") or {}
    if "configMapKeyRef" in source:
        ref = source["configMapKeyRef"]
        return _configmap_data(store, namespace, ref["name"]).get(ref["key"], "")
    if "secretKeyRef" in source:
        return MASK
    if "fieldRef" in source:
        return f"<{source['fieldRef'].get('fieldPath', '')}>"
    return str(var.get("value") or "")


def _configmap_data(store, namespace: str, name: str) -> dict[str, str]:
    configmap = store.get(r.CONFIGMAP, namespace, name) or {}
    return dict(configmap.get("data") or {})


def _secret_data(store, namespace: str, name: str) -> dict[str, int]:
    """Return a Secret's keys with the size of each decoded value."""
    secret = store.get(r.SECRET, namespace, name) or {}
    sizes = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            sizes[key] = len(base64.b64decode(value or ""))
        except ValueError:
            sizes[key] = 0
    return sizes


def _main_command(container: dict) -> str:
    words = [*(container.get("command") or []), *(container.get("args") or [])]
    if words:
        return " ".join(str(w) for w in words)
    family = image_family(container.get("image") or "")
    defaults = {
        "nginx": "nginx: master process nginx -g daemon off;",
        "postgres": "postgres",
        "redis": "redis-server *:6379",
        "mysql": "mysqld",
        "busybox": "sh",
        "alpine": "/bin/sh",
    }
    return defaults.get(family, f"/usr/local/bin/{family or 'app'}")


def virtual_files(store, pod: dict, facts: PodFacts) -> VirtualFiles:
    """Build the files the shell can list and read."""
    files = VirtualFiles()
    files.files.update(
        {
            "/etc/hostname": facts.pod + "\n",
            "/etc/hosts": (
                "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n"
                f"{facts.pod_ip}\t{facts.pod}\n"
            ),
            "/etc/os-release": os_release(facts.image),
            "/etc/resolv.conf": (
                f"search {facts.namespace}.svc.cluster.local svc.cluster.local "
                "cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
            ),
            "/etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
            "/proc/version": f"Linux version {KERNEL} (kubesim) #1 SMP\n",
            "/var/run/secrets/kubernetes.io/serviceaccount/namespace": facts.namespace,
            "/root/.profile": "",
            "/tmp/.keep": "",
        }
    )
    for name in COMMAND_NAMES:
        files.files[f"{COMMANDS_DIR}/{name}"] = f"<kubesim builtin {name}>\n"
    _mount_volumes(store, pod, facts, files)
    return files


def _mount_volumes(store, pod: dict, facts: PodFacts, files: VirtualFiles) -> None:
    """Add the files of the ConfigMap and Secret volumes the container mounts."""
    spec = pod.get("spec") or {}
    volumes = {v.get("name"): v for v in spec.get("volumes") or []}
    container = next(
        (c for c in spec.get("containers") or [] if c.get("name") == facts.container),
        {},
    )
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount.get("name")) or {}
        path = mount.get("mountPath") or ""
        if "configMap" in volume:
            source = volume["configMap"]
            data = _configmap_data(store, facts.namespace, source.get("name", ""))
            for key, target in _projected(source, data, mount):
                files.files[_mounted_path(path, target)] = data[key]
        elif "secret" in volume:
            source = volume["secret"]
            sizes = _secret_data(store, facts.namespace, source.get("secretName", ""))
            for key, target in _projected(source, sizes, mount):
                files.secret_files[_mounted_path(path, target)] = sizes[key]


def _mounted_path(mount_path: str, name: str) -> str:
    """Return where a key's file is: in the mount, or the mount itself (subPath)."""
    return posixpath.join(mount_path, name) if name else mount_path


def _projected(source: dict, data: dict, mount: dict) -> list[tuple[str, str]]:
    """Return (key, file name) pairs a volume mount shows."""
    items = source.get("items")
    pairs = (
        [(i["key"], i.get("path") or i["key"]) for i in items if i.get("key") in data]
        if items
        else [(key, key) for key in data]
    )
    sub_path = mount.get("subPath")
    if sub_path:
        return [(key, "") for key, target in pairs if target == sub_path]
    return pairs


# --- Words and commands --------------------------------------------------------


class ShellSyntaxError(ValueError):
    """A line the shell cannot parse."""


def split_commands(line: str, env: dict[str, str]) -> list[tuple[str, list[str]]]:
    """Split a line into (operator, words) pairs, expanding $VARS.

    The operator says when to run the command after the previous one: ";"
    always, "&&" on success, "||" on failure. Quotes and backslashes work as
    in sh; pipes and redirections are refused.
    """
    commands: list[tuple[str, list[str]]] = []
    words: list[str] = []
    word: list[str] | None = None
    operator = ";"
    index = 0
    quote = ""
    while index < len(line):
        char = line[index]
        if quote == "'":
            if char == "'":
                quote = ""
            else:
                word.append(char)
        elif char == "\\" and index + 1 < len(line) and quote != "'":
            index += 1
            word = word if word is not None else []
            word.append(line[index])
        elif char == "$" and quote != "'":
            name, index = _variable_name(line, index + 1)
            word = word if word is not None else []
            word.extend(env.get(name, "") if name else "$")
            continue
        elif quote == '"':
            if char == '"':
                quote = ""
            else:
                word.append(char)
        elif char in "'\"":
            quote = char
            word = word if word is not None else []
        elif char in " \t":
            if word is not None:
                words.append("".join(word))
                word = None
        elif char == "#" and word is None:
            break
        elif char in ";&|<>":
            if word is not None:
                words.append("".join(word))
                word = None
            two = line[index : index + 2]
            if two in ("&&", "||"):
                commands.append((operator, words))
                operator, words = two, []
                index += 2
                continue
            if char == ";":
                commands.append((operator, words))
                operator, words = ";", []
            elif char == "|":
                raise ShellSyntaxError("pipes are not supported by kubesim's shell")
            elif char in "<>":
                raise ShellSyntaxError("can't create file: Read-only file system")
            else:
                raise ShellSyntaxError("background jobs are not supported")
        else:
            word = word if word is not None else []
            word.append(char)
        index += 1
    if quote:
        raise ShellSyntaxError("Unterminated quoted string")
    if word is not None:
        words.append("".join(word))
    commands.append((operator, words))
    return [(op, w) for op, w in commands if w]


def _variable_name(line: str, start: int) -> tuple[str, int]:
    """Return the variable named at line[start:] and the index after it."""
    if line[start : start + 1] == "{":
        end = line.find("}", start)
        if end == -1:
            raise ShellSyntaxError("bad substitution")
        return line[start + 1 : end], end + 1
    if line[start : start + 1] == "?":
        return "?", start + 1
    end = start
    while end < len(line) and (line[end].isalnum() or line[end] == "_"):
        end += 1
    return line[start:end], end


class Shell:
    """One shell process: working directory, variables, last status."""

    def __init__(
        self,
        facts: PodFacts,
        files: VirtualFiles,
        now: Callable[[], datetime],
        *,
        tty: bool = False,
        program: str = "sh",
    ) -> None:
        self.facts = facts
        self.files = files
        self.now = now
        self.tty = tty
        self.program = posixpath.basename(program)
        self.cwd = "/"
        self.size = (80, 24)
        self.status = 0
        self.exited: int | None = None
        self.env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOSTNAME": facts.pod,
            "HOME": "/root",
            **KUBERNETES_ENV,
            **facts.env,
        }
        if tty:
            self.env["TERM"] = "xterm"

    # ----- running lines

    def run_line(self, line: str) -> Output:
        """Run one command line and return what it printed."""
        output = Output(status=self.status)
        try:
            commands = split_commands(line, {**self.env, "?": str(self.status)})
        except ShellSyntaxError as error:
            output = Output(stderr=f"{self.program}: {error}\n", status=2)
            self.status = 2
            return output
        for operator, words in commands:
            if operator == "&&" and output.status != 0:
                continue
            if operator == "||" and output.status == 0:
                continue
            output.add(self.run_words(words))
            self.status = output.status
            if self.exited is not None:
                break
        return output

    def run_words(self, words: list[str]) -> Output:
        """Run one command given as words."""
        name = posixpath.basename(words[0])
        command = COMMANDS.get(name)
        if command is None:
            return Output(stderr=f"{self.program}: {words[0]}: not found\n", status=127)
        return command(self, words[1:])

    def prompt(self) -> str:
        """Return the prompt a tty shows before each line."""
        if self.program == "bash":
            return f"root@{self.facts.pod}:{self._shown_cwd()}# "
        if image_family(self.facts.image) in BUSYBOX_IMAGES:
            return f"{self._shown_cwd()} # "
        return "# "

    def resolve(self, path: str) -> str:
        """Return an absolute, normalised path from one relative to cwd."""
        if path == "~" or path.startswith("~/"):
            path = self.env.get("HOME", "/") + path[1:]
        return posixpath.normpath(posixpath.join(self.cwd, path)).replace("//", "/")

    def _shown_cwd(self) -> str:
        return "~" if self.cwd == self.env.get("HOME") else self.cwd


# --- The commands ---------------------------------------------------------------


def _echo(shell: Shell, args: list[str]) -> Output:
    newline = "\n"
    if args[:1] == ["-n"]:
        args, newline = args[1:], ""
    return Output(stdout=" ".join(args) + newline)


def _pwd(shell: Shell, args: list[str]) -> Output:
    return Output(stdout=shell.cwd + "\n")


def _cd(shell: Shell, args: list[str]) -> Output:
    target = shell.resolve(args[0] if args else shell.env.get("HOME", "/"))
    if not shell.files.is_dir(target):
        what = (
            "Not a directory"
            if shell.files.exists(target)
            else "No such file or directory"
        )
        return Output(
            stderr=f"{shell.program}: cd: can't cd to {args[0]}: {what}\n", status=2
        )
    shell.cwd = target
    return Output()


def _ls(shell: Shell, args: list[str]) -> Output:
    flags = "".join(a[1:] for a in args if a.startswith("-"))
    paths = [a for a in args if not a.startswith("-")] or ["."]
    output = Output()
    for path in paths:
        target = shell.resolve(path)
        if not shell.files.exists(target):
            output.stderr += f"ls: {path}: No such file or directory\n"
            output.status = 1
            continue
        names = (
            shell.files.entries(target)
            if shell.files.is_dir(target)
            else [posixpath.basename(target)]
        )
        if "a" in flags:
            names = [".", "..", *names]
        base = target if shell.files.is_dir(target) else posixpath.dirname(target)
        if len(paths) > 1:
            output.stdout += f"{path}:\n"
        if "l" in flags:
            output.stdout += "".join(
                _long_entry(shell, posixpath.join(base, n), n) for n in names
            )
        elif names:
            separator = "\n" if "1" in flags or not shell.tty else "  "
            output.stdout += separator.join(names) + "\n"
    return output


def _long_entry(shell: Shell, path: str, name: str) -> str:
    moment = shell.now().strftime("%b %e %H:%M")
    if shell.files.is_dir(path) or name in (".", ".."):
        return f"drwxr-xr-x    2 root     root          4096 {moment} {name}\n"
    size = shell.files.size(path)
    mode = "-r--r--r--" if path in shell.files.secret_files else "-rw-r--r--"
    return f"{mode}    1 root     root    {size:>10} {moment} {name}\n"


def _cat(shell: Shell, args: list[str]) -> Output:
    output = Output()
    for path in args:
        target = shell.resolve(path)
        if shell.files.is_dir(target):
            output.stderr += "cat: read error: Is a directory\n"
            output.status = 1
        elif target in shell.files.files or target in shell.files.secret_files:
            output.stdout += shell.files.read(target)
        else:
            output.stderr += f"cat: can't open '{path}': No such file or directory\n"
            output.status = 1
    return output


def _env(shell: Shell, args: list[str]) -> Output:
    return Output(stdout="".join(f"{k}={v}\n" for k, v in shell.env.items()))


def _printenv(shell: Shell, args: list[str]) -> Output:
    if not args:
        return _env(shell, args)
    values = [shell.env[name] for name in args if name in shell.env]
    status = 0 if len(values) == len(args) else 1
    return Output(stdout="".join(v + "\n" for v in values), status=status)


def _hostname(shell: Shell, args: list[str]) -> Output:
    return Output(stdout=shell.facts.pod + "\n")


def _whoami(shell: Shell, args: list[str]) -> Output:
    uid = shell.facts.run_as_user
    if uid:
        return Output(stderr=f"whoami: unknown uid {uid}\n", status=1)
    return Output(stdout="root\n")


def _id(shell: Shell, args: list[str]) -> Output:
    uid = shell.facts.run_as_user or 0
    name = "(root)" if uid == 0 else ""
    return Output(stdout=f"uid={uid}{name} gid={uid}{name} groups={uid}{name}\n")


def _ps(shell: Shell, args: list[str]) -> Output:
    rows = [
        ("1", shell.facts.main_command),
        ("7", shell.program),
        ("13", "ps " + " ".join(args) if args else "ps"),
    ]
    lines = ["PID   USER     TIME  COMMAND"]
    lines += [f"{pid:>5} root      0:00 {command}" for pid, command in rows]
    return Output(stdout="\n".join(lines) + "\n")


def _uname(shell: Shell, args: list[str]) -> Output:
    parts = {
        "s": "Linux",
        "n": shell.facts.pod,
        "r": KERNEL,
        "v": "#1 SMP PREEMPT_DYNAMIC kubesim",
        "m": "x86_64",
    }
    flags = "".join(a[1:] for a in args if a.startswith("-")) or "s"
    everything = "a" in flags
    words = [parts[f] for f in "snrvm" if everything or f in flags]
    if everything:
        words.append("GNU/Linux")
    return Output(stdout=" ".join(words) + "\n")


def _date(shell: Shell, args: list[str]) -> Output:
    return Output(stdout=shell.now().strftime("%a %b %e %H:%M:%S UTC %Y") + "\n")


def _exit(shell: Shell, args: list[str]) -> Output:
    try:
        status = int(args[0]) if args else shell.status
    except ValueError:
        return Output(
            stderr=f"{shell.program}: exit: Illegal number: {args[0]}\n", status=2
        )
    shell.exited = status & 0xFF
    return Output(status=shell.exited)


def _true(shell: Shell, args: list[str]) -> Output:
    return Output()


def _false(shell: Shell, args: list[str]) -> Output:
    return Output(status=1)


def _stty(shell: Shell, args: list[str]) -> Output:
    if args == ["size"]:
        if not shell.tty:
            return Output(stderr="stty: standard input: Not a tty\n", status=1)
        columns, rows = shell.size
        return Output(stdout=f"{rows} {columns}\n")
    return Output()


def _clear(shell: Shell, args: list[str]) -> Output:
    return Output(stdout=CLEAR_SCREEN)


def _help(shell: Shell, args: list[str]) -> Output:
    names = " ".join(sorted(COMMANDS))
    return Output(stdout=f"kubesim shell: a simulated container. Commands: {names}\n")


def _shell(shell: Shell, args: list[str]) -> Output:
    if args[:1] == ["-c"] and len(args) > 1:
        return shell.run_line(args[1])
    return Output(
        stderr=f"{shell.program}: nested shells are not supported\n", status=2
    )


COMMANDS: dict[str, Callable[[Shell, list[str]], Output]] = {
    "echo": _echo,
    "pwd": _pwd,
    "cd": _cd,
    "ls": _ls,
    "cat": _cat,
    "env": _env,
    "printenv": _printenv,
    "hostname": _hostname,
    "whoami": _whoami,
    "id": _id,
    "ps": _ps,
    "uname": _uname,
    "date": _date,
    "exit": _exit,
    "true": _true,
    "false": _false,
    "stty": _stty,
    "clear": _clear,
    "help": _help,
    **{name: _shell for name in SHELLS},
}
COMMAND_NAMES = tuple(sorted(COMMANDS))


# --- A terminal line discipline ------------------------------------------------


class LineEditor:
    """Turns keystrokes into lines the way a tty in canonical mode does.

    With a tty it echoes what is typed, erases on backspace, and answers
    Ctrl-C, Ctrl-U, Ctrl-L and Ctrl-D; without one it only splits lines.
    Escape sequences (arrow keys) are dropped: there is no history.
    """

    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self.line = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._escape = ""

    def feed(self, data: bytes) -> list[tuple[str, str]]:
        """Return (event, text) pairs: ("echo", s), ("line", s), ("interrupt", ""),
        ("eof", ""), ("redraw", "")."""
        events: list[tuple[str, str]] = []
        for char in self._decoder.decode(data):
            if self._in_escape(char):
                continue
            events.extend(self._key(char))
        return events

    def _in_escape(self, char: str) -> bool:
        """Swallow an escape sequence, one character at a time."""
        if self._escape:
            self._escape += char
            if len(self._escape) > 1 and (char.isalpha() or char == "~"):
                self._escape = ""
            return True
        if char == "\x1b" and self.tty:
            self._escape = char
            return True
        return False

    def _key(self, char: str) -> list[tuple[str, str]]:
        if char in ENTER:
            if not self.tty and char == "\r":
                return []
            line, self.line = self.line, ""
            return [("echo", "\r\n"), ("line", line)] if self.tty else [("line", line)]
        if not self.tty:
            self.line += char
            return []
        if char in ERASE:
            if not self.line:
                return []
            self.line = self.line[:-1]
            return [("echo", "\b \b")]
        if char == INTERRUPT:
            self.line = ""
            return [("echo", "^C\r\n"), ("interrupt", "")]
        if char == END_OF_FILE:
            return [("eof", "")] if not self.line else []
        if char == KILL_LINE:
            erased, self.line = self.line, ""
            return [("echo", "\b \b" * len(erased))]
        if char == REDRAW:
            return [("redraw", "")]
        if char < " " and char != "\t":
            return []
        self.line += char
        return [("echo", char)]

    def end_of_input(self) -> list[tuple[str, str]]:
        """Return what closing stdin means: a last unterminated line, then EOF."""
        events = [("line", self.line)] if self.line and not self.tty else []
        self.line = ""
        return [*events, ("eof", "")]
