"""CustomResourceDefinitions make new kinds served, discoverable and validated."""

import uuid

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from .helpers import eventually

GROUP = "kubesim.example.com"


def _crd(plural: str, kind: str) -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "plural": plural,
                "singular": kind.lower(),
                "kind": kind,
                "shortNames": [plural[:3]],
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["size"],
                                    "properties": {
                                        "size": {"type": "integer", "minimum": 1},
                                        "color": {
                                            "type": "string",
                                            "enum": ["red", "blue"],
                                        },
                                    },
                                },
                                "status": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                },
                            },
                        }
                    },
                }
            ],
        },
    }


@pytest.fixture
def crd(extensions, raw):
    suffix = uuid.uuid4().hex[:6]
    plural, kind = f"widgets{suffix}", f"Widget{suffix}"
    created = raw(
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        _crd(plural, kind),
    )
    assert created.status == 201, created.body

    def established():
        current = extensions.read_custom_resource_definition(f"{plural}.{GROUP}")
        conditions = (current.status and current.status.conditions) or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    assert eventually(established)
    yield plural, kind
    try:
        extensions.delete_custom_resource_definition(f"{plural}.{GROUP}")
    except ApiException as exc:
        if exc.status != 404:
            raise


def _widget(kind: str, name: str, size=3) -> dict:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": {"size": size},
    }


def test_crd_kind_appears_in_discovery(raw, crd):
    plural, kind = crd

    resources = {
        r["name"]: r for r in raw("GET", f"/apis/{GROUP}/v1").body["resources"]
    }

    assert resources[plural]["kind"] == kind
    assert resources[plural]["namespaced"] is True
    assert f"{plural}/status" in resources
    assert GROUP in {g["name"] for g in raw("GET", "/apis").body["groups"]}


def test_custom_objects_crud(custom, crd, namespace):
    plural, kind = crd

    created = custom.create_namespaced_custom_object(
        GROUP, "v1", namespace, plural, _widget(kind, "w1")
    )
    listed = custom.list_namespaced_custom_object(GROUP, "v1", namespace, plural)
    fetched = custom.get_namespaced_custom_object(GROUP, "v1", namespace, plural, "w1")

    assert created["metadata"]["uid"] == fetched["metadata"]["uid"]
    assert [i["metadata"]["name"] for i in listed["items"]] == ["w1"]
    assert listed["kind"] == f"{kind}List"

    custom.delete_namespaced_custom_object(GROUP, "v1", namespace, plural, "w1")
    with pytest.raises(ApiException) as caught:
        custom.get_namespaced_custom_object(GROUP, "v1", namespace, plural, "w1")
    assert caught.value.status == 404


def test_custom_objects_are_validated_against_the_schema(raw, crd, namespace):
    plural, kind = crd
    path = f"/apis/{GROUP}/v1/namespaces/{namespace}/{plural}"

    wrong_type = raw("POST", path, _widget(kind, "bad", size="three"))
    too_small = raw("POST", path, _widget(kind, "small", size=0))
    missing = raw("POST", path, {**_widget(kind, "nospec"), "spec": {}})

    assert wrong_type.status == 422 and "spec.size" in wrong_type.fields
    assert too_small.status == 422
    assert missing.status == 422 and "spec.size" in missing.fields


def test_unknown_fields_are_pruned(raw, crd, namespace):
    plural, kind = crd
    body = _widget(kind, "pruned")
    body["spec"]["unknown"] = "dropped"

    created = raw("POST", f"/apis/{GROUP}/v1/namespaces/{namespace}/{plural}", body)

    assert created.status == 201
    assert "unknown" not in created.body["spec"]


def test_custom_objects_server_side_apply(custom, crd, namespace):
    plural, kind = crd

    # The client maps only 200 for this call, so the 201 of a create reads None.
    custom.patch_namespaced_custom_object(
        GROUP,
        "v1",
        namespace,
        plural,
        "applied",
        _widget(kind, "applied", size=5),
        field_manager="kubeorch",
        _content_type="application/apply-patch+yaml",
    )

    applied = custom.get_namespaced_custom_object(
        GROUP, "v1", namespace, plural, "applied"
    )
    assert applied["spec"]["size"] == 5
    assert applied["metadata"]["managedFields"][0]["manager"] == "kubeorch"


def test_custom_status_subresource(custom, crd, namespace):
    plural, kind = crd
    custom.create_namespaced_custom_object(
        GROUP, "v1", namespace, plural, _widget(kind, "st")
    )

    custom.patch_namespaced_custom_object_status(
        GROUP,
        "v1",
        namespace,
        plural,
        "st",
        {"status": {"ready": True}},
        _content_type="application/merge-patch+json",
    )

    fetched = custom.get_namespaced_custom_object(GROUP, "v1", namespace, plural, "st")
    assert fetched["status"] == {"ready": True}
    assert fetched["spec"]["size"] == 3


def test_dynamic_client_finds_a_new_crd(dyn, crd, namespace):
    plural, kind = crd

    widgets = dyn.resources.get(api_version=f"{GROUP}/v1", kind=kind)
    widgets.create(body=_widget(kind, "dyn"), namespace=namespace)

    assert [w.metadata.name for w in widgets.get(namespace=namespace).items] == ["dyn"]


def test_unknown_custom_kind_is_404(raw, namespace):
    response = raw(
        "POST",
        f"/apis/{GROUP}/v1/namespaces/{namespace}/gadgets",
        {"apiVersion": f"{GROUP}/v1", "kind": "Gadget", "metadata": {"name": "g"}},
    )

    assert response.status == 404


def test_deleting_the_crd_stops_serving_it(extensions, raw, crd, namespace):
    plural, kind = crd
    raw(
        "POST",
        f"/apis/{GROUP}/v1/namespaces/{namespace}/{plural}",
        _widget(kind, "bye"),
    )

    extensions.delete_custom_resource_definition(f"{plural}.{GROUP}")

    def unserved():
        return (
            raw("GET", f"/apis/{GROUP}/v1/namespaces/{namespace}/{plural}").status
            == 404
        )

    assert eventually(unserved, timeout=60)


def test_crd_name_must_be_plural_dot_group(raw):
    body = _crd("things", "Thing")
    body["metadata"]["name"] = "wrong.name.example.com"

    response = raw(
        "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body
    )

    assert response.status == 422


def test_typed_crd_client_reads_it(extensions, crd):
    plural, _ = crd

    fetched = extensions.read_custom_resource_definition(f"{plural}.{GROUP}")

    assert isinstance(fetched, client.V1CustomResourceDefinition)
    assert fetched.spec.names.plural == plural
