"""End to end: the controllers seen through the real HTTP server and official client.

These use the shared `sim` fixture (an instant-mode KubeSim on a loopback
port), so every write through the client has settled before it returns.
"""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from .helpers import deployment_body


def pods_of(core, namespace: str, app: str) -> list:
    """Return the pods labelled app=<app>, as client models."""
    return core.list_namespaced_pod(namespace, label_selector=f"app={app}").items


def test_a_deployment_becomes_available_through_the_api(sim, apps, core, namespace):
    body = deployment_body("web")
    body["spec"]["replicas"] = 3

    apps.create_namespaced_deployment(namespace, body)

    status = apps.read_namespaced_deployment_status("web", namespace).status
    assert (status.replicas, status.ready_replicas, status.available_replicas) == (
        3,
        3,
        3,
    )
    assert {c.type: c.reason for c in status.conditions} == {
        "Available": "MinimumReplicasAvailable",
        "Progressing": "NewReplicaSetAvailable",
    }
    [rs] = apps.list_namespaced_replica_set(namespace).items
    assert rs.metadata.owner_references[0].kind == "Deployment"
    pods = pods_of(core, namespace, "web")
    assert len(pods) == 3
    for pod in pods:
        assert pod.status.phase == "Running"
        assert pod.status.pod_ip and pod.status.host_ip and pod.status.start_time
        [state] = pod.status.container_statuses
        assert state.ready and state.started and state.state.running.started_at


def test_a_crashloop_over_http_with_restarts_logs_and_events(
    sim, apps, core, namespace
):
    apps.create_namespaced_deployment(
        namespace, deployment_body("crash", image="kubesim/crashloop")
    )
    [pod] = pods_of(core, namespace, "crash")
    name = pod.metadata.name
    state = pod.status.container_statuses[0]
    assert state.state.waiting.reason == "CrashLoopBackOff"
    assert state.last_state.terminated.exit_code == 1

    sim.advance(10)

    state = core.read_namespaced_pod_status(name, namespace).status.container_statuses[
        0
    ]
    assert state.restart_count == 2
    previous = core.read_namespaced_pod_log(
        name, namespace, container="web", previous=True
    )
    assert "panic: dial tcp 10.96.0.20:5432: connect: connection refused" in previous
    events = core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name},reason=BackOff"
    ).items
    assert [e.type for e in events] == ["Warning"]
    assert events[0].count == 2


def test_an_unschedulable_pod_is_fixed_by_lowering_its_requests(
    sim, apps, core, namespace
):
    body = deployment_body("big")
    body["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "16"}
    }
    apps.create_namespaced_deployment(namespace, body)
    [pod] = pods_of(core, namespace, "big")
    scheduled = next(c for c in pod.status.conditions if c.type == "PodScheduled")
    assert (scheduled.status, scheduled.reason) == ("False", "Unschedulable")
    assert scheduled.message.startswith("0/3 nodes are available: 3 Insufficient cpu.")

    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "web", "resources": {"requests": {"cpu": "250m"}}}
                    ]
                }
            }
        }
    }
    apps.patch_namespaced_deployment("big", namespace, patch)

    pods = pods_of(core, namespace, "big")
    assert [p.status.phase for p in pods] == ["Running"]


def test_a_missing_secret_key_resolves_once_the_secret_is_created(
    sim, apps, core, namespace
):
    body = deployment_body("api")
    body["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {
            "name": "PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}},
        }
    ]
    apps.create_namespaced_deployment(namespace, body)
    [pod] = pods_of(core, namespace, "api")
    waiting = pod.status.container_statuses[0].state.waiting
    assert (waiting.reason, waiting.message) == (
        "CreateContainerConfigError",
        'secret "db" not found',
    )

    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="db"), string_data={"password": "s3cr3t"}
        ),
    )

    [pod] = pods_of(core, namespace, "api")
    assert pod.status.phase == "Running"


def test_a_service_publishes_endpoints_slices_and_an_address(
    sim, apps, core, namespace
):
    body = deployment_body("web")
    body["spec"]["replicas"] = 2
    body["spec"]["template"]["spec"]["containers"][0]["ports"] = [
        {"name": "http", "containerPort": 8080}
    ]
    apps.create_namespaced_deployment(namespace, body)

    core.create_namespaced_service(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "web",
                "labels": {"app.kubernetes.io/managed-by": "kubeorch"},
            },
            "spec": {
                "type": "LoadBalancer",
                "selector": {"app": "web"},
                "ports": [{"port": 80, "targetPort": "http"}],
            },
        },
    )

    endpoints = core.read_namespaced_endpoints("web", namespace)
    [subset] = endpoints.subsets
    assert len(subset.addresses) == 2
    assert [p.port for p in subset.ports] == [8080]
    assert endpoints.metadata.labels == {"app.kubernetes.io/managed-by": "kubeorch"}
    slices = (
        client.DiscoveryV1Api(core.api_client)
        .list_namespaced_endpoint_slice(
            namespace, label_selector="kubernetes.io/service-name=web"
        )
        .items
    )
    assert len(slices) == 1
    assert len(slices[0].endpoints) == 2
    service = core.read_namespaced_service_status("web", namespace)
    assert service.status.load_balancer.ingress[0].ip.startswith("172.18.255.")


def test_a_job_completes_through_the_api(sim, batch, namespace):
    batch.create_namespaced_job(
        namespace,
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "once"},
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {
                                "name": "work",
                                "image": "busybox:1.36",
                                "command": ["echo", "done"],
                            }
                        ],
                    }
                }
            },
        },
    )

    status = batch.read_namespaced_job_status("once", namespace).status

    assert status.succeeded == 1
    assert {c.type for c in status.conditions} == {"SuccessCriteriaMet", "Complete"}
    assert status.completion_time is not None


def test_a_pvc_of_an_unknown_class_stays_pending_with_a_warning(sim, core, namespace):
    core.create_namespaced_persistent_volume_claim(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"},
            "spec": {
                "storageClassName": "nope",
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )

    claim = core.read_namespaced_persistent_volume_claim("data", namespace)
    assert claim.status.phase == "Pending"
    events = core.list_namespaced_event(
        namespace, field_selector="reason=ProvisioningFailed"
    ).items
    assert [e.message for e in events] == [
        'storageclass.storage.k8s.io "nope" not found'
    ]


def test_logs_of_a_pod_that_cannot_pull_are_refused(sim, apps, core, namespace):
    apps.create_namespaced_deployment(
        namespace, deployment_body("bad", image="nginx:doesnotexist")
    )
    [pod] = pods_of(core, namespace, "bad")
    assert pod.status.container_statuses[0].state.waiting.reason == "ImagePullBackOff"

    with pytest.raises(ApiException) as raised:
        core.read_namespaced_pod_log(pod.metadata.name, namespace)

    assert raised.value.status == 400
    assert "is waiting to start" in raised.value.body


def test_nodes_are_listed_ready_through_the_api(sim, core):
    nodes = core.list_node().items

    assert len(nodes) >= 3
    for node in nodes[:3]:
        ready = next(c for c in node.status.conditions if c.type == "Ready")
        assert ready.status == "True"
        assert node.status.allocatable["cpu"] == "4"
