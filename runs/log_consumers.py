"""WebSocket consumers for following pod logs and for a terminal into a pod.

Both check access the same way as the REST API (`live_actions`), before
accepting: an anonymous user is refused with 4401, a workflow, node or pod
the user may not reach with 4404 (the same answer as for one that does not
exist). The cluster work runs in threads (`runs.logs.NodeLogFollower`,
`runs.terminal.ExecBridge`); what they produce is handed to the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import parse_qsl

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.http import Http404

from clusters.connection import api_client_for

from . import live_actions, logs
from .terminal import ExecBridge, TerminalError, clamp_size

logger = logging.getLogger(__name__)

UNAUTHENTICATED = 4401
NOT_FOUND = 4404
CLUSTER_ERROR = 4502
# Lines are sent in batches of at most this many, as fast as they come.
BATCH_LINES = 500


def _query(scope) -> dict[str, str]:
    return dict(parse_qsl(scope.get("query_string", b"").decode()))


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


def _number(value: str | None, default: int | None, *, low: int, high: int):
    try:
        return max(low, min(high, int(value))) if value not in (None, "") else default
    except ValueError:
        return default


class _NodeConsumer(AsyncWebsocketConsumer):
    """Shared start: who is asking, for which node, on which cluster."""

    target: live_actions.NodeTarget | None = None
    api_client = None

    async def resolve_target(self) -> bool:
        """Find the node for the user; close and return False when refused."""
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHENTICATED)
            return False
        kwargs = self.scope["url_route"]["kwargs"]
        try:
            self.target = await database_sync_to_async(
                live_actions.node_target_for_user
            )(user, kwargs["workflow_id"], kwargs["node_id"])
        except Http404:
            await self.close(code=NOT_FOUND)
            return False
        self.api_client = await database_sync_to_async(api_client_for)(
            self.target.workflow.cluster
        )
        return True

    async def find_pod(self, name: str) -> dict | None:
        """Return a pod of the node checked on the cluster, or None."""
        target = self.target
        try:
            return await asyncio.to_thread(
                logs.find_pod,
                self.api_client,
                target.namespace,
                target.workflow_id,
                target.node_id,
                name,
            )
        except (logs.PodNotFound, logs.LogsUnavailable) as error:
            logger.info("pod %s refused for node %s: %s", name, target.node_id, error)
            return None

    async def release_client(self) -> None:
        """Close the cluster client (and remove its certificate files)."""
        if self.api_client is not None:
            client, self.api_client = self.api_client, None
            await asyncio.to_thread(client.close)

    async def send_json(self, message: dict) -> None:
        """Send one JSON text frame."""
        await self.send(text_data=json.dumps(message))


class LogsConsumer(_NodeConsumer):
    """Follows a node's pod logs: lines as they come, merged across pods.

    Query: `pod` (empty: every pod of the node, new ones included),
    `container`, `tail`, `previous` (read once, then "end"), and `resume`,
    a JSON object `{"<pod>/<container>": {"ts", "seen"}}` of where the
    browser got to before it lost the connection.

    Messages: `{"type": "lines", "lines": [{pod, container, ts, text}]}`,
    `{"type": "end"}` and `{"type": "error", "message"}`.
    """

    follower: logs.NodeLogFollower | None = None
    sender: asyncio.Task | None = None

    async def connect(self) -> None:
        if not await self.resolve_target():
            return
        query = _query(self.scope)
        pod = query.get("pod") or None
        if pod and await self.find_pod(pod) is None:
            await self.release_client()
            await self.close(code=NOT_FOUND)
            return
        await self.accept()
        options = logs.LogOptions(
            container=query.get("container") or None,
            tail_lines=_number(
                query.get("tail"), logs.DEFAULT_TAIL, low=0, high=logs.MAX_TAIL
            ),
            previous=_flag(query.get("previous")),
        )
        masker = await database_sync_to_async(live_actions.masker_for)(
            self.target.workflow
        )
        if options.previous:
            await self._send_previous(options, pod, masker)
            return
        self._start_following(options, pod, masker, _cursors(query.get("resume")))

    async def _send_previous(self, options, pod: str | None, masker) -> None:
        try:
            lines, _ = await database_sync_to_async(live_actions.read_node_logs)(
                self.target, options, pod
            )
        except (logs.LogsUnavailable, logs.PodNotFound, Http404) as error:
            await self.send_json({"type": "error", "message": str(error)})
        else:
            await self.send_json(
                {"type": "lines", "lines": [x.as_dict() for x in lines]}
            )
        await self.send_json({"type": "end"})

    def _start_following(self, options, pod, masker, cursors) -> None:
        loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.follower = logs.NodeLogFollower(
            self.api_client,
            namespace=self.target.namespace,
            workflow_id=self.target.workflow_id,
            node_id=self.target.node_id,
            options=options,
            on_line=lambda line: loop.call_soon_threadsafe(self.queue.put_nowait, line),
            pods=[pod] if pod else None,
            cursors=cursors,
            masker=masker,
        )
        self.follower.start()
        self.sender = asyncio.ensure_future(self._send_lines())

    async def _send_lines(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty() and len(batch) < BATCH_LINES:
                batch.append(self.queue.get_nowait())
            await self.send_json(
                {"type": "lines", "lines": [x.as_dict() for x in batch]}
            )

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if text_data and '"ping"' in text_data:
            await self.send_json({"type": "pong"})

    async def disconnect(self, code) -> None:
        if self.sender is not None:
            self.sender.cancel()
        if self.follower is not None:
            follower, self.follower = self.follower, None
            follower.stop()
            await asyncio.to_thread(follower.join, 5.0)
        await self.release_client()


def _cursors(raw: str | None) -> dict[str, logs.LogCursor]:
    """Read the cursors a reconnecting browser sent; nonsense is ignored."""
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        str(key)[:400]: logs.LogCursor.from_dict(value)
        for key, value in list(data.items())[:200]
        if isinstance(value, dict)
    }


class TerminalConsumer(_NodeConsumer):
    """A shell in a container of a node's pod, over exec.

    Query: `container`, `cols`, `rows`. From the browser: binary frames or
    `{"type": "input", "data"}` go to stdin, `{"type": "resize", "cols",
    "rows"}` to the resize channel, `{"type": "ping"}` gets a pong. To the
    browser: binary frames of terminal output, then `{"type": "exit",
    "code", "message"}` once the shell ends. Every session is recorded as a
    TerminalSession; closing the page closes the shell.
    """

    bridge: ExecBridge | None = None
    session_id = None

    async def connect(self) -> None:
        if not await self.resolve_target():
            return
        query = _query(self.scope)
        pod_name = self.scope["url_route"]["kwargs"]["pod"]
        pod = await self.find_pod(pod_name)
        container = _container_of(pod, query.get("container")) if pod else None
        if container is None:
            await self.release_client()
            await self.close(code=NOT_FOUND)
            return
        await self.accept()
        size = clamp_size(query.get("cols", 80), query.get("rows", 24))
        await self._open(pod_name, container, size)

    async def _open(self, pod: str, container: str, size) -> None:
        loop = asyncio.get_running_loop()
        self.bridge = ExecBridge(
            self.api_client,
            namespace=self.target.namespace,
            pod=pod,
            container=container,
            size=size,
            on_output=lambda data: loop.call_soon_threadsafe(self._output, data),
            on_exit=lambda code, message: loop.call_soon_threadsafe(
                self._exited, code, message
            ),
        )
        session = await database_sync_to_async(live_actions.open_terminal_session)(
            self.target, self.scope["user"], pod, container, self.bridge.command
        )
        self.session_id = session.pk
        try:
            await asyncio.to_thread(self.bridge.open)
        except TerminalError as error:
            await self._end(None, f"error: {error}")
            await self.send_json({"type": "error", "message": str(error)})
            await self.close(code=CLUSTER_ERROR)

    def _output(self, data: bytes) -> None:
        if self.bridge is not None:
            asyncio.ensure_future(self.send(bytes_data=data))

    def _exited(self, code, message: str) -> None:
        # After disconnect() the page is gone: nobody to tell.
        if self.bridge is not None:
            asyncio.ensure_future(self._announce_exit(code, message))

    async def _announce_exit(self, code, message: str) -> None:
        await self._end(code, "exited" if message != "closed" else "closed")
        await self.send_json({"type": "exit", "code": code, "message": message})
        await self.close()

    async def receive(self, text_data=None, bytes_data=None) -> None:
        bridge = self.bridge
        if bridge is None:
            return
        if bytes_data:
            await asyncio.to_thread(bridge.write, bytes_data)
            return
        try:
            message = json.loads(text_data or "{}")
        except ValueError:
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "input" and isinstance(message.get("data"), str):
            await asyncio.to_thread(bridge.write, message["data"])
        elif kind == "resize":
            await asyncio.to_thread(
                bridge.resize, message.get("cols"), message.get("rows")
            )
        elif kind == "ping":
            await self.send_json({"type": "pong"})

    async def disconnect(self, code) -> None:
        if self.bridge is not None:
            bridge, self.bridge = self.bridge, None
            await asyncio.to_thread(bridge.close)
        await self._end(None, "closed")
        await self.release_client()

    async def _end(self, code, reason: str) -> None:
        if self.session_id is None:
            return
        session_id, self.session_id = self.session_id, None
        await database_sync_to_async(live_actions.close_terminal_session)(
            session_id, exit_code=code, reason=reason
        )


def _container_of(pod: dict, wanted: str | None) -> str | None:
    try:
        return logs.default_container(pod, wanted)
    except logs.PodNotFound:
        return None
