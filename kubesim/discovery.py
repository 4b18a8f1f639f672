"""Discovery documents (/version, /api, /apis...) and kubectl's Table output."""

from __future__ import annotations

import hashlib
import json

from . import SERVER_VERSION
from .clock import parse_time
from .resources import NAMESPACE, ResourceType

_SUBRESOURCE_VERBS = {
    "status": ["get", "patch", "update"],
    "scale": ["get", "patch", "update"],
    "log": ["get"],
    "exec": ["create", "get"],
}


def version_info() -> dict:
    """Return the /version document."""
    return {
        **SERVER_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23.8",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> dict:
    """Return the /api document (the core group's versions)."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group_document(name: str, versions: list[str]) -> dict:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(registry) -> dict:
    """Return the /apis document listing every non-core group."""
    groups = [
        _group_document(name, versions)
        for name, versions in registry.groups().items()
        if name
    ]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry, group: str) -> dict | None:
    """Return the /apis/<group> document, or None when not served."""
    versions = registry.groups().get(group)
    if not group or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_document(group, versions)}


def _verbs(rt: ResourceType) -> list[str]:
    verbs = list(rt.verbs)
    if rt.key == NAMESPACE.key:
        verbs.remove("deletecollection")
    return verbs


def _resource_entry(rt: ResourceType) -> dict:
    entry = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": _verbs(rt),
        "storageVersionHash": hashlib.sha256(
            f"{rt.group}/{rt.version}/{rt.kind}".encode()
        ).hexdigest()[:12],
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    return entry


def _subresource_entry(rt: ResourceType, sub: str) -> dict:
    entry = {
        "name": f"{rt.plural}/{sub}",
        "singularName": "",
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": _SUBRESOURCE_VERBS.get(sub, ["get"]),
    }
    if sub == "scale":
        entry.update(kind="Scale", group="autoscaling", version="v1")
    return entry


def api_resource_list(registry, group: str, version: str) -> dict | None:
    """Return the /api/v1 or /apis/<g>/<v> document, or None when not served."""
    types = [t for t in registry.all() if t.group == group and t.version == version]
    if not types:
        return None
    resources = []
    for rt in types:
        resources.append(_resource_entry(rt))
        resources.extend(_subresource_entry(rt, sub) for sub in rt.subresources)
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


# ----- Table output (what kubectl get prints)


def human_duration(seconds: float) -> str:
    """Format an age the way kubectl does (5s, 3m2s, 4h, 12d...)."""
    seconds = int(max(seconds, 0))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    years = days // 365
    if years < 8:
        return f"{years}y{days % 365}d"
    return f"{years}y"


def _age(obj: dict, now: float) -> str:
    created = (obj.get("metadata") or {}).get("creationTimestamp")
    if not created:
        return "<unknown>"
    return human_duration(now - parse_time(created).timestamp())


def _column(name: str, kind: str = "string", priority: int = 0, fmt: str = "") -> dict:
    return {
        "name": name,
        "type": kind,
        "format": fmt,
        "description": name,
        "priority": priority,
    }


def _pod_cells(pod: dict) -> list:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    containers = spec.get("containers") or []
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(s.get("restartCount", 0) for s in statuses)
    reason = status.get("reason") or status.get("phase") or "Pending"
    for container_status in statuses:
        state = container_status.get("state") or {}
        waiting = (state.get("waiting") or {}).get("reason")
        terminated = (state.get("terminated") or {}).get("reason")
        if waiting or terminated:
            reason = waiting or terminated
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating"
    node = spec.get("nodeName") or "<none>"
    return [
        f"{ready}/{len(containers)}",
        reason,
        restarts,
        status.get("podIP") or "<none>",
        node,
    ]


def _service_ports(spec: dict) -> str:
    parts = []
    for port in spec.get("ports") or []:
        text = f"{port.get('port')}"
        if port.get("nodePort"):
            text += f":{port['nodePort']}"
        parts.append(f"{text}/{port.get('protocol', 'TCP')}")
    return ",".join(parts) or "<none>"


def _service_external(obj: dict) -> str:
    ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    addresses = [i.get("ip") or i.get("hostname") for i in ingress]
    if addresses:
        return ",".join(a for a in addresses if a)
    return (
        "<pending>"
        if (obj.get("spec") or {}).get("type") == "LoadBalancer"
        else "<none>"
    )


def _deployment_cells(obj: dict) -> list:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
    ]


def _replicaset_cells(obj: dict) -> list:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [
        spec.get("replicas", 1),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
    ]


def _job_cells(obj: dict) -> list:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    conditions = {
        c.get("type"): c.get("status") for c in status.get("conditions") or []
    }
    state = "Running"
    if conditions.get("Complete") == "True":
        state = "Complete"
    elif conditions.get("Failed") == "True":
        state = "Failed"
    return [state, f"{status.get('succeeded', 0)}/{spec.get('completions', 1)}"]


def _pvc_cells(obj: dict) -> list:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [
        status.get("phase", "Pending"),
        spec.get("volumeName", ""),
        (status.get("capacity") or {}).get("storage", ""),
        ",".join(_short_mode(m) for m in status.get("accessModes") or []),
        spec.get("storageClassName") or "<unset>",
    ]


def _short_mode(mode: str) -> str:
    return {
        "ReadWriteOnce": "RWO",
        "ReadOnlyMany": "ROX",
        "ReadWriteMany": "RWX",
        "ReadWriteOncePod": "RWOP",
    }.get(mode, mode)


def _ingress_cells(obj: dict) -> list:
    spec = obj.get("spec") or {}
    hosts = [r.get("host") or "*" for r in spec.get("rules") or []]
    ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    address = ",".join(i.get("ip") or i.get("hostname") or "" for i in ingress)
    ports = "80, 443" if spec.get("tls") else "80"
    return [
        spec.get("ingressClassName") or "<none>",
        ",".join(hosts) or "*",
        address,
        ports,
    ]


def _node_cells(obj: dict) -> list:
    conditions = (obj.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), {})
    labels = (obj.get("metadata") or {}).get("labels") or {}
    roles = [
        k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")
    ]
    version = ((obj.get("status") or {}).get("nodeInfo") or {}).get(
        "kubeletVersion", ""
    )
    state = "Ready" if ready.get("status") == "True" else "NotReady"
    return [state, ",".join(roles) or "<none>", version]


# kind -> (columns before AGE, cell function, columns after AGE)
_TABLES = {
    ("", "Pod"): (
        [
            _column("Ready"),
            _column("Status"),
            _column("Restarts", "integer"),
        ],
        _pod_cells,
        [_column("IP", priority=1), _column("Node", priority=1)],
    ),
    ("apps", "Deployment"): (
        [
            _column("Ready"),
            _column("Up-to-date", "integer"),
            _column("Available", "integer"),
        ],
        _deployment_cells,
        [],
    ),
    ("apps", "ReplicaSet"): (
        [
            _column("Desired", "integer"),
            _column("Current", "integer"),
            _column("Ready", "integer"),
        ],
        _replicaset_cells,
        [],
    ),
    ("apps", "StatefulSet"): (
        [_column("Ready")],
        lambda o: [
            f"{(o.get('status') or {}).get('readyReplicas', 0)}/"
            f"{(o.get('spec') or {}).get('replicas', 1)}"
        ],
        [],
    ),
    ("", "Service"): (
        [
            _column("Type"),
            _column("Cluster-IP"),
            _column("External-IP"),
            _column("Port(s)"),
        ],
        lambda o: [
            (o.get("spec") or {}).get("type", "ClusterIP"),
            (o.get("spec") or {}).get("clusterIP") or "<none>",
            _service_external(o),
            _service_ports(o.get("spec") or {}),
        ],
        [],
    ),
    ("batch", "Job"): ([_column("Status"), _column("Completions")], _job_cells, []),
    ("batch", "CronJob"): (
        [
            _column("Schedule"),
            _column("Suspend", "boolean"),
            _column("Active", "integer"),
        ],
        lambda o: [
            (o.get("spec") or {}).get("schedule", ""),
            bool((o.get("spec") or {}).get("suspend")),
            len((o.get("status") or {}).get("active") or []),
        ],
        [],
    ),
    ("", "Namespace"): (
        [_column("Status")],
        lambda o: [(o.get("status") or {}).get("phase", "Active")],
        [],
    ),
    ("", "Node"): (
        [_column("Status"), _column("Roles")],
        _node_cells,
        [_column("Version")],
    ),
    ("", "PersistentVolumeClaim"): (
        [
            _column("Status"),
            _column("Volume"),
            _column("Capacity"),
            _column("Access Modes"),
            _column("StorageClass"),
        ],
        _pvc_cells,
        [],
    ),
    ("", "ConfigMap"): (
        [_column("Data", "integer")],
        lambda o: [len(o.get("data") or {}) + len(o.get("binaryData") or {})],
        [],
    ),
    ("", "Secret"): (
        [_column("Type"), _column("Data", "integer")],
        lambda o: [o.get("type", "Opaque"), len(o.get("data") or {})],
        [],
    ),
    ("networking.k8s.io", "Ingress"): (
        [_column("Class"), _column("Hosts"), _column("Address"), _column("Ports")],
        _ingress_cells,
        [],
    ),
}


def _custom_columns(printer_columns: list[dict]):
    before = [
        _column(c["name"], c.get("type", "string"), c.get("priority", 0))
        for c in printer_columns
    ]

    def cells(obj: dict) -> list:
        return [_json_path(obj, c.get("jsonPath", "")) for c in printer_columns]

    return before, cells, []


def _json_path(obj: dict, path: str):
    value = obj
    for part in [p for p in path.strip().lstrip(".").split(".") if p]:
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value if value is not None else ""


def table(
    rt: ResourceType,
    objects: list[dict],
    now: float,
    *,
    include_object: str = "Metadata",
    resource_version: str = "",
    printer_columns: list[dict] | None = None,
    with_columns: bool = True,
) -> dict:
    """Return the meta.k8s.io/v1 Table kubectl prints for these objects."""
    if rt.key == ("", "Event"):
        columns, rows = _event_rows(objects, now, include_object)
    else:
        columns, rows = _named_rows(rt, objects, now, include_object, printer_columns)
    document = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "rows": rows,
    }
    if with_columns:
        document["columnDefinitions"] = columns
    return document


def _named_rows(rt, objects, now, include_object, printer_columns):
    spec = _TABLES.get(rt.key)
    if printer_columns:
        spec = _custom_columns(printer_columns)
    before, cells, after = spec or ([], lambda o: [], [])
    columns = [_column("Name", fmt="name"), *before, _column("Age"), *after]
    rows = []
    for obj in objects:
        values = cells(obj)
        row_cells = [obj["metadata"]["name"], *values[: len(before)], _age(obj, now)]
        row_cells.extend(values[len(before) : len(before) + len(after)])
        rows.append({"cells": row_cells, "object": _row_object(obj, include_object)})
    return columns, rows


def _event_rows(objects, now, include_object):
    columns = [
        _column("Last Seen"),
        _column("Type"),
        _column("Reason"),
        _column("Object"),
        _column("Message"),
        _column("Count", "integer", priority=1),
        _column("Name", fmt="name", priority=1),
    ]
    rows = []
    for event in objects:
        involved = event.get("involvedObject") or {}
        seen = event.get("lastTimestamp") or event.get("eventTime")
        age = (
            human_duration(now - parse_time(seen).timestamp())
            if seen
            else _age(event, now)
        )
        cells = [
            age,
            event.get("type", ""),
            event.get("reason", ""),
            f"{involved.get('kind', '').lower()}/{involved.get('name', '')}",
            event.get("message", ""),
            event.get("count", 1),
            event["metadata"]["name"],
        ]
        rows.append({"cells": cells, "object": _row_object(event, include_object)})
    return columns, rows


def _row_object(obj: dict, include_object: str):
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata") or {},
    }


# ----- a minimal OpenAPI v3 (enough for kubectl to use server-side validation)

_WRITE_PARAMETERS = ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _operation(rt: ResourceType, action: str, parameters=()) -> dict:
    operation = {
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {
            "group": rt.group,
            "version": rt.version,
            "kind": rt.kind,
        },
        "responses": {"200": {"description": "OK"}},
    }
    if parameters:
        operation["parameters"] = [
            {"name": name, "in": "query", "schema": {"type": "string"}}
            for name in parameters
        ]
    return operation


def openapi_v3_group(registry, group: str, version: str) -> dict | None:
    """Return the OpenAPI v3 document of one group version (paths only)."""
    types = [t for t in registry.all() if t.group == group and t.version == version]
    if not types:
        return None
    paths = {}
    for rt in types:
        base = "/" + _gv_path(group, version)
        if rt.namespaced:
            base += "/namespaces/{namespace}"
        collection = f"{base}/{rt.plural}"
        paths[collection] = {
            "get": _operation(rt, "list"),
            "post": _operation(rt, "post", _WRITE_PARAMETERS),
        }
        paths[collection + "/{name}"] = {
            "get": _operation(rt, "get"),
            "put": _operation(rt, "put", _WRITE_PARAMETERS),
            "patch": _operation(rt, "patch", _WRITE_PARAMETERS),
            "delete": _operation(rt, "delete", ("dryRun",)),
        }
    return {
        "openapi": "3.0.0",
        "info": {
            "title": "Kubernetes (kubesim)",
            "version": SERVER_VERSION["gitVersion"],
        },
        "paths": paths,
        "components": {"schemas": {}},
    }


def openapi_v3_root(registry) -> dict:
    """Return the /openapi/v3 index pointing at each group version's document."""
    paths = {}
    for group, versions in registry.groups().items():
        for version in versions:
            document = openapi_v3_group(registry, group, version)
            digest = (
                hashlib.sha256(json.dumps(document, sort_keys=True).encode())
                .hexdigest()[:32]
                .upper()
            )
            path = _gv_path(group, version)
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}
