"""Why a node is failing, in words, with evidence, and fixes to the workflow.

`diagnose(facts)` reads what is known about one node (its live health and
evidence, the last warning events, the previous container's last lines,
the lint findings of the canvas, a few cluster facts) and returns a
`Diagnosis` for the cases of HEALTH.md's diagnosis table, or None when
there is nothing to say.

A `Fix` never touches the cluster behind the workflow's back: it is a
function from a canvas (nodes, edges) to a new canvas, applied to the
current canvas, shown as a diff first, then saved through
`workflows.actions` (see `apply_fix`) and deployed by an ordinary run.

Pure functions up to `gather_facts` (cluster reads, no Django) and
`apply_fix` (Django: workflow actions and runs).
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

from runs.health import Health, HealthState
from workflows.canvas import CanvasGraph
from workflows.kinds.formats import parse_quantity
from workflows.kinds.networking import service_ports, service_target
from workflows.kinds.scaling import hpa_target
from workflows.kinds.workloads import container_ports
from workflows.lint import ERROR, Finding

logger = logging.getLogger(__name__)

PULL_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName")
PRIVATE_MARKERS = ("pull access denied", "authorization", "unauthorized")
DOCKER_CONFIG = "kubernetes.io/dockerconfigjson"
DEFAULT_CPU_REQUEST = "100m"
# Share of the largest node's allocatable a lowered request asks for, so
# the pod fits next to what already runs there.
FIT_SHARE = Decimal("0.5")
MI = Decimal(2**20)
NODE_NAME_LIMIT = 63
PREVIOUS_LOG_LINES = 20
INSUFFICIENT = re.compile(r"Insufficient (cpu|memory)")
MISSING_KEY = re.compile(
    r"couldn't find key (?P<key>\S+) in (?P<kind>Secret|ConfigMap) "
    r"(?P<namespace>[^/\s]+)/(?P<name>\S+)"
)
MISSING_OBJECT = re.compile(r'(?P<kind>secret|configmap) "(?P<name>[^"]+)" not found')
PORT_WARNING = re.compile(r"target port (?P<port>\d+) is not a container port")

CanvasChange = Callable[[list[dict], list[dict], dict], tuple[list[dict], list[dict]]]


# --- What a diagnosis says -----------------------------------------------------


@dataclass(frozen=True)
class FixInput:
    """A value the user may give before a fix is applied."""

    name: str
    label: str
    default: str = ""
    sensitive: bool = False

    def as_dict(self) -> dict:
        """Return the input as JSON (a sensitive default is never shown)."""
        return {
            "name": self.name,
            "label": self.label,
            "default": "" if self.sensitive else self.default,
            "sensitive": self.sensitive,
        }


@dataclass
class Fix:
    """A change to the workflow that should make the node healthy."""

    id: str
    title: str
    change: CanvasChange = field(repr=False)
    explanation: str = ""
    inputs: list[FixInput] = field(default_factory=list)

    def apply(
        self, nodes: list[dict], edges: list[dict], inputs: dict | None = None
    ) -> tuple[list[dict], list[dict]]:
        """Return the canvas with the fix applied (the given one is untouched)."""
        values = {i.name: i.default for i in self.inputs}
        values.update({k: str(v) for k, v in (inputs or {}).items() if k in values})
        return self.change(copy.deepcopy(nodes), copy.deepcopy(edges), values)

    def as_dict(self) -> dict:
        """Return the fix as JSON, without its function."""
        return {
            "id": self.id,
            "title": self.title,
            "explanation": self.explanation,
            "inputs": [i.as_dict() for i in self.inputs],
        }


@dataclass
class Diagnosis:
    """A failing (or warned) node: the cause in words, evidence, fixes."""

    node_id: str
    case: str
    cause: str
    evidence: dict = field(default_factory=dict)
    fixes: list[Fix] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)

    @property
    def fix(self) -> Fix | None:
        """Return the fix offered first, if any."""
        return self.fixes[0] if self.fixes else None

    def fix_by_id(self, fix_id: str) -> Fix | None:
        """Return one of the offered fixes by id."""
        return next((f for f in self.fixes if f.id == fix_id), None)

    def as_dict(self) -> dict:
        """Return the diagnosis as JSON."""
        return {
            "node_id": self.node_id,
            "case": self.case,
            "cause": self.cause,
            "evidence": self.evidence,
            "fixes": [f.as_dict() for f in self.fixes],
            "advice": list(self.advice),
        }


@dataclass
class ClusterFacts:
    """What a fix needs to know about the cluster."""

    storage_classes: list[dict] = field(default_factory=list)
    ingress_classes: list[dict] = field(default_factory=list)
    nodes: list[dict] = field(default_factory=list)

    def default_storage_class(self) -> str | None:
        """Return the name of the default StorageClass."""
        return _default_of(self.storage_classes, "storageclass")

    def default_ingress_class(self) -> str | None:
        """Return the name of the default IngressClass."""
        return _default_of(self.ingress_classes, "ingressclass")

    def has_ingress_class(self, name: str) -> bool:
        """Tell whether an IngressClass of that name exists."""
        return any(c["metadata"]["name"] == name for c in self.ingress_classes)

    def largest_allocatable(self, resource: str) -> Decimal | None:
        """Return the most of a resource (cpu cores, memory bytes) one node has."""
        amounts = [
            parse_quantity(
                str((n.get("status") or {}).get("allocatable", {}).get(resource, ""))
            )
            for n in self.nodes
        ]
        amounts = [a for a in amounts if a is not None]
        return max(amounts) if amounts else None


def _default_of(classes: list[dict], prefix: str) -> str | None:
    for item in classes:
        annotations = item["metadata"].get("annotations") or {}
        if annotations.get(f"{prefix}.kubernetes.io/is-default-class") == "true":
            return item["metadata"]["name"]
    return None


@dataclass
class NodeFacts:
    """Everything diagnose() looks at for one node."""

    node: dict
    nodes: list[dict]
    edges: list[dict]
    namespace: str
    health: Health | None = None
    findings: list[Finding] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    previous_logs: list[str] = field(default_factory=list)
    cluster: ClusterFacts = field(default_factory=ClusterFacts)
    last_good_image: str | None = None
    selected_pod_ports: list[int] = field(default_factory=list)

    @property
    def data(self) -> dict:
        """Return the node's data."""
        return self.node.get("data") or {}

    @property
    def evidence(self) -> dict:
        """Return the health evidence ({} when there is none)."""
        return dict(self.health.evidence) if self.health else {}

    @property
    def state(self) -> HealthState | None:
        """Return the node's live health state, if known."""
        return self.health.state if self.health else None


# --- Diagnosis -----------------------------------------------------------------


def diagnose(facts: NodeFacts) -> Diagnosis | None:
    """Return what is wrong with a node and how to fix it, or None."""
    for rule in RULES:
        found = rule(facts)
        if found is not None:
            found.evidence = _with_common_evidence(found.evidence, facts)
            return found
    if facts.state == HealthState.DEGRADED:
        return Diagnosis(
            facts.node["id"],
            "degraded",
            facts.health.message or "the node is failing",
            facts.evidence,
        )
    return None


def _with_common_evidence(evidence: dict, facts: NodeFacts) -> dict:
    evidence = {**facts.evidence, **evidence}
    if facts.events and "events" not in evidence:
        evidence["events"] = facts.events
    if facts.previous_logs:
        evidence["previous_logs"] = facts.previous_logs
    findings = [f for f in facts.findings if f.node_id == facts.node["id"]]
    if findings:
        evidence["findings"] = [
            {"level": f.level, "code": f.code, "message": f.message} for f in findings
        ]
    return evidence


def _finding(facts: NodeFacts, *codes: str) -> Finding | None:
    return next(
        (
            f
            for f in facts.findings
            if f.node_id == facts.node["id"] and f.level == ERROR and f.code in codes
        ),
        None,
    )


def _image_pull(facts: NodeFacts) -> Diagnosis | None:
    evidence = facts.evidence
    if evidence.get("reason") not in PULL_REASONS:
        return None
    image = facts.data.get("image", "")
    message = evidence.get("waiting_message") or ""
    private = any(marker in message.lower() for marker in PRIVATE_MARKERS)
    if evidence["reason"] == "InvalidImageName":
        cause = f"the image name {image!r} is not a valid image reference"
    elif private:
        cause = f"the registry refused to give image {image!r}: it needs credentials"
    else:
        cause = f"image {image!r} was not found in its registry"
    fixes = []
    secret = _pull_secret_on_canvas(facts) if private else None
    if secret:
        fixes.append(_add_pull_secret(facts.node["id"], secret))
    fixes.append(_set_image(facts, image))
    advice = ["check the image name and tag in the registry"]
    if private and not secret:
        advice.append(
            "add a Secret of type kubernetes.io/dockerconfigjson to the canvas and "
            "list it under the workload's image pull secrets"
        )
    return Diagnosis(
        facts.node["id"], "image-pull", cause, {"image": image}, fixes, advice
    )


def _pull_secret_on_canvas(facts: NodeFacts) -> str | None:
    listed = set(facts.data.get("imagePullSecrets") or [])
    for node in facts.nodes:
        data = node.get("data") or {}
        if (
            node.get("type") == "secret"
            and data.get("type") == DOCKER_CONFIG
            and data.get("name") not in listed
            and _namespace_of(node, facts.namespace)
            == _namespace_of(facts.node, facts.namespace)
        ):
            return data["name"]
    return None


def _set_image(facts: NodeFacts, image: str) -> Fix:
    suggestion = facts.last_good_image or _latest(image)
    node_id = facts.node["id"]

    def change(nodes, edges, values):
        _data(nodes, node_id)["image"] = values["image"].strip()
        return nodes, edges

    source = "the last image that ran" if facts.last_good_image else "a tag that exists"
    return Fix(
        id="set-image",
        title=f"Use image {suggestion}",
        change=change,
        explanation=f"Replace {image!r} with {source}; edit it before applying.",
        inputs=[FixInput("image", "Image", suggestion)],
    )


def _latest(image: str) -> str:
    """Return the image with its tag replaced by 'latest'."""
    name = image.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    repository = last.split(":", 1)[0]
    return f"{head}/{repository}:latest" if head else f"{repository}:latest"


def _add_pull_secret(node_id: str, secret: str) -> Fix:
    def change(nodes, edges, values):
        data = _data(nodes, node_id)
        data["imagePullSecrets"] = [*(data.get("imagePullSecrets") or []), secret]
        return nodes, edges

    return Fix(
        id="add-pull-secret",
        title=f"Pull with the credentials in Secret {secret}",
        change=change,
        explanation=f"List {secret!r} under the workload's image pull secrets.",
    )


def _oom_killed(facts: NodeFacts) -> Diagnosis | None:
    evidence = facts.evidence
    if evidence.get("terminated_reason") != "OOMKilled":
        return None
    limits = (facts.data.get("resources") or {}).get("limits") or {}
    limit = limits.get("memory")
    cause = (
        f"container {evidence.get('container')} ran out of memory (OOMKilled, exit "
        f"code {evidence.get('exit_code', 137)})"
    )
    if limit:
        cause += f": it needs more than its {limit} limit"
    fixes = [_raise_memory(facts.node["id"], limit)] if limit else []
    advice = (
        []
        if limit
        else ["it has no memory limit: the process leaks or needs a bigger node"]
    )
    return Diagnosis(
        facts.node["id"], "oom-killed", cause, {"memory_limit": limit}, fixes, advice
    )


def _raise_memory(node_id: str, limit: str) -> Fix:
    doubled = format_bytes((parse_quantity(limit) or MI * 64) * 2)

    def change(nodes, edges, values):
        resources = _data(nodes, node_id).setdefault("resources", {})
        resources.setdefault("limits", {})["memory"] = values["memory"]
        return nodes, edges

    return Fix(
        id="raise-memory-limit",
        title=f"Raise the memory limit from {limit} to {doubled}",
        change=change,
        explanation="Double the memory limit (edit it before applying).",
        inputs=[FixInput("memory", "Memory limit", doubled)],
    )


def _crash_loop(facts: NodeFacts) -> Diagnosis | None:
    evidence = facts.evidence
    crashing = evidence.get("reason") == "CrashLoopBackOff" or (
        evidence.get("restart_count", 0) > 0
        and evidence.get("exit_code") not in (None, 0)
    )
    if not crashing:
        return None
    code = evidence.get("exit_code")
    cause = (
        f"container {evidence.get('container')} keeps crashing: it exited with code "
        f"{code} and was restarted {evidence.get('restart_count', 0)} times"
    )
    return Diagnosis(
        facts.node["id"],
        "crash-loop",
        cause,
        {"exit_code": code, "restart_count": evidence.get("restart_count", 0)},
        [],
        _crash_advice(facts.data),
    )


def _crash_advice(data: dict) -> list[str]:
    advice = ["read the previous container's last lines below: they say why it stopped"]
    if data.get("command") or data.get("args"):
        words = " ".join([*(data.get("command") or []), *(data.get("args") or [])])
        advice.append(f"check the command and arguments: {words}")
    names = [var.get("name") for var in data.get("env") or []]
    if names:
        advice.append(f"check the environment it reads: {', '.join(names)}")
    probes = [p for p in ("livenessProbe", "startupProbe") if data.get(p)]
    if probes:
        advice.append(
            f"a failing {' or '.join(probes)} restarts it: check its port and delay"
        )
    advice.append("if the image itself is broken, use another tag")
    return advice


def _unschedulable(facts: NodeFacts) -> Diagnosis | None:
    evidence = facts.evidence
    if evidence.get("reason") != "Unschedulable":
        return None
    message = evidence.get("message") or ""
    short = sorted(set(INSUFFICIENT.findall(message)))
    cause = (
        f"no node can run its pods: {message}"
        if message
        else "no node can run its pods"
    )
    fix = _lower_requests(facts, short) if short else None
    advice = [] if fix else ["check its node selector, tolerations and volume claims"]
    return Diagnosis(
        facts.node["id"],
        "unschedulable",
        cause,
        {"insufficient": short},
        [fix] if fix else [],
        advice,
    )


def _lower_requests(facts: NodeFacts, resources: list[str]) -> Fix | None:
    node_id = facts.node["id"]
    requests = (facts.data.get("resources") or {}).get("requests") or {}
    targets = {}
    for resource in resources:
        largest = facts.cluster.largest_allocatable(resource)
        current = parse_quantity(str(requests.get(resource) or ""))
        if largest is None or current is None:
            continue
        fitting = largest * FIT_SHARE
        if current > fitting:
            targets[resource] = (
                format_cpu(fitting) if resource == "cpu" else format_bytes(fitting)
            )
    if not targets:
        return None

    def change(nodes, edges, values):
        resources_ = _data(nodes, node_id).setdefault("resources", {})
        wanted = resources_.setdefault("requests", {})
        limits = resources_.get("limits") or {}
        for resource in targets:
            wanted[resource] = values[resource]
            limit = parse_quantity(str(limits.get(resource) or ""))
            if limit is not None and limit < (parse_quantity(values[resource]) or 0):
                limits[resource] = values[resource]
        return nodes, edges

    shown = ", ".join(f"{k} {requests.get(k)} → {v}" for k, v in targets.items())
    return Fix(
        id="lower-requests",
        title=f"Lower the requests to fit a node ({shown})",
        change=change,
        explanation="Ask for at most half of what the largest node can give.",
        inputs=[FixInput(k, f"{k} request", v) for k, v in targets.items()],
    )


def _missing_config(facts: NodeFacts) -> Diagnosis | None:
    finding = _finding(facts, "missing-key")
    evidence = facts.evidence
    message = evidence.get("waiting_message") or ""
    if not finding and evidence.get("reason") != "CreateContainerConfigError":
        return None
    missing = _missing_reference(facts, message)
    if missing is None:
        cause = message or (
            finding.message if finding else "a referenced key is missing"
        )
        return Diagnosis(facts.node["id"], "missing-config", cause, {}, [], [])
    kind, name, key = missing
    label = "Secret" if kind == "secret" else "ConfigMap"
    if key:
        cause = (
            f"the container reads key {key!r} of {label} {name!r}, "
            "which has no such key"
        )
    else:
        cause = f"the container reads {label} {name!r}, which does not exist"
    fix = _add_config_key(facts, kind, name, key)
    return Diagnosis(
        facts.node["id"],
        "missing-config",
        cause,
        {"kind": label, "name": name, "key": key, "message": message or None},
        [fix] if fix else [],
        [] if fix else [f"create {label} {name!r} or mark the reference optional"],
    )


def _missing_reference(
    facts: NodeFacts, message: str
) -> tuple[str, str, str | None] | None:
    """Return (kind, name, key) of a reference the pod cannot resolve."""
    match = MISSING_KEY.search(message)
    if match:
        return match["kind"].lower(), match["name"], match["key"]
    match = MISSING_OBJECT.search(message)
    if match:
        name = match["name"]
        kind = match["kind"]
        keys = [
            ref["key"]
            for ref in _env_references(facts.data)
            if ref["name"] == name and ref["kind"] == kind
        ]
        return kind, name, keys[0] if keys else None
    for ref in _env_references(facts.data):
        target = _named(facts.nodes, ref["kind"], ref["name"])
        if target is not None and ref["key"] not in (target["data"].get("data") or {}):
            return ref["kind"], ref["name"], ref["key"]
    return None


def _env_references(data: dict) -> list[dict]:
    refs = []
    for var in data.get("env") or []:
        source = var.get("valueFrom") or {}
        if source and not source.get("optional"):
            kind = "secret" if source.get("kind") == "secret" else "configmap"
            refs.append(
                {"kind": kind, "name": source.get("name"), "key": source.get("key")}
            )
    return refs


def _add_config_key(
    facts: NodeFacts, kind: str, name: str, key: str | None
) -> Fix | None:
    if not key:
        return None
    target = _named(facts.nodes, kind, name)
    label = "Secret" if kind == "secret" else "ConfigMap"
    value_input = FixInput("value", f"Value of {key}", "", sensitive=kind == "secret")
    if target is not None:
        target_id = target["id"]

        def change(nodes, edges, values):
            _data(nodes, target_id).setdefault("data", {})[key] = values["value"]
            return nodes, edges

        return Fix(
            id="add-key",
            title=f"Add key {key} to {label} {name}",
            change=change,
            explanation=f"Add {key!r} on the linked node {target_id!r}.",
            inputs=[value_input],
        )
    new_id = _free_id(facts.nodes, name)
    position = facts.node.get("position") or {"x": 0, "y": 0}

    def create(nodes, edges, values):
        data = {"name": name, "data": {key: values["value"]}}
        if kind == "secret":
            data["type"] = "Opaque"
        nodes.append(
            {
                "id": new_id,
                "type": kind,
                "position": {
                    "x": position.get("x", 0) - 280,
                    "y": position.get("y", 0),
                },
                "data": data,
            }
        )
        return nodes, edges

    return Fix(
        id="add-key",
        title=f"Add {label} {name} with key {key}",
        change=create,
        explanation=f"{label} {name!r} is not on the canvas: add it with {key!r}.",
        inputs=[value_input],
    )


def _service_selects_nothing(facts: NodeFacts) -> Diagnosis | None:
    if facts.node.get("type") != "service" or facts.state != HealthState.DEGRADED:
        return None
    if "selects no pod" not in (facts.health.message or ""):
        return None
    graph = CanvasGraph(facts.nodes, facts.edges)
    if service_target(graph, facts.node["id"]):
        return None
    candidates = _workloads_in(facts)
    fixes = [
        _connect_service(facts.node["id"], w)
        for w in _preferred(candidates, facts.data)
    ]
    return Diagnosis(
        facts.node["id"],
        "service-selects-nothing",
        facts.health.message,
        {"selector": facts.data.get("selector") or {}},
        fixes,
        []
        if fixes
        else ["add the workload it should reach and link the Service to it"],
    )


def _workloads_in(facts: NodeFacts) -> list[dict]:
    namespace = _namespace_of(facts.node, facts.namespace)
    return [
        n
        for n in facts.nodes
        if n.get("type") in ("deployment", "statefulset", "daemonset")
        and _namespace_of(n, facts.namespace) == namespace
    ]


def _preferred(workloads: list[dict], service: dict) -> list[dict]:
    """Put the workload named like the Service first."""
    return sorted(
        workloads, key=lambda w: (w["data"].get("name") != service.get("name"), w["id"])
    )


def _connect_service(service_id: str, workload: dict) -> Fix:
    workload_id = workload["id"]

    def change(nodes, edges, values):
        _data(nodes, service_id).pop("selector", None)
        edge_id = _free_edge_id(edges, f"{service_id}-to-{workload_id}")
        edges.append(
            {
                "id": edge_id,
                "source": service_id,
                "target": workload_id,
                "sourceHandle": "out",
                "targetHandle": "in",
            }
        )
        return nodes, edges

    return Fix(
        id=f"connect-{workload_id}",
        title=f"Connect the Service to {workload['data'].get('name', workload_id)}",
        change=change,
        explanation="Link it to the workload: its selector then follows its pods.",
    )


def _service_port_mismatch(facts: NodeFacts) -> Diagnosis | None:
    if facts.node.get("type") != "service":
        return None
    graph = CanvasGraph(facts.nodes, facts.edges)
    workload = service_target(graph, facts.node["id"])
    if workload is not None:
        return _linked_port_mismatch(facts, workload)
    warned = [
        int(m["port"])
        for w in (facts.health.warnings if facts.health else [])
        for m in [PORT_WARNING.search(w)]
        if m
    ]
    if not warned:
        return None
    ports = sorted(set(facts.selected_pod_ports))
    cause = (
        f"the Service sends traffic to port {', '.join(map(str, warned))}, but its "
        f"pods listen on {', '.join(map(str, ports)) or 'other ports'}"
    )
    fixes = (
        [_set_target_port(facts.node["id"], warned, ports[0])]
        if len(ports) == 1
        else []
    )
    return Diagnosis(
        facts.node["id"],
        "service-port-mismatch",
        cause,
        {"target_ports": warned, "container_ports": ports},
        fixes,
        [] if fixes else ["set the target port to the port the container listens on"],
    )


def _linked_port_mismatch(facts: NodeFacts, workload: dict) -> Diagnosis | None:
    ports = container_ports(workload["data"])
    numbers = {p["containerPort"] for p in ports}
    names = {p.get("name") for p in ports if p.get("name")}
    wrong = [
        p.get("targetPort")
        for p in service_ports(facts.data)
        if p.get("targetPort") is not None
        and ports
        and p["targetPort"]
        not in (numbers if isinstance(p["targetPort"], int) else names)
    ]
    if not wrong:
        return None
    shown = ", ".join(str(n) for n in sorted(numbers))
    cause = (
        f"the Service targets port {', '.join(map(str, wrong))}, but "
        f"{workload['data'].get('name')} listens on {shown}"
    )
    service_id = facts.node["id"]

    def change(nodes, edges, values):
        for port in _data(nodes, service_id).get("ports") or []:
            if port.get("targetPort") in wrong:
                port.pop("targetPort", None)
        return nodes, edges

    fix = Fix(
        id="follow-workload-port",
        title=f"Target the workload's port ({shown})",
        change=change,
        explanation="Clear the target port so it follows the linked workload's port.",
    )
    return Diagnosis(
        service_id,
        "service-port-mismatch",
        cause,
        {"target_ports": wrong, "container_ports": sorted(numbers)},
        [fix],
    )


def _set_target_port(service_id: str, wrong: list[int], port: int) -> Fix:
    def change(nodes, edges, values):
        for item in _data(nodes, service_id).get("ports") or []:
            if item.get("targetPort", item.get("port")) in wrong:
                item["targetPort"] = int(values["port"])
        return nodes, edges

    return Fix(
        id="set-target-port",
        title=f"Set the target port to {port}",
        change=change,
        explanation="Send traffic to the port the selected pods declare.",
        inputs=[FixInput("port", "Target port", str(port))],
    )


def _hpa_without_requests(facts: NodeFacts) -> Diagnosis | None:
    if facts.node.get("type") != "hpa":
        return None
    finding = _finding(facts, "hpa-without-cpu-requests")
    message = facts.health.message if facts.health else ""
    if not finding and "missing request for cpu" not in (message or ""):
        return None
    target = hpa_target(CanvasGraph(facts.nodes, facts.edges), facts.node["id"])
    name = target["data"].get("name") if target else "its target"
    cause = f"the autoscaler cannot read CPU use: {name} sets no CPU request"
    fixes = [_add_cpu_request(target)] if target else []
    return Diagnosis(
        facts.node["id"],
        "hpa-without-requests",
        cause,
        {"target": name, "message": message or (finding.message if finding else "")},
        fixes,
    )


def _add_cpu_request(target: dict) -> Fix:
    target_id = target["id"]

    def change(nodes, edges, values):
        resources = _data(nodes, target_id).setdefault("resources", {})
        resources.setdefault("requests", {})["cpu"] = values["cpu"]
        limit = parse_quantity(str((resources.get("limits") or {}).get("cpu") or ""))
        if limit is not None and limit < (parse_quantity(values["cpu"]) or 0):
            resources["limits"]["cpu"] = values["cpu"]
        return nodes, edges

    return Fix(
        id="add-cpu-request",
        title=f"Add a CPU request to {target['data'].get('name')}",
        change=change,
        explanation="The autoscaler measures CPU use against the request.",
        inputs=[FixInput("cpu", "CPU request", DEFAULT_CPU_REQUEST)],
    )


def _pvc_cannot_bind(facts: NodeFacts) -> Diagnosis | None:
    if (
        facts.node.get("type") != "persistentvolumeclaim"
        or facts.state != HealthState.DEGRADED
    ):
        return None
    class_name = facts.data.get("storageClassName")
    default = facts.cluster.default_storage_class()
    cause = f"the claim cannot be bound: {facts.health.message}"
    known = {c["metadata"]["name"] for c in facts.cluster.storage_classes}
    fixes = []
    if class_name and class_name not in known and known:
        fixes.append(_use_storage_class(facts, default or sorted(known)[0]))
    return Diagnosis(
        facts.node["id"],
        "pvc-cannot-bind",
        cause,
        {
            "storage_class": class_name,
            "known_classes": sorted(known),
            "default_class": default,
        },
        fixes,
        [] if fixes else ["check the storage class and its provisioner"],
    )


def _use_storage_class(facts: NodeFacts, class_name: str) -> Fix:
    node_id = facts.node["id"]
    old_name = facts.data.get("name", "")
    new_name = _free_name(
        facts.nodes, f"{old_name}-{class_name}"[:NODE_NAME_LIMIT].rstrip("-")
    )

    def change(nodes, edges, values):
        data = _data(nodes, node_id)
        data["storageClassName"] = values["storageClassName"]
        data["name"] = new_name
        return nodes, edges

    return Fix(
        id="use-storage-class",
        title=f"Use storage class {class_name} (as claim {new_name})",
        change=change,
        explanation=(
            "A claim's class cannot change once it exists, so the claim gets a new "
            f"name: the run creates {new_name!r} and removes the pending {old_name!r}."
        ),
        inputs=[FixInput("storageClassName", "Storage class", class_name)],
    )


def _ingress_without_address(facts: NodeFacts) -> Diagnosis | None:
    if facts.node.get("type") != "ingress" or facts.health is None:
        return None
    warned = "the controller published no address" in facts.health.warnings
    waiting = facts.state == HealthState.PROGRESSING and "address" in (
        facts.health.message or ""
    )
    if not (warned or waiting):
        return None
    wanted = facts.data.get("ingressClassName")
    default = facts.cluster.default_ingress_class()
    cause = "no ingress controller published an address for this Ingress"
    advice = [
        "an Ingress gets an address from the controller of its ingress class; "
        "check that such a controller runs in the cluster"
    ]
    fixes = []
    if wanted and not facts.cluster.has_ingress_class(wanted):
        cause += f": ingress class {wanted!r} does not exist"
        if default:
            fixes.append(_use_ingress_class(facts.node["id"], default))
    return Diagnosis(
        facts.node["id"],
        "ingress-without-address",
        cause,
        {
            "ingress_class": wanted,
            "known_classes": [
                c["metadata"]["name"] for c in facts.cluster.ingress_classes
            ],
        },
        fixes,
        advice,
    )


def _use_ingress_class(node_id: str, class_name: str) -> Fix:
    def change(nodes, edges, values):
        _data(nodes, node_id)["ingressClassName"] = class_name
        return nodes, edges

    return Fix(
        id="use-ingress-class",
        title=f"Use the cluster's default ingress class {class_name}",
        change=change,
    )


RULES: tuple[Callable[[NodeFacts], Diagnosis | None], ...] = (
    _hpa_without_requests,
    _missing_config,
    _image_pull,
    _oom_killed,
    _crash_loop,
    _unschedulable,
    _service_selects_nothing,
    _service_port_mismatch,
    _pvc_cannot_bind,
    _ingress_without_address,
)


# --- Canvas helpers ------------------------------------------------------------


def _data(nodes: list[dict], node_id: str) -> dict:
    for node in nodes:
        if node.get("id") == node_id:
            return node.setdefault("data", {})
    raise KeyError(f"node {node_id} is not on the canvas any more")


def _named(nodes: list[dict], kind: str, name: str) -> dict | None:
    for node in nodes:
        if node.get("type") == kind and (node.get("data") or {}).get("name") == name:
            return node
    return None


def _namespace_of(node: dict, default: str) -> str:
    return (node.get("data") or {}).get("namespace") or default


def _free_id(nodes: list[dict], wanted: str) -> str:
    taken = {n.get("id") for n in nodes}
    candidate, counter = wanted, 2
    while candidate in taken:
        candidate, counter = f"{wanted}-{counter}", counter + 1
    return candidate


def _free_edge_id(edges: list[dict], wanted: str) -> str:
    taken = {e.get("id") for e in edges}
    candidate, counter = wanted, 2
    while candidate in taken:
        candidate, counter = f"{wanted}-{counter}", counter + 1
    return candidate


def _free_name(nodes: list[dict], wanted: str) -> str:
    taken = {(n.get("data") or {}).get("name") for n in nodes}
    candidate, counter = wanted, 2
    while candidate in taken:
        candidate, counter = f"{wanted}-{counter}", counter + 1
    return candidate


def format_bytes(amount: Decimal) -> str:
    """Return a memory quantity in Mi (or Gi when whole)."""
    mebibytes = (amount / MI).to_integral_value(rounding=ROUND_FLOOR)
    if mebibytes >= 1024 and mebibytes % 1024 == 0:
        return f"{mebibytes // 1024}Gi"
    return f"{max(mebibytes, 1)}Mi"


def format_cpu(cores: Decimal) -> str:
    """Return a CPU quantity in millicores (or whole cores)."""
    millis = (cores * 1000).to_integral_value(rounding=ROUND_FLOOR)
    if millis % 1000 == 0:
        return str(millis // 1000)
    return f"{max(millis, 1)}m"
