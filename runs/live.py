"""Live status on the channel layer: group names, event shapes, snapshots.

Everything a browser or an integrator hears about a workflow goes to one
group, ``workflow.<uuid>``. A channel-layer message is ``{"type": <event
type>, "data": <payload>}``; the WebSocket consumer sends the same dict as
JSON and the SSE consumer sends ``event: <type>`` and ``data: <payload>``.
Payloads are plain JSON (strings for times and ids) because channels-redis
serializes them with msgpack.

Event types:

- ``snapshot``: sent first on every (re)connection, never on the layer;
- ``node.status``: the watcher saw a node's live health change;
- ``node.removed``: a node is no longer part of the deployed version;
- ``run.status``: the latest run of the workflow started or finished;
- ``run.node``: a run recorded a node state (pending, applying, healthy...);
- ``run.log``: a run recorded a log line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from .models import NodeStatus, Run, RunLogLine, RunNodeState

logger = logging.getLogger(__name__)

SNAPSHOT = "snapshot"
NODE_STATUS = "node.status"
NODE_REMOVED = "node.removed"
RUN_STATUS = "run.status"
RUN_NODE = "run.node"
RUN_LOG = "run.log"
EVENT_TYPES = (NODE_STATUS, NODE_REMOVED, RUN_STATUS, RUN_NODE, RUN_LOG)

# How many of the latest run's log lines a snapshot carries.
SNAPSHOT_LOG_LINES = 100


def group_for(workflow_id) -> str:
    """Return the channel-layer group of a workflow."""
    return f"workflow.{workflow_id}"


def message(event_type: str, data: dict) -> dict:
    """Return the channel-layer message of one event."""
    return {"type": event_type, "data": data}


def _time(value) -> str | None:
    """Return an aware datetime as ISO 8601, or None."""
    return value.isoformat() if value is not None else None


# --- Payloads ----------------------------------------------------------------


def node_status_data(status: NodeStatus) -> dict:
    """Return the payload of a node's live health."""
    return {
        "workflow_id": str(status.workflow_id),
        "node_id": status.node_id,
        "kind": status.kind,
        "state": status.state,
        "message": status.message,
        "ready": status.ready,
        "desired": status.desired,
        "health": status.health,
        "observed_at": _time(status.observed_at),
    }


def node_removed_data(workflow_id, node_id: str) -> dict:
    """Return the payload of a node that left the deployed version."""
    return {"workflow_id": str(workflow_id), "node_id": node_id}


def run_status_data(run: Run) -> dict:
    """Return the payload of a run's status (needs run.version loaded)."""
    return {
        "workflow_id": str(run.workflow_id),
        "run_id": str(run.pk),
        "status": run.status,
        "version": run.version.number,
        "summary": run.summary,
        "started_at": _time(run.started_at),
        "completed_at": _time(run.completed_at),
        "duration_ms": run.duration_ms,
    }


def run_node_data(workflow_id, run_id, state: RunNodeState) -> dict:
    """Return the payload of a node state recorded by a run."""
    return {
        "workflow_id": str(workflow_id),
        "run_id": str(run_id),
        "node_id": state.node_id,
        "kind": state.kind,
        "state": state.state,
        "message": state.message,
        "health": state.health,
        "updated_at": _time(state.updated_at),
    }


def run_log_data(workflow_id, line: RunLogLine) -> dict:
    """Return the payload of one run log line."""
    return {
        "workflow_id": str(workflow_id),
        "run_id": str(line.run_id),
        "id": line.pk,
        "at": _time(line.at),
        "level": line.level,
        "node_id": line.node_id,
        "message": line.message,
    }


# --- Snapshots ---------------------------------------------------------------


def build_snapshot(workflow) -> dict:
    """Return the full current state of a workflow for a new connection."""
    nodes = NodeStatus.objects.filter(workflow=workflow).order_by("node_id")
    run = (
        Run.objects.filter(workflow=workflow)
        .select_related("version")
        .order_by("-started_at")
        .first()
    )
    return {
        "workflow_id": str(workflow.pk),
        "state": workflow_state(status.state for status in nodes),
        "nodes": [node_status_data(status) for status in nodes],
        "run": _run_snapshot(run) if run is not None else None,
    }


def _run_snapshot(run: Run) -> dict:
    """Return the latest run's status, node states and last log lines."""
    states = run.node_states.order_by("node_id")
    lines = list(run.log_lines.order_by("-id")[:SNAPSHOT_LOG_LINES])
    return {
        **run_status_data(run),
        "node_states": [run_node_data(run.workflow_id, run.pk, s) for s in states],
        "logs": [run_log_data(run.workflow_id, line) for line in reversed(lines)],
    }


def workflow_state(states: Iterable[str]) -> str:
    """Return the worst of the node states ("unknown" when there are none)."""
    order = list(NodeStatus.State.values)
    states = list(states)
    if not states:
        return NodeStatus.State.UNKNOWN
    return max(states, key=order.index)


# --- Publishing from synchronous code ----------------------------------------


def publish(workflow_id, events: list[tuple[str, dict]]) -> bool:
    """Send events to a workflow's group in order; False when the layer failed.

    For synchronous callers (the Celery worker); a failure is logged and
    swallowed, because live updates must never break what they report on.
    """
    layer = get_channel_layer()
    if layer is None or not events:
        return False
    group = group_for(workflow_id)
    try:
        async_to_sync(_send_all)(layer, group, events)
    except Exception as error:
        logger.warning(
            "could not publish %s events to %s: %r", len(events), group, error
        )
        return False
    return True


async def _send_all(layer, group: str, events: list[tuple[str, dict]]) -> None:
    """Send events one after the other, keeping their order."""
    for event_type, data in events:
        await layer.group_send(group, message(event_type, data))
