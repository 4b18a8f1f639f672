"""Networking kinds: Service, Ingress and NetworkPolicy."""

from typing import Any

from workflows.kinds import fields as f
from workflows.kinds.base import (
    NODE_LABEL,
    TIER_INGRESS,
    TIER_POLICY,
    TIER_SERVICE,
    WORKFLOW_LABEL,
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
from workflows.kinds.edges import SERVICE_TARGETS
from workflows.kinds.graph import CanvasGraph
from workflows.kinds.workloads import POD_WORKLOADS, container_ports

PROTOCOLS = ("TCP", "UDP", "SCTP")
NODE_PORT_TYPES = ("NodePort", "LoadBalancer")

SERVICE_PORT = (
    f.string(
        "name",
        "Port name",
        format="dns-label",
        max_length=63,
        help="Required when the Service has several ports (e.g. 'http').",
    ),
    f.port("port", "Port", required=True, help="The port the Service listens on."),
    f.portref(
        "targetPort",
        "Target port",
        help=(
            "Container port number or name; empty: follows the linked workload's port."
        ),
    ),
    f.enum("protocol", "Protocol", PROTOCOLS),
    f.integer(
        "nodePort",
        "Node port",
        minimum=30000,
        maximum=32767,
        help="NodePort and LoadBalancer only; empty: the cluster picks one.",
    ),
)
SERVICE_FIELDS = (
    *metadata_fields(label_only=True),
    f.enum(
        "type",
        "Type",
        ("ClusterIP", "NodePort", "LoadBalancer", "headless"),
        help="'headless' gives no virtual IP: DNS returns the pod addresses.",
    ),
    f.items("ports", "Ports", SERVICE_PORT, default=[{"port": 80}], max_items=100),
    f.enum(
        "sessionAffinity",
        "Session affinity",
        ("None", "ClientIP"),
        help="ClientIP sends a client to the same pod each time.",
    ),
    f.keyvalue(
        "selector",
        "Selector",
        key_format="qualified-name",
        value_format="label-value",
        help="Pod labels to select; only used when no workload is linked.",
    ),
)

INGRESS_PATH = (
    f.string(
        "path", "Path", required=True, default="/", format="url-path", max_length=1024
    ),
    f.enum("pathType", "Path type", ("Prefix", "Exact", "ImplementationSpecific")),
)
INGRESS_TLS = (
    f.stringlist(
        "hosts",
        "Hosts",
        format="hostname",
        unique=True,
        help="Empty: the Ingress host.",
    ),
    f.string(
        "secretName",
        "Certificate Secret",
        required=True,
        format="dns-subdomain",
        help="A Secret of type kubernetes.io/tls holding tls.crt and tls.key.",
    ),
)
INGRESS_FIELDS = (
    *metadata_fields(),
    f.string(
        "ingressClassName",
        "Ingress class",
        format="dns-subdomain",
        help="Which controller serves it; empty: the cluster's default class.",
    ),
    f.string(
        "host",
        "Host",
        format="hostname",
        max_length=253,
        help="e.g. 'shop.example.com'; empty: every host.",
    ),
    f.items(
        "paths",
        "Paths",
        INGRESS_PATH,
        default=[{"path": "/"}],
        min_items=1,
        max_items=100,
        help="Each path has its own port on the card; link it to a Service.",
    ),
    f.items("tls", "TLS", INGRESS_TLS, max_items=20),
)

PEER = (
    f.enum(
        "type",
        "Peer",
        ("pods", "namespaces", "ipBlock"),
        help="Pods (by labels), whole namespaces, or an IP block.",
    ),
    f.keyvalue(
        "podSelector",
        "Pod labels",
        key_format="qualified-name",
        value_format="label-value",
        help="Empty: every pod.",
    ),
    f.keyvalue(
        "namespaceSelector",
        "Namespace labels",
        key_format="qualified-name",
        value_format="label-value",
        help=(
            "For 'pods': also look in these namespaces; for 'namespaces': empty means "
            "all."
        ),
    ),
    f.string("cidr", "CIDR", format="cidr", help="For 'ipBlock', e.g. '10.0.0.0/16'."),
    f.stringlist(
        "except", "Except", format="cidr", help="Blocks inside the CIDR to leave out."
    ),
)
POLICY_PORT = (
    f.portref("port", "Port", help="Number or named port; empty: every port."),
    f.integer(
        "endPort",
        "End port",
        minimum=1,
        maximum=65535,
        help="Makes a range from the port to here.",
    ),
    f.enum("protocol", "Protocol", PROTOCOLS),
)
INGRESS_RULE = (
    f.items("from", "From", PEER, max_items=50, help="Empty: from anywhere."),
    f.items("ports", "Ports", POLICY_PORT, max_items=50, help="Empty: every port."),
)
EGRESS_RULE = (
    f.items("to", "To", PEER, max_items=50, help="Empty: to anywhere."),
    f.items("ports", "Ports", POLICY_PORT, max_items=50, help="Empty: every port."),
)
NETWORK_POLICY_FIELDS = (
    *metadata_fields(),
    f.keyvalue(
        "podSelector",
        "Pod selector",
        key_format="qualified-name",
        value_format="label-value",
        help="Only used when no workload is linked; empty: every pod in the namespace.",
    ),
    f.stringlist(
        "policyTypes",
        "Policy types",
        default=["Ingress"],
        min_items=1,
        unique=True,
        choices=("Ingress", "Egress"),
        help="Directions the policy restricts.",
    ),
    f.items(
        "ingress",
        "Ingress rules",
        INGRESS_RULE,
        max_items=50,
        help="Allowed incoming traffic; none: deny all incoming.",
    ),
    f.items(
        "egress",
        "Egress rules",
        EGRESS_RULE,
        max_items=50,
        help="Allowed outgoing traffic; none: deny all outgoing.",
    ),
)


def service_ports(data: dict) -> list[dict]:
    """Return a Service's ports (possibly empty)."""
    return list(data.get("ports") or [])


def service_target(graph: CanvasGraph, service_id: str) -> dict | None:
    """Return the workload node a Service is linked to, or None."""
    pair = graph.first_target(service_id, *SERVICE_TARGETS)
    return pair[1] if pair else None


def target_port(
    service_data: dict, index: int, workload_data: dict | None
) -> int | str:
    """Return the effective target port of a Service's port at index.

    An explicit target port wins; otherwise the workload's container port
    with the same name, then the one at the same position, then its first.
    """
    item = service_ports(service_data)[index]
    if item.get("targetPort") is not None:
        return item["targetPort"]
    ports = container_ports(workload_data or {})
    if not ports:
        return item["port"]
    named = [p for p in ports if item.get("name") and p.get("name") == item["name"]]
    if named:
        return named[0]["containerPort"]
    return (ports[index] if index < len(ports) else ports[0])["containerPort"]


def check_service(data: dict) -> dict[str, list[str]]:
    """Check a Service's ports against its type."""
    errors: dict[str, list[str]] = {}
    ports = service_ports(data)
    if not ports and data.get("type") != "headless":
        add_error(
            errors,
            "ports",
            "A Service needs at least one port (only a headless one may have none).",
        )
    seen_names: set[str] = set()
    seen_ports: set[tuple] = set()
    for index, item in enumerate(ports):
        path = f"ports[{index}]"
        if len(ports) > 1 and not item.get("name"):
            add_error(
                errors,
                f"{path}.name",
                "Each port needs a name when the Service has several.",
            )
        if item.get("name") and item["name"] in seen_names:
            add_error(
                errors, f"{path}.name", f"The port name {item['name']!r} is used twice."
            )
        if (item.get("port"), item.get("protocol")) in seen_ports:
            add_error(
                errors, f"{path}.port", "This port and protocol are listed twice."
            )
        if item.get("nodePort") is not None and data.get("type") not in NODE_PORT_TYPES:
            add_error(
                errors,
                f"{path}.nodePort",
                "Only NodePort and LoadBalancer Services have node ports.",
            )
        seen_names.add(item.get("name") or "")
        seen_ports.add((item.get("port"), item.get("protocol")))
    return merge_errors(errors, check_labels(data))


def service_links(node: dict, graph: CanvasGraph) -> dict:
    """Return the `_linkedDeployment` of a Service."""
    workload = service_target(graph, node["id"])
    if not workload:
        return {"_linkedDeployment": None}
    ref = {**link_ref(workload), "ports": container_ports(workload["data"])}
    return {"_linkedDeployment": ref}


def render_service(ctx: RenderContext) -> list[dict]:
    """Render a Service selecting its linked workload's pods."""
    data = ctx.data
    workload = service_target(ctx.graph, ctx.node["id"])
    spec: dict[str, Any] = {
        "type": "ClusterIP" if data["type"] == "headless" else data["type"]
    }
    if data["type"] == "headless":
        spec["clusterIP"] = "None"
    if workload:
        spec["selector"] = ctx.pod_selector(workload)
    elif data.get("selector"):
        spec["selector"] = dict(data["selector"])
    ports = [
        _service_port(data, index, workload)
        for index in range(len(service_ports(data)))
    ]
    if ports:
        spec["ports"] = ports
    spec["sessionAffinity"] = data["sessionAffinity"]
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": ctx.metadata(),
            "spec": spec,
        }
    ]


def _service_port(data: dict, index: int, workload: dict | None) -> dict:
    item = service_ports(data)[index]
    rendered: dict[str, Any] = {}
    if item.get("name"):
        rendered["name"] = item["name"]
    rendered["port"] = item["port"]
    rendered["targetPort"] = target_port(
        data, index, workload["data"] if workload else None
    )
    rendered["protocol"] = item["protocol"]
    if item.get("nodePort") is not None and data["type"] in NODE_PORT_TYPES:
        rendered["nodePort"] = item["nodePort"]
    return rendered


def _service_node_ports(data: dict) -> list[Port]:
    return [
        Port("in", "in", "Ingress paths attach here"),
        Port("out", "out", "Link to the workload whose pods it selects"),
    ]


def ingress_ports(data: dict) -> list[Port]:
    """Return one outbound handle per Ingress path: path-0, path-1…"""
    paths = data.get("paths") or []
    return [
        Port(f"path-{index}", "out", item.get("path", ""))
        for index, item in enumerate(paths)
    ]


def ingress_backend(
    graph: CanvasGraph, ingress_id: str, index: int
) -> tuple[dict, int | str | None] | None:
    """Return (Service node, port) behind an Ingress path, or None."""
    for edge, service in graph.targets(ingress_id, "service"):
        if edge.get("sourceHandle") == f"path-{index}":
            port = (edge.get("data") or {}).get("port")
            if port is None:
                ports = service_ports(service["data"])
                port = ports[0]["port"] if ports else None
            return service, port
    return None


def check_ingress(data: dict) -> dict[str, list[str]]:
    """Check Ingress paths the way the API server does for exact matching."""
    errors: dict[str, list[str]] = {}
    for index, item in enumerate(data.get("paths") or []):
        path = item.get("path") or ""
        unsafe = ("//", "/./", "/../", "%2f", "%2F")
        if item.get("pathType") != "ImplementationSpecific" and (
            any(part in path for part in unsafe) or path.endswith(("/..", "/."))
        ):
            add_error(
                errors,
                f"paths[{index}].path",
                "Must not contain '//', '/./', '/../' or '%2f'.",
            )
    return merge_errors(errors, check_labels(data))


def ingress_links(node: dict, graph: CanvasGraph) -> dict:
    """Return the paths with their `_linkedService` set from the edges."""
    paths = []
    for index, item in enumerate(node["data"].get("paths") or []):
        backend = ingress_backend(graph, node["id"], index)
        linked = {**link_ref(backend[0]), "port": backend[1]} if backend else None
        paths.append({**item, "_linkedService": linked})
    return {"paths": paths}


def render_ingress(ctx: RenderContext) -> list[dict]:
    """Render an Ingress whose path backends come from its edges."""
    data = ctx.data
    rendered_paths = []
    for index, item in enumerate(data["paths"]):
        backend = ingress_backend(ctx.graph, ctx.node["id"], index)
        if not backend or backend[1] is None:
            continue  # lint reports it as an error before any run applies it
        service, port = backend
        port_ref = {"name": port} if isinstance(port, str) else {"number": port}
        rendered_paths.append(
            {
                "path": item["path"],
                "pathType": item["pathType"],
                "backend": {
                    "service": {"name": service["data"]["name"], "port": port_ref}
                },
            }
        )
    spec: dict[str, Any] = {}
    if data.get("ingressClassName"):
        spec["ingressClassName"] = data["ingressClassName"]
    if data.get("tls"):
        spec["tls"] = [_tls(data, item) for item in data["tls"]]
    if rendered_paths:
        rule: dict[str, Any] = {"http": {"paths": rendered_paths}}
        if data.get("host"):
            rule = {"host": data["host"], **rule}
        spec["rules"] = [rule]
    main = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": ctx.metadata(),
        "spec": spec,
    }
    return [main]


def _tls(data: dict, item: dict) -> dict:
    hosts = list(item.get("hosts") or ([data["host"]] if data.get("host") else []))
    rendered: dict[str, Any] = {"secretName": item["secretName"]}
    if hosts:
        rendered = {"hosts": hosts, **rendered}
    return rendered


def policy_targets(graph: CanvasGraph, policy_id: str) -> list[dict]:
    """Return the workload nodes a NetworkPolicy is linked to."""
    return [node for _, node in graph.targets(policy_id, *POD_WORKLOADS)]


def check_network_policy(data: dict) -> dict[str, list[str]]:
    """Check peers, port ranges and that rules match the policy types."""
    errors: dict[str, list[str]] = {}
    types = data.get("policyTypes") or []
    for direction, peers_key, policy_type in (
        ("ingress", "from", "Ingress"),
        ("egress", "to", "Egress"),
    ):
        rules = data.get(direction) or []
        if rules and policy_type not in types:
            add_error(
                errors,
                direction,
                f"Add '{policy_type}' to the policy types for these rules to apply.",
            )
        for index, rule in enumerate(rules):
            path = f"{direction}[{index}]"
            for peer_index, peer in enumerate(rule.get(peers_key) or []):
                _check_peer(peer, f"{path}.{peers_key}[{peer_index}]", errors)
            for port_index, item in enumerate(rule.get("ports") or []):
                _check_policy_port(item, f"{path}.ports[{port_index}]", errors)
    return merge_errors(errors, check_labels(data))


def _check_peer(peer: dict, path: str, errors: dict) -> None:
    if peer.get("type") == "ipBlock":
        if not peer.get("cidr"):
            add_error(errors, f"{path}.cidr", "An IP block peer needs a CIDR.")
        if peer.get("podSelector") or peer.get("namespaceSelector"):
            add_error(
                errors,
                f"{path}.type",
                "An IP block peer cannot also select pods or namespaces.",
            )
    elif peer.get("cidr") or peer.get("except"):
        add_error(errors, f"{path}.cidr", "Only an 'ipBlock' peer has a CIDR.")
    if peer.get("type") == "namespaces" and peer.get("podSelector"):
        add_error(
            errors, f"{path}.podSelector", "Use the 'pods' peer type to select pods."
        )


def _check_policy_port(item: dict, path: str, errors: dict) -> None:
    end_port = item.get("endPort")
    if end_port is None:
        return
    if not isinstance(item.get("port"), int):
        add_error(
            errors, f"{path}.endPort", "A port range needs a port number to start from."
        )
    elif end_port < item["port"]:
        add_error(errors, f"{path}.endPort", "The end port must not be below the port.")


def network_policy_links(node: dict, graph: CanvasGraph) -> dict:
    """Return the `_linkedWorkloads` of a NetworkPolicy."""
    return {
        "_linkedWorkloads": [
            link_ref(target) for target in policy_targets(graph, node["id"])
        ]
    }


def render_network_policy(ctx: RenderContext) -> list[dict]:
    """Render a NetworkPolicy selecting its linked workloads' pods."""
    data = ctx.data
    spec: dict[str, Any] = {
        "podSelector": _policy_pod_selector(ctx),
        "policyTypes": list(data["policyTypes"]),
    }
    if "Ingress" in data["policyTypes"]:
        spec["ingress"] = [
            _policy_rule(rule, "from") for rule in data.get("ingress") or []
        ]
    if "Egress" in data["policyTypes"]:
        spec["egress"] = [_policy_rule(rule, "to") for rule in data.get("egress") or []]
    main = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": ctx.metadata(),
        "spec": spec,
    }
    return [main]


def _policy_pod_selector(ctx: RenderContext) -> dict:
    targets = policy_targets(ctx.graph, ctx.node["id"])
    if len(targets) == 1:
        return {"matchLabels": ctx.pod_selector(targets[0])}
    if targets:
        node_ids = sorted(target["id"] for target in targets)
        return {
            "matchLabels": {WORKFLOW_LABEL: ctx.workflow_id},
            "matchExpressions": [
                {"key": NODE_LABEL, "operator": "In", "values": node_ids}
            ],
        }
    selector = ctx.data.get("podSelector") or {}
    return {"matchLabels": dict(selector)} if selector else {}


def _policy_rule(rule: dict, peers_key: str) -> dict:
    rendered: dict[str, Any] = {}
    peers = [_peer(peer) for peer in rule.get(peers_key) or []]
    if peers:
        rendered[peers_key] = peers
    ports = [_policy_port(item) for item in rule.get("ports") or []]
    if ports:
        rendered["ports"] = ports
    return rendered


def _peer(peer: dict) -> dict:
    if peer["type"] == "ipBlock":
        block: dict[str, Any] = {"cidr": peer["cidr"]}
        if peer.get("except"):
            block["except"] = list(peer["except"])
        return {"ipBlock": block}
    namespaces = peer.get("namespaceSelector") or {}
    if peer["type"] == "namespaces":
        return {
            "namespaceSelector": {"matchLabels": dict(namespaces)} if namespaces else {}
        }
    rendered: dict[str, Any] = {
        "podSelector": _match_labels(peer.get("podSelector") or {})
    }
    if namespaces:
        rendered["namespaceSelector"] = {"matchLabels": dict(namespaces)}
    return rendered


def _match_labels(labels: dict) -> dict:
    return {"matchLabels": dict(labels)} if labels else {}


def _policy_port(item: dict) -> dict:
    rendered: dict[str, Any] = {"protocol": item["protocol"]}
    if item.get("port") is not None:
        rendered["port"] = item["port"]
    if item.get("endPort") is not None:
        rendered["endPort"] = item["endPort"]
    return rendered


def _service_summary(data: dict) -> dict:
    ports = service_ports(data)
    return {
        "type": data.get("type"),
        "port": ports[0]["port"] if ports else None,
        "ports": len(ports),
    }


def _ingress_summary(data: dict) -> dict:
    return {
        "host": data.get("host"),
        "paths": len(data.get("paths") or []),
        "tls": bool(data.get("tls")),
    }


def _policy_summary(data: dict) -> dict:
    rules = len(data.get("ingress") or []) + len(data.get("egress") or [])
    return {"policyTypes": list(data.get("policyTypes") or []), "rules": rules}


SERVICE = NodeKind(
    key="service",
    label="Service",
    group="Networking",
    icon="network",
    api_version="v1",
    object_kind="Service",
    description="A stable name and port in front of a workload's pods.",
    fields=SERVICE_FIELDS,
    tier=TIER_SERVICE,
    health_rule="service",
    summary_fields=("type", "port", "ports"),
    summary=_service_summary,
    render=render_service,
    ports=_service_node_ports,
    port_docs=(
        {"handle": "in", "direction": "in"},
        {"handle": "out", "direction": "out"},
    ),
    check=check_service,
    linked=service_links,
    linked_fields={
        "_linkedDeployment": (
            "The workload it selects: id, kind, name and container ports."
        )
    },
)
INGRESS = NodeKind(
    key="ingress",
    label="Ingress",
    group="Networking",
    icon="globe",
    api_version="networking.k8s.io/v1",
    object_kind="Ingress",
    description=(
        "HTTP(S) routing from outside the cluster to Services, by host and path."
    ),
    fields=INGRESS_FIELDS,
    tier=TIER_INGRESS,
    health_rule="ingress",
    summary_fields=("host", "paths", "tls"),
    summary=_ingress_summary,
    render=render_ingress,
    ports=ingress_ports,
    port_docs=({"handle": "path-{index}", "direction": "out", "repeat": "paths"},),
    check=check_ingress,
    linked=ingress_links,
    linked_fields={
        "paths[]._linkedService": (
            "Per path: the Service behind it (id, kind, name, port)."
        )
    },
)
NETWORK_POLICY = NodeKind(
    key="networkpolicy",
    label="NetworkPolicy",
    group="Scaling & policy",
    icon="shield",
    api_version="networking.k8s.io/v1",
    object_kind="NetworkPolicy",
    description="Which traffic may reach, or leave, the selected pods.",
    fields=NETWORK_POLICY_FIELDS,
    tier=TIER_POLICY,
    health_rule="exists",
    summary_fields=("policyTypes", "rules"),
    summary=_policy_summary,
    render=render_network_policy,
    ports=lambda data: [Port("out", "out", "Link to the workloads it applies to")],
    port_docs=({"handle": "out", "direction": "out"},),
    check=check_network_policy,
    linked=network_policy_links,
    linked_fields={"_linkedWorkloads": "The workloads whose pods it selects."},
)
