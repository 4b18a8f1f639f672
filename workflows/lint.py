"""Find problems in a canvas that validation cannot: it is well-formed, but
it will not work. Errors stop a run before anything is applied; warnings are
shown and the run goes on.

References to objects that are not on the canvas (an env value read from a
Secret, an image pull secret, a TLS certificate) are warnings: they may exist
in the cluster already. A reference to an object that *is* on the canvas but
lacks the key is an error, since the canvas says what that object holds.
"""

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from workflows.canvas import CanvasGraph, CanvasInvalid, normalize_canvas
from workflows.kinds.base import NODE_LABEL
from workflows.kinds.config import REQUIRED_SECRET_KEYS
from workflows.kinds.networking import (
    ingress_backend,
    policy_targets,
    service_ports,
    service_target,
)
from workflows.kinds.scaling import hpa_target
from workflows.kinds.workloads import (
    POD_WORKLOADS,
    container_ports,
    resource_request,
    statefulset_service_name,
)

logger = logging.getLogger(__name__)

ERROR = "error"
WARNING = "warning"
SINGLE_WRITER_MODES = ("ReadWriteOnce", "ReadWriteOncePod")


@dataclass(frozen=True)
class Finding:
    """One problem found on one node ("" for the canvas as a whole)."""

    node_id: str
    level: str
    code: str
    message: str


class _Canvas:
    """The normalized canvas with lookups the rules share."""

    def __init__(self, nodes: list[dict], edges: list[dict], namespace: str) -> None:
        self.nodes = nodes
        self.graph = CanvasGraph(nodes, edges)
        self.namespace = namespace

    def namespace_of(self, node: dict) -> str:
        return node["data"].get("namespace") or self.namespace

    def named(self, node_type: str, name: str, namespace: str) -> dict | None:
        """Return the node of a type with that name in that namespace."""
        for node in self.nodes:
            if (
                node["type"] == node_type
                and node["data"]["name"] == name
                and self.namespace_of(node) == namespace
            ):
                return node
        return None


Rule = Callable[[dict, _Canvas], Iterator[Finding]]


def lint_canvas(
    nodes: list[dict], edges: list[dict], *, namespace: str | None = None
) -> list[Finding]:
    """Return the findings for a canvas, errors and warnings, in node order.

    A canvas that does not validate gives one error finding per problem
    (code "invalid") instead of raising.
    """
    try:
        clean_nodes, clean_edges = normalize_canvas(nodes, edges, namespace=namespace)
    except CanvasInvalid as exc:
        return list(_invalid_findings(exc.errors))
    canvas = _Canvas(clean_nodes, clean_edges, namespace or "")
    findings = []
    for node in clean_nodes:
        for rule in RULES.get(node["type"], ()):
            findings.extend(rule(node, canvas))
    logger.debug("lint found %s problem(s)", len(findings))
    return findings


def has_errors(findings: list[Finding]) -> bool:
    """Tell whether any finding stops a run."""
    return any(finding.level == ERROR for finding in findings)


def _invalid_findings(errors: dict) -> Iterator[Finding]:
    for node_id, paths in errors["nodes"].items():
        for path, messages in paths.items():
            for message in messages:
                yield Finding(node_id, ERROR, "invalid", f"{path}: {message}")
    for edge_id, paths in errors["edges"].items():
        for path, messages in paths.items():
            for message in messages:
                yield Finding("", ERROR, "invalid", f"edge {edge_id} {path}: {message}")
    for message in errors["canvas"]:
        yield Finding("", ERROR, "invalid", message)


def _service_selector(node: dict, canvas: _Canvas) -> Iterator[Finding]:
    selector = node["data"].get("selector") or {}
    name = node["data"]["name"]
    if service_target(canvas.graph, node["id"]):
        if selector:
            message = (
                f"Service {name!r} is linked to a workload, so its own selector "
                "is ignored."
            )
            yield Finding(node["id"], WARNING, "service-selector-ignored", message)
        return
    if not selector:
        message = (
            f"Service {name!r} selects no pods: link it to a workload or give it "
            "a selector."
        )
        yield Finding(node["id"], WARNING, "service-selects-nothing", message)
        return
    workloads = [other for other in canvas.nodes if other["type"] in POD_WORKLOADS]
    if not any(_selects(node, selector, workload, canvas) for workload in workloads):
        shown = ", ".join(f"{key}={value}" for key, value in selector.items())
        message = (
            f"Service {name!r} selects {shown}, which matches no workload on the "
            "canvas; "
            "link it to its workload unless those pods come from elsewhere."
        )
        yield Finding(node["id"], WARNING, "service-selects-nothing", message)


def _selects(service: dict, selector: dict, workload: dict, canvas: _Canvas) -> bool:
    """Tell whether a selector matches the labels of a workload's pods."""
    if canvas.namespace_of(service) != canvas.namespace_of(workload):
        return False
    labels = {**(workload["data"].get("labels") or {}), NODE_LABEL: workload["id"]}
    return all(labels.get(key) == value for key, value in selector.items())


def _service_ports(node: dict, canvas: _Canvas) -> Iterator[Finding]:
    workload = service_target(canvas.graph, node["id"])
    if not workload:
        return
    ports = container_ports(workload["data"])
    numbers = {item["containerPort"] for item in ports}
    names = {item["name"] for item in ports if item.get("name")}
    name, workload_name = node["data"]["name"], workload["data"]["name"]
    for item in service_ports(node["data"]):
        target = item.get("targetPort")
        if target is None and not ports:
            message = (
                f"{workload_name!r} declares no container port, so Service {name!r} "
                "sends port "
                f"{item['port']} to the same port on the pods."
            )
            yield Finding(node["id"], WARNING, "service-port-guessed", message)
        elif isinstance(target, str) and target not in names:
            message = (
                f"Service {name!r} targets port {target!r}, but "
                f"{workload_name!r} has no container port of that name."
            )
            yield Finding(node["id"], ERROR, "service-port-mismatch", message)
        elif isinstance(target, int) and ports and target not in numbers:
            shown = ", ".join(str(number) for number in sorted(numbers))
            message = (
                f"Service {name!r} targets port {target}, but {workload_name!r} "
                f"listens on {shown}: "
                "clear the target port to follow the workload."
            )
            yield Finding(node["id"], ERROR, "service-port-mismatch", message)


def _hpa(node: dict, canvas: _Canvas) -> Iterator[Finding]:
    data, name = node["data"], node["data"]["name"]
    target = hpa_target(canvas.graph, node["id"])
    if not target:
        yield Finding(
            node["id"],
            ERROR,
            "hpa-without-target",
            f"HPA {name!r} scales nothing: link it to a workload.",
        )
        return
    workload_name = target["data"]["name"]
    for resource, key in (
        ("cpu", "targetCPUUtilization"),
        ("memory", "targetMemoryUtilization"),
    ):
        if data.get(key) is not None and not resource_request(target["data"], resource):
            message = (
                f"HPA {name!r} has a {resource} target but {workload_name!r} sets no "
                f"{resource} request, "
                f"so it can never scale: add a {resource} request to {workload_name!r}."
            )
            yield Finding(
                node["id"], ERROR, f"hpa-without-{resource}-requests", message
            )


def _env_references(node: dict, canvas: _Canvas) -> Iterator[Finding]:
    namespace = canvas.namespace_of(node)
    for var in node["data"].get("env") or []:
        source = var.get("valueFrom")
        if not source or source.get("optional"):
            continue
        node_type = "secret" if source["kind"] == "secret" else "configmap"
        label = "Secret" if node_type == "secret" else "ConfigMap"
        referenced = canvas.named(node_type, source["name"], namespace)
        if referenced is None:
            message = (
                f"env {var['name']} reads {label} {source['name']!r}, which is not on "
                "the canvas: "
                "the pods will not start unless it exists in the cluster."
            )
            yield Finding(node["id"], WARNING, "dangling-reference", message)
        elif source["key"] not in (referenced["data"].get("data") or {}):
            message = (
                f"env {var['name']} reads key {source['key']!r} of {label} "
                f"{source['name']!r}, "
                f"which has no such key: add it on {referenced['id']!r}."
            )
            yield Finding(node["id"], ERROR, "missing-key", message)


def _pull_secrets(node: dict, canvas: _Canvas) -> Iterator[Finding]:
    namespace = canvas.namespace_of(node)
    for name in node["data"].get("imagePullSecrets") or []:
        secret = canvas.named("secret", name, namespace)
        if secret is None:
            message = (
                f"Image pull secret {name!r} is not on the canvas; it must exist "
                "in the cluster."
            )
            yield Finding(node["id"], WARNING, "dangling-reference", message)
        elif secret["data"]["type"] != "kubernetes.io/dockerconfigjson":
            message = (
                f"Image pull secret {name!r} should be of type "
                "kubernetes.io/dockerconfigjson."
            )
            yield Finding(node["id"], WARNING, "secret-type", message)


def _image_tag(node: dict, canvas: _Canvas) -> Iterator[Finding]:
    image = node["data"]["image"]
    if "@" in image:
        return
    last = image.rsplit("/", 1)[-1]
    if ":" not in last or last.endswith(":latest"):
        message = (
            f"Image {image!r} has no fixed tag: pin a version so every run "
            "deploys the same code."
        )
        yield Finding(node["id"], WARNING, "image-unpinned", message)


def _statefulset_service(node: dict, canvas: _Canvas) -> Iterator[Finding]:
    data = node["data"]
    if data["headlessService"]:
        return
    name = statefulset_service_name(data)
    if canvas.named("service", name, canvas.namespace_of(node)) is None:
        message = (
            f"StatefulSet {data['name']!r} names Service {name!r}, which is not "
            "on the canvas."
        )
        yield Finding(node["id"], WARNING, "dangling-reference", message)


def _ingress(node: dict, canvas: _Canvas) -> Iterator[Finding]:
    data, name = node["data"], node["data"]["name"]
    for index, item in enumerate(data["paths"]):
        backend = ingress_backend(canvas.graph, node["id"], index)
        if not backend:
            message = (
                f"Path {item['path']!r} of Ingress {name!r} has no backend: link "
                f"path-{index} to a Service."
            )
            yield Finding(node["id"], ERROR, "ingress-path-without-backend", message)
            continue
        service, port = backend
        ports = service_ports(service["data"])
        if port is None:
            message = (
                f"Path {item['path']!r} goes to Service "
                f"{service['data']['name']!r}, which has no port."
            )
            yield Finding(node["id"], ERROR, "ingress-backend-port-missing", message)
        elif not any(port in (p["port"], p.get("name")) for p in ports):
            message = (
                f"Path {item['path']!r} goes to port {port!r} of Service "
                f"{service['data']['name']!r}, which has no such port."
            )
            yield Finding(node["id"], ERROR, "ingress-backend-port-missing", message)
    yield from _tls_secrets(node, canvas)


def _tls_secrets(node: dict, canvas: _Canvas) -> Iterator[Finding]:
    for item in node["data"].get("tls") or []:
        secret = canvas.named("secret", item["secretName"], canvas.namespace_of(node))
        if secret is None:
            message = (
                f"TLS Secret {item['secretName']!r} is not on the canvas; it "
                "must exist in the cluster."
            )
            yield Finding(node["id"], WARNING, "dangling-reference", message)
        elif secret["data"]["type"] != "kubernetes.io/tls":
            keys = " and ".join(REQUIRED_SECRET_KEYS["kubernetes.io/tls"])
            message = (
                f"TLS Secret {item['secretName']!r} should be of type "
                f"kubernetes.io/tls with {keys}."
            )
            yield Finding(node["id"], WARNING, "secret-type", message)


def _pvc(node: dict, canvas: _Canvas) -> Iterator[Finding]:
    data = node["data"]
    single = [mode for mode in data["accessModes"] if mode in SINGLE_WRITER_MODES]
    if not single or len(data["accessModes"]) > len(single):
        return
    users = [
        target
        for _, target in canvas.graph.targets(node["id"], "deployment", "statefulset")
    ]
    pods = sum(_most_pods(user, canvas) for user in users)
    if pods > 1:
        names = ", ".join(repr(user["data"]["name"]) for user in users)
        level = ERROR if single == ["ReadWriteOncePod"] else WARNING
        message = (
            f"PVC {data['name']!r} is {single[0]} but up to {pods} pods of {names} "
            "mount it: "
            "pods on other nodes will not start. Use ReadWriteMany or one replica."
        )
        yield Finding(node["id"], level, "pvc-single-writer-shared", message)


def _most_pods(workload: dict, canvas: _Canvas) -> int:
    autoscalers = canvas.graph.sources(workload["id"], "hpa")
    if autoscalers:
        return autoscalers[0][1]["data"]["maxReplicas"]
    return workload["data"].get("replicas", 1)


def _network_policy(node: dict, canvas: _Canvas) -> Iterator[Finding]:
    if policy_targets(canvas.graph, node["id"]) or node["data"].get("podSelector"):
        return
    message = (
        f"NetworkPolicy {node['data']['name']!r} is linked to no workload and has no "
        "pod selector: "
        "it applies to every pod in the namespace."
    )
    yield Finding(node["id"], WARNING, "policy-selects-all", message)


_WORKLOAD_RULES: tuple[Rule, ...] = (_env_references, _pull_secrets, _image_tag)
RULES: dict[str, tuple[Rule, ...]] = {
    "deployment": _WORKLOAD_RULES,
    "statefulset": (*_WORKLOAD_RULES, _statefulset_service),
    "daemonset": _WORKLOAD_RULES,
    "job": _WORKLOAD_RULES,
    "cronjob": _WORKLOAD_RULES,
    "service": (_service_selector, _service_ports),
    "ingress": (_ingress,),
    "hpa": (_hpa,),
    "persistentvolumeclaim": (_pvc,),
    "networkpolicy": (_network_policy,),
}
