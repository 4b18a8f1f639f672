"""dryRun=All on every write verb: validated, answered, never stored."""

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from .helpers import configmap_body, deployment_body


def _exists(core, namespace, name):
    try:
        core.read_namespaced_config_map(name, namespace)
    except ApiException as exc:
        assert exc.status == 404
        return False
    return True


def test_dry_run_create_answers_without_storing(raw, core, namespace):
    response = raw(
        "POST",
        f"/api/v1/namespaces/{namespace}/configmaps",
        configmap_body("dry"),
        query={"dryRun": "All"},
    )

    assert response.status == 201
    assert response.body["metadata"]["uid"]
    assert not _exists(core, namespace, "dry")


def test_dry_run_create_still_validates(raw, namespace):
    response = raw(
        "POST",
        f"/api/v1/namespaces/{namespace}/configmaps",
        configmap_body("Bad_Name"),
        query={"dryRun": "All"},
    )

    assert response.status == 422


def test_dry_run_replace_and_patch_leave_the_object(core, namespace):
    created = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata={"name": "keep"}, data={"v": "1"})
    )
    created.data = {"v": "2"}

    replaced = core.replace_namespaced_config_map(
        "keep", namespace, created, dry_run="All"
    )
    patched = core.patch_namespaced_config_map(
        "keep",
        namespace,
        {"data": {"v": "3"}},
        dry_run="All",
        _content_type="application/merge-patch+json",
    )

    assert replaced.data == {"v": "2"} and patched.data == {"v": "3"}
    assert core.read_namespaced_config_map("keep", namespace).data == {"v": "1"}


def test_dry_run_apply_shows_the_result_without_storing(apps, namespace):
    body = deployment_body("dry-apply")

    preview = apps.patch_namespaced_deployment(
        "dry-apply",
        namespace,
        body,
        field_manager="kubeorch",
        dry_run="All",
        _content_type="application/apply-patch+yaml",
    )

    assert preview.spec.replicas == 1
    with pytest.raises(ApiException) as caught:
        apps.read_namespaced_deployment("dry-apply", namespace)
    assert caught.value.status == 404


def test_dry_run_apply_diff_against_live(apps, namespace):
    body = deployment_body("diff")
    apps.patch_namespaced_deployment(
        "diff",
        namespace,
        body,
        field_manager="kubeorch",
        _content_type="application/apply-patch+yaml",
    )
    body["spec"]["replicas"] = 4

    preview = apps.patch_namespaced_deployment(
        "diff",
        namespace,
        body,
        field_manager="kubeorch",
        dry_run="All",
        _content_type="application/apply-patch+yaml",
    )

    assert preview.spec.replicas == 4
    assert apps.read_namespaced_deployment("diff", namespace).spec.replicas == 1


def test_dry_run_delete_keeps_the_object(core, namespace):
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata={"name": "stay"})
    )

    core.delete_namespaced_config_map("stay", namespace, dry_run="All")

    assert _exists(core, namespace, "stay")


def test_unknown_dry_run_value_is_400(raw, namespace):
    response = raw(
        "POST",
        f"/api/v1/namespaces/{namespace}/configmaps",
        configmap_body("odd"),
        query={"dryRun": "Sometimes"},
    )

    assert response.status == 400
