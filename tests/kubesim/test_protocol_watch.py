"""Watch: events, resume, 410 Expired, timeouts, bookmarks and filtered views."""

import json
import threading

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException


def _cm(name, labels=None, data=None):
    return client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name, labels=labels), data=data or {"k": "v"}
    )


def _stream(core, namespace, **kwargs):
    kwargs.setdefault("timeout_seconds", 1)
    return watch.Watch().stream(core.list_namespaced_config_map, namespace, **kwargs)


def _collect(core, namespace, count, **kwargs):
    """Return the first ``count`` events (the stream's timeout is a safety net)."""
    kwargs.setdefault("timeout_seconds", 5)
    events = []
    watcher = watch.Watch()
    for event in watcher.stream(core.list_namespaced_config_map, namespace, **kwargs):
        events.append(event)
        if len(events) == count:
            watcher.stop()
    return events


def test_watch_from_a_list_version_sees_each_change_in_order(core, namespace):
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    created = core.create_namespaced_config_map(namespace, _cm("w"))
    created.data = {"k": "changed"}
    core.replace_namespaced_config_map("w", namespace, created)
    core.delete_namespaced_config_map("w", namespace)

    events = [
        (
            e["type"],
            e["object"].metadata.name,
            int(e["object"].metadata.resource_version),
        )
        for e in _collect(core, namespace, 3, resource_version=start)
    ]

    assert [(t, n) for t, n, _ in events] == [
        ("ADDED", "w"),
        ("MODIFIED", "w"),
        ("DELETED", "w"),
    ]
    versions = [v for _, _, v in events]
    assert versions == sorted(versions) and len(set(versions)) == 3


def test_watch_without_version_starts_with_the_current_state(core, namespace):
    core.create_namespaced_config_map(namespace, _cm("existing"))

    events = _collect(core, namespace, 1)

    assert [(e["type"], e["object"].metadata.name) for e in events] == [
        ("ADDED", "existing")
    ]


def test_watch_resumes_from_a_seen_version(core, namespace):
    first = core.create_namespaced_config_map(namespace, _cm("one"))
    core.create_namespaced_config_map(namespace, _cm("two"))

    events = _collect(
        core, namespace, 1, resource_version=first.metadata.resource_version
    )

    assert [e["object"].metadata.name for e in events] == ["two"]


def test_events_are_flushed_one_by_one(core, namespace):
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    seen = []
    first_event = threading.Event()

    def consume():
        for event in _stream(
            core, namespace, resource_version=start, timeout_seconds=5
        ):
            seen.append(event["object"].metadata.name)
            first_event.set()
            if len(seen) == 2:
                return

    reader = threading.Thread(target=consume)
    reader.start()
    core.create_namespaced_config_map(namespace, _cm("early"))
    assert first_event.wait(5), (
        "the first event was not delivered before the next write"
    )
    core.create_namespaced_config_map(namespace, _cm("late"))
    reader.join(10)

    assert seen == ["early", "late"]


def test_label_selector_watch_sees_leaving_objects_as_deleted(core, namespace):
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, _cm("sel", labels={"team": "a"}))
    core.patch_namespaced_config_map(
        "sel",
        namespace,
        {"metadata": {"labels": {"team": "b"}}},
        _content_type="application/merge-patch+json",
    )

    events = _collect(
        core, namespace, 2, resource_version=start, label_selector="team=a"
    )

    assert [e["type"] for e in events] == ["ADDED", "DELETED"]


def test_watch_of_one_object_by_field_selector(core, namespace):
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, _cm("mine"))
    core.create_namespaced_config_map(namespace, _cm("other"))

    events = _collect(
        core, namespace, 1, resource_version=start, field_selector="metadata.name=mine"
    )

    assert [e["object"].metadata.name for e in events] == ["mine"]


def test_watch_ends_at_timeout_seconds(raw, namespace):
    response = raw(
        "GET",
        f"/api/v1/namespaces/{namespace}/configmaps",
        query={"watch": "true", "timeoutSeconds": "1"},
    )

    assert response.status == 200


def test_old_watch_path_is_served(raw, core, namespace):
    core.create_namespaced_config_map(namespace, _cm("legacy"))

    response = raw(
        "GET",
        f"/api/v1/watch/namespaces/{namespace}/configmaps",
        query={"timeoutSeconds": "1"},
    )

    lines = (
        response.body if isinstance(response.body, str) else json.dumps(response.body)
    )
    assert "legacy" in lines and "ADDED" in lines


def test_raw_watch_lines_are_json_events(raw, core, namespace):
    core.create_namespaced_config_map(namespace, _cm("a"))
    core.create_namespaced_config_map(namespace, _cm("b"))

    response = raw(
        "GET",
        f"/api/v1/namespaces/{namespace}/configmaps",
        query={"watch": "1", "timeoutSeconds": "1"},
    )

    lines = [json.loads(line) for line in response.body.strip().splitlines()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in lines] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
    ]


def test_too_old_version_gets_410_expired(core, namespace, sim):
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    sim.store.set_watch_history(3)
    try:
        for n in range(6):
            core.create_namespaced_config_map(namespace, _cm(f"c{n}"))
        with pytest.raises(ApiException) as caught:
            list(_stream(core, namespace, resource_version=start))
    finally:
        sim.store.set_watch_history(10000)

    assert caught.value.status == 410


def test_410_arrives_as_an_error_event(raw, core, namespace, sim):
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    sim.store.set_watch_history(2)
    try:
        for n in range(4):
            core.create_namespaced_config_map(namespace, _cm(f"e{n}"))
        response = raw(
            "GET",
            f"/api/v1/namespaces/{namespace}/configmaps",
            query={"watch": "true", "resourceVersion": start, "timeoutSeconds": "1"},
        )
    finally:
        sim.store.set_watch_history(10000)

    event = response.body
    assert response.status == 200
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410
    assert event["object"]["reason"] == "Expired"


def test_bookmarks_when_allowed(raw, core, namespace, sim):
    sim.api.bookmark_interval = 0.2
    try:
        response = raw(
            "GET",
            f"/api/v1/namespaces/{namespace}/configmaps",
            query={
                "watch": "true",
                "allowWatchBookmarks": "true",
                "timeoutSeconds": "1",
            },
        )
    finally:
        sim.api.bookmark_interval = 60.0

    body = (
        response.body if isinstance(response.body, str) else json.dumps(response.body)
    )
    events = [json.loads(line) for line in body.strip().splitlines()]
    bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
    assert bookmarks
    assert bookmarks[0]["object"]["kind"] == "ConfigMap"
    assert int(bookmarks[0]["object"]["metadata"]["resourceVersion"]) > 0


def test_many_concurrent_watches(core, namespace):
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    results = {}

    def consume(index):
        stream = _stream(core, namespace, resource_version=start, timeout_seconds=3)
        for event in stream:
            results[index] = event["object"].metadata.name
            return

    readers = [threading.Thread(target=consume, args=(i,)) for i in range(20)]
    for reader in readers:
        reader.start()
    core.create_namespaced_config_map(namespace, _cm("broadcast"))
    for reader in readers:
        reader.join(10)

    assert results == {i: "broadcast" for i in range(20)}
