"""The controllers that make kubesim's objects behave, and the manager that runs them.

Every controller reconciles from the store's current state (mirrored in a
cache the store keeps current through its listener), writes only through
the store, and writes nothing when nothing differs, so `settle()` reaches a
fixpoint. Time comes from the clock only: tests advance it instead of
sleeping.
"""

from __future__ import annotations

import logging
import threading
import time

from .. import errors, images
from ..bootstrap import bootstrap
from ..clock import parse_time
from .base import Context
from .cache import Cache
from .cronjob import CronJobController
from .daemonset import DaemonSetController
from .deployment import DeploymentController
from .endpoints import EndpointsController
from .events import EventController, EventRecorder
from .gc import GarbageCollector
from .hpa import HorizontalPodAutoscalerController
from .ingress import IngressController
from .job import JobController
from .kubelet import Kubelet
from .namespace import NamespaceController
from .replicaset import ReplicaSetController
from .scheduler import Scheduler
from .service import LoadBalancerController
from .statefulset import StatefulSetController
from .volume import ClaimController, VolumeController

logger = logging.getLogger(__name__)

# The order of one step: owners before what they own, so a Deployment, its
# ReplicaSet, its pods, their node and their start can all happen in one step.
CONTROLLERS = (
    NamespaceController,
    HorizontalPodAutoscalerController,
    CronJobController,
    JobController,
    DeploymentController,
    ReplicaSetController,
    StatefulSetController,
    DaemonSetController,
    ClaimController,
    VolumeController,
    Scheduler,
    Kubelet,
    EndpointsController,
    LoadBalancerController,
    IngressController,
    GarbageCollector,
    EventController,
)

__all__ = ["ControllerManager"]


class ControllerManager:
    """Run every controller over the store: a step, a fixpoint, or a thread."""

    def __init__(self, store, clock, *, realistic: bool) -> None:
        self.store = store
        self.clock = clock
        self.realistic = realistic
        self.cache = Cache()
        self.ctx = Context(store, clock, self.cache, realistic=realistic)
        self.events = EventRecorder(self.ctx)
        self.ctx.events = self.events
        self.controllers = [cls(self.ctx) for cls in CONTROLLERS]
        self._gc = next(c for c in self.controllers if isinstance(c, GarbageCollector))
        self._routes: dict[tuple[str, str], list] = {}
        for controller in self.controllers:
            for key, handler in controller.watches.items():
                self._routes.setdefault(key, []).append(handler)
        self._changes = 0
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        with store.lock:
            self._epoch = store.epoch
            self.cache.load(store)
            # The mirror never changes what it holds, so it can share the objects.
            store.add_listener(self._on_change, copy=False)
            self._prime()
        self._last_resync = clock.time()

    # ----- the public interface

    def bootstrap(self) -> None:
        """Create the nodes, namespaces, storage classes and ingress class."""
        bootstrap(self.store)

    def step(self) -> bool:
        """Run every controller once over its due work; True if anything changed."""
        with self.store.lock:
            self._follow_resets()
            before = self._changes
            now = self.clock.time()
            if now - self._last_resync >= self.ctx.delays.resync:
                self._resync(now)
            for controller in self.controllers:
                for namespace, name in controller.take_due(now):
                    self._reconcile(controller, namespace, name)
            return self._changes != before

    def settle(self, max_rounds: int = 100) -> None:
        """Step until a step changes nothing and no work is due."""
        for _ in range(max_rounds):
            changed = self.step()
            if not changed and not self._work_due():
                return
        logger.warning("controllers did not settle within %s rounds", max_rounds)

    def start(self, interval: float = 0.2) -> None:
        """Settle every interval in a daemon thread (the realistic mode)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._run, args=(interval,), name="kubesim-controllers", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread and wait for it."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def close(self) -> None:
        """Stop, and stop listening to the store."""
        self.stop()
        self.store.remove_listener(self._on_change)

    def log_lines(self, pod: dict, container: str | None, previous: bool):
        """Return [(time, line)] one container of a pod has printed by now.

        Raises ApiError 400 with the API server's message when there is
        nothing to read: an unknown container, one waiting to start, or no
        previous run.
        """
        return container_log(pod, container, previous, self.clock.now())

    def next_wakeup(self) -> float | None:
        """Return the clock time of the earliest timer, if any."""
        times = [c.next_timer() for c in self.controllers]
        return min((t for t in times if t is not None), default=None)

    # ----- internals

    def _on_change(self, event_type: str, rt, obj: dict) -> None:
        old = self.cache.apply(event_type, rt, obj)
        self._changes += 1
        for handler in self._routes.get(rt.key, ()):
            try:
                handler(event_type, obj, old)
            except Exception:
                logger.exception("controller handler %r failed on %s", handler, rt.kind)
        self._gc.on_any(event_type, rt, obj, old)
        if event_type == "DELETED":
            self.events.on_deleted(rt, obj)

    def _reconcile(self, controller, namespace: str, name: str) -> None:
        try:
            controller.reconcile(namespace, name)
        except errors.ApiError as exc:
            logger.warning(
                "%s: %s/%s: %s", controller.name, namespace, name, exc.message
            )
        except Exception:
            logger.exception(
                "%s failed to reconcile %s/%s", controller.name, namespace, name
            )

    def _work_due(self) -> bool:
        now = self.clock.time()
        return any(c.has_due(now) for c in self.controllers)

    def _prime(self) -> None:
        for controller in self.controllers:
            controller.prime()

    def _resync(self, now: float) -> None:
        self._last_resync = now
        for controller in self.controllers:
            controller.resync()

    def _follow_resets(self) -> None:
        """Start over when the store was cleared (KubeSim.reset)."""
        if self.store.epoch == self._epoch:
            return
        self._epoch = self.store.epoch
        for controller in self.controllers:
            controller.forget()
        self.events.forget()
        self.cache.load(self.store)
        bootstrap(self.store)
        self._prime()

    def _run(self, interval: float) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                self.settle(max_rounds=20)
            except Exception:
                logger.exception("controller loop failed; continuing")
            self._stopping.wait(max(0.0, interval - (time.monotonic() - started)))


def container_log(pod: dict, container: str | None, previous: bool, now):
    """Return the log lines of one container run, or raise the API's 400."""
    spec = pod.get("spec") or {}
    meta = pod["metadata"]
    name = _container_name(pod, container)
    containers = {c["name"]: c for c in spec.get("initContainers") or []}
    containers.update({c["name"]: c for c in spec.get("containers") or []})
    status = pod.get("status") or {}
    statuses = {s["name"]: s for s in status.get("initContainerStatuses") or []}
    statuses.update({s["name"]: s for s in status.get("containerStatuses") or []})
    found = statuses.get(name)
    if found is None:
        if not spec.get("nodeName"):
            raise errors.bad_request(
                f"pod {meta['name']} does not have a host assigned"
            )
        raise errors.bad_request(
            f'container "{name}" in pod "{meta["name"]}" is waiting to start: '
            "ContainerCreating"
        )
    run = _run_of(found, previous, meta["name"])
    return images.log_lines(containers[name], pod, run, now)


def _container_name(pod: dict, container: str | None) -> str:
    spec = pod.get("spec") or {}
    names = [c["name"] for c in spec.get("containers") or []]
    every = [c["name"] for c in spec.get("initContainers") or []] + names
    if not container:
        default = (pod["metadata"].get("annotations") or {}).get(
            "kubectl.kubernetes.io/default-container"
        )
        if default in every:
            return default
        if len(names) == 1:
            return names[0]
        raise errors.bad_request(
            f"a container name must be specified for pod {pod['metadata']['name']}, "
            "choose "
            f"one of: [{' '.join(names)}]"
        )
    if container not in every:
        raise errors.bad_request(
            f"container {container} is not valid for pod {pod['metadata']['name']}"
        )
    return container


def _run_of(status: dict, previous: bool, pod_name: str) -> images.Run:
    """Pick the run to read: the current one, or the last terminated one."""
    name = status["name"]
    state = status.get("state") or {}
    last = (status.get("lastState") or {}).get("terminated")
    if previous:
        if not last:
            raise errors.bad_request(
                f'previous terminated container "{name}" in pod "{pod_name}" not found'
            )
        return _terminated_run(last)
    if "running" in state:
        return images.Run(started=_time(state["running"].get("startedAt")))
    if "terminated" in state:
        return _terminated_run(state["terminated"])
    if last:
        # A container in back-off shows the logs of its latest (terminated) run.
        return _terminated_run(last)
    reason = (state.get("waiting") or {}).get("reason") or "ContainerCreating"
    if reason in ("ErrImagePull", "ImagePullBackOff"):
        reason = "trying and failing to pull image"
    raise errors.bad_request(
        f'container "{name}" in pod "{pod_name}" is waiting to start: {reason}'
    )


def _terminated_run(details: dict) -> images.Run:
    return images.Run(
        started=_time(details.get("startedAt")),
        finished=_time(details.get("finishedAt")),
        exit_code=details.get("exitCode"),
        reason=details.get("reason"),
    )


def _time(text: str | None):
    return parse_time(text) if text else None
