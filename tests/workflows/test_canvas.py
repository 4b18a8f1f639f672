"""Canvas validation: shapes, fields, edges, names, limits and linked fields."""

import time

import pytest

from tests.workflows.canvases import edge, node, node_by_id, three_tier, web
from workflows.canvas import MAX_NODES, CanvasInvalid, normalize_canvas


def errors_of(nodes, edges, **options) -> dict:
    with pytest.raises(CanvasInvalid) as caught:
        normalize_canvas(nodes, edges, **options)
    return caught.value.errors


def node_errors(nodes, edges=(), node_id="web") -> dict:
    return errors_of(nodes, list(edges))["nodes"][node_id]


# Normalizing


def test_the_three_tier_canvas_is_valid_and_comes_back_complete():
    canvas = three_tier()

    nodes, edges = normalize_canvas(canvas["nodes"], canvas["edges"])

    web_node = node_by_id(nodes, "web")
    assert web_node["data"]["strategy"] == "RollingUpdate"
    assert web_node["data"]["containerPorts"][0]["protocol"] == "TCP"
    assert web_node["data"]["livenessProbe"]["periodSeconds"] == 10
    assert web_node["data"]["startupProbe"] is None
    assert len(edges) == len(canvas["edges"])
    assert canvas == three_tier(), "the input must not be changed"


def test_normalizing_twice_gives_the_same_canvas():
    canvas = three_tier()
    once = normalize_canvas(canvas["nodes"], canvas["edges"])

    twice = normalize_canvas(*once)

    assert twice == once


def test_envelope_keys_are_dropped_and_positions_defaulted():
    raw = web()
    raw["selected"] = True
    del raw["position"]

    nodes, _ = normalize_canvas([raw], [])

    assert set(nodes[0]) == {"id", "type", "position", "data"}
    assert nodes[0]["position"] == {"x": 0, "y": 0}


def test_edge_ids_and_handles_are_filled_when_missing():
    nodes = [web(), node("svc", "service")]

    _, edges = normalize_canvas(nodes, [{"source": "svc", "target": "web"}])

    assert edges == [
        {
            "id": "e-svc-out-web",
            "source": "svc",
            "target": "web",
            "sourceHandle": "out",
            "targetHandle": "in",
            "data": {},
        }
    ]


def test_edge_data_gets_its_defaults():
    nodes = [
        web(),
        node("cfg", "configmap"),
        node("creds", "secret"),
        node("vol", "persistentvolumeclaim"),
    ]
    edges = [edge("cfg", "web"), edge("creds", "web", mode="env"), edge("vol", "web")]

    _, cleaned = normalize_canvas(nodes, edges)

    data = [item["data"] for item in cleaned]
    assert data[0] == {"mode": "volume", "mountPath": "/etc/config", "prefix": ""}
    assert data[1]["mode"] == "env"
    assert data[2] == {"mountPath": "/data", "subPath": "", "readOnly": False}


# Linked fields


def test_linked_fields_are_recomputed_from_the_edges():
    canvas = three_tier()
    for item in canvas["nodes"]:
        item["data"]["_linkedDeployment"] = {"name": "stale"}

    nodes, _ = normalize_canvas(canvas["nodes"], canvas["edges"])

    service = node_by_id(nodes, "web-svc")["data"]["_linkedDeployment"]
    assert (
        service["id"] == "web"
        and service["name"] == "web"
        and service["kind"] == "deployment"
    )
    assert service["ports"][0]["containerPort"] == 80
    workload = node_by_id(nodes, "web")["data"]
    assert [ref["id"] for ref in workload["_linkedServices"]] == ["web-svc"]
    assert workload["_linkedConfigMaps"][0]["mountPath"] == "/etc/config"
    assert workload["_linkedSecrets"][0]["mode"] == "env"
    assert workload["_linkedAutoscaler"]["id"] == "web-hpa"
    assert "_linkedDeployment" not in workload
    assert node_by_id(nodes, "web-hpa")["data"]["_linkedTarget"]["name"] == "web"
    path = node_by_id(nodes, "web-ingress")["data"]["paths"][0]
    assert path["_linkedService"] == {
        "id": "web-svc",
        "kind": "service",
        "name": "web",
        "port": 80,
    }
    assert node_by_id(nodes, "web-config")["data"]["_linkedWorkloads"][0]["id"] == "web"


def test_renaming_a_workload_and_changing_its_port_follow_through_linked_nodes():
    canvas = three_tier()
    workload = node_by_id(canvas["nodes"], "web")
    workload["data"]["name"] = "storefront"
    workload["data"]["containerPorts"][0]["containerPort"] = 8080

    nodes, _ = normalize_canvas(canvas["nodes"], canvas["edges"])

    linked = node_by_id(nodes, "web-svc")["data"]["_linkedDeployment"]
    assert linked["name"] == "storefront"
    assert linked["ports"][0]["containerPort"] == 8080
    assert node_by_id(nodes, "web-hpa")["data"]["_linkedTarget"]["name"] == "storefront"


def test_deleting_an_edge_undoes_its_links():
    canvas = three_tier()
    edges = [item for item in canvas["edges"] if item["id"] != "web-svc-to-web"]

    nodes, _ = normalize_canvas(canvas["nodes"], edges)

    assert node_by_id(nodes, "web-svc")["data"]["_linkedDeployment"] is None
    assert node_by_id(nodes, "web")["data"]["_linkedServices"] == []


# Nodes and fields


def test_bad_node_ids_are_reported_on_the_canvas():
    raw = web()
    raw["id"] = "Web_1"

    errors = errors_of([raw], [])

    assert "nodes[0]" in errors["canvas"][0] and "'Web_1'" in errors["canvas"][0]


def test_duplicate_node_ids_are_refused():
    errors = errors_of([web(), web()], [])

    assert "unique" in errors["nodes"]["web"]["id"][0]


def test_unknown_types_are_refused_naming_the_known_ones():
    errors = errors_of([node("x", "frobnicator")], [])

    assert "frobnicator" in errors["nodes"]["x"]["type"][0]
    assert "deployment" in errors["nodes"]["x"]["type"][0]


@pytest.mark.parametrize(
    "data, path, words",
    [
        ({"name": "Web_App!"}, "name", "lower-case"),
        ({"image": None}, "image", "Image is required"),
        ({"replicas": 1001}, "replicas", "between 0 and 1000"),
        ({"replicas": "3"}, "replicas", "whole number"),
        ({"replicas": True}, "replicas", "whole number"),
        (
            {"containerPorts": [{"containerPort": 70000}]},
            "containerPorts[0].containerPort",
            "between 1 and 65535",
        ),
        (
            {"resources": {"requests": {"memory": "128m"}}},
            "resources.requests.memory",
            "did you mean",
        ),
        (
            {"resources": {"limits": {"cpu": "lots"}}},
            "resources.limits.cpu",
            "CPU quantity",
        ),
        (
            {"labels": {"kubeorch.io/node": "x"}},
            "labels[kubeorch.io/node]",
            "set by KubeOrch",
        ),
        ({"labels": {"app": "a b"}}, "labels[app]", "The value of 'app'"),
        ({"namespace": "Prod"}, "namespace", "lower-case"),
        ({"imagePullPolicy": "Sometimes"}, "imagePullPolicy", "one of"),
        ({"strategy": "Blue"}, "strategy", "one of"),
        (
            {"env": [{"name": "1X", "value": "a"}]},
            "env[0].name",
            "not starting with a digit",
        ),
        (
            {"env": [{"name": "A"}, {"name": "A"}]},
            "env[1].name",
            "already has an entry 'A'",
        ),
        ({"colour": "red"}, "colour", "Unknown field"),
    ],
)
def test_field_errors_name_the_field(data, path, words):
    errors = node_errors([web(**data)])

    assert path in errors, errors
    assert words in " ".join(errors[path])


@pytest.mark.parametrize(
    "data, path, words",
    [
        (
            {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}},
            "resources.requests.cpu",
            "above its limit",
        ),
        (
            {
                "env": [
                    {"name": "A", "value": "x", "valueFrom": {"name": "s", "key": "k"}}
                ]
            },
            "env[0].value",
            "not both",
        ),
        (
            {"readinessProbe": {"type": "http", "port": "metrics"}},
            "readinessProbe.port",
            "named 'metrics'",
        ),
        (
            {"livenessProbe": {"type": "exec"}},
            "livenessProbe.command",
            "needs a command",
        ),
        (
            {"livenessProbe": {"type": "tcp", "successThreshold": 2}},
            "livenessProbe.successThreshold",
            "Must be 1",
        ),
        (
            {"containerPorts": [], "readinessProbe": {"type": "http"}},
            "readinessProbe.port",
            "declares none",
        ),
        (
            {"containerPorts": [{"containerPort": 80}, {"containerPort": 80}]},
            "containerPorts[1].containerPort",
            "twice",
        ),
        (
            {"tolerations": [{"key": "gpu", "operator": "Exists", "value": "x"}]},
            "tolerations[0].value",
            "Exists",
        ),
    ],
)
def test_rules_between_fields_are_checked(data, path, words):
    errors = node_errors([web(**data)])

    assert words in " ".join(errors.get(path, [])), errors


def test_statefulset_claims_and_headless_service_are_checked():
    claim = {"name": "data", "mountPath": "/data"}
    nodes = [
        node(
            "db",
            "statefulset",
            image="postgres:16",
            volumeClaimTemplates=[claim, dict(claim)],
        ),
        node("svc", "service", name="db-headless"),
    ]

    errors = errors_of(nodes, [])["nodes"]["db"]

    assert "already has an entry 'data'" in errors["volumeClaimTemplates[1].name"][0]


def test_a_headless_service_name_may_not_collide_with_a_service_node():
    nodes = [
        node("db", "statefulset", image="postgres:16"),
        node("svc", "service", name="db-headless"),
    ]

    errors = errors_of(nodes, [])["nodes"]

    assert "already makes a Service named 'db-headless'" in errors["svc"]["name"][0]


def test_cronjob_schedule_time_zone_and_name_length():
    cron = node(
        "nightly",
        "cronjob",
        image="busybox:1.36",
        schedule="0 25 * * *",
        timeZone="Moon/Base",
    )

    errors = errors_of([cron], [])["nodes"]["nightly"]

    assert "cron" in errors["schedule"][0]
    assert "time zone" in errors["timeZone"][0]
    long_name = node("nightly", "cronjob", image="busybox:1.36", name="n" * 53)
    assert "at most 52" in errors_of([long_name], [])["nodes"]["nightly"]["name"][0]


def test_service_rules():
    svc = node(
        "svc",
        "service",
        ports=[{"port": 80}, {"port": 443, "nodePort": 30080}],
    )

    errors = errors_of([svc], [])["nodes"]["svc"]

    assert "needs a name" in errors["ports[0].name"][0]
    assert "Only NodePort" in errors["ports[1].nodePort"][0]
    assert (
        "at most 63"
        in node_errors([node("svc", "service", name="s" * 64)], node_id="svc")["name"][
            0
        ]
    )
    assert (
        "at least one port"
        in node_errors([node("svc", "service", ports=[])], node_id="svc")["ports"][0]
    )
    normalize_canvas([node("svc", "service", type="headless", ports=[])], [])


def test_secret_types_need_their_keys_and_custom_resources_need_a_mapping():
    tls = node("cert", "secret", type="kubernetes.io/tls", data={"tls.crt": "x"})
    custom = node(
        "thing",
        "customresource",
        apiVersion="example.com/v1",
        kind="Widget",
        spec="- a\n- b",
    )
    broken = node(
        "other",
        "customresource",
        apiVersion="example.com/v1",
        kind="Widget",
        spec="a: [",
    )

    errors = errors_of([tls, custom, broken], [])["nodes"]

    assert "'tls.key'" in errors["cert"]["data"][0]
    assert "YAML mapping" in errors["thing"]["spec"][0]
    assert "not valid YAML (line" in errors["other"]["spec"][0]


def test_network_policy_peers_and_ports_are_checked():
    policy = node(
        "deny",
        "networkpolicy",
        policyTypes=["Ingress"],
        ingress=[
            {"from": [{"type": "ipBlock"}], "ports": [{"port": "http", "endPort": 90}]}
        ],
        egress=[{"to": []}],
    )

    errors = errors_of([policy], [])["nodes"]["deny"]

    assert "needs a CIDR" in errors["ingress[0].from[0].cidr"][0]
    assert "port number" in errors["ingress[0].ports[0].endPort"][0]
    assert "Add 'Egress'" in errors["egress"][0]


def test_hpa_replica_range_and_targets():
    hpa = node("hpa", "hpa", minReplicas=5, maxReplicas=2, targetCPUUtilization=None)

    errors = errors_of([hpa], [])["nodes"]["hpa"]

    assert "at least the minimum" in errors["maxReplicas"][0]
    assert "CPU or a memory target" in errors["targetCPUUtilization"][0]


def test_names_are_unique_per_kind_and_namespace():
    nodes = [
        web(),
        node("web-2", "deployment", name="web", image="nginx:1.27"),
        node("web-3", "deployment", name="web", image="nginx:1.27", namespace="other"),
        node("svc", "service", name="web"),
    ]

    errors = errors_of(nodes, [])["nodes"]

    assert set(errors) == {"web-2"}
    assert "already makes a Deployment named 'web'" in errors["web-2"]["name"][0]


def test_an_explicit_namespace_equal_to_the_workflow_one_collides_when_given():
    nodes = [
        web(),
        node("web-2", "deployment", name="web", image="nginx:1.27", namespace="shop"),
    ]

    normalize_canvas(nodes, [])
    assert "web-2" in errors_of(nodes, [], namespace="shop")["nodes"]


def test_a_sensitive_env_claims_its_companion_secret_name():
    nodes = [
        web(env=[{"name": "PW", "value": "x", "sensitive": True}]),
        node("s", "secret", name="web-env"),
    ]

    errors = errors_of(nodes, [])["nodes"]

    assert "Secret named 'web-env'" in errors["s"]["name"][0]


# Edges


@pytest.mark.parametrize(
    "extra_nodes, bad_edge, path, words",
    [
        (
            [node("cfg", "configmap")],
            edge("cfg", "svc"),
            "target",
            "cannot link to a Service",
        ),
        ([], edge("web", "svc"), "target", "has no outgoing links"),
        ([], edge("svc", "nobody"), "target", "No node has the id 'nobody'"),
        ([], edge("svc", "svc"), "target", "itself"),
        ([], edge("svc", "web", "path-0"), "sourceHandle", "no port 'path-0'"),
        (
            [node("pvc", "persistentvolumeclaim")],
            edge("pvc", "web", mountPath="etc"),
            "data.mountPath",
            "absolute",
        ),
        (
            [node("cfg", "configmap")],
            edge("cfg", "web", mode="file"),
            "data.mode",
            "one of",
        ),
        (
            [node("cfg", "configmap")],
            edge("cfg", "web", colour="red"),
            "data.colour",
            "Unknown field",
        ),
    ],
)
def test_bad_edges_are_refused_per_edge_and_field(extra_nodes, bad_edge, path, words):
    nodes = [web(), node("svc", "service"), *extra_nodes]

    errors = errors_of(nodes, [bad_edge])["edges"][bad_edge["id"]]

    assert words in " ".join(errors.get(path, [])), errors


def test_an_edge_back_from_a_workload_is_refused():
    canvas = three_tier()
    canvas["edges"].append({"id": "back", "source": "web", "target": "web-svc"})

    errors = errors_of(canvas["nodes"], canvas["edges"])

    assert "back" in errors["edges"]


def test_duplicate_edges_are_refused():
    nodes = [web(), node("cfg", "configmap")]
    first = edge("cfg", "web")
    second = {**first, "id": "again"}

    errors = errors_of(nodes, [first, second])["edges"]

    assert "already links these ports" in errors["again"]["target"][0]


def test_an_ingress_path_has_one_backend_and_must_be_chosen():
    nodes = [
        web(),
        node("a", "service"),
        node("b", "service"),
        node("ing", "ingress", paths=[{"path": "/"}, {"path": "/api"}]),
    ]
    edges = [
        edge("ing", "a", "path-0"),
        {**edge("ing", "b", "path-0"), "id": "second"},
        edge("ing", "b"),
    ]

    errors = errors_of(nodes, edges)["edges"]

    assert "a path has one backend" in errors["second"]["sourceHandle"][0]
    assert "Choose which port" in errors["ing-to-b-out"]["sourceHandle"][0]


def test_a_service_links_to_one_workload_and_an_hpa_scales_one():
    nodes = [
        web(),
        node("api", "deployment", image="nginx:1.27"),
        node("svc", "service"),
        node("hpa", "hpa"),
        node("hpa-2", "hpa"),
    ]
    edges = [
        edge("svc", "web"),
        edge("svc", "api"),
        edge("hpa", "web"),
        edge("hpa", "api"),
        edge("hpa-2", "web"),
    ]

    errors = errors_of(nodes, edges)["edges"]

    assert "links to one workload" in errors["svc-to-api-out"]["sourceHandle"][0]
    assert "links to one workload" in errors["hpa-to-api-out"]["sourceHandle"][0]
    assert "takes one HPA" in errors["hpa-2-to-web-out"]["target"][0]


def test_links_work_only_within_one_namespace():
    nodes = [web(namespace="a"), node("svc", "service", namespace="b")]

    errors = errors_of(nodes, [edge("svc", "web")])["edges"]

    assert "within one namespace" in errors["svc-to-web-out"]["target"][0]


def test_two_volumes_cannot_share_a_mount_path():
    nodes = [
        web(),
        node("a", "configmap"),
        node("b", "configmap"),
        node("c", "configmap"),
    ]
    edges = [edge("a", "web"), edge("b", "web"), edge("c", "web", mode="env")]

    errors = errors_of(nodes, edges)["edges"]

    message = errors["b-to-web-out"]["data.mountPath"][0]
    assert "/etc/config is already used by configmap 'a'" in message
    assert set(errors) == {"b-to-web-out"}


def test_a_volume_may_not_hide_a_claim_template():
    claim = {"name": "data", "mountPath": "/data"}
    nodes = [
        node("db", "statefulset", image="postgres:16", volumeClaimTemplates=[claim]),
        node("pvc", "persistentvolumeclaim"),
    ]

    errors = errors_of(nodes, [edge("pvc", "db")])["edges"]

    assert "volume claim 'data'" in errors["pvc-to-db-out"]["data.mountPath"][0]


# Sizes


def test_too_many_nodes_are_refused_at_once():
    nodes = [node(f"n{index}", "configmap") for index in range(MAX_NODES + 1)]

    errors = errors_of(nodes, [])

    assert f"at most {MAX_NODES} nodes" in errors["canvas"][0]


def test_values_longer_than_their_limit_are_refused():
    errors = node_errors(
        [node("cfg", "configmap", data={"big": "x" * 1_100_000})], node_id="cfg"
    )

    assert "longer than 1 MiB" in " ".join(errors["data[big]"])
    assert "larger than" in " ".join(errors["data"])
    assert "at most 1024" in node_errors([web(image="a" * 1100)])["image"][0]


def test_shapes_that_are_not_lists_or_objects_are_refused():
    assert errors_of({"a": 1}, [])["canvas"] == ["nodes must be a list."]
    assert "must be an object" in errors_of(["x"], [])["canvas"][0]
    assert node_errors([{"id": "web", "type": "deployment", "data": []}])["data"] == [
        "Must be an object."
    ]


def test_the_largest_canvas_validates_quickly():
    nodes, edges = [], []
    for index in range(MAX_NODES // 4):
        nodes += [
            web(name=f"web-{index}"),
            node(f"svc-{index}", "service"),
            node(f"cfg-{index}", "configmap"),
            node(f"hpa-{index}", "hpa"),
        ]
        nodes[-4]["id"] = f"web-{index}"
        edges += [
            edge(f"svc-{index}", f"web-{index}"),
            edge(f"cfg-{index}", f"web-{index}"),
        ]
        edges += [edge(f"hpa-{index}", f"web-{index}")]

    started = time.perf_counter()
    cleaned, _ = normalize_canvas(nodes, edges)
    elapsed = time.perf_counter() - started

    assert len(cleaned) == MAX_NODES
    assert elapsed < 5, f"{elapsed:.2f}s for {MAX_NODES} nodes"
