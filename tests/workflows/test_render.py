"""Rendering: manifests validate against Kubernetes and edges take effect."""

import base64
import json

import kubernetes_validate
import pytest
import yaml

from tests.workflows.canvases import (
    NAMESPACE,
    WORKFLOW_ID,
    edge,
    node,
    reveal_for_tests,
    seal_for_tests,
    three_tier,
    web,
)
from workflows.canvas import CanvasInvalid
from workflows.kinds import KINDS
from workflows.render import apply_sequence, namespaces_of, render_canvas, render_yaml
from workflows.secrets import seal_canvas

KUBERNETES_VERSION = "1.33"
OWNERSHIP = {
    "app.kubernetes.io/managed-by": "kubeorch",
    "kubeorch.io/workflow": WORKFLOW_ID,
}


def render(nodes, edges=(), **options):
    """Seal like a save does, then render like a run does."""
    sealed = seal_canvas(nodes, [], seal_for_tests)
    options = {
        "workflow_id": WORKFLOW_ID,
        "namespace": NAMESPACE,
        "reveal": reveal_for_tests,
        **options,
    }
    return {
        item.node_id: item for item in render_canvas(sealed, list(edges), **options)
    }


def main(rendered, node_id) -> dict:
    return rendered[node_id].main


def pod_spec(manifest: dict) -> dict:
    spec = manifest["spec"]
    if manifest["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def container(manifest: dict) -> dict:
    return pod_spec(manifest)["containers"][0]


def validate(manifest: dict) -> None:
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def edge_case_canvas() -> tuple[list[dict], list[dict]]:
    """Every kind with every optional field set, and edges of every kind."""
    edge_ns = {"namespace": "edge"}
    api = node(
        "api",
        "deployment",
        **edge_ns,
        image="registry.example.com:5000/team/api:2.3.1",
        replicas=1000,
        strategy="Recreate",
        containerName="server",
        containerPorts=[
            {"name": "http", "containerPort": 8080},
            {"name": "metrics", "containerPort": 9090},
            {"name": "dns", "containerPort": 5353, "protocol": "UDP"},
        ],
        command=["/app/server"],
        args=["--listen", ":8080"],
        env=[
            {"name": "MODE", "value": "edge"},
            {"name": "API_KEY", "value": "k-123", "sensitive": True},
            {
                "name": "DB_URL",
                "valueFrom": {
                    "kind": "secret",
                    "name": "api-creds",
                    "key": "url",
                    "optional": True,
                },
            },
            {
                "name": "THEME",
                "valueFrom": {
                    "kind": "configMap",
                    "name": "api-config",
                    "key": "theme",
                },
            },
        ],
        resources={
            "requests": {"cpu": "250m", "memory": "256Mi"},
            "limits": {"cpu": "2", "memory": "1Gi"},
        },
        livenessProbe={
            "type": "http",
            "path": "/live",
            "port": "http",
            "scheme": "HTTPS",
            "initialDelaySeconds": 5,
        },
        readinessProbe={
            "type": "tcp",
            "port": 8080,
            "periodSeconds": 3,
            "successThreshold": 2,
        },
        startupProbe={
            "type": "exec",
            "command": ["cat", "/tmp/ready"],
            "failureThreshold": 30,
        },
        imagePullPolicy="Always",
        imagePullSecrets=["regcred"],
        serviceAccountName="api-sa",
        nodeSelector={"kubernetes.io/os": "linux"},
        tolerations=[
            {
                "key": "dedicated",
                "value": "api",
                "effect": "NoExecute",
                "tolerationSeconds": 60,
            },
            {"operator": "Exists"},
        ],
        podAnnotations={"prometheus.io/scrape": "true"},
        labels={"app": "api", "team": "edge"},
        annotations={"owner": "edge-team"},
    )
    nodes = [
        api,
        node(
            "db",
            "statefulset",
            **edge_ns,
            image="postgres:16.4",
            replicas=3,
            serviceName="db-peers",
            podManagementPolicy="Parallel",
            containerPorts=[{"containerPort": 5432}, {"containerPort": 9187}],
            readinessProbe={"type": "grpc", "port": 9187},
            volumeClaimTemplates=[
                {
                    "name": "data",
                    "size": "100Gi",
                    "storageClassName": "fast",
                    "mountPath": "/var/lib/postgresql",
                },
                {
                    "name": "wal",
                    "size": "10Gi",
                    "accessModes": ["ReadWriteOncePod"],
                    "mountPath": "/wal",
                },
            ],
        ),
        node(
            "cache",
            "statefulset",
            **edge_ns,
            image="redis:7",
            headlessService=False,
            serviceName="cache",
        ),
        node(
            "agent",
            "daemonset",
            **edge_ns,
            image="fluent/fluent-bit:3.1",
            nodeSelector={"role": "worker"},
            tolerations=[
                {
                    "key": "node-role.kubernetes.io/control-plane",
                    "operator": "Exists",
                    "effect": "NoSchedule",
                }
            ],
        ),
        node(
            "migrate",
            "job",
            **edge_ns,
            image="busybox:1.36",
            command=["sh", "-c", "echo migrated"],
            completions=5,
            parallelism=2,
            backoffLimit=0,
            activeDeadlineSeconds=600,
            ttlSecondsAfterFinished=3600,
            restartPolicy="OnFailure",
        ),
        node(
            "report",
            "cronjob",
            **edge_ns,
            image="busybox:1.36",
            schedule="30 2 * * MON-FRI",
            timeZone="Europe/Paris",
            concurrencyPolicy="Forbid",
            suspend=True,
            startingDeadlineSeconds=300,
            successfulJobsHistoryLimit=0,
            failedJobsHistoryLimit=10,
            completions=1,
        ),
        node(
            "api-svc",
            "service",
            **edge_ns,
            name="api",
            type="NodePort",
            ports=[
                {"name": "http", "port": 80, "nodePort": 30080},
                {"name": "metrics", "port": 9090, "targetPort": "metrics"},
            ],
        ),
        node(
            "api-lb",
            "service",
            **edge_ns,
            type="LoadBalancer",
            sessionAffinity="ClientIP",
            ports=[{"port": 443}],
        ),
        node("db-svc", "service", **edge_ns, name="db", type="headless", ports=[]),
        node(
            "cache-svc",
            "service",
            **edge_ns,
            name="cache",
            ports=[{"name": "redis", "port": 6379}],
        ),
        node(
            "legacy",
            "service",
            **edge_ns,
            selector={"app": "legacy"},
            ports=[{"port": 8080, "protocol": "UDP"}],
        ),
        node(
            "gateway",
            "ingress",
            **edge_ns,
            ingressClassName="nginx",
            host="*.edge.example.com",
            paths=[
                {"path": "/"},
                {"path": "/metrics", "pathType": "Exact"},
                {"path": "/lb", "pathType": "ImplementationSpecific"},
            ],
            tls=[
                {"secretName": "edge-tls"},
                {"hosts": ["api.example.com"], "secretName": "api-tls"},
            ],
            annotations={"nginx.ingress.kubernetes.io/ssl-redirect": "true"},
        ),
        node(
            "api-config",
            "configmap",
            **edge_ns,
            data={"theme": "dark", "app.yaml": "a: 1\n"},
        ),
        node("flags", "configmap", **edge_ns, data={"FEATURE_X": "on"}),
        node(
            "edge-tls",
            "secret",
            **edge_ns,
            type="kubernetes.io/tls",
            data={"tls.crt": "CERT", "tls.key": "KEY"},
        ),
        node(
            "regcred",
            "secret",
            **edge_ns,
            type="kubernetes.io/dockerconfigjson",
            data={".dockerconfigjson": "{}"},
        ),
        node(
            "api-creds",
            "secret",
            **edge_ns,
            data={"url": "postgres://db/api", "token": ""},
        ),
        node(
            "uploads",
            "persistentvolumeclaim",
            **edge_ns,
            size="5Gi",
            storageClassName="shared",
            accessModes=["ReadWriteMany", "ReadOnlyMany"],
            volumeMode="Block",
        ),
        node(
            "api-hpa",
            "hpa",
            **edge_ns,
            minReplicas=2,
            maxReplicas=1000,
            targetCPUUtilization=65,
            targetMemoryUtilization=80,
            scaleUpStabilizationWindowSeconds=0,
            scaleDownStabilizationWindowSeconds=3600,
        ),
        node(
            "db-hpa",
            "hpa",
            **edge_ns,
            targetCPUUtilization=None,
            targetMemoryUtilization=75,
            maxReplicas=5,
        ),
        node(
            "lockdown",
            "networkpolicy",
            **edge_ns,
            policyTypes=["Ingress", "Egress"],
            ingress=[
                {
                    "from": [
                        {
                            "type": "pods",
                            "podSelector": {"app": "web"},
                            "namespaceSelector": {"team": "edge"},
                        },
                        {"type": "pods"},
                        {
                            "type": "namespaces",
                            "namespaceSelector": {"kubernetes.io/metadata.name": "ops"},
                        },
                        {
                            "type": "ipBlock",
                            "cidr": "10.0.0.0/8",
                            "except": ["10.1.0.0/16"],
                        },
                    ],
                    "ports": [
                        {"port": 8080},
                        {"port": "metrics"},
                        {"port": 30000, "endPort": 32767},
                    ],
                }
            ],
            egress=[
                {
                    "to": [{"type": "namespaces"}],
                    "ports": [{"port": 53, "protocol": "UDP"}],
                },
                {},
            ],
        ),
        node("default-deny", "networkpolicy", **edge_ns, policyTypes=["Ingress"]),
        node(
            "selected",
            "networkpolicy",
            **edge_ns,
            podSelector={"app": "legacy"},
            policyTypes=["Egress"],
        ),
        node(
            "cert",
            "customresource",
            **edge_ns,
            apiVersion="cert-manager.io/v1",
            kind="Certificate",
            spec="secretName: edge-tls\ndnsNames: ['edge.example.com']\n",
        ),
        node(
            "issuer",
            "customresource",
            apiVersion="cert-manager.io/v1",
            kind="ClusterIssuer",
            namespaced=False,
        ),
    ]
    edges = [
        edge("api-svc", "api"),
        edge("api-lb", "api"),
        edge("db-svc", "db"),
        edge("cache-svc", "cache"),
        edge("gateway", "api-svc", "path-0"),
        edge("gateway", "api-svc", "path-1", port="metrics"),
        edge("gateway", "api-lb", "path-2", port=443),
        edge("api-config", "api", mountPath="/etc/api"),
        edge("flags", "api", mode="env", prefix="APP_"),
        edge("flags", "report", mode="env"),
        edge("api-creds", "api"),
        edge("api-creds", "migrate", mode="env"),
        edge("uploads", "api", mountPath="/uploads", subPath="api", readOnly=True),
        edge("api-hpa", "api"),
        edge("db-hpa", "db"),
        edge("lockdown", "api"),
        edge("lockdown", "db"),
        edge("lockdown", "agent"),
    ]
    return nodes, edges


def test_the_schema_check_itself_catches_a_wrong_manifest():
    manifest = main(render([web()]), "web")
    manifest["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"

    with pytest.raises(kubernetes_validate.ValidationError):
        validate(manifest)


def minimal_node(kind_key: str) -> dict:
    extra = {
        "customresource": {"apiVersion": "example.com/v1", "kind": "Widget"},
    }.get(kind_key, {})
    if KINDS[kind_key].group == "Workloads":
        extra = {"image": "nginx:1.27"}
    return node(f"only-{kind_key}", kind_key, **extra)


@pytest.mark.parametrize("kind_key", sorted(set(KINDS) - {"customresource"}))
def test_each_kind_with_only_its_defaults_renders_valid_manifests(kind_key):
    rendered = render([minimal_node(kind_key)])

    for manifest in rendered[f"only-{kind_key}"].manifests:
        validate(manifest)


def test_the_three_tier_app_renders_valid_manifests():
    canvas = three_tier()

    rendered = render(canvas["nodes"], canvas["edges"])

    assert set(rendered) == {item["id"] for item in canvas["nodes"]}
    for item in rendered.values():
        for manifest in item.manifests:
            validate(manifest)


def test_the_edge_case_canvas_renders_valid_manifests():
    nodes, edges = edge_case_canvas()

    rendered = render(nodes, edges)

    count = 0
    for item in rendered.values():
        for manifest in item.manifests:
            if manifest["apiVersion"].startswith("cert-manager.io"):
                continue  # a CRD's schema is not among Kubernetes' own
            validate(manifest)
            count += 1
    assert count == 25  # 23 nodes, a headless Service and an env Secret


def test_every_object_and_every_pod_carries_the_ownership_labels():
    nodes, edges = edge_case_canvas()

    rendered = render(nodes, edges)

    for item in rendered.values():
        expected = {**OWNERSHIP, "kubeorch.io/node": item.node_id}
        for manifest in item.manifests:
            assert manifest["metadata"]["labels"].items() >= expected.items(), manifest[
                "metadata"
            ]
        if item.kind in ("deployment", "statefulset", "daemonset", "job", "cronjob"):
            manifest = item.main
            template = manifest["spec"].get("jobTemplate", manifest)["spec"]["template"]
            assert template["metadata"]["labels"].items() >= expected.items()
            if item.kind not in ("job", "cronjob"):
                selector = {
                    key: expected[key]
                    for key in ("kubeorch.io/workflow", "kubeorch.io/node")
                }
                assert manifest["spec"]["selector"] == {"matchLabels": selector}


def test_user_labels_reach_the_pods_and_annotations_the_object():
    rendered = render(*edge_case_canvas())

    api = main(rendered, "api")
    assert api["metadata"]["labels"]["team"] == "edge"
    assert api["metadata"]["annotations"] == {"owner": "edge-team"}
    template = api["spec"]["template"]["metadata"]
    assert template["labels"]["app"] == "api"
    assert template["annotations"]["prometheus.io/scrape"] == "true"


# Edges take effect


def test_a_linked_service_selects_the_workload_and_follows_its_port():
    nodes = [web(), node("svc", "service", ports=[{"port": 80}])]

    service = main(render(nodes, [edge("svc", "web")]), "svc")

    assert service["spec"]["selector"] == {
        "kubeorch.io/workflow": WORKFLOW_ID,
        "kubeorch.io/node": "web",
    }
    assert service["spec"]["ports"] == [
        {"port": 80, "targetPort": 8080, "protocol": "TCP"}
    ]


def test_service_ports_map_to_container_ports_by_name_then_position():
    workload = web(
        containerPorts=[
            {"name": "http", "containerPort": 8080},
            {"name": "admin", "containerPort": 9000},
        ]
    )
    ports = [
        {"name": "admin", "port": 90},
        {"name": "web", "port": 80},
        {"name": "x", "port": 1, "targetPort": 7},
    ]
    nodes = [workload, node("svc", "service", ports=ports)]

    service = main(render(nodes, [edge("svc", "web")]), "svc")

    assert [port["targetPort"] for port in service["spec"]["ports"]] == [9000, 9000, 7]


def test_renaming_a_workload_or_changing_its_port_follows_through():
    canvas = three_tier()
    workload = next(item for item in canvas["nodes"] if item["id"] == "web")
    workload["data"]["name"] = "storefront"
    workload["data"]["containerPorts"][0]["containerPort"] = 8081
    service_node = next(item for item in canvas["nodes"] if item["id"] == "web-svc")
    service_node["data"]["name"] = "front"

    rendered = render(canvas["nodes"], canvas["edges"])

    assert main(rendered, "web-svc")["spec"]["ports"][0]["targetPort"] == 8081
    assert main(rendered, "web-hpa")["spec"]["scaleTargetRef"]["name"] == "storefront"
    backend = main(rendered, "web-ingress")["spec"]["rules"][0]["http"]["paths"][0][
        "backend"
    ]
    assert backend == {"service": {"name": "front", "port": {"number": 80}}}


def test_an_unlinked_service_keeps_its_selector_and_own_port():
    rendered = render(*edge_case_canvas())

    legacy = main(rendered, "legacy")
    assert legacy["spec"]["selector"] == {"app": "legacy"}
    assert legacy["spec"]["ports"][0]["targetPort"] == 8080
    assert main(rendered, "db-svc")["spec"]["clusterIP"] == "None"
    assert main(rendered, "api-svc")["spec"]["ports"][0]["nodePort"] == 30080


def test_ingress_paths_get_their_backends_from_edges():
    rendered = render(*edge_case_canvas())

    spec = main(rendered, "gateway")["spec"]
    backends = [
        path["backend"]["service"] for path in spec["rules"][0]["http"]["paths"]
    ]
    assert backends == [
        {"name": "api", "port": {"number": 80}},
        {"name": "api", "port": {"name": "metrics"}},
        {"name": "api-lb", "port": {"number": 443}},
    ]
    assert spec["rules"][0]["host"] == "*.edge.example.com"
    assert spec["tls"][0] == {"hosts": ["*.edge.example.com"], "secretName": "edge-tls"}
    assert spec["ingressClassName"] == "nginx"


def test_an_hpa_targets_its_workload_which_then_leaves_replicas_to_it():
    rendered = render(*edge_case_canvas())

    hpa = main(rendered, "api-hpa")["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "api",
    }
    assert [metric["resource"]["name"] for metric in hpa["metrics"]] == [
        "cpu",
        "memory",
    ]
    assert hpa["behavior"]["scaleDown"] == {"stabilizationWindowSeconds": 3600}
    assert main(rendered, "db-hpa")["spec"]["scaleTargetRef"]["kind"] == "StatefulSet"
    assert "replicas" not in main(rendered, "api")["spec"]
    assert main(rendered, "cache")["spec"]["replicas"] == 1


def test_config_maps_and_secrets_mount_or_inject_and_pvcs_mount():
    rendered = render(*edge_case_canvas())

    api = main(rendered, "api")
    mounts = {mount["name"]: mount for mount in container(api)["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod_spec(api)["volumes"]}
    assert mounts["cm-api-config"]["mountPath"] == "/etc/api"
    assert volumes["cm-api-config"]["configMap"] == {"name": "api-config"}
    assert mounts["secret-api-creds"]["mountPath"] == "/etc/secrets"
    assert volumes["secret-api-creds"]["secret"] == {"secretName": "api-creds"}
    assert mounts["pvc-uploads"] == {
        "name": "pvc-uploads",
        "mountPath": "/uploads",
        "readOnly": True,
        "subPath": "api",
    }
    assert volumes["pvc-uploads"]["persistentVolumeClaim"] == {
        "claimName": "uploads",
        "readOnly": True,
    }
    assert container(api)["envFrom"] == [
        {"configMapRef": {"name": "flags"}, "prefix": "APP_"}
    ]
    assert container(main(rendered, "migrate"))["envFrom"] == [
        {"secretRef": {"name": "api-creds"}}
    ]
    assert container(main(rendered, "report"))["envFrom"] == [
        {"configMapRef": {"name": "flags"}}
    ]


def test_a_network_policy_selects_one_workload_or_several():
    rendered = render(*edge_case_canvas())

    several = main(rendered, "lockdown")["spec"]["podSelector"]
    assert several == {
        "matchLabels": {"kubeorch.io/workflow": WORKFLOW_ID},
        "matchExpressions": [
            {
                "key": "kubeorch.io/node",
                "operator": "In",
                "values": ["agent", "api", "db"],
            }
        ],
    }
    assert main(rendered, "default-deny")["spec"] == {
        "podSelector": {},
        "policyTypes": ["Ingress"],
        "ingress": [],
    }
    assert main(rendered, "selected")["spec"]["podSelector"] == {
        "matchLabels": {"app": "legacy"}
    }
    nodes = [web(), node("only", "networkpolicy")]
    single = main(render(nodes, [edge("only", "web")]), "only")["spec"]["podSelector"]
    assert single == {
        "matchLabels": {"kubeorch.io/workflow": WORKFLOW_ID, "kubeorch.io/node": "web"}
    }


def test_a_statefulset_renders_its_headless_service_and_claims():
    rendered = render(*edge_case_canvas())

    db, headless = rendered["db"].manifests
    assert db["spec"]["serviceName"] == "db-peers"
    assert headless["kind"] == "Service" and headless["metadata"]["name"] == "db-peers"
    assert headless["spec"]["clusterIP"] == "None"
    assert [port["name"] for port in headless["spec"]["ports"]] == [
        "tcp-5432",
        "tcp-9187",
    ]
    claims = db["spec"]["volumeClaimTemplates"]
    assert [claim["metadata"] for claim in claims] == [
        {"name": "data"},
        {"name": "wal"},
    ]
    assert claims[0]["spec"]["storageClassName"] == "fast"
    assert {"name": "wal", "mountPath": "/wal"} in container(db)["volumeMounts"]
    assert len(rendered["cache"].manifests) == 1
    assert main(rendered, "cache")["spec"]["serviceName"] == "cache"


# Secrets


def test_sensitive_env_values_go_through_a_companion_secret():
    rendered = render(*edge_case_canvas())

    api, env_secret = rendered["api"].manifests
    env = {var["name"]: var for var in container(api)["env"]}
    assert env["API_KEY"]["valueFrom"] == {
        "secretKeyRef": {"name": "api-env", "key": "API_KEY"}
    }
    assert env["MODE"] == {"name": "MODE", "value": "edge"}
    assert env["DB_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "api-creds",
        "key": "url",
        "optional": True,
    }
    assert env["THEME"]["valueFrom"] == {
        "configMapKeyRef": {"name": "api-config", "key": "theme"}
    }
    assert env_secret["metadata"]["name"] == "api-env"
    assert base64.b64decode(env_secret["data"]["API_KEY"]).decode() == "k-123"
    assert "k-123" not in json.dumps(api)
    assert [manifest["kind"] for manifest in apply_sequence(rendered["api"])] == [
        "Secret",
        "Deployment",
    ]


def test_secret_values_are_revealed_into_base64_data():
    rendered = render(*edge_case_canvas())

    secret = main(rendered, "edge-tls")
    assert secret["type"] == "kubernetes.io/tls"
    assert {
        key: base64.b64decode(value).decode() for key, value in secret["data"].items()
    } == {
        "tls.crt": "CERT",
        "tls.key": "KEY",
    }
    assert main(rendered, "api-creds")["data"]["token"] == ""


def test_a_masked_value_is_never_rendered():
    nodes = [node("creds", "secret", data={"password": "********"})]

    with pytest.raises(ValueError, match="masked"):
        render_canvas(
            nodes,
            [],
            workflow_id=WORKFLOW_ID,
            namespace=NAMESPACE,
            reveal=reveal_for_tests,
        )


def test_config_changes_roll_the_pods_through_a_checksum():
    nodes = [web(), node("cfg", "configmap", data={"a": "1"})]
    before = main(render(nodes, [edge("cfg", "web")]), "web")
    nodes[1]["data"]["data"]["a"] = "2"
    after = main(render(nodes, [edge("cfg", "web")]), "web")

    checksum = "kubeorch.io/config-checksum"
    first = before["spec"]["template"]["metadata"]["annotations"][checksum]
    assert first != after["spec"]["template"]["metadata"]["annotations"][checksum]
    assert (
        "annotations"
        not in main(render([web()]), "web")["spec"]["template"]["metadata"]
    )


# Output and contract


def test_namespaces_are_collected_and_cluster_scoped_objects_have_none():
    rendered = render([*edge_case_canvas()[0], web()], edge_case_canvas()[1])

    assert namespaces_of(list(rendered.values())) == {"edge", NAMESPACE}
    assert "namespace" not in main(rendered, "issuer")["metadata"]
    assert main(rendered, "cert")["spec"]["dnsNames"] == ["edge.example.com"]


def test_yaml_export_holds_every_manifest_in_order():
    rendered = list(render(*edge_case_canvas()).values())

    text = render_yaml(rendered)

    documents = list(yaml.safe_load_all(text))
    assert documents == [manifest for item in rendered for manifest in item.manifests]
    assert text.startswith("---\n# node: api (deployment)\n")
    assert render_yaml([]) == ""


def test_rendering_ignores_the_order_of_edges():
    nodes, edges = edge_case_canvas()

    first = render(nodes, edges)
    second = render(nodes, list(reversed(edges)))

    assert {key: item.manifests for key, item in first.items()} == {
        key: item.manifests for key, item in second.items()
    }


def test_an_invalid_canvas_or_target_is_refused():
    with pytest.raises(CanvasInvalid):
        render([web(image="")])
    with pytest.raises(ValueError, match="workflow id"):
        render([web()], workflow_id="not a label!")
    with pytest.raises(ValueError, match="namespace"):
        render([web()], namespace="Shop")


def test_an_ingress_path_without_backend_is_left_out():
    nodes = [node("ing", "ingress", paths=[{"path": "/"}])]

    ingress = main(render(nodes), "ing")

    assert "rules" not in ingress["spec"]


def test_a_job_template_stays_fixed_while_a_cronjob_rolls_with_its_config():
    nodes = [
        node("once", "job", image="busybox:1.36"),
        node("nightly", "cronjob", image="busybox:1.36"),
        node("cfg", "configmap", data={"a": "1"}),
    ]

    rendered = render(nodes, [edge("cfg", "once"), edge("cfg", "nightly")])

    job_template = main(rendered, "once")["spec"]["template"]["metadata"]
    cron_template = main(rendered, "nightly")["spec"]["jobTemplate"]["spec"]["template"]
    assert "annotations" not in job_template
    assert "kubeorch.io/config-checksum" in cron_template["metadata"]["annotations"]
