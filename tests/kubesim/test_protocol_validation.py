"""Validation and defaults, sent as raw dicts so they reach the server."""

import base64

import pytest

from .helpers import configmap_body, deployment_body


def _deployments(namespace: str) -> str:
    return f"/apis/apps/v1/namespaces/{namespace}/deployments"


def _services(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/services"


def _service(name: str, **spec) -> dict:
    spec.setdefault("ports", [{"port": 80}])
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": spec,
    }


@pytest.mark.parametrize("name", ["Upper", "under_score", "-dash", "a" * 254])
def test_invalid_names_are_422_with_the_field(raw, namespace, name):
    response = raw(
        "POST", f"/api/v1/namespaces/{namespace}/configmaps", configmap_body(name)
    )

    assert response.status == 422
    assert response.body["reason"] == "Invalid"
    assert "metadata.name" in response.fields


def test_service_names_must_be_dns_labels(raw, namespace):
    response = raw("POST", _services(namespace), _service("has.dots"))

    assert response.status == 422
    assert "metadata.name" in response.fields


def test_selector_must_match_template_labels(raw, namespace):
    body = deployment_body("mismatch")
    body["spec"]["template"]["metadata"]["labels"] = {"app": "other"}

    response = raw("POST", _deployments(namespace), body)

    assert response.status == 422
    assert "spec.template.metadata.labels" in response.fields


def test_containers_need_name_and_image(raw, namespace):
    body = deployment_body("noimage")
    body["spec"]["template"]["spec"]["containers"] = [
        {"name": "web"},
        {"image": "nginx"},
    ]

    response = raw("POST", _deployments(namespace), body)

    assert response.status == 422
    fields = response.fields
    assert "spec.template.spec.containers[0].image" in fields
    assert "spec.template.spec.containers[1].name" in fields


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_container_ports_are_1_to_65535(raw, namespace, port):
    body = deployment_body("ports")
    body["spec"]["template"]["spec"]["containers"][0]["ports"] = [
        {"containerPort": port}
    ]

    response = raw("POST", _deployments(namespace), body)

    assert response.status == 422
    assert "spec.template.spec.containers[0].ports[0].containerPort" in response.fields


def test_bad_quantities_are_rejected(raw, namespace):
    body = deployment_body("quantity")
    body["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"memory": "lots"}
    }

    response = raw("POST", _deployments(namespace), body)

    assert response.status == 422


def test_deployment_selector_is_immutable(raw, namespace):
    raw("POST", _deployments(namespace), deployment_body("immutable"))
    changed = deployment_body("immutable", labels={"app": "immutable", "v": "2"})

    response = raw("PUT", f"{_deployments(namespace)}/immutable", changed)

    assert response.status == 422
    assert "spec.selector" in response.fields


def test_deployment_defaults_are_filled(raw, namespace):
    body = deployment_body("defaults")
    del body["spec"]["replicas"]

    created = raw("POST", _deployments(namespace), body).body

    spec = created["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["revisionHistoryLimit"] == 10
    container = spec["template"]["spec"]["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert spec["template"]["spec"]["restartPolicy"] == "Always"


def test_service_defaults_and_cluster_ip_allocation(raw, namespace):
    created = raw(
        "POST", _services(namespace), _service("web", selector={"app": "web"})
    ).body

    spec = created["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["ports"][0]["protocol"] == "TCP"
    assert spec["ports"][0]["targetPort"] == 80
    assert spec["clusterIP"].startswith("10.")
    assert spec["clusterIPs"] == [spec["clusterIP"]]


def test_cluster_ips_are_unique(raw, namespace):
    first = raw("POST", _services(namespace), _service("one")).body["spec"]["clusterIP"]
    second = raw("POST", _services(namespace), _service("two")).body["spec"][
        "clusterIP"
    ]

    assert first != second


def test_node_ports_are_allocated_in_range(raw, namespace):
    created = raw("POST", _services(namespace), _service("np", type="NodePort")).body

    assert 30000 <= created["spec"]["ports"][0]["nodePort"] <= 32767


def test_node_port_out_of_range_is_rejected(raw, namespace):
    body = _service("bad-np", type="NodePort", ports=[{"port": 80, "nodePort": 80}])

    response = raw("POST", _services(namespace), body)

    assert response.status == 422
    assert "spec.ports[0].nodePort" in response.fields


def test_service_cluster_ip_is_immutable(raw, namespace):
    created = raw("POST", _services(namespace), _service("sticky")).body
    body = _service("sticky", clusterIP="10.96.200.200")
    body["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]

    response = raw("PUT", f"{_services(namespace)}/sticky", body)

    assert response.status == 422


def test_service_replace_keeps_allocations(raw, namespace):
    created = raw("POST", _services(namespace), _service("keep", type="NodePort")).body

    replaced = raw(
        "PUT", f"{_services(namespace)}/keep", _service("keep", type="NodePort")
    ).body

    assert replaced["spec"]["clusterIP"] == created["spec"]["clusterIP"]
    assert (
        replaced["spec"]["ports"][0]["nodePort"]
        == created["spec"]["ports"][0]["nodePort"]
    )


def test_multiple_service_ports_need_names(raw, namespace):
    body = _service("multi", ports=[{"port": 80}, {"port": 443}])

    response = raw("POST", _services(namespace), body)

    assert response.status == 422


def test_secret_string_data_becomes_base64_data(raw, namespace):
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds"},
        "stringData": {"password": "hunter2"},
        "data": {"user": base64.b64encode(b"admin").decode()},
    }

    created = raw("POST", f"/api/v1/namespaces/{namespace}/secrets", body).body

    assert "stringData" not in created
    assert base64.b64decode(created["data"]["password"]) == b"hunter2"
    assert base64.b64decode(created["data"]["user"]) == b"admin"
    assert created["type"] == "Opaque"


def test_secret_data_must_be_base64(raw, namespace):
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "bad"},
        "data": {"k": "%%%"},
    }

    assert raw("POST", f"/api/v1/namespaces/{namespace}/secrets", body).status == 422


def _pvc(name: str, size: str = "1Gi") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": size}},
        },
    }


def test_pvc_spec_is_immutable_except_requests(raw, namespace):
    path = f"/api/v1/namespaces/{namespace}/persistentvolumeclaims"
    raw("POST", path, _pvc("data"))

    grown = raw(
        "PATCH",
        f"{path}/data",
        {"spec": {"resources": {"requests": {"storage": "2Gi"}}}},
        content_type="application/merge-patch+json",
    )
    moved = raw(
        "PATCH",
        f"{path}/data",
        {"spec": {"accessModes": ["ReadWriteMany"]}},
        content_type="application/merge-patch+json",
    )

    assert grown.status == 200
    assert moved.status == 422


def test_pvc_needs_access_modes_and_storage(raw, namespace):
    body = _pvc("empty")
    body["spec"] = {}

    response = raw(
        "POST", f"/api/v1/namespaces/{namespace}/persistentvolumeclaims", body
    )

    assert response.status == 422
    assert "spec.accessModes" in response.fields


def _job(name: str, command: list[str]) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {"name": "run", "image": "busybox", "command": command}
                    ],
                }
            }
        },
    }


def test_job_template_is_immutable_and_selector_generated(raw, namespace):
    path = f"/apis/batch/v1/namespaces/{namespace}/jobs"
    created = raw("POST", path, _job("once", ["true"])).body
    uid = created["metadata"]["uid"]
    assert created["spec"]["selector"]["matchLabels"] == {
        "batch.kubernetes.io/controller-uid": uid
    }
    assert created["spec"]["template"]["metadata"]["labels"]["job-name"] == "once"

    changed = raw(
        "PATCH",
        f"{path}/once",
        {
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "run", "image": "alpine"}]}
                }
            }
        },
        content_type="application/strategic-merge-patch+json",
    )

    assert changed.status == 422
    assert "spec.template" in changed.fields


def test_job_needs_a_restart_policy(raw, namespace):
    body = _job("norestart", ["true"])
    del body["spec"]["template"]["spec"]["restartPolicy"]

    response = raw("POST", f"/apis/batch/v1/namespaces/{namespace}/jobs", body)

    assert response.status == 422
    assert "spec.template.spec.restartPolicy" in response.fields


def test_cronjob_schedule_is_validated(raw, namespace):
    body = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly"},
        "spec": {
            "schedule": "not a schedule",
            "jobTemplate": {"spec": _job("x", ["true"])["spec"]},
        },
    }

    response = raw("POST", f"/apis/batch/v1/namespaces/{namespace}/cronjobs", body)

    assert response.status == 422
    assert "spec.schedule" in response.fields


def test_ingress_paths_need_a_path_type(raw, namespace):
    body = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web"},
        "spec": {
            "rules": [
                {
                    "host": "web.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "backend": {
                                    "service": {"name": "web", "port": {"number": 80}}
                                },
                            }
                        ]
                    },
                }
            ]
        },
    }

    response = raw(
        "POST", f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses", body
    )

    assert response.status == 422
    assert "spec.rules[0].http.paths[0].pathType" in response.fields


def test_hpa_max_must_not_be_below_min(raw, namespace):
    body = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "web",
            },
            "minReplicas": 5,
            "maxReplicas": 2,
        },
    }

    response = raw(
        "POST",
        f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers",
        body,
    )

    assert response.status == 422
    assert "spec.maxReplicas" in response.fields


def test_labels_are_validated(raw, namespace):
    body = configmap_body("labelled", labels={"bad key!": "x"})

    response = raw("POST", f"/api/v1/namespaces/{namespace}/configmaps", body)

    assert response.status == 422
    assert "metadata.labels" in response.fields


def test_kind_in_body_must_match_url(raw, namespace):
    body = configmap_body("mixup")
    body["kind"] = "Secret"

    assert raw("POST", f"/api/v1/namespaces/{namespace}/configmaps", body).status == 400


def test_malformed_json_is_400(raw, namespace):
    response = raw("POST", f"/api/v1/namespaces/{namespace}/configmaps", "{not json")

    assert response.status == 400
    assert response.body["kind"] == "Status"


def test_namespace_names_must_be_dns_labels(raw):
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "has.dots"}}

    response = raw("POST", "/api/v1/namespaces", body)

    assert response.status == 422
    assert "metadata.name" in response.fields


def test_create_without_a_namespace_in_the_url_is_405(raw):
    response = raw("POST", "/api/v1/configmaps", configmap_body("nowhere"))

    assert response.status == 405
    assert response.body["kind"] == "Status"


def test_put_on_a_collection_is_405(raw, namespace):
    path = f"/api/v1/namespaces/{namespace}/configmaps"

    response = raw("PUT", path, configmap_body("x"))

    assert response.status == 405
