"""Deletion with propagation through ownerReferences, finalizers and namespaces."""

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from .helpers import eventually


def _owner_and_dependents(core, namespace):
    owner = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata={"name": "owner"})
    )
    reference = client.V1OwnerReference(
        api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid
    )
    for name in ("child-1", "child-2"):
        core.create_namespaced_config_map(
            namespace,
            client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name=name, owner_references=[reference])
            ),
        )
    return owner


def _names(core, namespace):
    return sorted(
        i.metadata.name for i in core.list_namespaced_config_map(namespace).items
    )


def _children_gone(core, namespace):
    return not [n for n in _names(core, namespace) if n.startswith("child")]


def test_background_deletion_removes_dependents(core, namespace):
    _owner_and_dependents(core, namespace)

    core.delete_namespaced_config_map(
        "owner", namespace, propagation_policy="Background"
    )

    assert eventually(lambda: _children_gone(core, namespace))
    assert "owner" not in _names(core, namespace)


def test_foreground_deletion_removes_dependents_first(core, namespace):
    _owner_and_dependents(core, namespace)

    core.delete_namespaced_config_map(
        "owner", namespace, body=client.V1DeleteOptions(propagation_policy="Foreground")
    )

    assert eventually(lambda: "owner" not in _names(core, namespace))
    assert _children_gone(core, namespace)


def test_orphan_deletion_keeps_dependents_without_the_reference(core, namespace):
    _owner_and_dependents(core, namespace)

    core.delete_namespaced_config_map("owner", namespace, propagation_policy="Orphan")

    def orphaned():
        child = core.read_namespaced_config_map("child-1", namespace)
        return not child.metadata.owner_references

    assert eventually(orphaned)
    assert _names(core, namespace) == ["child-1", "child-2"]


def test_bad_propagation_policy_is_400(raw, core, namespace):
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata={"name": "x"})
    )

    response = raw(
        "DELETE",
        f"/api/v1/namespaces/{namespace}/configmaps/x",
        query={"propagationPolicy": "Later"},
    )

    assert response.status == 400


def test_finalizers_hold_an_object_until_cleared(core, namespace):
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="held", finalizers=["example.com/hold"])
        ),
    )

    core.delete_namespaced_config_map("held", namespace)
    held = core.read_namespaced_config_map("held", namespace)
    assert held.metadata.deletion_timestamp is not None

    core.patch_namespaced_config_map(
        "held",
        namespace,
        {"metadata": {"finalizers": None}},
        _content_type="application/merge-patch+json",
    )
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_config_map("held", namespace)
    assert caught.value.status == 404


def test_delete_precondition_on_uid(raw, core, namespace):
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata={"name": "pre"})
    )

    response = raw(
        "DELETE",
        f"/api/v1/namespaces/{namespace}/configmaps/pre",
        {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "preconditions": {"uid": "not-the-uid"},
        },
    )

    assert response.status == 409
    assert core.read_namespaced_config_map("pre", namespace).metadata.name == "pre"


def test_deleting_a_namespace_removes_its_content(core):
    core.create_namespace(client.V1Namespace(metadata={"name": "t-doomed-ns"}))
    core.create_namespaced_config_map(
        "t-doomed-ns", client.V1ConfigMap(metadata={"name": "inside"})
    )

    core.delete_namespace("t-doomed-ns")

    def gone():
        try:
            core.read_namespace("t-doomed-ns")
        except ApiException as exc:
            return exc.status == 404
        return False

    assert eventually(gone, timeout=120)


def test_creating_in_a_terminating_namespace_is_refused(core, raw):
    core.create_namespace(client.V1Namespace(metadata={"name": "t-terminating"}))
    core.create_namespaced_config_map(
        "t-terminating",
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="held", finalizers=["example.com/x"])
        ),
    )
    core.delete_namespace("t-terminating")
    try:
        phase = core.read_namespace("t-terminating").status.phase
        response = raw(
            "POST",
            "/api/v1/namespaces/t-terminating/configmaps",
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late"}},
        )
    finally:
        core.patch_namespaced_config_map(
            "held",
            "t-terminating",
            {"metadata": {"finalizers": None}},
            _content_type="application/merge-patch+json",
        )

    assert phase == "Terminating"
    assert response.status == 403
