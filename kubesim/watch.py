"""Watch streams: the initial state, then every matching change from the history."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from . import errors
from .selectors import FieldSelector, LabelSelector
from .store import Event, Store, clone

logger = logging.getLogger(__name__)

# How long a watcher sleeps between checks that its client is still there.
POLL_SECONDS = 0.5


@dataclass
class WatchRequest:
    """What one watch asks for."""

    rt: object
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    resource_version: str | None
    timeout: float | None
    bookmarks: bool = False
    bookmark_interval: float = 60.0
    send_initial_events: bool | None = None


class WatchStream:
    """One watch, served until it times out, the client goes or the server stops."""

    def __init__(self, store: Store, request: WatchRequest, sink, stopping) -> None:
        self.store = store
        self.request = request
        self.sink = sink  # has send(event: dict) -> None and gone() -> bool
        self.stopping = stopping  # a threading.Event set when the server stops

    def run(self) -> None:
        """Stream events until the end; a send failure ends it quietly."""
        deadline = None
        if self.request.timeout:
            deadline = time.monotonic() + self.request.timeout
        try:
            cursor, epoch = self._start()
        except errors.ApiError as error:
            self._send_error(error)
            return
        last_sent = time.monotonic()
        while not self._finished(deadline, epoch):
            try:
                events = self.store.events_after(cursor)
            except errors.ApiError as error:
                self._send_error(error)
                return
            for event in events:
                cursor = event.rv
                sent = self._send_change(event)
                last_sent = time.monotonic() if sent else last_sent
            if self.request.bookmarks and time.monotonic() - last_sent >= (
                self.request.bookmark_interval
            ):
                self._send_bookmark(cursor)
                last_sent = time.monotonic()
            if events:
                continue
            wait = POLL_SECONDS
            if deadline is not None:
                wait = min(wait, max(deadline - time.monotonic(), 0))
            self.store.wait_for_change(cursor, epoch, wait)
        logger.debug("watch of %s ended", self.request.rt)

    def _start(self) -> tuple[int, int]:
        version = self.request.resource_version
        with self.store.lock:
            epoch = self.store.epoch
            if version not in (None, "", "0") and not self.request.send_initial_events:
                cursor = _parse_version(version)
                self.store.events_after(cursor)  # raises 410 when compacted
                return cursor, epoch
            items, cursor = self.store.list_with_version(
                self.request.rt,
                self.request.namespace,
                self.request.labels,
                self.request.fields,
            )
        for item in items:
            self.sink.send({"type": "ADDED", "object": item})
        if self.request.send_initial_events and self.request.bookmarks:
            self._send_bookmark(cursor, initial_end=True)
        return cursor, epoch

    def _finished(self, deadline, epoch: int) -> bool:
        if self.stopping.is_set() or self.store.epoch != epoch:
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return True
        return self.sink.gone()

    def _matches(self, obj: dict | None, namespace: str) -> bool:
        if obj is None:
            return False
        wanted = self.request.namespace if self.request.rt.namespaced else None
        if wanted and namespace != wanted:
            return False
        return self.request.labels.matches(
            obj["metadata"].get("labels")
        ) and self.request.fields.matches(obj)

    def _send_change(self, event: Event) -> bool:
        if event.key != self.request.rt.key:
            return False
        now = self._matches(event.obj, event.namespace)
        before = self._matches(event.old, event.namespace)
        kind = _visible_type(event.type, before, now)
        if kind is None:
            return False
        obj = clone(event.obj)
        obj["apiVersion"] = self.request.rt.api_version
        self.sink.send({"type": kind, "object": obj})
        return True

    def _send_bookmark(self, cursor: int, initial_end: bool = False) -> None:
        metadata = {"resourceVersion": str(cursor)}
        if initial_end:
            metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
        self.sink.send(
            {
                "type": "BOOKMARK",
                "object": {
                    "kind": self.request.rt.kind,
                    "apiVersion": self.request.rt.api_version,
                    "metadata": metadata,
                },
            }
        )

    def _send_error(self, error: errors.ApiError) -> None:
        self.sink.send({"type": "ERROR", "object": error.status()})


def _visible_type(kind: str, before: bool, now: bool) -> str | None:
    """Translate a change into what a filtered watcher sees."""
    if kind == "ADDED":
        return "ADDED" if now else None
    if kind == "DELETED":
        return "DELETED" if before else None
    if before and now:
        return "MODIFIED"
    if now:
        return "ADDED"
    if before:
        return "DELETED"
    return None


def _parse_version(version: str) -> int:
    try:
        return int(version)
    except ValueError as exc:
        raise errors.bad_request(f"invalid resource version {version!r}") from exc
