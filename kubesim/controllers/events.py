"""v1 Events: recorded by the controllers, aggregated by count, kept bounded."""

from __future__ import annotations

import logging

from ..resources import EVENT
from ..store import clone
from .base import Context, Controller
from .meta import seconds_of

logger = logging.getLogger(__name__)

MAX_EVENTS_PER_NAMESPACE = 1000
EVENT_TTL_SECONDS = 3600


class EventRecorder:
    """Write Events like the real components: repeats bump count and lastTimestamp."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._index: dict[tuple, str] = {}  # what was said -> the Event saying it
        self._said: dict[tuple[str, str], tuple] = {}  # (namespace, Event) -> key
        self._last: dict[str, dict[str, str]] = {}  # uid -> reason -> last message

    def record(
        self,
        obj: dict,
        rt,
        event_type: str,
        reason: str,
        message: str,
        component: str,
        *,
        host: str | None = None,
        field_path: str | None = None,
        times: int = 1,
    ) -> None:
        """Record that something happened to obj (a repeat increments the count)."""
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        key = (
            namespace,
            meta.get("uid"),
            event_type,
            reason,
            message,
            component,
            field_path,
        )
        self._last.setdefault(meta.get("uid"), {})[reason] = message
        existing = self._existing(key)
        if existing is not None:
            self._bump(existing, times)
            return
        created = self.ctx.create(
            EVENT,
            self._new_event(
                obj,
                rt,
                namespace,
                event_type,
                reason,
                message,
                component,
                host,
                field_path,
            ),
        )
        if created is not None:
            self._index[key] = created["metadata"]["name"]
            self._said[(namespace, created["metadata"]["name"])] = key
            if times > 1:
                self._bump(created, times - 1)
            self._trim(namespace)

    def record_once(
        self,
        obj: dict,
        rt,
        event_type: str,
        reason: str,
        message: str,
        component: str,
        **kwargs,
    ) -> None:
        """Record an event unless the same reason and message was the last one told."""
        if self._last.get(obj["metadata"].get("uid"), {}).get(reason) == message:
            return
        self.record(obj, rt, event_type, reason, message, component, **kwargs)

    def forget(self) -> None:
        """Drop the aggregation index (after the store was cleared)."""
        self._index.clear()
        self._said.clear()
        self._last.clear()

    def on_deleted(self, rt, obj: dict) -> None:
        """Forget what was said about a deleted object, or by a deleted Event."""
        meta = obj["metadata"]
        if rt.key == EVENT.key:
            key = self._said.pop((meta.get("namespace") or "", meta["name"]), None)
            if key is not None and self._index.get(key) == meta["name"]:
                del self._index[key]
            return
        self._last.pop(meta.get("uid"), None)

    def _existing(self, key: tuple) -> dict | None:
        name = self._index.get(key)
        if name is None:
            return None
        return self.ctx.cache.get(EVENT, key[0], name)

    def _bump(self, event: dict, times: int) -> None:
        updated = clone(event)
        updated["count"] = int(event.get("count") or 1) + times
        updated["lastTimestamp"] = self.ctx.stamp()
        self.ctx.update(EVENT, updated)

    def _new_event(
        self,
        obj,
        rt,
        namespace,
        event_type,
        reason,
        message,
        component,
        host,
        field_path,
    ) -> dict:
        meta = obj["metadata"]
        involved = {
            "kind": rt.kind,
            "apiVersion": rt.api_version,
            "name": meta["name"],
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        }
        if meta.get("namespace"):
            involved["namespace"] = meta["namespace"]
        if field_path:
            involved["fieldPath"] = field_path
        source = {"component": component}
        if host:
            source["host"] = host
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": self._event_name(meta["name"], namespace),
                "namespace": namespace,
            },
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": self.ctx.stamp(),
            "lastTimestamp": self.ctx.stamp(),
            "count": 1,
            "type": event_type,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": host or "",
        }

    def _event_name(self, name: str, namespace: str) -> str:
        nanos = int(self.ctx.now() * 1e9)
        while True:
            candidate = f"{name}.{nanos:x}"
            if self.ctx.cache.get(EVENT, namespace, candidate) is None:
                return candidate
            nanos += 1

    def _trim(self, namespace: str) -> None:
        if self.ctx.cache.count(EVENT, namespace) <= MAX_EVENTS_PER_NAMESPACE:
            return
        events = sorted(self.ctx.cache.list(EVENT, namespace), key=_last_seen)
        for event in events[: MAX_EVENTS_PER_NAMESPACE // 10]:
            self.ctx.delete(EVENT, event)


def _last_seen(event: dict) -> tuple:
    return (event.get("lastTimestamp") or "", event["metadata"]["name"])


class EventController(Controller):
    """Expire Events an hour after they were last seen, as the API server does."""

    name = "events"

    def resync(self) -> None:
        """Delete events older than the TTL."""
        horizon = self.ctx.now() - EVENT_TTL_SECONDS
        for event in self.cache.list(EVENT):
            last = seconds_of(event.get("lastTimestamp"))
            if last is not None and last < horizon:
                self.ctx.delete(EVENT, event)
