"""Label and field selectors on list."""

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException


@pytest.fixture
def labelled(core, namespace):
    for name, labels in (
        ("a", {"app": "web", "tier": "front"}),
        ("b", {"app": "web", "tier": "back"}),
        ("c", {"app": "db"}),
        ("d", {}),
    ):
        core.create_namespaced_config_map(
            namespace,
            client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels)),
        )
    return namespace


def _names(core, namespace, **kwargs):
    return sorted(
        i.metadata.name
        for i in core.list_namespaced_config_map(namespace, **kwargs).items
    )


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", ["a", "b"]),
        ("app==web", ["a", "b"]),
        ("app!=web", ["c", "d"]),
        ("app in (web,db)", ["a", "b", "c"]),
        ("app notin (web)", ["c", "d"]),
        ("tier", ["a", "b"]),
        ("!tier", ["c", "d"]),
        ("app=web,tier=back", ["b"]),
        ("app=web,!tier", []),
    ],
)
def test_label_selectors(core, labelled, selector, expected):
    assert _names(core, labelled, label_selector=selector) == expected


def test_malformed_label_selector_is_400(core, labelled):
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_config_map(labelled, label_selector="app in web")

    assert caught.value.status == 400


def test_field_selector_on_name(core, labelled):
    assert _names(core, labelled, field_selector="metadata.name=b") == ["b"]
    assert _names(core, labelled, field_selector="metadata.name!=b") == ["a", "c", "d"]


def test_field_selector_on_namespace(core, labelled):
    everywhere = core.list_config_map_for_all_namespaces(
        field_selector=f"metadata.namespace={labelled}"
    )

    assert sorted(i.metadata.name for i in everywhere.items) == ["a", "b", "c", "d"]


def test_unsupported_field_selector_is_400(core, labelled):
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_config_map(labelled, field_selector="data.k=v")

    assert caught.value.status == 400


def test_pod_field_selectors_are_accepted(core, namespace):
    pods = core.list_namespaced_pod(
        namespace, field_selector="status.phase=Running,spec.nodeName=nowhere"
    )

    assert pods.items == []


def test_event_field_selectors_on_involved_object(core, namespace):
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "web.1"},
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": namespace},
        "reason": "Testing",
        "message": "hello",
        "type": "Normal",
    }
    core.create_namespaced_event(namespace, event)

    found = core.list_namespaced_event(
        namespace, field_selector="involvedObject.kind=Pod,involvedObject.name=web"
    )
    missed = core.list_namespaced_event(
        namespace, field_selector="involvedObject.name=other"
    )

    assert [e.reason for e in found.items] == ["Testing"]
    assert missed.items == []
