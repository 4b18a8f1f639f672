"""Workload kinds: Deployment, StatefulSet, DaemonSet, Job and CronJob.

Every workload runs one container described by the shared container fields.
Its pods carry the ownership labels and are selected by the workflow and
node labels; ConfigMaps, Secrets and PVCs linked by edges become volumes or
`envFrom` entries; sensitive env values go to a companion Secret named
`<name>-env` that the container reads through `secretKeyRef`, so no clear
secret ever sits in the workload's own spec.
"""

import base64
import hashlib
import json
from typing import Any

from workflows.kinds import fields as f
from workflows.kinds.base import (
    TIER_WORKLOAD,
    Identity,
    NodeKind,
    Port,
    RenderContext,
)
from workflows.kinds.common import (
    add_error,
    check_labels,
    link_ref,
    merge_errors,
    metadata_fields,
)
from workflows.kinds.formats import dns_label, parse_quantity
from workflows.kinds.graph import CanvasGraph

# TODO(containers): one container per workload; init and sidecar containers,
# security contexts and affinity are not modelled yet.
POD_WORKLOADS = ("deployment", "statefulset", "daemonset", "job", "cronjob")
SCALABLE = ("deployment", "statefulset")
ENV_SECRET_SUFFIX = "-env"
CONFIG_CHECKSUM = "kubeorch.io/config-checksum"
MAX_REPLICAS = 1000
VOLUME_PREFIXES = {
    "configmap": "cm",
    "secret": "secret",
    "persistentvolumeclaim": "pvc",
}
DEFAULT_CONTAINER = "main"

CONTAINER_PORT = (
    f.string(
        "name",
        "Port name",
        format="iana-port-name",
        max_length=15,
        help="Optional name (e.g. 'http') that Services and probes can refer to.",
    ),
    f.port(
        "containerPort",
        "Container port",
        required=True,
        help="The port the process listens on.",
    ),
    f.enum("protocol", "Protocol", ("TCP", "UDP", "SCTP")),
)
VALUE_FROM = (
    f.enum(
        "kind",
        "Source kind",
        ("secret", "configMap"),
        help="Read the value from a Secret or a ConfigMap.",
    ),
    f.string(
        "name",
        "Source name",
        required=True,
        format="dns-subdomain",
        help=(
            "Name of the Secret or ConfigMap (on the canvas or already in the cluster)."
        ),
    ),
    f.string(
        "key",
        "Source key",
        required=True,
        format="config-key",
        help="The key inside it.",
    ),
    f.boolean(
        "optional", "Optional", help="Start the container even if the key is missing."
    ),
)
ENV_VAR = (
    f.string("name", "Variable name", required=True, format="env-name", max_length=253),
    f.text(
        "value",
        "Value",
        sensitive_if="sensitive",
        max_length=64 * 1024,
        help="A plain value; leave empty when reading it from a Secret or ConfigMap.",
    ),
    f.boolean(
        "sensitive",
        "Sensitive",
        help=(
            "Encrypt the value at rest, mask it in the API, and pass it through a "
            "Secret."
        ),
    ),
    f.group(
        "valueFrom",
        "Value from",
        VALUE_FROM,
        nullable=True,
        help="Read the value from a key of a Secret or ConfigMap instead.",
    ),
)
CPU_MEMORY = (
    f.quantity("cpu", "CPU", "cpu", help="Cores, e.g. '250m' or '1'."),
    f.quantity("memory", "Memory", "memory", help="Bytes, e.g. '256Mi' or '1Gi'."),
)
RESOURCES = (
    f.group(
        "requests",
        "Requests",
        CPU_MEMORY,
        help="Reserved for the container; HPAs measure against these.",
    ),
    f.group("limits", "Limits", CPU_MEMORY, help="The most the container may use."),
)
PROBE = (
    f.enum(
        "type",
        "Check",
        ("http", "tcp", "exec", "grpc"),
        help="How the kubelet checks the container.",
    ),
    f.string(
        "path", "HTTP path", default="/", format="url-path", help="For HTTP checks."
    ),
    f.portref("port", "Port", help="Number or name; empty: the first container port."),
    f.enum("scheme", "Scheme", ("HTTP", "HTTPS"), help="For HTTP checks."),
    f.stringlist(
        "command", "Command", help="For exec checks: the command and its arguments."
    ),
    f.integer(
        "initialDelaySeconds",
        "Initial delay (s)",
        required=True,
        default=0,
        minimum=0,
        maximum=3600,
    ),
    f.integer(
        "periodSeconds",
        "Period (s)",
        required=True,
        default=10,
        minimum=1,
        maximum=3600,
    ),
    f.integer(
        "timeoutSeconds",
        "Timeout (s)",
        required=True,
        default=1,
        minimum=1,
        maximum=3600,
    ),
    f.integer(
        "failureThreshold",
        "Failure threshold",
        required=True,
        default=3,
        minimum=1,
        maximum=100,
    ),
    f.integer(
        "successThreshold",
        "Success threshold",
        required=True,
        default=1,
        minimum=1,
        maximum=100,
        help="Must be 1 for liveness and startup probes.",
    ),
)
TOLERATION = (
    f.string(
        "key",
        "Taint key",
        format="qualified-name",
        help="Empty with 'Exists': tolerate every taint.",
    ),
    f.enum("operator", "Operator", ("Equal", "Exists")),
    f.string("value", "Value", format="label-value"),
    f.enum(
        "effect",
        "Effect",
        ("", "NoSchedule", "PreferNoSchedule", "NoExecute"),
        help="Empty: every effect.",
    ),
    f.integer(
        "tolerationSeconds",
        "Toleration seconds",
        minimum=0,
        help="Only with NoExecute.",
    ),
)
VOLUME_CLAIM = (
    f.string("name", "Claim name", required=True, format="dns-label", max_length=63),
    f.quantity("size", "Size", "storage", required=True, default="1Gi"),
    f.string(
        "storageClassName",
        "Storage class",
        format="dns-subdomain",
        help="Empty: the cluster's default class.",
    ),
    f.stringlist(
        "accessModes",
        "Access modes",
        default=["ReadWriteOnce"],
        min_items=1,
        unique=True,
        choices=("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"),
    ),
    f.string("mountPath", "Mount path", required=True, format="mount-path"),
)

CONTAINER_FIELDS = (
    f.string(
        "image",
        "Image",
        required=True,
        format="image",
        max_length=1024,
        help="Container image with a tag, e.g. 'nginx:1.27'.",
    ),
    f.string(
        "containerName",
        "Container name",
        format="dns-label",
        max_length=63,
        help="Empty: the workload name when it is a DNS label, else 'main'.",
    ),
    f.items("containerPorts", "Container ports", CONTAINER_PORT, max_items=100),
    f.stringlist("command", "Command", help="Replaces the image's entrypoint."),
    f.stringlist("args", "Arguments", help="Replaces the image's default arguments."),
    f.items("env", "Environment", ENV_VAR, identity="name", max_items=500),
    f.group("resources", "Resources", RESOURCES),
    f.group(
        "livenessProbe",
        "Liveness probe",
        PROBE,
        nullable=True,
        help="Restart the container when it fails.",
    ),
    f.group(
        "readinessProbe",
        "Readiness probe",
        PROBE,
        nullable=True,
        help="Send traffic only when it passes.",
    ),
    f.group(
        "startupProbe",
        "Startup probe",
        PROBE,
        nullable=True,
        help="Hold the other probes until it passes.",
    ),
    f.enum(
        "imagePullPolicy",
        "Image pull policy",
        ("", "Always", "IfNotPresent", "Never"),
        help="Empty: Kubernetes decides (Always for ':latest').",
    ),
    f.stringlist(
        "imagePullSecrets",
        "Image pull secrets",
        format="dns-subdomain",
        unique=True,
        help="Secrets of type kubernetes.io/dockerconfigjson for private registries.",
    ),
    f.string(
        "serviceAccountName",
        "Service account",
        format="dns-subdomain",
        help="Empty: the namespace's default service account.",
    ),
    f.keyvalue(
        "nodeSelector",
        "Node selector",
        key_format="qualified-name",
        value_format="label-value",
        help="Run only on nodes with these labels.",
    ),
    f.items("tolerations", "Tolerations", TOLERATION, max_items=50),
    f.keyvalue(
        "podAnnotations",
        "Pod annotations",
        key_format="qualified-name",
        max_total=256 * 1024,
    ),
)
REPLICAS = f.integer(
    "replicas",
    "Replicas",
    required=True,
    default=1,
    minimum=0,
    maximum=MAX_REPLICAS,
    help="Ignored while an HPA scales this workload.",
)
JOB_FIELDS = (
    f.integer(
        "completions",
        "Completions",
        minimum=1,
        maximum=10000,
        help="Successful pods needed; empty: one.",
    ),
    f.integer(
        "parallelism",
        "Parallelism",
        minimum=0,
        maximum=10000,
        help="Pods running at once; empty: one.",
    ),
    f.integer(
        "backoffLimit",
        "Backoff limit",
        required=True,
        default=6,
        minimum=0,
        maximum=100,
        help="Retries before the Job is marked failed.",
    ),
    f.integer(
        "activeDeadlineSeconds",
        "Active deadline (s)",
        minimum=1,
        help="Fail the Job when it runs longer than this.",
    ),
    f.integer(
        "ttlSecondsAfterFinished",
        "Keep finished for (s)",
        minimum=0,
        help="Delete the finished Job after this long; empty: keep it.",
    ),
    f.enum("restartPolicy", "Restart policy", ("Never", "OnFailure")),
)
CRON_FIELDS = (
    f.string(
        "schedule",
        "Schedule",
        required=True,
        default="0 * * * *",
        format="cron",
        max_length=128,
        help="Five cron fields (minute hour day month weekday) or '@hourly', '@daily'…",
    ),
    f.string(
        "timeZone",
        "Time zone",
        format="time-zone",
        help="IANA name such as 'Europe/Paris'; empty: UTC.",
    ),
    f.enum(
        "concurrencyPolicy",
        "Concurrency policy",
        ("Allow", "Forbid", "Replace"),
        help="What to do when a run is due while the previous one still runs.",
    ),
    f.boolean("suspend", "Suspend", help="Schedule no new runs."),
    f.integer(
        "successfulJobsHistoryLimit",
        "Successful jobs kept",
        required=True,
        default=3,
        minimum=0,
        maximum=100,
    ),
    f.integer(
        "failedJobsHistoryLimit",
        "Failed jobs kept",
        required=True,
        default=1,
        minimum=0,
        maximum=100,
    ),
    f.integer(
        "startingDeadlineSeconds",
        "Starting deadline (s)",
        minimum=1,
        help="Skip a run that could not start within this long.",
    ),
)
WORKLOAD_LINKS = {
    "_linkedServices": "Services that select this workload's pods.",
    "_linkedConfigMaps": "ConfigMaps mounted or injected, with mode and mount path.",
    "_linkedSecrets": "Secrets mounted or injected, with mode and mount path.",
    "_linkedVolumes": "PersistentVolumeClaims mounted, with mount path.",
    "_linkedPolicies": "NetworkPolicies that select this workload's pods.",
    "_linkedAutoscaler": "The HPA that scales this workload, if any.",
}


def container_name(data: dict) -> str:
    """Return the name of the workload's container."""
    if data.get("containerName"):
        return data["containerName"]
    if data.get("name") and not dns_label(data["name"]):
        return data["name"]
    return DEFAULT_CONTAINER


def container_ports(data: dict) -> list[dict]:
    """Return the workload's container ports (possibly empty)."""
    return list(data.get("containerPorts") or [])


def env_secret_name(data: dict) -> str:
    """Return the name of the companion Secret holding sensitive env values."""
    return f"{data['name']}{ENV_SECRET_SUFFIX}"


def has_sensitive_env(data: dict) -> bool:
    """Tell whether any env value is marked sensitive."""
    return any(
        var.get("sensitive") and not var.get("valueFrom")
        for var in data.get("env") or []
    )


def resource_request(data: dict, resource: str) -> str:
    """Return the container's request for 'cpu' or 'memory' ('' when unset)."""
    return ((data.get("resources") or {}).get("requests") or {}).get(resource) or ""


def statefulset_service_name(data: dict) -> str:
    """Return the governing Service name of a StatefulSet."""
    if data.get("serviceName"):
        return data["serviceName"]
    if data.get("headlessService", True):
        return f"{data.get('name', '')}-headless"
    return data.get("name", "")


def workload_ports(data: dict) -> list[Port]:
    """Return the single inbound handle of a workload card."""
    return [
        Port(
            "in", "in", "Services, config, storage, autoscaler and policies attach here"
        )
    ]


def check_workload(data: dict) -> dict[str, list[str]]:
    """Check the rules between fields of a workload's container."""
    errors: dict[str, list[str]] = {}
    _check_container_ports(data, errors)
    _check_env(data, errors)
    _check_resources(data, errors)
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        _check_probe(data, key, errors)
    _check_tolerations(data, errors)
    if has_sensitive_env(data) and len(env_secret_name(data)) > 253:
        add_error(
            errors,
            "name",
            "Name must be at most 249 characters when env values are sensitive.",
        )
    return merge_errors(errors, check_labels(data))


def _check_container_ports(data: dict, errors: dict) -> None:
    seen_ports: set[tuple] = set()
    seen_names: set[str] = set()
    for index, item in enumerate(container_ports(data)):
        key = (item.get("containerPort"), item.get("protocol"))
        if key in seen_ports:
            add_error(
                errors,
                f"containerPorts[{index}].containerPort",
                "This port and protocol are listed twice.",
            )
        seen_ports.add(key)
        if item.get("name") and item["name"] in seen_names:
            add_error(
                errors,
                f"containerPorts[{index}].name",
                f"The port name {item['name']!r} is used twice.",
            )
        seen_names.add(item.get("name") or "")


def _check_env(data: dict, errors: dict) -> None:
    for index, var in enumerate(data.get("env") or []):
        path = f"env[{index}]"
        if var.get("valueFrom") and var.get("value"):
            add_error(
                errors,
                f"{path}.value",
                "Give either a value or a source (value from), not both.",
            )
        if var.get("valueFrom") and var.get("sensitive"):
            add_error(
                errors,
                f"{path}.sensitive",
                "A value read from a Secret or ConfigMap is not stored here.",
            )


def _check_resources(data: dict, errors: dict) -> None:
    resources = data.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    for resource in ("cpu", "memory"):
        request = parse_quantity(str(requests.get(resource) or ""))
        limit = parse_quantity(str(limits.get(resource) or ""))
        if request is not None and limit is not None and request > limit:
            add_error(
                errors,
                f"resources.requests.{resource}",
                (
                    f"The {resource} request ({requests[resource]}) is above its limit "
                    f"({limits[resource]})."
                ),
            )


def _check_probe(data: dict, key: str, errors: dict) -> None:
    probe = data.get(key)
    if not isinstance(probe, dict):
        return
    ports = container_ports(data)
    names = {item.get("name") for item in ports if item.get("name")}
    kind = probe.get("type")
    if kind in ("http", "tcp", "grpc") and probe.get("port") is None and not ports:
        add_error(
            errors,
            f"{key}.port",
            "Give a port: the container declares none to default to.",
        )
    if isinstance(probe.get("port"), str) and probe["port"] not in names:
        add_error(
            errors, f"{key}.port", f"No container port is named {probe['port']!r}."
        )
    if kind == "grpc" and isinstance(probe.get("port"), str):
        add_error(
            errors, f"{key}.port", "A gRPC check needs a port number, not a name."
        )
    if kind == "exec" and not probe.get("command"):
        add_error(errors, f"{key}.command", "An exec check needs a command.")
    if key != "readinessProbe" and probe.get("successThreshold", 1) != 1:
        add_error(
            errors,
            f"{key}.successThreshold",
            "Must be 1 for liveness and startup probes.",
        )


def _check_tolerations(data: dict, errors: dict) -> None:
    for index, item in enumerate(data.get("tolerations") or []):
        path = f"tolerations[{index}]"
        if item.get("operator") == "Exists" and item.get("value"):
            add_error(
                errors, f"{path}.value", "Must be empty when the operator is 'Exists'."
            )
        if not item.get("key") and item.get("operator") != "Exists":
            add_error(
                errors, f"{path}.operator", "Must be 'Exists' when no key is given."
            )
        if (
            item.get("tolerationSeconds") is not None
            and item.get("effect") != "NoExecute"
        ):
            add_error(
                errors,
                f"{path}.tolerationSeconds",
                "Only applies to the NoExecute effect.",
            )


def check_statefulset(data: dict) -> dict[str, list[str]]:
    """Check a StatefulSet's claims and governing Service on top of the rest."""
    errors = check_workload(data)
    service_name = statefulset_service_name(data)
    problem = service_name and dns_label(service_name)
    if problem:
        where = "serviceName" if data.get("serviceName") else "name"
        add_error(
            errors,
            where,
            (
                f"The headless Service name {service_name!r} {problem} Set the Service "
                "name."
            ),
        )
    for index, claim in enumerate(data.get("volumeClaimTemplates") or []):
        name = claim.get("name") or ""
        if "-" in name and name.split("-", 1)[0] in VOLUME_PREFIXES.values():
            message = "Names starting 'cm-', 'secret-' or 'pvc-' are reserved."
            add_error(errors, f"volumeClaimTemplates[{index}].name", message)
    return errors


def workload_links(node: dict, graph: CanvasGraph) -> dict:
    """Return the `_linked*` fields of a workload, recomputed from edges."""
    node_id = node["id"]
    autoscalers = graph.sources(node_id, "hpa")
    links: dict[str, Any] = {
        "_linkedServices": [
            link_ref(src) for _, src in graph.sources(node_id, "service")
        ],
        "_linkedConfigMaps": [
            _mount_ref(edge, src) for edge, src in graph.sources(node_id, "configmap")
        ],
        "_linkedSecrets": [
            _mount_ref(edge, src) for edge, src in graph.sources(node_id, "secret")
        ],
        "_linkedVolumes": [
            _mount_ref(edge, src)
            for edge, src in graph.sources(node_id, "persistentvolumeclaim")
        ],
        "_linkedPolicies": [
            link_ref(src) for _, src in graph.sources(node_id, "networkpolicy")
        ],
        "_linkedAutoscaler": link_ref(autoscalers[0][1]) if autoscalers else None,
    }
    return links


def _mount_ref(edge: dict, source: dict) -> dict:
    data = edge.get("data") or {}
    ref = {**link_ref(source), "edge": edge["id"], "mode": data.get("mode", "volume")}
    if ref["mode"] == "volume":
        ref["mountPath"] = data.get("mountPath", "")
    return ref


def volume_name(source: dict) -> str:
    """Return the pod volume name for a ConfigMap, Secret or PVC node."""
    name = f"{VOLUME_PREFIXES[source['type']]}-{source['id']}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(source["id"].encode()).hexdigest()[:8]
    return f"{name[:54].rstrip('-')}-{digest}"


def pod_template(
    ctx: RenderContext, restart_policy: str | None = None, *, checksum: bool = True
) -> dict:
    """Return the pod template of the workload node being rendered.

    checksum adds the config checksum annotation; a Job goes without, since
    its template cannot change once created.
    """
    data = ctx.data
    volumes, mounts, env_from = _linked_volumes(ctx)
    for claim in data.get("volumeClaimTemplates") or []:
        mounts.append({"name": claim["name"], "mountPath": claim["mountPath"]})
    container = _container(ctx, mounts, env_from)
    spec: dict[str, Any] = {"containers": [container]}
    _set_if(spec, "volumes", volumes)
    _set_if(spec, "serviceAccountName", data.get("serviceAccountName"))
    _set_if(
        spec,
        "imagePullSecrets",
        [{"name": name} for name in data.get("imagePullSecrets") or []],
    )
    _set_if(spec, "nodeSelector", dict(data.get("nodeSelector") or {}))
    _set_if(
        spec,
        "tolerations",
        [_toleration(item) for item in data.get("tolerations") or []],
    )
    _set_if(spec, "restartPolicy", restart_policy)
    metadata: dict[str, Any] = {"labels": ctx.labels()}
    annotations = dict(data.get("podAnnotations") or {})
    if checksum:
        annotations.update(_checksum_annotation(ctx))
    _set_if(metadata, "annotations", annotations)
    return {"metadata": metadata, "spec": spec}


def _container(ctx: RenderContext, mounts: list[dict], env_from: list[dict]) -> dict:
    data = ctx.data
    container: dict[str, Any] = {"name": container_name(data), "image": data["image"]}
    _set_if(container, "imagePullPolicy", data.get("imagePullPolicy"))
    _set_if(container, "command", list(data.get("command") or []))
    _set_if(container, "args", list(data.get("args") or []))
    _set_if(
        container, "ports", [_container_port(item) for item in container_ports(data)]
    )
    _set_if(container, "env", [_env_var(data, var) for var in data.get("env") or []])
    _set_if(container, "envFrom", env_from)
    _set_if(container, "resources", _resources(data.get("resources") or {}))
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        if data.get(key):
            container[key] = _probe(data[key], data)
    _set_if(container, "volumeMounts", mounts)
    return container


def _container_port(item: dict) -> dict:
    rendered: dict[str, Any] = {}
    _set_if(rendered, "name", item.get("name"))
    rendered["containerPort"] = item["containerPort"]
    rendered["protocol"] = item["protocol"]
    return rendered


def _env_var(data: dict, var: dict) -> dict:
    source = var.get("valueFrom")
    if source:
        ref_kind = "secretKeyRef" if source["kind"] == "secret" else "configMapKeyRef"
        ref: dict[str, Any] = {"name": source["name"], "key": source["key"]}
        if source.get("optional"):
            ref["optional"] = True
        return {"name": var["name"], "valueFrom": {ref_kind: ref}}
    if var.get("sensitive"):
        ref = {"name": env_secret_name(data), "key": var["name"]}
        return {"name": var["name"], "valueFrom": {"secretKeyRef": ref}}
    return {"name": var["name"], "value": var.get("value") or ""}


def _resources(resources: dict) -> dict:
    rendered = {}
    for part in ("requests", "limits"):
        values = {
            key: value for key, value in (resources.get(part) or {}).items() if value
        }
        _set_if(rendered, part, values)
    return rendered


def _probe(probe: dict, data: dict) -> dict:
    port = probe.get("port")
    if port is None and container_ports(data):
        port = container_ports(data)[0]["containerPort"]
    kind = probe["type"]
    rendered: dict[str, Any]
    if kind == "http":
        rendered = {
            "httpGet": {
                "path": probe.get("path") or "/",
                "port": port,
                "scheme": probe["scheme"],
            }
        }
    elif kind == "tcp":
        rendered = {"tcpSocket": {"port": port}}
    elif kind == "grpc":
        rendered = {"grpc": {"port": port}}
    else:
        rendered = {"exec": {"command": list(probe.get("command") or [])}}
    for key in (
        "initialDelaySeconds",
        "periodSeconds",
        "timeoutSeconds",
        "failureThreshold",
        "successThreshold",
    ):
        rendered[key] = probe[key]
    return rendered


def _toleration(item: dict) -> dict:
    rendered: dict[str, Any] = {"operator": item["operator"]}
    _set_if(rendered, "key", item.get("key"))
    _set_if(rendered, "value", item.get("value"))
    _set_if(rendered, "effect", item.get("effect"))
    if item.get("tolerationSeconds") is not None:
        rendered["tolerationSeconds"] = item["tolerationSeconds"]
    return rendered


def _linked_volumes(ctx: RenderContext) -> tuple[list, list, list]:
    """Return pod volumes, container mounts and envFrom from the edges."""
    volumes: list[dict] = []
    mounts: list[dict] = []
    env_from: list[dict] = []
    linked = ctx.graph.sources(
        ctx.node["id"], "configmap", "secret", "persistentvolumeclaim"
    )
    for edge, source in linked:
        options = edge.get("data") or {}
        name = source["data"]["name"]
        if source["type"] == "persistentvolumeclaim":
            claim: dict[str, Any] = {"claimName": name}
            mount: dict[str, Any] = {
                "name": volume_name(source),
                "mountPath": options["mountPath"],
            }
            if options.get("readOnly"):
                claim["readOnly"] = mount["readOnly"] = True
            _set_if(mount, "subPath", options.get("subPath"))
            volumes.append(
                {"name": volume_name(source), "persistentVolumeClaim": claim}
            )
            mounts.append(mount)
        elif options.get("mode") == "env":
            ref_kind = "configMapRef" if source["type"] == "configmap" else "secretRef"
            entry: dict[str, Any] = {ref_kind: {"name": name}}
            _set_if(entry, "prefix", options.get("prefix"))
            env_from.append(entry)
        else:
            if source["type"] == "configmap":
                volume = {"name": volume_name(source), "configMap": {"name": name}}
            else:
                volume = {"name": volume_name(source), "secret": {"secretName": name}}
            volumes.append(volume)
            mounts.append(
                {
                    "name": volume_name(source),
                    "mountPath": options["mountPath"],
                    "readOnly": True,
                }
            )
    return volumes, mounts, env_from


def _checksum_annotation(ctx: RenderContext) -> dict:
    """Return an annotation that changes when linked config changes.

    Pods read ConfigMaps and Secrets when they start, so a change must roll
    the workload; hashing the content into the template does that.
    """
    content: dict[str, Any] = {}
    for _, source in ctx.graph.sources(ctx.node["id"], "configmap", "secret"):
        values = source["data"].get("data") or {}
        if source["type"] == "secret":
            values = {key: ctx.reveal_value(value) for key, value in values.items()}
        content[source["id"]] = values
    env_values = _sensitive_env_values(ctx)
    if env_values:
        content["_env"] = env_values
    if not content:
        return {}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    return {CONFIG_CHECKSUM: digest}


def _sensitive_env_values(ctx: RenderContext) -> dict[str, str]:
    return {
        var["name"]: ctx.reveal_value(var.get("value") or "")
        for var in ctx.data.get("env") or []
        if var.get("sensitive") and not var.get("valueFrom")
    }


def env_secret_manifest(ctx: RenderContext) -> list[dict]:
    """Return the companion Secret of sensitive env values, if any."""
    values = _sensitive_env_values(ctx)
    if not values:
        return []
    encoded = {
        key: base64.b64encode(value.encode()).decode() for key, value in values.items()
    }
    metadata = ctx.metadata(env_secret_name(ctx.data))
    metadata.pop("annotations", None)
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata,
            "type": "Opaque",
            "data": encoded,
        }
    ]


def _selector(ctx: RenderContext) -> dict:
    return {"matchLabels": ctx.pod_selector()}


def _replicas(ctx: RenderContext) -> dict:
    # An HPA owns the replica count: applying ours would undo its scaling.
    if ctx.graph.sources(ctx.node["id"], "hpa"):
        return {}
    return {"replicas": ctx.data["replicas"]}


def render_deployment(ctx: RenderContext) -> list[dict]:
    """Render a Deployment (and its env Secret)."""
    spec = {
        **_replicas(ctx),
        "selector": _selector(ctx),
        "strategy": {"type": ctx.data["strategy"]},
        "template": pod_template(ctx),
    }
    main = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": ctx.metadata(),
        "spec": spec,
    }
    return [main, *env_secret_manifest(ctx)]


def render_statefulset(ctx: RenderContext) -> list[dict]:
    """Render a StatefulSet, its headless Service and its env Secret."""
    data = ctx.data
    spec: dict[str, Any] = {
        **_replicas(ctx),
        "serviceName": statefulset_service_name(data),
        "podManagementPolicy": data["podManagementPolicy"],
        "selector": _selector(ctx),
        "template": pod_template(ctx),
    }
    claims = [
        _claim_template(claim) for claim in data.get("volumeClaimTemplates") or []
    ]
    _set_if(spec, "volumeClaimTemplates", claims)
    main = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": ctx.metadata(),
        "spec": spec,
    }
    headless = [_headless_service(ctx)] if data["headlessService"] else []
    return [main, *headless, *env_secret_manifest(ctx)]


def _claim_template(claim: dict) -> dict:
    # No ownership labels here: the claims outlive the StatefulSet on purpose
    # and must never be pruned as if they were objects KubeOrch applied.
    spec: dict[str, Any] = {
        "accessModes": list(claim["accessModes"]),
        "resources": {"requests": {"storage": claim["size"]}},
    }
    _set_if(spec, "storageClassName", claim.get("storageClassName"))
    return {"metadata": {"name": claim["name"]}, "spec": spec}


def _headless_service(ctx: RenderContext) -> dict:
    ports = []
    for item in container_ports(ctx.data):
        name = item.get("name") or f"{item['protocol'].lower()}-{item['containerPort']}"
        ports.append(
            {
                "name": name,
                "port": item["containerPort"],
                "targetPort": item["containerPort"],
                "protocol": item["protocol"],
            }
        )
    spec: dict[str, Any] = {"clusterIP": "None", "selector": ctx.pod_selector()}
    _set_if(spec, "ports", ports)
    metadata = ctx.metadata(statefulset_service_name(ctx.data))
    metadata.pop("annotations", None)
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}


def render_daemonset(ctx: RenderContext) -> list[dict]:
    """Render a DaemonSet (and its env Secret)."""
    spec = {"selector": _selector(ctx), "template": pod_template(ctx)}
    main = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": ctx.metadata(),
        "spec": spec,
    }
    return [main, *env_secret_manifest(ctx)]


def _job_spec(ctx: RenderContext, *, checksum: bool) -> dict:
    data = ctx.data
    spec: dict[str, Any] = {"backoffLimit": data["backoffLimit"]}
    for key in (
        "completions",
        "parallelism",
        "activeDeadlineSeconds",
        "ttlSecondsAfterFinished",
    ):
        if data.get(key) is not None:
            spec[key] = data[key]
    spec["template"] = pod_template(
        ctx, restart_policy=data["restartPolicy"], checksum=checksum
    )
    return spec


def render_job(ctx: RenderContext) -> list[dict]:
    """Render a Job (and its env Secret)."""
    main = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": ctx.metadata(),
        "spec": _job_spec(ctx, checksum=False),
    }
    return [main, *env_secret_manifest(ctx)]


def render_cronjob(ctx: RenderContext) -> list[dict]:
    """Render a CronJob (and its env Secret)."""
    data = ctx.data
    spec: dict[str, Any] = {
        "schedule": data["schedule"],
        "concurrencyPolicy": data["concurrencyPolicy"],
        "suspend": data["suspend"],
        "successfulJobsHistoryLimit": data["successfulJobsHistoryLimit"],
        "failedJobsHistoryLimit": data["failedJobsHistoryLimit"],
    }
    _set_if(spec, "timeZone", data.get("timeZone"))
    if data.get("startingDeadlineSeconds") is not None:
        spec["startingDeadlineSeconds"] = data["startingDeadlineSeconds"]
    job_metadata = {"labels": ctx.labels()}
    spec["jobTemplate"] = {
        "metadata": job_metadata,
        "spec": _job_spec(ctx, checksum=True),
    }
    main = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": ctx.metadata(),
        "spec": spec,
    }
    return [main, *env_secret_manifest(ctx)]


def _set_if(target: dict, key: str, value: Any) -> None:
    """Set a key only when the value is not empty, keeping manifests tidy."""
    if value not in (None, "", [], {}):
        target[key] = value


def _env_identities(data: dict) -> list[Identity]:
    if not has_sensitive_env(data):
        return []
    return [Identity("env", "", "Secret", env_secret_name(data))]


def _statefulset_identities(data: dict) -> list[Identity]:
    headless = []
    if data.get("headlessService", True):
        where = "serviceName" if data.get("serviceName") else "name"
        headless = [Identity(where, "", "Service", statefulset_service_name(data))]
    return [*headless, *_env_identities(data)]


def _summary(*keys: str):
    def summary(data: dict) -> dict:
        return {key: data.get(key) for key in keys}

    return summary


def _statefulset_summary(data: dict) -> dict:
    claims = data.get("volumeClaimTemplates") or []
    return {
        "image": data.get("image"),
        "replicas": data.get("replicas"),
        "claims": len(claims),
    }


def _workload(
    key: str, label: str, icon: str, description: str, **options: Any
) -> NodeKind:
    options.setdefault("check", check_workload)
    options.setdefault("extra_identities", _env_identities)
    return NodeKind(
        key=key,
        label=label,
        group="Workloads",
        icon=icon,
        description=description,
        tier=TIER_WORKLOAD,
        health_rule=key,
        ports=workload_ports,
        port_docs=({"handle": "in", "direction": "in"},),
        linked=workload_links,
        linked_fields=WORKLOAD_LINKS,
        **options,
    )


DEPLOYMENT = _workload(
    "deployment",
    "Deployment",
    "layers",
    "Stateless pods kept at a replica count, updated by rolling out.",
    api_version="apps/v1",
    object_kind="Deployment",
    fields=(
        *metadata_fields(),
        REPLICAS,
        f.enum(
            "strategy",
            "Update strategy",
            ("RollingUpdate", "Recreate"),
            help="Recreate stops every old pod before starting new ones.",
        ),
        *CONTAINER_FIELDS,
    ),
    summary_fields=("image", "replicas"),
    summary=_summary("image", "replicas"),
    render=render_deployment,
)
STATEFULSET = _workload(
    "statefulset",
    "StatefulSet",
    "database",
    "Pods with stable names and their own volumes, e.g. a database.",
    api_version="apps/v1",
    object_kind="StatefulSet",
    fields=(
        *metadata_fields(),
        REPLICAS,
        f.string(
            "serviceName",
            "Service name",
            format="dns-label",
            max_length=63,
            help="The governing headless Service; empty: '<name>-headless'.",
        ),
        f.boolean(
            "headlessService",
            "Create headless Service",
            default=True,
            help=(
                "Render the headless Service with this node (pods get stable DNS "
                "names)."
            ),
        ),
        f.enum("podManagementPolicy", "Pod management", ("OrderedReady", "Parallel")),
        f.items(
            "volumeClaimTemplates",
            "Volume claim templates",
            VOLUME_CLAIM,
            identity="name",
            max_items=20,
            help="One volume per pod, kept when the pod moves.",
        ),
        *CONTAINER_FIELDS,
    ),
    summary_fields=("image", "replicas", "claims"),
    summary=_statefulset_summary,
    render=render_statefulset,
    check=check_statefulset,
    extra_identities=_statefulset_identities,
)
DAEMONSET = _workload(
    "daemonset",
    "DaemonSet",
    "server",
    "One pod on every (selected) node, e.g. an agent.",
    api_version="apps/v1",
    object_kind="DaemonSet",
    fields=(*metadata_fields(), *CONTAINER_FIELDS),
    summary_fields=("image",),
    summary=_summary("image"),
    render=render_daemonset,
)
JOB = _workload(
    "job",
    "Job",
    "play",
    "Pods that run to completion once.",
    api_version="batch/v1",
    object_kind="Job",
    fields=(*metadata_fields(), *JOB_FIELDS, *CONTAINER_FIELDS),
    summary_fields=("image", "completions"),
    summary=_summary("image", "completions"),
    render=render_job,
)
CRONJOB = _workload(
    "cronjob",
    "CronJob",
    "clock",
    "A Job started on a schedule.",
    api_version="batch/v1",
    object_kind="CronJob",
    fields=(
        *metadata_fields(max_length=52),
        *CRON_FIELDS,
        *JOB_FIELDS,
        *CONTAINER_FIELDS,
    ),
    summary_fields=("image", "schedule"),
    summary=_summary("image", "schedule"),
    render=render_cronjob,
)
WORKLOAD_KINDS = (DEPLOYMENT, STATEFULSET, DAEMONSET, JOB, CRONJOB)
