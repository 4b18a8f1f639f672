"""Server-side apply: creation, managed fields, conflicts, force and field removal."""

import pytest
from kubernetes.client.rest import ApiException

from .helpers import deployment_body, eventually

APPLY = "application/apply-patch+yaml"


def _path(namespace: str, name: str = "web") -> str:
    return f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"


def _apply(raw, namespace, body, manager, force=False, **query):
    name = body["metadata"]["name"]
    params = {"fieldManager": manager, **query}
    if force:
        params["force"] = "true"
    return raw("PATCH", _path(namespace, name), body, content_type=APPLY, query=params)


def _managers(obj: dict) -> dict[str, dict]:
    return {m["manager"]: m for m in obj["metadata"].get("managedFields") or []}


def test_apply_creates_a_missing_object(raw, namespace):
    response = _apply(raw, namespace, deployment_body("web"), "kubeorch")

    assert response.status == 201
    entry = _managers(response.body)["kubeorch"]
    assert entry["operation"] == "Apply"
    assert entry["fieldsType"] == "FieldsV1"
    assert "f:replicas" in entry["fieldsV1"]["f:spec"]


def test_apply_through_the_typed_client(apps, namespace):
    body = deployment_body("typed")

    applied = apps.patch_namespaced_deployment(
        "typed",
        namespace,
        body,
        field_manager="kubeorch",
        force=True,
        _content_type=APPLY,
    )

    assert applied.spec.replicas == 1
    assert applied.metadata.managed_fields[0].manager == "kubeorch"


def test_reapplying_the_same_config_changes_nothing(raw, namespace):
    _apply(raw, namespace, deployment_body("web"), "kubeorch")
    settled = eventually(lambda: _settled(raw, namespace))

    second = _apply(raw, namespace, deployment_body("web"), "kubeorch").body

    assert (
        second["metadata"]["resourceVersion"] == settled["metadata"]["resourceVersion"]
    )


def _settled(raw, namespace):
    """Return the Deployment once its controller has observed the newest spec."""
    current = raw("GET", _path(namespace)).body
    observed = (current.get("status") or {}).get("observedGeneration")
    return current if observed == current["metadata"]["generation"] else None


def test_field_manager_is_required(raw, namespace):
    response = raw(
        "PATCH", _path(namespace), deployment_body("web"), content_type=APPLY
    )

    assert response.status == 400


def test_conflict_names_the_other_manager_and_field(raw, namespace):
    _apply(raw, namespace, deployment_body("web"), "kubeorch")
    theirs = deployment_body("web")
    theirs["spec"]["replicas"] = 5

    response = _apply(raw, namespace, theirs, "intruder")

    assert response.status == 409
    assert response.body["reason"] == "Conflict"
    cause = next(c for c in response.causes if c["field"] == ".spec.replicas")
    assert cause["reason"] == "FieldManagerConflict"
    assert "kubeorch" in cause["message"]
    assert raw("GET", _path(namespace)).body["spec"]["replicas"] == 1


def test_force_takes_ownership(raw, namespace):
    _apply(raw, namespace, deployment_body("web"), "kubeorch")
    theirs = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 5},
    }

    response = _apply(raw, namespace, theirs, "intruder", force=True)

    assert response.status == 200
    assert response.body["spec"]["replicas"] == 5
    managers = _managers(response.body)
    assert "f:replicas" in managers["intruder"]["fieldsV1"]["f:spec"]
    assert "f:replicas" not in managers["kubeorch"]["fieldsV1"]["f:spec"]


def test_same_value_from_two_managers_is_shared_without_conflict(raw, namespace):
    _apply(raw, namespace, deployment_body("web"), "kubeorch")
    same = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 1},
    }

    response = _apply(raw, namespace, same, "other")

    assert response.status == 200
    assert {"kubeorch", "other"} <= set(_managers(response.body))


def test_fields_dropped_from_the_config_are_removed(raw, namespace):
    body = deployment_body("web")
    body["metadata"]["labels"] = {"app": "web", "temporary": "yes"}
    body["metadata"]["annotations"] = {"note": "hello"}
    _apply(raw, namespace, body, "kubeorch")

    del body["metadata"]["labels"]["temporary"]
    del body["metadata"]["annotations"]
    applied = _apply(raw, namespace, body, "kubeorch").body

    assert applied["metadata"]["labels"] == {"app": "web"}
    assert "note" not in (applied["metadata"].get("annotations") or {})


def test_dropped_fields_stay_when_another_manager_owns_them(raw, namespace):
    body = deployment_body("web")
    body["metadata"]["labels"]["shared"] = "yes"
    _apply(raw, namespace, body, "kubeorch")
    other = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"shared": "yes"}},
    }
    _apply(raw, namespace, other, "other")

    del body["metadata"]["labels"]["shared"]
    applied = _apply(raw, namespace, body, "kubeorch").body

    assert applied["metadata"]["labels"]["shared"] == "yes"


def test_keyed_lists_merge_per_key_across_managers(raw, namespace):
    _apply(raw, namespace, deployment_body("web"), "kubeorch")
    sidecar = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "proxy", "image": "envoy:1.30"}]}
            }
        },
    }
    _apply(raw, namespace, sidecar, "mesh")

    reapplied = _apply(raw, namespace, deployment_body("web"), "kubeorch").body

    names = [c["name"] for c in reapplied["spec"]["template"]["spec"]["containers"]]
    assert sorted(names) == ["proxy", "web"]


def test_removed_list_item_goes_when_unowned(raw, namespace):
    body = deployment_body("web")
    body["spec"]["template"]["spec"]["containers"].append(
        {"name": "extra", "image": "busybox"}
    )
    _apply(raw, namespace, body, "kubeorch")

    applied = _apply(raw, namespace, deployment_body("web"), "kubeorch").body

    names = [c["name"] for c in applied["spec"]["template"]["spec"]["containers"]]
    assert names == ["web"]


def test_update_by_another_writer_then_apply_conflicts(raw, namespace):
    _apply(raw, namespace, deployment_body("web"), "kubeorch")
    raw(
        "PATCH",
        _path(namespace),
        {"spec": {"replicas": 4}},
        content_type="application/merge-patch+json",
        query={"fieldManager": "kubectl-edit"},
    )
    changed = deployment_body("web")
    changed["spec"]["replicas"] = 2

    response = _apply(raw, namespace, changed, "kubeorch")

    assert response.status == 409
    assert any("kubectl-edit" in c["message"] for c in response.causes)


def test_scale_takes_replicas_from_the_applier(apps, raw, namespace):
    _apply(raw, namespace, deployment_body("web"), "kubeorch")
    apps.patch_namespaced_deployment_scale(
        "web", namespace, {"spec": {"replicas": 6}}, field_manager="autoscaler"
    )
    changed = deployment_body("web")
    changed["spec"]["replicas"] = 3

    assert _apply(raw, namespace, changed, "kubeorch").status == 409
    assert _apply(raw, namespace, changed, "kubeorch", force=True).status == 200


def test_apply_keeps_server_allocations_on_services(raw, namespace):
    path = f"/api/v1/namespaces/{namespace}/services/web"
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {
            "type": "NodePort",
            "selector": {"app": "web"},
            "ports": [{"port": 80}],
        },
    }
    query = {"fieldManager": "kubeorch"}
    first = raw("PATCH", path, body, content_type=APPLY, query=query).body

    body["spec"]["ports"][0]["targetPort"] = 8080
    second = raw("PATCH", path, body, content_type=APPLY, query=query).body

    assert second["spec"]["clusterIP"] == first["spec"]["clusterIP"]
    assert (
        second["spec"]["ports"][0]["nodePort"] == first["spec"]["ports"][0]["nodePort"]
    )
    assert second["spec"]["ports"][0]["targetPort"] == 8080


def test_apply_with_a_new_image_bumps_generation(raw, namespace):
    first = _apply(raw, namespace, deployment_body("web"), "kubeorch").body

    second = _apply(
        raw, namespace, deployment_body("web", image="nginx:1.28"), "kubeorch"
    ).body

    assert second["metadata"]["generation"] == first["metadata"]["generation"] + 1


def test_apply_needs_kind_and_matching_name(raw, namespace):
    body = deployment_body("web")
    del body["kind"]
    assert _apply(raw, namespace, body, "kubeorch").status == 400

    other = deployment_body("other")
    response = raw(
        "PATCH",
        _path(namespace, "web"),
        other,
        content_type=APPLY,
        query={"fieldManager": "k"},
    )
    assert response.status == 400


def test_invalid_applied_config_is_422(raw, namespace):
    body = deployment_body("web")
    body["spec"]["template"]["spec"]["containers"][0]["image"] = ""

    assert _apply(raw, namespace, body, "kubeorch").status == 422


def test_dynamic_client_server_side_apply(dyn, namespace):
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")

    applied = deployments.server_side_apply(
        body=deployment_body("dynamic"), namespace=namespace, field_manager="kubeorch"
    )

    assert applied.metadata.name == "dynamic"
    fetched = deployments.get(name="dynamic", namespace=namespace)
    assert fetched.spec.replicas == 1


def test_apply_in_missing_namespace_is_404(raw):
    response = raw(
        "PATCH",
        _path("no-such-namespace-7"),
        deployment_body("web"),
        content_type=APPLY,
        query={"fieldManager": "kubeorch"},
    )
    assert response.status == 404


def test_apply_conflict_surfaces_as_api_exception(apps, namespace):
    apps.patch_namespaced_deployment(
        "web", namespace, deployment_body("web"), field_manager="a", _content_type=APPLY
    )
    changed = deployment_body("web")
    changed["spec"]["replicas"] = 9

    with pytest.raises(ApiException) as caught:
        apps.patch_namespaced_deployment(
            "web", namespace, changed, field_manager="b", _content_type=APPLY
        )

    assert caught.value.status == 409
