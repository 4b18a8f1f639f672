"""The deploy engine against a real simulated cluster over real HTTP."""

import json
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import NotFoundException

from kubesim.sim import KubeSim
from runs.engine import (
    DeployOptions,
    NodeState,
    ObjectRef,
    RunStatus,
    deploy,
    remove_all,
)
from workflows.ordering import apply_levels, dependencies
from workflows.render import render_canvas
from workflows.rendered import RenderedNode

NAMESPACE = "shop"
FAST = DeployOptions(health_deadline=20, poll_interval=0.05, request_timeout=5)


class Recorder:
    """A RunObserver that remembers what it was told and can ask to stop."""

    def __init__(self, stop_on: tuple[str, str] | None = None) -> None:
        self.states: list[tuple[str, str, str]] = []
        self.lines: list[tuple[str, str]] = []
        self.stop_on = stop_on
        self.thread_ids: set[int] = set()

    def node_state(self, node_id, state, message="", health=None):
        self.thread_ids.add(threading.get_ident())
        self.states.append((node_id, state, message))

    def log(self, level, message):
        self.lines.append((level, message))

    def should_stop(self):
        return any((node, state) == self.stop_on for node, state, _ in self.states)

    def states_of(self, node_id):
        return [state for node, state, _ in self.states if node == node_id]

    def index(self, node_id, state):
        return self.states.index(
            next(s for s in self.states if s[:2] == (node_id, state))
        )


@pytest.fixture
def api_client(kubeconfig_path):
    api = config.new_client_from_config(config_file=str(kubeconfig_path))
    yield api
    api.close()


@pytest.fixture
def workflow_id():
    return str(uuid.uuid4())


def labels(workflow_id, node):
    return {
        "app.kubernetes.io/managed-by": "kubeorch",
        "kubeorch.io/workflow": workflow_id,
        "kubeorch.io/node": node,
    }


def config_map(workflow_id, node="settings", data=None):
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": node,
            "namespace": NAMESPACE,
            "labels": labels(workflow_id, node),
        },
        "data": data or {"GREETING": "hello"},
    }
    return RenderedNode(node, "configmap", [manifest])


def web_deployment(workflow_id, node="web", image="nginx:1.27", replicas=2):
    pod_labels = labels(workflow_id, node)
    selector = {k: pod_labels[k] for k in ("kubeorch.io/workflow", "kubeorch.io/node")}
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": node,
            "namespace": NAMESPACE,
            "labels": labels(workflow_id, node),
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": image,
                            "ports": [{"containerPort": 80}],
                            "envFrom": [{"configMapRef": {"name": "settings"}}],
                        }
                    ]
                },
            },
        },
    }
    return RenderedNode(node, "deployment", [manifest])


def web_service(workflow_id, node="web-svc", target="web"):
    manifest = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": node,
            "namespace": NAMESPACE,
            "labels": labels(workflow_id, node),
        },
        "spec": {
            "selector": {
                "kubeorch.io/workflow": workflow_id,
                "kubeorch.io/node": target,
            },
            "ports": [{"port": 80, "targetPort": 80}],
        },
    }
    return RenderedNode(node, "service", [manifest])


def three_tier(workflow_id, image="nginx:1.27"):
    nodes = [
        config_map(workflow_id),
        web_deployment(workflow_id, image=image),
        web_service(workflow_id),
    ]
    return nodes, [["settings"], ["web"], ["web-svc"]]


def run(api_client, workflow_id, nodes, levels, observer=None, **kwargs):
    observer = observer or Recorder()
    options = kwargs.pop("options", FAST)
    result = deploy(
        api_client,
        workflow_id=workflow_id,
        rendered=nodes,
        levels=levels,
        observer=observer,
        options=options,
        **kwargs,
    )
    return result, observer


def read_config_map(api_client, name):
    return client.CoreV1Api(api_client).read_namespaced_config_map(name, NAMESPACE)


def test_a_three_tier_app_applies_in_order_and_becomes_healthy(api_client, workflow_id):
    nodes, levels = three_tier(workflow_id)

    result, observer = run(api_client, workflow_id, nodes, levels)

    assert result.status == RunStatus.COMPLETED, result.message
    assert {n: o.state for n, o in result.nodes.items()} == {
        "settings": NodeState.HEALTHY,
        "web": NodeState.HEALTHY,
        "web-svc": NodeState.HEALTHY,
    }
    assert result.nodes["web"].health.message == "2/2 ready"
    assert observer.index("settings", "applied") < observer.index("web", "applying")
    assert observer.index("web", "applied") < observer.index("web-svc", "applying")
    assert observer.thread_ids == {threading.get_ident()}
    live = client.AppsV1Api(api_client).read_namespaced_deployment("web", NAMESPACE)
    assert live.metadata.labels["kubeorch.io/workflow"] == workflow_id
    assert live.metadata.managed_fields[0].manager == "kubeorch"


def test_the_namespace_kubeorch_creates_is_labelled_but_not_owned(
    api_client, workflow_id
):
    nodes, levels = three_tier(workflow_id)

    run(api_client, workflow_id, nodes, levels)
    remove_all(api_client, workflow_id=workflow_id, observer=Recorder(), options=FAST)

    namespace = client.CoreV1Api(api_client).read_namespace(NAMESPACE)
    assert namespace.metadata.labels["app.kubernetes.io/managed-by"] == "kubeorch"
    assert "kubeorch.io/workflow" not in namespace.metadata.labels


def test_applying_the_same_nodes_again_changes_nothing(api_client, workflow_id):
    nodes, levels = three_tier(workflow_id)
    run(api_client, workflow_id, nodes, levels)
    before = read_config_map(api_client, "settings").metadata.resource_version

    result, observer = run(api_client, workflow_id, nodes, levels)

    assert result.status == RunStatus.COMPLETED, result.message
    assert result.pruned == []
    assert ("settings", "applied", "unchanged") in observer.states
    assert read_config_map(api_client, "settings").metadata.resource_version == before


def test_removing_a_node_prunes_exactly_its_object(api_client, workflow_id):
    extra = config_map(workflow_id, node="feature-flags", data={"BETA": "1"})
    nodes, levels = three_tier(workflow_id)
    run(
        api_client,
        workflow_id,
        [*nodes, extra],
        [*levels[:1], ["feature-flags"], *levels[1:]],
    )
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map(
        NAMESPACE, {"metadata": {"name": "someone-elses"}, "data": {"a": "b"}}
    )

    result, _ = run(api_client, workflow_id, nodes, levels)

    assert result.status == RunStatus.COMPLETED, result.message
    assert result.pruned == [
        ObjectRef("v1", "ConfigMap", NAMESPACE, "feature-flags", "feature-flags")
    ]
    with pytest.raises(NotFoundException):
        read_config_map(api_client, "feature-flags")
    assert read_config_map(api_client, "settings").data == {"GREETING": "hello"}
    assert read_config_map(api_client, "someone-elses").data == {"a": "b"}


def test_another_workflow_is_never_pruned(api_client, workflow_id):
    other = str(uuid.uuid4())
    run(api_client, other, [config_map(other, node="theirs")], [["theirs"]])

    result, _ = run(api_client, workflow_id, [config_map(workflow_id)], [["settings"]])

    assert result.pruned == []
    assert read_config_map(api_client, "theirs").data == {"GREETING": "hello"}


def test_an_object_kubeorch_did_not_create_is_refused_and_untouched(
    api_client, workflow_id
):
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": NAMESPACE}})
    core.create_namespaced_config_map(
        NAMESPACE, {"metadata": {"name": "settings"}, "data": {"GREETING": "mine"}}
    )
    before = read_config_map(api_client, "settings").metadata.resource_version
    nodes, levels = three_tier(workflow_id)

    result, _ = run(api_client, workflow_id, nodes, levels)

    assert result.status == RunStatus.FAILED
    settings = result.nodes["settings"]
    assert settings.state == NodeState.FAILED
    assert settings.message == (
        "a ConfigMap named settings already exists in shop "
        "and is not managed by this workflow"
    )
    assert result.nodes["web"].state == NodeState.SKIPPED
    assert (
        result.nodes["web"].message == "not applied: depends on settings which failed"
    )
    after = read_config_map(api_client, "settings")
    assert (after.data, after.metadata.resource_version) == (
        {"GREETING": "mine"},
        before,
    )
    with pytest.raises(NotFoundException):
        client.AppsV1Api(api_client).read_namespaced_deployment("web", NAMESPACE)


def test_an_unreachable_cluster_fails_fast_with_a_clear_message(workflow_id):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = client.ApiClient(client.Configuration(host=f"https://127.0.0.1:{port}"))
    nodes, levels = three_tier(workflow_id)

    started = time.monotonic()
    result, _ = run(api, workflow_id, nodes, levels)
    elapsed = time.monotonic() - started

    assert elapsed < 3
    assert result.status == RunStatus.FAILED
    assert result.message.startswith(
        f"cluster https://127.0.0.1:{port} did not answer within 5 s:"
    )
    assert "refused" in result.message.lower()
    assert {o.state for o in result.nodes.values()} == {NodeState.FAILED}


def test_a_cluster_that_never_answers_fails_within_the_request_timeout(workflow_id):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        api = client.ApiClient(client.Configuration(host=f"http://127.0.0.1:{port}"))
        options = DeployOptions(request_timeout=0.5)

        started = time.monotonic()
        result, _ = run(api, workflow_id, *three_tier(workflow_id), options=options)
        elapsed = time.monotonic() - started

    assert elapsed < 2
    assert result.status == RunStatus.FAILED
    assert "did not answer within 0.5 s" in result.message


def test_an_image_that_does_not_exist_fails_the_node_promptly(api_client, workflow_id):
    nodes, levels = three_tier(workflow_id, image="nginx:doesnotexist")

    started = time.monotonic()
    result, _ = run(api_client, workflow_id, nodes, levels)

    assert time.monotonic() - started < 5
    assert result.status == RunStatus.FAILED
    web = result.nodes["web"]
    assert web.state == NodeState.DEGRADED
    assert web.health.evidence["reason"] in ("ErrImagePull", "ImagePullBackOff")
    assert "nginx:doesnotexist" in web.message
    assert result.message.startswith("degraded: web (")


def test_a_rejected_manifest_fails_its_node_with_the_server_message(
    api_client, workflow_id
):
    broken = web_deployment(workflow_id)
    broken.manifests[0]["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    nodes = [config_map(workflow_id), broken, web_service(workflow_id)]
    depends_on = {"web": ["settings"], "web-svc": ["web"]}

    result, _ = run(
        api_client,
        workflow_id,
        nodes,
        [["settings"], ["web"], ["web-svc"]],
        depends_on=depends_on,
    )

    assert result.status == RunStatus.FAILED
    web = result.nodes["web"]
    assert web.state == NodeState.FAILED
    assert web.message.startswith("Deployment shop/web: ")
    assert "selector" in web.message
    assert result.nodes["web-svc"].state == NodeState.SKIPPED
    assert result.nodes["settings"].state == NodeState.HEALTHY


def test_cancellation_between_levels_applies_nothing_more(api_client, workflow_id):
    nodes, levels = three_tier(workflow_id)
    observer = Recorder(stop_on=("settings", "applied"))

    result, _ = run(api_client, workflow_id, nodes, levels, observer=observer)

    assert result.status == RunStatus.CANCELLED
    assert result.nodes["settings"].state == NodeState.APPLIED
    assert result.nodes["web"].state == NodeState.SKIPPED
    assert result.nodes["web"].message == "not applied: the run was cancelled"
    with pytest.raises(NotFoundException):
        client.AppsV1Api(api_client).read_namespaced_deployment("web", NAMESPACE)


def test_remove_all_deletes_every_object_of_the_workflow(api_client, workflow_id):
    nodes, levels = three_tier(workflow_id)
    run(api_client, workflow_id, nodes, levels)

    removed = remove_all(
        api_client, workflow_id=workflow_id, observer=Recorder(), options=FAST
    )

    assert sorted(str(ref) for ref in removed) == [
        "ConfigMap shop/settings",
        "Deployment shop/web",
        "Service shop/web-svc",
    ]
    with pytest.raises(NotFoundException):
        client.AppsV1Api(api_client).read_namespaced_deployment("web", NAMESPACE)


@pytest.fixture
def moving_clock(kubesim):
    """Move the simulated clock forward while a test runs (containers crash)."""
    stop = threading.Event()

    def tick():
        while not stop.wait(0.05):
            kubesim.advance(5)

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    yield
    stop.set()
    ticker.join()


def web_with(workflow_id, image="nginx:1.27", resources=None):
    nodes, levels = three_tier(workflow_id, image=image)
    if resources:
        pod_spec = nodes[1].manifests[0]["spec"]["template"]["spec"]
        pod_spec["containers"][0]["resources"] = resources
    return nodes, levels


def test_a_crash_looping_image_fails_the_node_with_exit_code_and_restarts(
    api_client, workflow_id, moving_clock
):
    nodes, levels = web_with(workflow_id, image="kubesim/crashloop")

    result, _ = run(api_client, workflow_id, nodes, levels)

    assert result.status == RunStatus.FAILED
    web = result.nodes["web"]
    assert web.state == NodeState.DEGRADED
    assert web.message.startswith("container app keeps crashing (Error, exit code 1)")
    assert web.health.evidence["reason"] == "CrashLoopBackOff"
    assert web.health.evidence["restart_count"] >= 1


def test_an_out_of_memory_container_fails_the_node_with_oomkilled(
    api_client, workflow_id, moving_clock
):
    limits = {"limits": {"memory": "16Mi"}}
    nodes, levels = web_with(workflow_id, image="kubesim/oom", resources=limits)

    result, _ = run(api_client, workflow_id, nodes, levels)

    web = result.nodes["web"]
    assert web.state == NodeState.DEGRADED
    assert web.health.evidence["terminated_reason"] == "OOMKilled"
    assert web.health.evidence["exit_code"] == 137


def test_requests_no_node_can_fit_fail_the_node_as_unschedulable(
    api_client, workflow_id
):
    huge = {"requests": {"cpu": "500", "memory": "1Ti"}}
    nodes, levels = web_with(workflow_id, resources=huge)

    result, _ = run(api_client, workflow_id, nodes, levels)

    web = result.nodes["web"]
    assert web.state == NodeState.DEGRADED
    assert "Insufficient cpu" in web.message
    assert web.health.evidence["condition"] == "PodScheduled"


def claim(workflow_id, storage_class):
    manifest = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": "data",
            "namespace": NAMESPACE,
            "labels": labels(workflow_id, "data"),
        },
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": storage_class,
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    return RenderedNode("data", "pvc", [manifest])


def test_a_claim_waiting_for_its_first_consumer_does_not_hold_the_run(
    api_client, workflow_id
):
    result, _ = run(
        api_client, workflow_id, [claim(workflow_id, "local-wait")], [["data"]]
    )

    assert result.status == RunStatus.COMPLETED, result.message
    assert result.nodes["data"].message == "waiting for a consumer"


def test_a_claim_of_an_unknown_storage_class_fails_the_node(api_client, workflow_id):
    result, _ = run(api_client, workflow_id, [claim(workflow_id, "gold")], [["data"]])

    assert result.status == RunStatus.FAILED
    assert result.nodes["data"].state == NodeState.DEGRADED
    assert "gold" in result.nodes["data"].message


def site_ingress(workflow_id, backend="web-svc", ingress_class="kubesim"):
    manifest = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "site",
            "namespace": NAMESPACE,
            "labels": labels(workflow_id, "site"),
        },
        "spec": {
            "ingressClassName": ingress_class,
            "rules": [
                {
                    "host": "shop.example.test",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {
                                    "service": {"name": backend, "port": {"number": 80}}
                                },
                            }
                        ]
                    },
                }
            ],
        },
    }
    return RenderedNode("site", "ingress", [manifest])


def test_an_ingress_naming_a_missing_service_fails_the_node(api_client, workflow_id):
    nodes, levels = three_tier(workflow_id)
    nodes.append(site_ingress(workflow_id, backend="nope"))

    result, _ = run(api_client, workflow_id, nodes, [*levels, ["site"]])

    assert result.nodes["site"].state == NodeState.DEGRADED
    assert result.nodes["site"].message == "backend Service nope not found in shop"


def test_an_ingress_nobody_serves_turns_healthy_with_a_warning_after_the_grace(
    api_client, workflow_id, kubesim
):
    nodes, levels = three_tier(workflow_id)
    nodes.append(site_ingress(workflow_id, ingress_class="unserved"))
    # Judge ages on the simulated clock, which other tests moved forward.
    options = DeployOptions(
        health_deadline=20, poll_interval=0.05, ingress_grace=0, clock=kubesim.clock.now
    )

    result, _ = run(
        api_client, workflow_id, nodes, [*levels, ["site"]], options=options
    )

    assert result.status == RunStatus.COMPLETED, result.message
    assert result.nodes["site"].health.warnings == [
        "the controller published no address"
    ]


CERTIFICATE_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "certificates.certs.example.test"},
    "spec": {
        "group": "certs.example.test",
        "scope": "Namespaced",
        "names": {
            "plural": "certificates",
            "singular": "certificate",
            "kind": "Certificate",
            "listKind": "CertificateList",
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
                "subresources": {"status": {}},
            }
        ],
    },
}


def certificate(workflow_id, node="site-tls"):
    manifest = {
        "apiVersion": "certs.example.test/v1",
        "kind": "Certificate",
        "metadata": {
            "name": node,
            "namespace": NAMESPACE,
            "labels": labels(workflow_id, node),
        },
        "spec": {"secretName": node, "dnsNames": ["shop.example.test"]},
    }
    return RenderedNode(node, "custom", [manifest])


def test_a_custom_resource_is_applied_and_pruned_through_extra_kinds(
    api_client, workflow_id
):
    client.ApiextensionsV1Api(api_client).create_custom_resource_definition(
        CERTIFICATE_CRD
    )
    result, _ = run(api_client, workflow_id, [certificate(workflow_id)], [["site-tls"]])
    assert result.status == RunStatus.COMPLETED, result.message
    assert result.nodes["site-tls"].health.message == "exists"

    options = DeployOptions(
        health_deadline=20,
        poll_interval=0.05,
        extra_kinds=(("certs.example.test/v1", "Certificate"),),
    )
    result, _ = run(
        api_client,
        workflow_id,
        [config_map(workflow_id)],
        [["settings"]],
        options=options,
    )

    assert [str(ref) for ref in result.pruned] == ["Certificate shop/site-tls"]


def test_a_kind_the_cluster_does_not_serve_fails_its_node(api_client, workflow_id):
    result, _ = run(api_client, workflow_id, [certificate(workflow_id)], [["site-tls"]])

    assert result.status == RunStatus.FAILED
    assert result.nodes["site-tls"].message == (
        "the cluster does not serve kind Certificate in certs.example.test/v1"
    )


def node_of(workflow_id, node, kind, spec, api_version, **top):
    pod_labels = labels(workflow_id, node)
    manifest = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": node, "namespace": NAMESPACE, "labels": pod_labels},
        **top,
    }
    if spec is not None:
        manifest["spec"] = spec
    return RenderedNode(node, kind.lower(), [manifest])


def pod_template(workflow_id, node, image="nginx:1.27", **spec):
    return {
        "metadata": {"labels": labels(workflow_id, node)},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": image,
                    "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}},
                }
            ],
            **spec,
        },
    }


def selector(workflow_id, node):
    return {
        "matchLabels": {"kubeorch.io/workflow": workflow_id, "kubeorch.io/node": node}
    }


def every_kind(workflow_id):
    w = workflow_id
    db = node_of(
        w,
        "db",
        "StatefulSet",
        {
            "serviceName": "db",
            "replicas": 2,
            "selector": selector(w, "db"),
            "template": pod_template(w, "db", image="postgres:16"),
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ],
        },
        "apps/v1",
    )
    headless = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "db", "namespace": NAMESPACE, "labels": labels(w, "db")},
        "spec": {
            "clusterIP": "None",
            "selector": selector(w, "db")["matchLabels"],
            "ports": [{"port": 5432}],
        },
    }
    db.manifests.append(headless)
    return [
        node_of(w, "token", "Secret", None, "v1", stringData={"TOKEN": "s3cret"}),
        db,
        node_of(
            w,
            "agent",
            "DaemonSet",
            {"selector": selector(w, "agent"), "template": pod_template(w, "agent")},
            "apps/v1",
        ),
        node_of(
            w,
            "migrate",
            "Job",
            {
                "backoffLimit": 1,
                "template": pod_template(
                    w, "migrate", image="busybox:1.36", restartPolicy="Never"
                ),
            },
            "batch/v1",
        ),
        node_of(
            w,
            "nightly",
            "CronJob",
            {
                "schedule": "0 3 * * *",
                "jobTemplate": {
                    "spec": {
                        "template": pod_template(
                            w, "nightly", image="busybox:1.36", restartPolicy="Never"
                        )
                    }
                },
            },
            "batch/v1",
        ),
        web_deployment(w),
        config_map(w),
        node_of(
            w,
            "web-hpa",
            "HorizontalPodAutoscaler",
            {
                "scaleTargetRef": {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "web",
                },
                "minReplicas": 1,
                "maxReplicas": 4,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 70},
                        },
                    }
                ],
            },
            "autoscaling/v2",
        ),
        node_of(
            w,
            "lockdown",
            "NetworkPolicy",
            {"podSelector": selector(w, "web"), "policyTypes": ["Ingress"]},
            "networking.k8s.io/v1",
        ),
    ]


def test_every_built_in_kind_applies_and_becomes_healthy(api_client, workflow_id):
    nodes = every_kind(workflow_id)
    requests = {"requests": {"cpu": "50m", "memory": "32Mi"}}
    nodes[5].manifests[0]["spec"]["template"]["spec"]["containers"][0]["resources"] = (
        requests
    )
    levels = [
        ["token", "settings"],
        ["db", "agent", "migrate", "nightly", "web"],
        ["web-hpa", "lockdown"],
    ]

    result, _ = run(api_client, workflow_id, nodes, levels)

    assert result.status == RunStatus.COMPLETED, result.message
    assert {n: o.state for n, o in result.nodes.items()} == dict.fromkeys(
        [n.node_id for n in nodes], NodeState.HEALTHY
    )
    assert result.nodes["db"].health.message == "2/2 ready"


def test_prune_keeps_the_claims_of_a_removed_statefulset(api_client, workflow_id):
    nodes = every_kind(workflow_id)
    run(api_client, workflow_id, nodes[:2], [["token"], ["db"]])

    result, _ = run(api_client, workflow_id, nodes[:1], [["token"]])

    assert sorted(str(ref) for ref in result.pruned) == [
        "Service shop/db",
        "StatefulSet shop/db",
    ]
    claims = client.CoreV1Api(api_client).list_namespaced_persistent_volume_claim(
        NAMESPACE
    )
    assert sorted(c.metadata.name for c in claims.items) == ["data-db-0", "data-db-1"]


def test_an_autoscaler_of_a_workload_without_cpu_requests_fails(
    api_client, workflow_id
):
    nodes = [n for n in every_kind(workflow_id) if n.node_id in ("settings", "web")]
    nodes.append(next(n for n in every_kind(workflow_id) if n.node_id == "web-hpa"))

    result, _ = run(
        api_client, workflow_id, nodes, [["settings"], ["web"], ["web-hpa"]]
    )

    assert result.nodes["web-hpa"].state == NodeState.DEGRADED
    assert "missing request for cpu" in result.nodes["web-hpa"].message


def test_a_service_that_selects_none_of_the_ready_pods_fails(api_client, workflow_id):
    nodes, levels = three_tier(workflow_id)
    nodes[2] = web_service(workflow_id, target="wbe")

    result, _ = run(api_client, workflow_id, nodes, levels)

    assert result.status == RunStatus.FAILED
    assert result.nodes["web-svc"].state == NodeState.DEGRADED
    assert result.nodes["web-svc"].message.startswith("selects no pod")
    assert result.nodes["web"].state == NodeState.HEALTHY


def test_cancellation_while_waiting_for_health_ends_the_wait(api_client, workflow_id):
    nodes, levels = three_tier(workflow_id)
    nodes.append(site_ingress(workflow_id, ingress_class="unserved"))
    observer = Recorder(stop_on=("site", "progressing"))

    started = time.monotonic()
    result, _ = run(api_client, workflow_id, nodes, [*levels, ["site"]], observer)

    assert time.monotonic() - started < 5
    assert result.status == RunStatus.CANCELLED
    assert result.message == "cancelled while waiting for health"
    assert result.nodes["site"].message == (
        "waiting for the ingress controller to publish an address"
    )


class StopsClusterAfter(Recorder):
    """Stops the cluster once a node is applied, as if it went away."""

    def __init__(self, sim, node_id):
        super().__init__()
        self.sim, self.node_id = sim, node_id

    def node_state(self, node_id, state, message="", health=None):
        super().node_state(node_id, state, message, health)
        if (node_id, state) == (self.node_id, "applied"):
            self.sim.stop()


def test_a_cluster_lost_between_levels_fails_the_rest_promptly(tmp_path, workflow_id):
    sim = KubeSim(mode="instant").start()
    sim.write_kubeconfig(tmp_path / "kubeconfig")
    api = config.new_client_from_config(config_file=str(tmp_path / "kubeconfig"))
    nodes, levels = three_tier(workflow_id)
    url = sim.url

    started = time.monotonic()
    result, _ = run(api, workflow_id, nodes, levels, StopsClusterAfter(sim, "settings"))

    assert time.monotonic() - started < 3
    assert result.status == RunStatus.FAILED
    assert (
        result.message == f"cluster {url} did not answer within 5 s: Connection refused"
    )
    assert result.nodes["settings"].state == NodeState.APPLIED
    assert result.nodes["web"].state == NodeState.FAILED
    assert result.nodes["web-svc"].state == NodeState.FAILED


THREE_TIER = Path(__file__).parents[1] / "workflows" / "fixtures" / "three_tier.json"


def test_a_rendered_canvas_deploys_in_its_levels_and_becomes_healthy(
    api_client, workflow_id
):
    canvas = json.loads(THREE_TIER.read_text())
    nodes, edges = canvas["nodes"], canvas["edges"]
    rendered = render_canvas(
        nodes, edges, workflow_id=workflow_id, namespace=NAMESPACE, reveal=str
    )

    result, _ = run(
        api_client,
        workflow_id,
        rendered,
        apply_levels(nodes, edges),
        depends_on=dependencies(nodes, edges),
    )

    assert result.status == RunStatus.COMPLETED, result.message
    assert {o.state for o in result.nodes.values()} == {NodeState.HEALTHY}
    assert set(result.nodes) == {n["id"] for n in nodes}
