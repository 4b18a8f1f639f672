"""Create, get, list, replace and delete, with the server-set fields."""

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from .helpers import configmap_body, deployment_body


def test_create_sets_server_fields(core, namespace):
    created = core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="app"), data={"a": "1"}),
    )

    meta = created.metadata
    assert meta.uid and meta.resource_version and meta.creation_timestamp
    assert meta.namespace == namespace
    fetched = core.read_namespaced_config_map("app", namespace)
    assert fetched.metadata.uid == meta.uid
    assert fetched.data == {"a": "1"}


def test_namespace_comes_from_the_url(raw, namespace):
    body = configmap_body("from-url")

    response = raw("POST", f"/api/v1/namespaces/{namespace}/configmaps", body)

    assert response.status == 201
    assert response.body["metadata"]["namespace"] == namespace


def test_namespace_in_body_must_match_url(raw, namespace):
    body = configmap_body("elsewhere")
    body["metadata"]["namespace"] = "some-other-namespace"

    response = raw("POST", f"/api/v1/namespaces/{namespace}/configmaps", body)

    assert response.status == 400
    assert response.body["kind"] == "Status"


def test_generate_name_gets_a_random_suffix(core, namespace):
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(generate_name="job-"))

    first = core.create_namespaced_config_map(namespace, body)
    second = core.create_namespaced_config_map(namespace, body)

    assert first.metadata.name.startswith("job-")
    assert len(first.metadata.name) == len("job-") + 5
    assert first.metadata.name != second.metadata.name


def test_resource_versions_increase_across_writes(core, namespace):
    a = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata={"name": "a"})
    )
    b = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata={"name": "b"})
    )
    a.data = {"x": "y"}
    a2 = core.replace_namespaced_config_map("a", namespace, a)

    versions = [int(o.metadata.resource_version) for o in (a, b, a2)]
    assert versions == sorted(versions) and len(set(versions)) == 3


def test_list_has_kind_and_resource_version(raw, core, namespace):
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata={"name": "one"})
    )

    listed = raw("GET", f"/api/v1/namespaces/{namespace}/configmaps").body

    assert listed["kind"] == "ConfigMapList"
    assert listed["apiVersion"] == "v1"
    assert int(listed["metadata"]["resourceVersion"]) > 0
    assert "one" in [i["metadata"]["name"] for i in listed["items"]]


def test_list_across_namespaces(core, namespace):
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata={"name": "wide"})
    )

    everything = core.list_config_map_for_all_namespaces()

    assert (namespace, "wide") in {
        (i.metadata.namespace, i.metadata.name) for i in everything.items
    }


def test_list_paginates_with_limit_and_continue(core, namespace):
    for n in range(5):
        core.create_namespaced_config_map(
            namespace, client.V1ConfigMap(metadata={"name": f"p{n}"})
        )

    first = core.list_namespaced_config_map(namespace, limit=2)
    rest = core.list_namespaced_config_map(
        namespace, limit=10, _continue=first.metadata._continue
    )

    names = [i.metadata.name for i in first.items + rest.items]
    assert len(first.items) == 2
    assert sorted(names) == [f"p{n}" for n in range(5)]


def test_create_over_an_existing_name_is_409_already_exists(core, namespace):
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="dup"))
    core.create_namespaced_config_map(namespace, body)

    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map(namespace, body)

    assert caught.value.status == 409
    assert '"reason":"AlreadyExists"' in caught.value.body.replace(" ", "")


def test_get_missing_is_404_not_found(raw, namespace):
    response = raw("GET", f"/api/v1/namespaces/{namespace}/configmaps/nope")

    assert response.status == 404
    assert response.body["reason"] == "NotFound"
    assert response.body["details"]["name"] == "nope"


def test_create_in_missing_namespace_is_404(raw):
    response = raw(
        "POST", "/api/v1/namespaces/does-not-exist-42/configmaps", configmap_body("x")
    )

    assert response.status == 404
    assert response.body["reason"] == "NotFound"


def test_unknown_resource_is_404(raw, namespace):
    response = raw("GET", f"/apis/example.com/v1/namespaces/{namespace}/widgets")

    assert response.status == 404


def test_replace_with_stale_resource_version_is_409_conflict(core, namespace):
    created = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata={"name": "occ"}, data={"v": "1"})
    )
    fresh = core.read_namespaced_config_map("occ", namespace)
    fresh.data = {"v": "2"}
    core.replace_namespaced_config_map("occ", namespace, fresh)

    created.data = {"v": "stale"}
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_config_map("occ", namespace, created)

    assert caught.value.status == 409
    assert core.read_namespaced_config_map("occ", namespace).data == {"v": "2"}


def test_replace_name_must_match_url(raw, namespace):
    raw("POST", f"/api/v1/namespaces/{namespace}/configmaps", configmap_body("right"))

    response = raw(
        "PUT",
        f"/api/v1/namespaces/{namespace}/configmaps/right",
        configmap_body("wrong"),
    )

    assert response.status == 400


def test_generation_bumps_on_spec_change_only(apps, namespace, raw):
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    created = raw("POST", path, deployment_body("gen")).body
    assert created["metadata"]["generation"] == 1

    labelled = raw(
        "PATCH",
        f"{path}/gen",
        {"metadata": {"labels": {"extra": "yes"}}},
        content_type="application/merge-patch+json",
    ).body
    assert labelled["metadata"]["generation"] == 1

    scaled = raw(
        "PATCH",
        f"{path}/gen",
        {"spec": {"replicas": 3}},
        content_type="application/merge-patch+json",
    ).body
    assert scaled["metadata"]["generation"] == 2


def test_unchanged_replace_keeps_resource_version(core, namespace):
    created = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata={"name": "same"}, data={"k": "v"})
    )

    replaced = core.replace_namespaced_config_map("same", namespace, created)

    assert replaced.metadata.resource_version == created.metadata.resource_version


def test_delete_returns_success_and_removes(core, namespace):
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata={"name": "gone"})
    )

    answer = core.delete_namespaced_config_map("gone", namespace)

    answer = answer if isinstance(answer, dict) else answer.to_dict()
    assert answer.get("status") == "Success" or answer.get("kind") == "ConfigMap"
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_config_map("gone", namespace)
    assert caught.value.status == 404


def test_delete_missing_is_404(raw, namespace):
    assert (
        raw("DELETE", f"/api/v1/namespaces/{namespace}/configmaps/never").status == 404
    )


def test_delete_collection_by_label(core, namespace):
    for name, tier in (("a", "web"), ("b", "web"), ("c", "db")):
        core.create_namespaced_config_map(
            namespace,
            client.V1ConfigMap(metadata={"name": name, "labels": {"tier": tier}}),
        )

    core.delete_collection_namespaced_config_map(namespace, label_selector="tier=web")

    left = [i.metadata.name for i in core.list_namespaced_config_map(namespace).items]
    assert "c" in left and "a" not in left and "b" not in left


def test_cluster_scoped_objects_have_no_namespace(core):
    namespaces = core.list_namespace()

    assert {"default", "kube-system"} <= {n.metadata.name for n in namespaces.items}
    assert all(n.metadata.namespace is None for n in namespaces.items)


def test_protected_namespace_cannot_be_deleted(raw, sim):
    response = raw("DELETE", "/api/v1/namespaces/default")

    assert response.status == 403
