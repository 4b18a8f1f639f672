"""What every controller shares: the context, work queues and timers."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from .. import errors
from ..clock import format_time
from .cache import Cache

logger = logging.getLogger(__name__)

ObjectKey = tuple[str, str]  # (namespace, name)
# Errors a controller expects while the world changes under it: the object
# went away, its namespace is closing, or someone else created it first.
EXPECTED_CODES = (403, 404, 409)


@dataclass(frozen=True)
class Delays:
    """How long simulated work takes, in seconds of the clock."""

    container_create: float
    readiness: float
    crash_after: float
    run_to_completion: float
    pull_backoff_switch: float
    load_balancer: float
    ingress_address: float
    volume_bind: float
    metrics: float
    hpa_sync: float | None
    resync: float

    @classmethod
    def realistic(cls) -> Delays:
        """Return the delays of the embedded cluster: pods start in 1-2 s."""
        # Timestamps keep whole seconds, so 2.0 after the creation second is
        # 1 to 2 seconds after the real moment of creation.
        return cls(
            container_create=2.0,
            readiness=0.5,
            crash_after=1.0,
            run_to_completion=2.0,
            pull_backoff_switch=1.0,
            load_balancer=1.0,
            ingress_address=2.0,
            volume_bind=0.5,
            metrics=5.0,
            hpa_sync=15.0,
            resync=30.0,
        )

    @classmethod
    def instant(cls) -> Delays:
        """Return the delays of test mode: whatever can happen now, does."""
        return cls(
            container_create=0.0,
            readiness=0.0,
            crash_after=0.0,
            run_to_completion=0.0,
            pull_backoff_switch=0.0,
            load_balancer=0.0,
            ingress_address=0.0,
            volume_bind=0.0,
            metrics=0.0,
            hpa_sync=None,
            resync=60.0,
        )


class Context:
    """The store, the clock, the mirror and the event recorder, in one place."""

    def __init__(self, store, clock, cache: Cache, *, realistic: bool) -> None:
        self.store = store
        self.clock = clock
        self.cache = cache
        self.realistic = realistic
        self.delays = Delays.realistic() if realistic else Delays.instant()
        self.rng = random.Random()
        self.events = None  # set by the manager once the recorder exists

    def now(self) -> float:
        """Return the clock as epoch seconds."""
        return self.clock.time()

    def stamp(self) -> str:
        """Return the clock as an object timestamp."""
        return format_time(self.clock.now())

    def create(self, rt, obj: dict) -> dict | None:
        """Create an object; None when the store refuses for an expected reason."""
        try:
            return self.store.create(rt, obj)
        except errors.ApiError as exc:
            return _expected(exc, "create", rt, obj["metadata"].get("name"))

    def update(self, rt, obj: dict) -> dict | None:
        """Replace an object's metadata and spec; None when it went away."""
        try:
            return self.store.update(rt, obj)
        except errors.ApiError as exc:
            return _expected(exc, "update", rt, obj["metadata"].get("name"))

    def set_status(self, rt, obj: dict, status: dict) -> dict | None:
        """Write an object's status unless it is already that status."""
        if obj.get("status") == status:
            return obj
        meta = obj["metadata"]
        return self.store.set_status(rt, meta.get("namespace"), meta["name"], status)

    def delete(self, rt, obj: dict, propagation: str = "Background") -> None:
        """Delete an object (and, by the store's cascade, its dependents)."""
        meta = obj["metadata"]
        try:
            self.store.delete(rt, meta.get("namespace"), meta["name"], propagation)
        except errors.ApiError as exc:
            _expected(exc, "delete", rt, meta["name"])


def _expected(exc: errors.ApiError, verb: str, rt, name) -> None:
    if exc.code not in EXPECTED_CODES:
        raise exc
    logger.debug("%s %s %s refused: %s", verb, rt.kind, name, exc.message)
    return None


class Controller:
    """A reconcile loop over one kind: dirty keys plus timers, level-triggered.

    Subclasses set `primary` (the type they reconcile), fill `watches` with
    {type key: handler(event_type, obj, old)} to turn changes into keys, and
    implement `reconcile(namespace, name)`, which reads the mirror and writes
    through the store only what differs.
    """

    primary = None
    name = "controller"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.cache = ctx.cache
        self._dirty: set[ObjectKey] = set()
        self._timers: dict[ObjectKey, float] = {}
        self.watches: dict = {}
        if self.primary is not None:
            self.watches[self.primary.key] = self.on_primary

    # ----- queueing

    def enqueue(self, key: ObjectKey) -> None:
        """Reconcile this object in the next step."""
        self._dirty.add(key)

    def enqueue_obj(self, obj: dict) -> None:
        """Reconcile the object with this metadata in the next step."""
        meta = obj["metadata"]
        self._dirty.add((meta.get("namespace") or "", meta["name"]))

    def enqueue_at(self, key: ObjectKey, when: float) -> None:
        """Reconcile this object once the clock reaches `when`."""
        if when <= self.ctx.now():
            self._dirty.add(key)
            return
        current = self._timers.get(key)
        if current is None or when < current:
            self._timers[key] = when

    def on_primary(self, event_type: str, obj: dict, old: dict | None) -> None:
        """Queue the object itself whenever it changes."""
        self.enqueue_obj(obj)

    def enqueue_owner(self, obj: dict, kind: str) -> None:
        """Queue the controlling owner of obj when it is of this kind."""
        for ref in obj["metadata"].get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") == kind:
                self._dirty.add((obj["metadata"].get("namespace") or "", ref["name"]))

    def prime(self) -> None:
        """Replay every existing object of the primary type as if just added."""
        if self.primary is None:
            return
        for obj in self.cache.list(self.primary):
            self.watches[self.primary.key]("ADDED", obj, None)

    def resync(self) -> None:
        """Queue every object of the primary type (a periodic safety net)."""
        if self.primary is None:
            return
        for obj in self.cache.list(self.primary):
            self.enqueue_obj(obj)

    def take_due(self, now: float) -> list[ObjectKey]:
        """Return (and forget) the keys to reconcile now, in a stable order."""
        for key, when in list(self._timers.items()):
            if when <= now:
                del self._timers[key]
                self._dirty.add(key)
        keys = sorted(self._dirty)
        self._dirty.clear()
        return keys

    def has_due(self, now: float) -> bool:
        """Return whether some key waits to be reconciled now."""
        return bool(self._dirty) or any(when <= now for when in self._timers.values())

    def next_timer(self) -> float | None:
        """Return the earliest timer, if any."""
        return min(self._timers.values(), default=None)

    def forget(self) -> None:
        """Drop every queued key and timer (after the store was cleared)."""
        self._dirty.clear()
        self._timers.clear()

    # ----- work

    def reconcile(self, namespace: str, name: str) -> None:
        """Bring one object's children and status in line with its spec."""
        raise NotImplementedError
