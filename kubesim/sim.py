"""The KubeSim facade: store, controllers and HTTP server started together."""

from __future__ import annotations

import logging
import threading

from . import kubeconfig
from . import resources as r
from .clock import Clock
from .server import LOOPBACK_HOSTS, ApiServer, KubeHTTPServer, ServerHooks
from .store import Store

logger = logging.getLogger(__name__)

MODES = ("instant", "realistic")
_FALLBACK_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def _controller_manager_class():
    try:
        from .controllers import ControllerManager
    except ImportError:
        logger.warning("kubesim.controllers is not importable; objects will not move")
        return None
    return ControllerManager


class KubeSim:
    """A simulated Kubernetes cluster served on a loopback port."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        mode: str = "instant",
        token: str | None = None,
        watch_history: int = 10000,
        *,
        bookmark_interval: float = 60.0,
        controller_interval: float = 0.2,
    ) -> None:
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"kubesim binds to loopback only, not {host!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.host = host
        self.mode = mode
        self.token = token
        self._requested_port = port
        self._controller_interval = controller_interval
        self.clock = Clock()
        self.store = Store(self.clock, watch_history=watch_history)
        manager_class = _controller_manager_class()
        self.controllers = (
            manager_class(self.store, self.clock, realistic=mode == "realistic")
            if manager_class
            else None
        )
        hooks = ServerHooks(
            after_write=self.settle if mode == "instant" else None,
            log_lines=self._log_lines,
            control=self,
        )
        self.api = ApiServer(
            self.store, token=token, hooks=hooks, bookmark_interval=bookmark_interval
        )
        self._settle_lock = threading.Lock()
        self._http: KubeHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----- lifecycle

    def start(self) -> KubeSim:
        """Bootstrap the cluster and start serving; return self."""
        self._http = KubeHTTPServer((self.host, self._requested_port), self.api)
        self.api.address = f"{self.host}:{self.port}"
        self.api.stopping.clear()
        self._bootstrap()
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"kubesim-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._start_controllers()
        logger.info("kubesim serving %s in %s mode", self.url, self.mode)
        return self

    def stop(self) -> None:
        """Stop the controllers and the server, ending every open watch."""
        if self.controllers is not None and self.mode == "realistic":
            self.controllers.stop()
        self.api.stopping.set()
        self.store.wake_watchers()
        if self._http is not None:
            self._http.shutdown()
            self._http.close_connections()
            self._http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._http, self._thread = None, None
        logger.info("kubesim stopped")

    def __enter__(self) -> KubeSim:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # ----- addresses

    @property
    def port(self) -> int:
        """Return the bound port (the requested one until started)."""
        if self._http is None:
            return self._requested_port
        return self._http.server_address[1]

    @property
    def url(self) -> str:
        """Return the base URL, e.g. http://127.0.0.1:43121."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # ----- controllers

    def settle(self) -> None:
        """Run the controllers until nothing changes."""
        if self.controllers is None:
            return
        with self._settle_lock:
            self.controllers.settle()

    def advance(self, seconds: float) -> None:
        """Move the clock forward and settle."""
        self.clock.advance(seconds)
        self.settle()

    def reset(self) -> None:
        """Forget every object and bootstrap again (open watches end)."""
        if self.controllers is not None and self.mode == "realistic":
            self.controllers.stop()
        self.store.clear()
        self._bootstrap()
        self._start_controllers()

    def _start_controllers(self) -> None:
        if self.controllers is not None and self.mode == "realistic":
            self.controllers.start(self._controller_interval)

    def _bootstrap(self) -> None:
        if self.controllers is not None:
            self.controllers.bootstrap()
            self.settle()
            return
        for name in _FALLBACK_NAMESPACES:
            if self.store.get(r.NAMESPACE, None, name) is None:
                self.store.create(
                    r.NAMESPACE,
                    {
                        "metadata": {
                            "name": name,
                            "labels": {"kubernetes.io/metadata.name": name},
                        },
                        "spec": {"finalizers": ["kubernetes"]},
                        "status": {"phase": "Active"},
                    },
                )

    def _log_lines(self, pod: dict, container: str, previous: bool) -> list:
        if self.controllers is None:
            return []
        return self.controllers.log_lines(pod, container, previous)

    # ----- exec

    def exec_sessions(self) -> list[dict]:
        """Return the exec sessions open right now (pod, container, command)."""
        return self.api.exec_sessions.list()

    # ----- kubeconfig

    def kubeconfig(self) -> str:
        """Return a kubeconfig (YAML) whose cluster, user and context are "kubesim"."""
        return kubeconfig.render_kubeconfig(
            kubeconfig.build_kubeconfig(self.url, self.token)
        )

    def write_kubeconfig(self, path: str) -> str:
        """Write the kubeconfig to a file (mode 0600) and return its path."""
        return kubeconfig.write_kubeconfig(str(path), self.kubeconfig())
