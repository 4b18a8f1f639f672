"""JSON patch, merge patch, strategic merge patch, and the status/scale subresources."""

from kubernetes import client

from .helpers import deployment_body

JSON_PATCH = "application/json-patch+json"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


def _create_deployment(raw, namespace, body=None):
    body = body or deployment_body("web")
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    created = raw("POST", path, body)
    assert created.status == 201, created.body
    return f"{path}/{body['metadata']['name']}"


def _two_container_deployment():
    body = deployment_body("web")
    body["spec"]["template"]["spec"]["containers"] = [
        {
            "name": "web",
            "image": "nginx:1.26",
            "ports": [{"containerPort": 80}],
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        },
        {"name": "sidecar", "image": "busybox:1.36"},
    ]
    return body


def test_json_patch_operations(raw, namespace):
    path = _create_deployment(raw, namespace)
    patch = [
        {"op": "replace", "path": "/spec/replicas", "value": 4},
        {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
        {"op": "test", "path": "/spec/replicas", "value": 4},
    ]

    patched = raw("PATCH", path, patch, content_type=JSON_PATCH).body

    assert patched["spec"]["replicas"] == 4
    assert patched["metadata"]["labels"]["tier"] == "front"


def test_failed_json_patch_test_changes_nothing(raw, namespace):
    path = _create_deployment(raw, namespace)
    patch = [
        {"op": "replace", "path": "/spec/replicas", "value": 7},
        {"op": "test", "path": "/spec/replicas", "value": 99},
    ]

    response = raw("PATCH", path, patch, content_type=JSON_PATCH)

    assert response.status == 422
    assert raw("GET", path).body["spec"]["replicas"] == 1


def test_merge_patch_null_deletes(raw, namespace):
    path = _create_deployment(raw, namespace)
    raw("PATCH", path, {"metadata": {"labels": {"gone": "soon"}}}, content_type=MERGE)

    patched = raw(
        "PATCH", path, {"metadata": {"labels": {"gone": None}}}, content_type=MERGE
    ).body

    assert "gone" not in patched["metadata"]["labels"]


def test_merge_patch_replaces_lists_whole(raw, namespace):
    path = _create_deployment(raw, namespace, _two_container_deployment())
    patch = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "only", "image": "x:1"}]}}
        }
    }

    patched = raw("PATCH", path, patch, content_type=MERGE).body

    containers = patched["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["only"]


def test_strategic_merge_merges_containers_by_name(raw, namespace):
    path = _create_deployment(raw, namespace, _two_container_deployment())
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}
            }
        }
    }

    patched = raw("PATCH", path, patch, content_type=STRATEGIC).body

    containers = {
        c["name"]: c for c in patched["spec"]["template"]["spec"]["containers"]
    }
    assert set(containers) == {"web", "sidecar"}
    assert containers["web"]["image"] == "nginx:1.27"
    assert containers["web"]["ports"][0]["containerPort"] == 80


def test_strategic_merge_merges_env_by_name_and_deletes(raw, namespace):
    path = _create_deployment(raw, namespace, _two_container_deployment())
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "env": [
                                {"name": "B", "value": "20"},
                                {"name": "A", "$patch": "delete"},
                            ],
                        },
                        {"name": "sidecar", "$patch": "delete"},
                    ]
                }
            }
        }
    }

    patched = raw("PATCH", path, patch, content_type=STRATEGIC).body

    containers = patched["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["web"]
    assert containers[0]["env"] == [{"name": "B", "value": "20"}]


def test_strategic_merge_through_the_typed_client(apps, namespace, raw):
    _create_deployment(raw, namespace, _two_container_deployment())
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "sidecar", "image": "busybox:1.37"}]}
            }
        }
    }

    patched = apps.patch_namespaced_deployment("web", namespace, patch)

    images = {c.name: c.image for c in patched.spec.template.spec.containers}
    assert images == {"web": "nginx:1.26", "sidecar": "busybox:1.37"}


def test_strategic_merge_service_ports_by_port(raw, namespace):
    path = f"/api/v1/namespaces/{namespace}/services"
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "svc"},
        "spec": {
            "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]
        },
    }
    raw("POST", path, body)

    patched = raw(
        "PATCH",
        f"{path}/svc",
        {"spec": {"ports": [{"port": 443, "targetPort": 8443}]}},
        content_type=STRATEGIC,
    ).body

    ports = {p["port"]: p for p in patched["spec"]["ports"]}
    assert set(ports) == {80, 443}
    assert ports[443]["targetPort"] == 8443


def test_unknown_patch_type_is_415(raw, namespace):
    path = _create_deployment(raw, namespace)

    response = raw(
        "PATCH", path, '{"spec": {}}', content_type="application/x-nonsense+json"
    )

    assert response.status == 415


def test_patch_on_missing_object_is_404(raw, namespace):
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/missing"

    assert raw("PATCH", path, {"spec": {}}, content_type=MERGE).status == 404


def test_main_resource_writes_ignore_status(raw, namespace):
    path = _create_deployment(raw, namespace)

    patched = raw("PATCH", path, {"status": {"replicas": 42}}, content_type=MERGE).body

    assert (patched.get("status") or {}).get("replicas") != 42


def test_status_subresource_changes_only_status(raw, namespace):
    path = _create_deployment(raw, namespace)
    before = raw("GET", path).body

    patched = raw(
        "PATCH",
        f"{path}/status",
        {"spec": {"replicas": 9}, "status": {"observedGeneration": 77}},
        content_type=MERGE,
    ).body

    assert patched["status"]["observedGeneration"] == 77
    assert patched["spec"]["replicas"] == before["spec"]["replicas"]
    assert patched["metadata"]["generation"] == before["metadata"]["generation"]


def test_status_put_with_stale_version_is_conflict(raw, namespace):
    path = _create_deployment(raw, namespace)
    stale = raw("GET", path).body
    raw("PATCH", path, {"metadata": {"labels": {"bump": "1"}}}, content_type=MERGE)
    stale["status"] = {"observedGeneration": 5}

    response = raw("PUT", f"{path}/status", stale)

    assert response.status == 409


def test_scale_subresource_reads_and_writes_replicas(apps, namespace, raw):
    _create_deployment(raw, namespace)

    scale = apps.read_namespaced_deployment_scale("web", namespace)
    assert scale.spec.replicas == 1
    assert scale.status.selector == "app=web"

    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 3}})
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 3

    scale = apps.read_namespaced_deployment_scale("web", namespace)
    scale.spec.replicas = 2
    apps.replace_namespaced_deployment_scale("web", namespace, scale)
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 2


def test_negative_scale_is_invalid(raw, namespace):
    path = _create_deployment(raw, namespace)

    response = raw(
        "PATCH", f"{path}/scale", {"spec": {"replicas": -1}}, content_type=MERGE
    )

    assert response.status == 422


def test_statefulset_scale(apps, namespace, raw):
    body = deployment_body("db")
    body["kind"] = "StatefulSet"
    body["spec"]["serviceName"] = "db"
    raw("POST", f"/apis/apps/v1/namespaces/{namespace}/statefulsets", body)

    apps.patch_namespaced_stateful_set_scale("db", namespace, {"spec": {"replicas": 3}})

    assert apps.read_namespaced_stateful_set("db", namespace).spec.replicas == 3


def test_typed_configmap_merge_patch(core, namespace):
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata={"name": "cfg"}, data={"a": "1"})
    )

    patched = core.patch_namespaced_config_map(
        "cfg", namespace, {"data": {"b": "2"}}, _content_type=MERGE
    )

    assert patched.data == {"a": "1", "b": "2"}
