"""Live status streams of a workflow: a WebSocket for the editor, SSE for the API.

Both join the group ``workflow.<uuid>`` *before* reading the snapshot they
send first, so a change stored after the snapshot was read is also heard
(at worst twice, which the shapes make harmless), and every (re)connection
starts from the full current state. Event shapes are in ``runs.live``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.http import AsyncHttpConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.http import Http404

from kubeorch.models import ApiToken
from workflows.access import workflow_for_user

from . import live

logger = logging.getLogger(__name__)

# WebSocket close codes: not logged in; no such workflow for this user.
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
SSE_KEEPALIVE_SECONDS = 15.0


@database_sync_to_async
def _snapshot_for(user, workflow_id) -> dict | None:
    """Return the workflow's snapshot if the user may see it, else None."""
    try:
        workflow = workflow_for_user(user, workflow_id)
    except Http404:
        return None
    return live.build_snapshot(workflow)


@database_sync_to_async
def _may_see(user, workflow_id) -> bool:
    """Return True when the user may reach the workflow."""
    try:
        workflow_for_user(user, workflow_id)
    except Http404:
        return False
    return True


@database_sync_to_async
def _token_user(token: str):
    """Return the active user of an API token, or None."""
    found = ApiToken.objects.find(token)
    if found is None or not found.user.is_active:
        return None
    return found.user


class _LiveEvents:
    """Handlers for every event type of ``runs.live``; subclasses forward."""

    async def forward(self, event_type: str, data: dict) -> None:
        """Send one event to the client."""
        raise NotImplementedError

    async def node_status(self, message: dict) -> None:
        """Forward a node's new live health."""
        await self.forward(live.NODE_STATUS, message["data"])

    async def node_removed(self, message: dict) -> None:
        """Forward a node leaving the deployed version."""
        await self.forward(live.NODE_REMOVED, message["data"])

    async def run_status(self, message: dict) -> None:
        """Forward a run starting or ending."""
        await self.forward(live.RUN_STATUS, message["data"])

    async def run_node(self, message: dict) -> None:
        """Forward a node state recorded by a run."""
        await self.forward(live.RUN_NODE, message["data"])

    async def run_log(self, message: dict) -> None:
        """Forward a run's log line."""
        await self.forward(live.RUN_LOG, message["data"])


class WorkflowStatusConsumer(_LiveEvents, AsyncJsonWebsocketConsumer):
    """``ws/workflows/<uuid>/``: a snapshot, then every live event as JSON.

    Frames are ``{"type": <event type>, "data": <payload>}``. The client may
    send ``{"type": "snapshot"}`` to get a fresh snapshot.
    """

    group = None

    async def connect(self) -> None:
        """Accept, check access, join the group, send the snapshot."""
        await self.accept()
        user = self.scope.get("user")
        workflow_id = self.scope["url_route"]["kwargs"]["workflow_id"]
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        if not await _may_see(user, workflow_id):
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = live.group_for(workflow_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        # TODO(live-access): access is checked when connecting only; a user
        # whose share is withdrawn keeps the open stream until it closes.
        await self._send_snapshot()

    async def disconnect(self, code) -> None:
        """Leave the group."""
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        """Answer a request for a fresh snapshot; ignore anything else."""
        if isinstance(content, dict) and content.get("type") == live.SNAPSHOT:
            await self._send_snapshot()

    async def forward(self, event_type: str, data: dict) -> None:
        """Send one event as a JSON frame."""
        await self.send_json({"type": event_type, "data": data})

    async def _send_snapshot(self) -> None:
        snapshot = await _snapshot_for(self.scope["user"], self._workflow_id)
        if snapshot is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.send_json({"type": live.SNAPSHOT, "data": snapshot})

    @property
    def _workflow_id(self) -> str:
        return self.scope["url_route"]["kwargs"]["workflow_id"]


class WorkflowStatusStream(_LiveEvents, AsyncHttpConsumer):
    """``GET /v1/api/workflows/<uuid>/status/stream``: the same events as SSE.

    Authenticated by ``Authorization: Bearer <token>`` or the session; 401
    without valid credentials, 404 for a workflow the user may not reach.
    The response stays open: ``handle`` sends the headers and the snapshot
    and returns, then group events are written as they come, with a
    comment line every ``KUBEORCH_SSE_KEEPALIVE`` seconds (15).
    """

    group = None
    keepalive_task = None

    async def http_request(self, message) -> None:
        """Run ``handle`` once the request is in, and keep the response open."""
        if "body" in message:
            self.body.append(message["body"])
        if message.get("more_body"):
            return
        if not await self.handle(b"".join(self.body)):
            await self.disconnect()
            raise StopConsumer()

    async def handle(self, body: bytes) -> bool:
        """Answer 401/404, or start the stream; return True when it stays open."""
        user = await self._user()
        if user is None:
            await self._refuse(401, "Authentication credentials were not provided.")
            return False
        workflow_id = self.scope["url_route"]["kwargs"]["workflow_id"]
        if not await _may_see(user, workflow_id):
            await self._refuse(404, "No such workflow.")
            return False
        self.group = live.group_for(workflow_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_headers(
            status=200,
            headers=[
                (b"Content-Type", b"text/event-stream; charset=utf-8"),
                (b"Cache-Control", b"no-cache"),
                (b"X-Accel-Buffering", b"no"),
            ],
        )
        snapshot = await _snapshot_for(user, workflow_id)
        await self.forward(live.SNAPSHOT, snapshot)
        self.keepalive_task = asyncio.create_task(self._keep_alive())
        return True

    async def disconnect(self) -> None:
        """Stop the keep-alive and leave the group."""
        if self.keepalive_task is not None:
            self.keepalive_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.keepalive_task
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def forward(self, event_type: str, data: dict) -> None:
        """Write one event in the text/event-stream format."""
        payload = json.dumps(data, separators=(",", ":"))
        chunk = f"event: {event_type}\ndata: {payload}\n\n"
        await self.send_body(chunk.encode(), more_body=True)

    async def _keep_alive(self) -> None:
        """Write a comment line now and then so proxies keep the stream."""
        interval = getattr(settings, "KUBEORCH_SSE_KEEPALIVE", SSE_KEEPALIVE_SECONDS)
        while True:
            await asyncio.sleep(interval)
            await self.send_body(b": keep-alive\n\n", more_body=True)

    async def _user(self):
        """Return the user of the bearer token, else of the session, or None."""
        token = self._bearer_token()
        if token is not None:
            return await _token_user(token)
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            return user
        return None

    def _bearer_token(self) -> str | None:
        """Return the token of an ``Authorization: Bearer`` header."""
        for name, value in self.scope.get("headers", []):
            if name.lower() != b"authorization":
                continue
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
        return None

    async def _refuse(self, status: int, detail: str) -> None:
        """Answer an error in the API's JSON shape."""
        headers = [(b"Content-Type", b"application/json")]
        if status == 401:
            headers.append((b"WWW-Authenticate", b"Bearer"))
        body = json.dumps({"detail": detail}).encode()
        await self.send_response(status, body, headers=headers)
