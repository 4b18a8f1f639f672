"""Server-side apply, managed fields, and the three patch formats."""

from __future__ import annotations

import json
import logging

from . import errors
from .store import clone

logger = logging.getLogger(__name__)

MISSING = object()

# Lists inside a container, keyed by these fields (server-side apply keys).
_CONTAINER_LISTS = {
    "ports": ("containerPort", "protocol"),
    "env": ("name",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "resizePolicy": ("resourceName",),
}
# Lists inside a pod spec, keyed by these fields.
_POD_SPEC_LISTS = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "volumes": ("name",),
    "imagePullSecrets": ("name",),
    "hostAliases": ("ip",),
    "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"),
    "resourceClaims": ("name",),
}
_CONTAINER_FIELDS = ("containers", "initContainers", "ephemeralContainers")
# Defaults a list-map key takes when an applied item omits it.
_KEY_DEFAULTS = {"protocol": "TCP"}
_ATOMIC_SELECTORS = ("selector", "podSelector", "namespaceSelector", "labelSelector")


class Schema:
    """Merge semantics of one kind: which lists are keyed, sets or atomic."""

    def __init__(self, kind: str, custom_schema: dict | None = None) -> None:
        self.kind = kind
        self.custom_schema = custom_schema

    def list_type(self, names: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
        """Return ("map", keys), ("set", ()) or ("atomic", ()) for a list field."""
        field = names[-1]
        parent = names[-2] if len(names) > 1 else ""
        if names[0] == "metadata" and len(names) == 2:
            if field == "finalizers":
                return ("set", ())
            if field == "ownerReferences":
                return ("map", ("uid",))
        if field == "conditions":
            return ("map", ("type",))
        if parent in _CONTAINER_FIELDS and field in _CONTAINER_LISTS:
            return ("map", _CONTAINER_LISTS[field])
        if field in _POD_SPEC_LISTS and self._is_pod_spec(names[:-1]):
            return ("map", _POD_SPEC_LISTS[field])
        if self.kind == "Service" and names == ("spec", "ports"):
            return ("map", ("port", "protocol"))
        if self.custom_schema is not None:
            return self._custom_list_type(names)
        return ("atomic", ())

    def is_atomic_map(self, names: tuple[str, ...], value: dict) -> bool:
        """Return whether a map is owned and replaced as a whole."""
        if names and names[-1] in _ATOMIC_SELECTORS:
            return "matchLabels" in value or "matchExpressions" in value
        if self.custom_schema is not None:
            node = self._custom_node(names)
            return bool(node) and node.get("x-kubernetes-map-type") == "atomic"
        return False

    def _is_pod_spec(self, names: tuple[str, ...]) -> bool:
        if self.kind == "Pod" and names == ("spec",):
            return True
        return len(names) >= 2 and names[-2:] == ("template", "spec")

    def _custom_node(self, names: tuple[str, ...]) -> dict | None:
        node = self.custom_schema
        for name in names:
            if not isinstance(node, dict):
                return None
            if node.get("type") == "array":
                node = node.get("items") or {}
            node = (node.get("properties") or {}).get(name)
        return node

    def _custom_list_type(self, names: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
        node = self._custom_node(names) or {}
        list_type = node.get("x-kubernetes-list-type")
        if list_type == "map":
            return ("map", tuple(node.get("x-kubernetes-list-map-keys") or ()))
        if list_type == "set":
            return ("set", ())
        return ("atomic", ())


def item_key(item: dict, keys: tuple[str, ...]) -> dict:
    """Return the list-map key of an item (with defaulted key fields)."""
    key = {}
    for name in keys:
        if name in item:
            key[name] = item[name]
        elif name in _KEY_DEFAULTS:
            key[name] = _KEY_DEFAULTS[name]
    return key


def key_token(item: dict, keys: tuple[str, ...]) -> str:
    """Return the fieldsV1 token for a keyed list item, e.g. k:{"name":"web"}."""
    return "k:" + json.dumps(
        item_key(item, keys), separators=(",", ":"), sort_keys=True
    )


def value_token(value) -> str:
    """Return the fieldsV1 token for an item of a set list."""
    return "v:" + json.dumps(value, separators=(",", ":"), sort_keys=True)


# ----- field sets


def field_set(obj: dict, schema: Schema) -> set[tuple[str, ...]]:
    """Return the fields an object (an applied config) sets, as fieldsV1 paths."""
    paths: set[tuple[str, ...]] = set()
    for name, value in obj.items():
        if name in ("apiVersion", "kind", "status"):
            continue
        if name == "metadata":
            _metadata_fields(value or {}, schema, paths)
            continue
        _walk(value, ("f:" + name,), (name,), schema, paths)
    return paths


def _metadata_fields(meta: dict, schema: Schema, paths: set) -> None:
    for name in ("labels", "annotations", "finalizers", "ownerReferences"):
        if name in meta and meta[name] is not None:
            _walk(
                meta[name],
                ("f:metadata", "f:" + name),
                ("metadata", name),
                schema,
                paths,
            )


def _walk(value, path: tuple, names: tuple, schema: Schema, paths: set) -> None:
    if isinstance(value, dict):
        if not value or schema.is_atomic_map(names, value):
            paths.add(path)
            return
        for name, child in value.items():
            _walk(child, path + ("f:" + name,), names + (name,), schema, paths)
        return
    if isinstance(value, list):
        _walk_list(value, path, names, schema, paths)
        return
    paths.add(path)


def _walk_list(
    value: list, path: tuple, names: tuple, schema: Schema, paths: set
) -> None:
    list_type, keys = schema.list_type(names)
    if list_type == "atomic" or not value:
        paths.add(path)
        return
    for item in value:
        if list_type == "set":
            paths.add(path + (value_token(item),))
            continue
        if not isinstance(item, dict):
            paths.add(path)
            return
        item_path = path + (key_token(item, keys),)
        paths.add(item_path + (".",))
        for name, child in item.items():
            _walk(child, item_path + ("f:" + name,), names + (name,), schema, paths)


def encode_fields(paths: set[tuple[str, ...]]) -> dict:
    """Encode a field set as a fieldsV1 tree."""
    tree: dict = {}
    for path in sorted(paths):
        node = tree
        for token in path:
            node = node.setdefault(token, {})
    return tree


def decode_fields(tree: dict | None) -> set[tuple[str, ...]]:
    """Decode a fieldsV1 tree into the set of owned paths."""
    paths: set[tuple[str, ...]] = set()

    def visit(node: dict, path: tuple) -> None:
        for token, child in node.items():
            if token == ".":
                paths.add(path + (".",))
            elif child:
                visit(child, path + (token,))
            else:
                paths.add(path + (token,))

    visit(tree or {}, ())
    return paths


def value_at(obj, path: tuple[str, ...]):
    """Return the value a fieldsV1 path points at, or MISSING."""
    node = obj
    for token in path:
        if token == ".":
            return node
        if token.startswith("f:"):
            if not isinstance(node, dict) or token[2:] not in node:
                return MISSING
            node = node[token[2:]]
        elif token.startswith("k:"):
            node = _find_keyed(node, json.loads(token[2:]))
        elif token.startswith("v:"):
            wanted = json.loads(token[2:])
            node = wanted if isinstance(node, list) and wanted in node else MISSING
        if node is MISSING:
            return MISSING
    return node


def _find_keyed(node, key: dict):
    if not isinstance(node, list):
        return MISSING
    for item in node:
        if isinstance(item, dict) and item_key(item, tuple(key)) == key:
            return item
    return MISSING


def remove_at(obj: dict, path: tuple[str, ...]) -> None:
    """Remove the field or list item a path points at, pruning empty maps."""
    if path and path[-1] == ".":
        path = path[:-1]
    parents = [obj]
    node = obj
    for token in path[:-1]:
        node = _step(node, token)
        if node is MISSING:
            return
        parents.append(node)
    _remove_token(parents[-1], path[-1])
    _prune_empty(parents, path)


def _step(node, token: str):
    if token.startswith("f:"):
        return node.get(token[2:], MISSING) if isinstance(node, dict) else MISSING
    if token.startswith("k:"):
        return _find_keyed(node, json.loads(token[2:]))
    return MISSING


def _remove_token(parent, token: str) -> None:
    if token.startswith("f:") and isinstance(parent, dict):
        parent.pop(token[2:], None)
    elif token.startswith("k:") and isinstance(parent, list):
        key = json.loads(token[2:])
        parent[:] = [
            i
            for i in parent
            if not (isinstance(i, dict) and item_key(i, tuple(key)) == key)
        ]
    elif token.startswith("v:") and isinstance(parent, list):
        value = json.loads(token[2:])
        parent[:] = [i for i in parent if i != value]


def _prune_empty(parents: list, path: tuple) -> None:
    # Walk back up: drop maps that the removal left empty (never the root).
    for depth in range(len(parents) - 1, 0, -1):
        if parents[depth] not in ({}, []):
            return
        _remove_token(parents[depth - 1], path[depth - 1])


# ----- merging


def merge_applied(live, applied, names: tuple, schema: Schema):
    """Merge an applied config into a live value, keyed lists per key."""
    if isinstance(applied, dict) and isinstance(live, dict):
        if names and schema.is_atomic_map(names, applied):
            return clone(applied)
        merged = dict(live)
        for name, value in applied.items():
            if name in live:
                merged[name] = merge_applied(live[name], value, names + (name,), schema)
            else:
                merged[name] = clone(value)
        return merged
    if isinstance(applied, list) and isinstance(live, list) and names:
        list_type, keys = schema.list_type(names)
        if list_type == "map":
            return _merge_keyed(live, applied, keys, names, schema)
        if list_type == "set":
            return list(live) + [v for v in applied if v not in live]
    return clone(applied)


def _merge_keyed(live: list, applied: list, keys: tuple, names: tuple, schema: Schema):
    by_key = {
        json.dumps(item_key(i, keys), sort_keys=True): i
        for i in live
        if isinstance(i, dict)
    }
    merged, seen = [], set()
    for item in applied:
        token = json.dumps(item_key(item, keys), sort_keys=True)
        seen.add(token)
        existing = by_key.get(token)
        merged.append(
            merge_applied(existing, item, names, schema)
            if existing is not None
            else clone(item)
        )
    rest = [
        i
        for i in live
        if not isinstance(i, dict)
        or json.dumps(item_key(i, keys), sort_keys=True) not in seen
    ]
    return merged + rest


# ----- managed fields


def read_managers(obj: dict | None) -> list[dict]:
    """Return the managedFields entries with their decoded field sets."""
    if obj is None:
        return []
    entries = []
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        entries.append({**entry, "_fields": decode_fields(entry.get("fieldsV1"))})
    return entries


def write_managers(obj: dict, entries: list[dict]) -> None:
    """Store managedFields entries (dropping any left owning nothing)."""
    managed = []
    for entry in entries:
        fields = entry["_fields"]
        if not fields:
            continue
        written = {k: v for k, v in entry.items() if k != "_fields"}
        written["fieldsType"] = "FieldsV1"
        written["fieldsV1"] = encode_fields(fields)
        managed.append(written)
    meta = obj.setdefault("metadata", {})
    if managed:
        meta["managedFields"] = managed
    else:
        meta.pop("managedFields", None)


def _entry(manager, operation, api_version, stamp, fields, subresource=None) -> dict:
    entry = {
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": stamp,
        "_fields": fields,
    }
    if subresource:
        entry["subresource"] = subresource
    return entry


def _same_entry(entry: dict, manager: str, operation: str, subresource) -> bool:
    return (
        entry.get("manager") == manager
        and entry.get("operation") == operation
        and entry.get("subresource") == subresource
    )


def server_side_apply(
    rt,
    live: dict | None,
    applied: dict,
    *,
    manager: str,
    force: bool,
    stamp: str,
    schema: Schema,
    subresource: str | None = None,
) -> dict:
    """Return the object after applying a config as one field manager."""
    applied_fields = field_set(applied, schema)
    base = clone(live) if live is not None else {"metadata": {}}
    entries = read_managers(live)
    others = [e for e in entries if not _same_entry(e, manager, "Apply", subresource)]
    mine = next(
        (e for e in entries if _same_entry(e, manager, "Apply", subresource)), None
    )
    _resolve_conflicts(rt, base, applied, applied_fields, others, force)

    merged = merge_applied(base, _strip_for_merge(applied), (), schema)
    merged["metadata"] = _merge_metadata(base.get("metadata") or {}, applied, schema)
    previous = mine["_fields"] if mine else set()
    _remove_dropped_fields(merged, previous - applied_fields, others)

    entries = list(others)
    entries.append(
        _entry(manager, "Apply", rt.api_version, stamp, applied_fields, subresource)
    )
    write_managers(merged, entries)
    return merged


def _strip_for_merge(applied: dict) -> dict:
    return {k: v for k, v in applied.items() if k not in ("metadata", "status")}


def _merge_metadata(live_meta: dict, applied: dict, schema: Schema) -> dict:
    applied_meta = applied.get("metadata") or {}
    merged = dict(live_meta)
    for name in ("labels", "annotations", "finalizers", "ownerReferences"):
        if applied_meta.get(name) is not None:
            merged[name] = merge_applied(
                live_meta.get(name, type(applied_meta[name])()),
                applied_meta[name],
                ("metadata", name),
                schema,
            )
    for name in ("name", "namespace", "generateName"):
        if name in applied_meta and name not in merged:
            merged[name] = applied_meta[name]
    return merged


def _resolve_conflicts(rt, live, applied, applied_fields, others, force) -> None:
    conflicts = []
    for entry in others:
        shared = [
            p
            for p in entry["_fields"] & applied_fields
            if p[-1] != "." and value_at(live, p) != value_at(applied, p)
        ]
        if not shared:
            continue
        if force:
            entry["_fields"] = entry["_fields"] - set(shared)
            continue
        conflicts.extend((entry, path) for path in sorted(shared))
    if conflicts:
        raise _conflict_error(rt, applied, conflicts)


def _conflict_error(rt, applied: dict, conflicts: list) -> errors.ApiError:
    causes = []
    for entry, path in conflicts:
        field = path_to_string(path)
        causes.append(
            {
                "reason": "FieldManagerConflict",
                "message": f'conflict with "{entry["manager"]}"'
                + (" using " + entry["apiVersion"] if entry.get("apiVersion") else ""),
                "field": field,
            }
        )
    noun = "conflict" if len(causes) == 1 else "conflicts"
    lines = "\n".join(f"- {c['message']}: {c['field']}" for c in causes)
    message = f"Apply failed with {len(causes)} {noun}: {lines.lstrip('- ')}"
    if len(causes) > 1:
        message = f"Apply failed with {len(causes)} {noun}:\n{lines}"
    name = (applied.get("metadata") or {}).get("name", "")
    return errors.ApiError(
        409,
        "Conflict",
        message,
        causes,
        details={"name": name, "group": rt.group, "kind": rt.plural},
    )


def path_to_string(path: tuple[str, ...]) -> str:
    """Render a fieldsV1 path the way conflict messages do: .spec.replicas."""
    parts = []
    for token in path:
        if token == ".":
            continue
        if token.startswith("f:"):
            parts.append("." + token[2:])
        elif token.startswith("k:"):
            key = json.loads(token[2:])
            inner = ",".join(f"{k}={json.dumps(v)}" for k, v in key.items())
            parts.append(f"[{inner}]")
        else:
            parts.append(f"[={token[2:]}]")
    return "".join(parts)


def _remove_dropped_fields(merged: dict, dropped: set, others: list) -> None:
    owned_elsewhere = set()
    for entry in others:
        owned_elsewhere |= entry["_fields"]
    removed: list[tuple[str, ...]] = []
    # Shallowest first: a removed list item takes every field inside it along.
    for path in sorted(dropped, key=len):
        target = path[:-1] if path[-1] == "." else path
        if any(target[: len(gone)] == gone for gone in removed):
            continue
        if any(p[: len(target)] == target for p in owned_elsewhere):
            continue
        if _is_key_field(target):
            continue
        remove_at(merged, target)
        removed.append(target)


def _is_key_field(path: tuple[str, ...]) -> bool:
    """Return whether a path is a key field of a list item (never removed alone)."""
    if len(path) < 2 or not path[-2].startswith("k:") or not path[-1].startswith("f:"):
        return False
    return path[-1][2:] in json.loads(path[-2][2:])


# ----- update (non-apply) ownership


def record_update(
    rt,
    old: dict | None,
    new: dict,
    *,
    manager: str,
    stamp: str,
    schema: Schema,
    subresource: str | None = None,
) -> None:
    """Give a non-apply writer the fields it changed, taking them from others."""
    old_fields = field_set(old, schema) if old else set()
    new_fields = field_set(new, schema)
    changed = {
        p
        for p in new_fields
        if p not in old_fields or value_at(old, p) != value_at(new, p)
    }
    if subresource == "status":
        changed = _status_fields(old, new, schema)
    entries = read_managers(new if "managedFields" in new.get("metadata", {}) else old)
    removed = old_fields - new_fields if subresource != "status" else set()
    for entry in entries:
        entry["_fields"] = entry["_fields"] - changed - removed
    if changed:
        mine = next(
            (e for e in entries if _same_entry(e, manager, "Update", subresource)), None
        )
        if mine is None:
            entries.append(
                _entry(manager, "Update", rt.api_version, stamp, set(), subresource)
            )
            mine = entries[-1]
        mine["_fields"] = mine["_fields"] | changed
        mine["time"] = stamp
    write_managers(new, entries)


def _status_fields(old: dict | None, new: dict, schema: Schema) -> set:
    old_status = (
        {"status": (old or {}).get("status")} if (old or {}).get("status") else {}
    )
    new_status = {"status": new.get("status")} if new.get("status") else {}
    old_fields: set = set()
    new_fields: set = set()
    if old_status:
        _walk(old_status["status"], ("f:status",), ("status",), schema, old_fields)
    if new_status:
        _walk(new_status["status"], ("f:status",), ("status",), schema, new_fields)
    return {
        p
        for p in new_fields
        if p not in old_fields or value_at(old, p) != value_at(new, p)
    }


def manager_from_user_agent(user_agent: str | None) -> str:
    """Derive a default field manager from a User-Agent, as the server does."""
    if not user_agent:
        return "unknown"
    return user_agent.split("/", 1)[0][:128] or "unknown"


# ----- patches


def json_patch(doc, operations) -> dict:
    """Apply an RFC 6902 JSON patch; ApiError 422 when an operation fails."""
    if not isinstance(operations, list):
        raise errors.bad_request("json patch must be a list of operations")
    doc = clone(doc)
    for operation in operations:
        doc = _json_patch_operation(doc, operation)
    return doc


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _patch_failed(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _patch_failed(message: str) -> errors.ApiError:
    return errors.ApiError(
        422, "Invalid", f"the server rejected our request: {message}"
    )


def _json_patch_operation(doc, operation: dict):
    op = operation.get("op")
    path = _pointer(operation.get("path", ""))
    if op == "add":
        return _pointer_add(doc, path, clone(operation.get("value")))
    if op == "remove":
        return _pointer_remove(doc, path)[0]
    if op == "replace":
        doc, _ = _pointer_remove(doc, path)
        return _pointer_add(doc, path, clone(operation.get("value")), replace=True)
    if op == "move":
        source = _pointer(operation.get("from", ""))
        doc, value = _pointer_remove(doc, source)
        return _pointer_add(doc, path, value)
    if op == "copy":
        value = _pointer_get(doc, _pointer(operation.get("from", "")))
        return _pointer_add(doc, path, clone(value))
    if op == "test":
        if _pointer_get(doc, path) != operation.get("value"):
            raise _patch_failed(f"testing value {operation.get('path')} failed")
        return doc
    raise errors.bad_request(f"unknown json patch operation {op!r}")


def _pointer_get(doc, path: list[str]):
    node = doc
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise _patch_failed(f"doc is missing path: /{'/'.join(path)}")
    return node


def _pointer_add(doc, path: list[str], value, replace: bool = False):
    if not path:
        return value
    parent = _pointer_get(doc, path[:-1])
    last = path[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise _patch_failed(f"index {last} out of range")
    else:
        raise _patch_failed(f"cannot add to /{'/'.join(path)}")
    return doc


def _pointer_remove(doc, path: list[str]):
    if not path:
        return None, doc
    parent = _pointer_get(doc, path[:-1])
    last = path[-1]
    if isinstance(parent, dict) and last in parent:
        return doc, parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return doc, parent.pop(int(last))
    raise _patch_failed(f"doc is missing path: /{'/'.join(path)}")


def merge_patch(doc, patch):
    """Apply an RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return clone(patch)
    result = dict(doc) if isinstance(doc, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result


def strategic_merge_patch(doc: dict, patch: dict, schema: Schema) -> dict:
    """Apply a strategic merge patch with the usual merge keys and directives."""
    if not isinstance(patch, dict):
        raise errors.bad_request("strategic merge patch must be an object")
    return _smp_map(doc or {}, patch, (), schema)


def _smp_map(doc: dict, patch: dict, names: tuple, schema: Schema) -> dict:
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: clone(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return {}
    result = dict(doc) if isinstance(doc, dict) else {}
    retain = patch.get("$retainKeys")
    for name, value in patch.items():
        if name.startswith("$deleteFromPrimitiveList/"):
            field = name.split("/", 1)[1]
            result[field] = [v for v in result.get(field) or [] if v not in value]
        elif name.startswith("$"):
            # $patch, $retainKeys (handled here) and $setElementOrder (order only).
            continue
        elif value is None:
            result.pop(name, None)
        else:
            result[name] = _smp_value(
                result.get(name, MISSING), value, names + (name,), schema
            )
    if retain is not None:
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _smp_value(current, value, names: tuple, schema: Schema):
    if isinstance(value, dict):
        if schema.is_atomic_map(names, value):
            return clone(value)
        return _smp_map(
            current if isinstance(current, dict) else {}, value, names, schema
        )
    if isinstance(value, list) and isinstance(current, list):
        list_type, keys = schema.list_type(names)
        if list_type == "map":
            return _smp_keyed_list(current, value, keys[0], names, schema)
        if list_type == "set":
            return list(current) + [v for v in value if v not in current]
    if isinstance(value, list):
        return [_strip_directives(v) for v in value if not _is_delete_directive(v)]
    return clone(value)


def _is_delete_directive(item) -> bool:
    return isinstance(item, dict) and item.get("$patch") == "delete"


def _strip_directives(value):
    if isinstance(value, dict):
        return {
            k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")
        }
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def _smp_keyed_list(current: list, patch: list, key: str, names: tuple, schema: Schema):
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [_strip_directives(i) for i in patch if i.get("$patch") != "replace"]
    result = [clone(i) for i in current]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise errors.bad_request(
                f"map: {item!r} does not contain declared merge key: {key}"
            )
        index = next(
            (
                n
                for n, i in enumerate(result)
                if isinstance(i, dict) and i.get(key) == item[key]
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
            continue
        if index is None:
            result.append(_strip_directives(item))
        else:
            result[index] = _smp_map(result[index], item, names, schema)
    return result
