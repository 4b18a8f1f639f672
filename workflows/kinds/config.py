"""Config and storage kinds: ConfigMap, Secret and PersistentVolumeClaim."""

import base64
from typing import Any

from workflows.kinds import fields as f
from workflows.kinds.base import TIER_CONFIG, NodeKind, Port, RenderContext
from workflows.kinds.common import (
    add_error,
    check_labels,
    link_ref,
    merge_errors,
    metadata_fields,
)
from workflows.kinds.graph import CanvasGraph
from workflows.kinds.workloads import POD_WORKLOADS

# Kubernetes refuses ConfigMaps and Secrets over 1 MiB; leave room for metadata.
MAX_CONFIG_DATA = 1000 * 1024
SECRET_TYPES = ("Opaque", "kubernetes.io/dockerconfigjson", "kubernetes.io/tls")
REQUIRED_SECRET_KEYS = {
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}
ACCESS_MODES = ("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod")

CONFIGMAP_FIELDS = (
    *metadata_fields(),
    f.keyvalue(
        "data",
        "Data",
        key_format="config-key",
        max_total=MAX_CONFIG_DATA,
        help="Keys become file names when mounted, variable names when injected.",
    ),
)
SECRET_FIELDS = (
    *metadata_fields(),
    f.enum(
        "type",
        "Type",
        SECRET_TYPES,
        help=(
            "dockerconfigjson needs '.dockerconfigjson'; tls needs 'tls.crt' and "
            "'tls.key'."
        ),
    ),
    f.keyvalue(
        "data",
        "Data",
        key_format="config-key",
        max_total=MAX_CONFIG_DATA,
        sensitive=True,
        help=(
            "Values are encrypted at rest and never shown again; send '********' to "
            "keep one."
        ),
    ),
)
PVC_FIELDS = (
    *metadata_fields(),
    f.string(
        "storageClassName",
        "Storage class",
        format="dns-subdomain",
        help="Empty: the cluster's default class.",
    ),
    f.quantity("size", "Size", "storage", required=True, default="1Gi"),
    f.stringlist(
        "accessModes",
        "Access modes",
        default=["ReadWriteOnce"],
        min_items=1,
        unique=True,
        choices=ACCESS_MODES,
        help="ReadWriteOnce: one node at a time mounts it read-write.",
    ),
    f.enum("volumeMode", "Volume mode", ("Filesystem", "Block")),
)


def mounted_by(node: dict, graph: CanvasGraph) -> dict:
    """Return the `_linkedWorkloads` of a ConfigMap, Secret or PVC."""
    linked = []
    for edge, target in graph.targets(node["id"], *POD_WORKLOADS):
        options = edge.get("data") or {}
        ref: dict[str, Any] = {
            **link_ref(target),
            "edge": edge["id"],
            "mode": options.get("mode", "volume"),
        }
        if ref["mode"] == "volume":
            ref["mountPath"] = options.get("mountPath", "")
        linked.append(ref)
    return {"_linkedWorkloads": linked}


def check_secret(data: dict) -> dict[str, list[str]]:
    """Check that a typed Secret has the keys its type needs."""
    errors: dict[str, list[str]] = {}
    for key in REQUIRED_SECRET_KEYS.get(data.get("type", ""), ()):
        if key not in (data.get("data") or {}):
            add_error(errors, "data", f"A {data['type']} Secret needs the key {key!r}.")
    return merge_errors(errors, check_labels(data))


def check_config_map(data: dict) -> dict[str, list[str]]:
    """Check a ConfigMap's labels."""
    return check_labels(data)


def render_config_map(ctx: RenderContext) -> list[dict]:
    """Render a ConfigMap."""
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": ctx.metadata()}
    if ctx.data.get("data"):
        manifest["data"] = dict(ctx.data["data"])
    return [manifest]


def render_secret(ctx: RenderContext) -> list[dict]:
    """Render a Secret, unsealing each value into base64 `data`."""
    encoded = {
        key: base64.b64encode(ctx.reveal_value(value).encode()).decode()
        for key, value in (ctx.data.get("data") or {}).items()
    }
    manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": ctx.metadata(),
        "type": ctx.data["type"],
    }
    if encoded:
        manifest["data"] = encoded
    return [manifest]


def render_pvc(ctx: RenderContext) -> list[dict]:
    """Render a PersistentVolumeClaim."""
    data = ctx.data
    spec: dict[str, Any] = {
        "accessModes": list(data["accessModes"]),
        "resources": {"requests": {"storage": data["size"]}},
        "volumeMode": data["volumeMode"],
    }
    if data.get("storageClassName"):
        spec["storageClassName"] = data["storageClassName"]
    manifest = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": ctx.metadata(),
        "spec": spec,
    }
    return [manifest]


def _out_port(data: dict) -> list[Port]:
    return [Port("out", "out", "Link to the workloads that use it")]


def _keys_summary(data: dict) -> dict:
    return {"keys": len(data.get("data") or {})}


def _secret_summary(data: dict) -> dict:
    return {"type": data.get("type"), "keys": len(data.get("data") or {})}


def _pvc_summary(data: dict) -> dict:
    return {
        "size": data.get("size"),
        "accessModes": list(data.get("accessModes") or []),
    }


_MOUNTED_BY = {
    "_linkedWorkloads": (
        "The workloads that mount or inject it, with mode and mount path."
    )
}
_COMMON: dict[str, Any] = {
    "group": "Config & storage",
    "api_version": "v1",
    "tier": TIER_CONFIG,
    "ports": _out_port,
    "port_docs": ({"handle": "out", "direction": "out"},),
    "linked": mounted_by,
    "linked_fields": _MOUNTED_BY,
}

CONFIG_MAP = NodeKind(
    key="configmap",
    label="ConfigMap",
    icon="file-text",
    object_kind="ConfigMap",
    description=(
        "Plain configuration, mounted as files or injected as environment variables."
    ),
    fields=CONFIGMAP_FIELDS,
    health_rule="exists",
    summary_fields=("keys",),
    summary=_keys_summary,
    render=render_config_map,
    check=check_config_map,
    **_COMMON,
)
SECRET = NodeKind(
    key="secret",
    label="Secret",
    icon="key",
    object_kind="Secret",
    description=(
        "Sensitive values (passwords, tokens, certificates), encrypted at rest."
    ),
    fields=SECRET_FIELDS,
    health_rule="exists",
    summary_fields=("type", "keys"),
    summary=_secret_summary,
    render=render_secret,
    check=check_secret,
    **_COMMON,
)
PERSISTENT_VOLUME_CLAIM = NodeKind(
    key="persistentvolumeclaim",
    label="PersistentVolumeClaim",
    icon="hard-drive",
    object_kind="PersistentVolumeClaim",
    description="Persistent storage that a Deployment or StatefulSet mounts.",
    fields=PVC_FIELDS,
    health_rule="persistentvolumeclaim",
    summary_fields=("size", "accessModes"),
    summary=_pvc_summary,
    render=render_pvc,
    check=check_labels,
    **_COMMON,
)
