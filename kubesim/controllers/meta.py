"""Object metadata helpers the controllers share: owners, conditions, hashes."""

from __future__ import annotations

import json
import random
from datetime import datetime

from ..clock import format_time, parse_time
from ..store import clone

NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def owner_reference(owner: dict, rt) -> dict:
    """Return a controller ownerReference pointing at owner."""
    meta = owner["metadata"]
    return {
        "apiVersion": rt.api_version,
        "kind": rt.kind,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_uid(obj: dict) -> str | None:
    """Return the uid of the object's controlling owner, if any."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def is_deleting(obj: dict) -> bool:
    """Return whether the object carries a deletionTimestamp."""
    return bool(obj["metadata"].get("deletionTimestamp"))


def random_suffix(rng: random.Random, length: int = 5) -> str:
    """Return the random lowercase suffix the API server gives generated names."""
    return "".join(rng.choice(NAME_ALPHABET) for _ in range(length))


def template_hash(template: dict, collisions: int = 0) -> str:
    """Return a pod-template-hash style value: FNV-32a, safe-encoded."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"))
    value = _fnv32a((canonical + (f"#{collisions}" if collisions else "")).encode())
    # Each decimal digit maps onto an alphabet without vowels, as Kubernetes does,
    # so hashes never spell words and look like the real "5d59d67564".
    return "".join(
        NAME_ALPHABET[ord(digit) % len(NAME_ALPHABET)] for digit in str(value)
    )


def _fnv32a(data: bytes) -> int:
    value = _FNV_OFFSET
    for byte in data:
        value ^= byte
        value = (value * _FNV_PRIME) & 0xFFFFFFFF
    return value


def without_label(template: dict, label: str) -> dict:
    """Return a copy of a pod template without one label."""
    copied = clone(template or {})
    labels = (copied.get("metadata") or {}).get("labels")
    if labels and label in labels:
        del labels[label]
    return copied


def stamp(moment: datetime) -> str:
    """Format a time the way object timestamps are written."""
    return format_time(moment)


def seconds_of(text: str | None) -> float | None:
    """Return epoch seconds of an RFC 3339 timestamp, None when missing."""
    if not text:
        return None
    return parse_time(text).timestamp()


def find_condition(status: dict | None, kind: str) -> dict | None:
    """Return the condition of a given type from a status, if present."""
    for condition in (status or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition
    return None


def condition_is(status: dict | None, kind: str, value: str = "True") -> bool:
    """Return whether a status has a condition of this type with this status."""
    condition = find_condition(status, kind)
    return condition is not None and condition.get("status") == value


def make_condition(
    previous: dict | None,
    kind: str,
    status: str,
    reason: str | None,
    message: str | None,
    now: str,
    *,
    probe_time: bool = False,
) -> dict:
    """Return a condition, keeping lastTransitionTime while the status holds."""
    same = previous is not None and previous.get("status") == status
    condition = {"type": kind, "status": status}
    if probe_time:
        condition["lastProbeTime"] = None
    condition["lastTransitionTime"] = (
        previous.get("lastTransitionTime", now) if same else now
    )
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def drop_zero(status: dict, *fields: str) -> dict:
    """Remove integer fields that are zero (they are omitempty in the API)."""
    for field in fields:
        if not status.get(field):
            status.pop(field, None)
    return status


def percent_or_int(value, total: int, *, round_up: bool) -> int:
    """Resolve an IntOrString like maxSurge ("25%" or 2) against a total."""
    if value is None:
        return 0
    if isinstance(value, str) and value.endswith("%"):
        share = total * int(value[:-1] or 0) / 100
        return int(-(-share // 1)) if round_up else int(share // 1)
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
