"""Versions: manual ones, the list, one version, compare, restore."""

import json

import pytest

from tests.factories import make_cluster, make_workflow
from tests.workflows.canvases import edge, node, web
from workflows import actions
from workflows.models import WorkflowVersion
from workflows.versions import compare_canvases, json_changes

pytestmark = pytest.mark.django_db

OLD_PASSWORD = "old-pa55-never-shown"
NEW_PASSWORD = "new-pa55-never-shown"


def first_canvas() -> dict:
    """A web Deployment with its Service, a loose ConfigMap and a Secret."""
    return {
        "nodes": [
            web(),
            node(
                "web-svc", "service", name="web", ports=[{"name": "http", "port": 80}]
            ),
            node("extra", "configmap", name="extra", data={"LOG_LEVEL": "info"}),
            node("creds", "secret", name="creds", data={"PASSWORD": OLD_PASSWORD}),
        ],
        "edges": [edge("web-svc", "web")],
    }


@pytest.fixture
def cluster(owner, kubeconfig_text):
    return make_cluster(owner, kubeconfig_text)


@pytest.fixture
def workflow(owner, cluster):
    return make_workflow(owner, cluster, canvas=first_canvas())


def base(workflow) -> str:
    return f"/v1/api/workflows/{workflow.pk}"


def save(api, workflow, nodes, edges):
    workflow.refresh_from_db()
    body = {"nodes": nodes, "edges": edges, "revision": workflow.revision}
    response = api.post(base(workflow) + "/save", body, format="json")
    assert response.status_code == 200, response.content
    return response.data


def second_canvas(api, workflow) -> dict:
    """From the saved first canvas (secrets masked): a new image, the loose
    ConfigMap removed, the Secret wired to web, and a new password."""
    current = api.get(base(workflow)).data
    nodes = [n for n in current["nodes"] if n["id"] != "extra"]
    by_id = {n["id"]: n for n in nodes}
    by_id["web"]["data"]["image"] = "nginx:1.28"
    by_id["creds"]["data"]["data"]["PASSWORD"] = NEW_PASSWORD
    edges = [*current["edges"], edge("creds", "web", mode="env")]
    return {"nodes": nodes, "edges": edges}


# Manual versions and the list


def test_a_manual_version_stores_the_canvas_with_name_tag_and_description(
    owner_api, owner, workflow
):
    response = owner_api.post(
        base(workflow) + "/versions",
        {"name": "Before launch", "tag": "rc1", "description": "Checked by QA."},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.data["number"] == 1
    assert response.data["source"] == "manual"
    assert (response.data["name"], response.data["tag"]) == ("Before launch", "rc1")
    assert response.data["created_by"] == owner.username
    version = workflow.versions.get(number=1)
    assert version.nodes == workflow.nodes and version.description == "Checked by QA."


def test_one_version_is_returned_with_secret_values_masked(owner_api, workflow):
    actions.create_version(workflow.pk, name="v1")

    response = owner_api.get(base(workflow) + "/versions/1")

    assert response.status_code == 200
    assert OLD_PASSWORD not in response.content.decode()
    assert "enc:" not in response.content.decode()
    creds = next(n for n in response.data["nodes"] if n["id"] == "creds")
    assert creds["data"]["data"]["PASSWORD"] == "********"
    assert owner_api.get(base(workflow) + "/versions/9").status_code == 404


def test_versions_are_listed_newest_first_in_pages_with_a_fixed_query_count(
    owner_api, workflow, django_assert_max_num_queries
):
    for number in range(1, 56):
        actions.create_version(workflow.pk, name=f"v{number}")

    with django_assert_max_num_queries(8):
        first = owner_api.get(base(workflow) + "/versions")
    second = owner_api.get(base(workflow) + "/versions?page=2")

    assert first.status_code == 200
    assert first.data["count"] == 55
    assert [v["number"] for v in first.data["results"]][:3] == [55, 54, 53]
    assert len(first.data["results"]) == 50
    assert [v["number"] for v in second.data["results"]] == [5, 4, 3, 2, 1]
    assert first.data["results"][0]["node_count"] == 4
    assert "nodes" not in first.data["results"][0]


def test_an_archived_workflow_takes_no_manual_version(owner_api, owner, cluster):
    archived = make_workflow(owner, cluster, canvas=first_canvas(), state="archived")

    response = owner_api.post(base(archived) + "/versions", {}, format="json")

    assert response.status_code == 409
    assert archived.versions.count() == 0


# Compare


def test_two_versions_compare_to_exactly_their_changes_with_the_secret_masked(
    owner_api, workflow
):
    owner_api.post(base(workflow) + "/versions", {"name": "one"}, format="json")
    save(owner_api, workflow, **second_canvas(owner_api, workflow))
    owner_api.post(base(workflow) + "/versions", {"name": "two"}, format="json")

    response = owner_api.get(base(workflow) + "/versions/compare?from=1&to=2")

    assert response.status_code == 200, response.content
    nodes, edges = response.data["nodes"], response.data["edges"]
    assert nodes["added"] == []
    assert [n["id"] for n in nodes["removed"]] == ["extra"]
    modified = {n["id"]: n["changes"] for n in nodes["modified"]}
    assert modified == {
        "web": [{"path": "data.image", "before": "nginx:1.27", "after": "nginx:1.28"}],
        "creds": [
            {"path": "data.data.PASSWORD", "before": "********", "after": "********"}
        ],
    }
    assert nodes["moved"] == []
    assert [(e["source"], e["target"]) for e in edges["added"]] == [("creds", "web")]
    assert edges["removed"] == [] and edges["modified"] == []
    body = response.content.decode()
    for secret in (OLD_PASSWORD, NEW_PASSWORD, "enc:"):
        assert secret not in body
    assert response.data["summary"]["nodes_modified"] == 2


def test_a_secret_typed_again_with_the_same_value_is_not_a_change(owner_api, workflow):
    actions.create_version(workflow.pk)
    current = owner_api.get(base(workflow)).data
    creds = next(n for n in current["nodes"] if n["id"] == "creds")
    creds["data"]["data"]["PASSWORD"] = OLD_PASSWORD
    save(owner_api, workflow, current["nodes"], current["edges"])

    response = owner_api.get(base(workflow) + "/versions/compare?from=1&to=current")

    assert response.data["nodes"]["modified"] == []
    assert response.data["to"] == "current"


def test_compare_refuses_a_missing_or_unknown_version(owner_api, workflow):
    actions.create_version(workflow.pk)
    url = base(workflow) + "/versions/compare"

    assert owner_api.get(url + "?from=1").status_code == 400
    assert owner_api.get(url + "?from=one&to=1").status_code == 400
    assert owner_api.get(url + "?from=1&to=7").status_code == 404


def test_edges_are_matched_by_id_and_changed_fields_listed():
    before = ([], [edge("a", "b", mode="env")])
    after = ([], [edge("a", "b", mode="volume")])

    comparison = compare_canvases(before, after)

    assert comparison["edges"]["modified"][0]["changes"] == [
        {"path": "data.mode", "before": "env", "after": "volume"}
    ]


def test_a_moved_node_is_listed_as_moved_not_modified():
    moved = web()
    moved["position"] = {"x": 300, "y": 40}

    comparison = compare_canvases(([web()], []), ([moved], []))

    assert comparison["nodes"]["moved"] == ["web"]
    assert comparison["nodes"]["modified"] == []


def test_lists_of_named_items_are_compared_by_name():
    before = {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
    after = {"env": [{"name": "B", "value": "3"}, {"name": "A", "value": "1"}]}

    changes = json_changes(before, after)

    assert [(c.path, c.before, c.after) for c in changes] == [
        ("env[name=B].value", "2", "3")
    ]


def test_keys_that_are_not_identifiers_are_quoted_in_paths():
    changes = json_changes(
        {"labels": {"app.kubernetes.io/name": "a"}},
        {"labels": {"app.kubernetes.io/name": "b"}},
    )

    assert changes[0].path == 'labels["app.kubernetes.io/name"]'


# Restore


def test_restore_copies_the_version_forward_and_loads_it_on_the_canvas(
    owner_api, workflow
):
    actions.create_version(workflow.pk, name="one")
    first_nodes = json.loads(json.dumps(workflow.versions.get(number=1).nodes))
    save(owner_api, workflow, **second_canvas(owner_api, workflow))
    actions.create_version(workflow.pk, name="two")
    workflow.refresh_from_db()
    revision = workflow.revision

    response = owner_api.post(
        base(workflow) + "/versions/1/restore", {"revision": revision}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.data["number"] == 3
    assert response.data["source"] == "restore"
    assert response.data["restored_from"] == 1
    workflow.refresh_from_db()
    assert workflow.revision == revision + 1
    assert [n["id"] for n in workflow.nodes] == [n["id"] for n in first_nodes]
    assert sorted(workflow.versions.values_list("number", flat=True)) == [1, 2, 3]
    compared = owner_api.get(base(workflow) + "/versions/compare?from=1&to=current")
    assert compared.data["summary"] == dict.fromkeys(compared.data["summary"], 0)


def test_restore_is_refused_on_a_published_workflow_and_a_stale_revision(
    owner_api, owner, cluster, workflow
):
    published = make_workflow(owner, cluster, canvas=first_canvas(), state="published")
    actions.create_version(published.pk)
    actions.create_version(workflow.pk)

    frozen = owner_api.post(base(published) + "/versions/1/restore", {}, format="json")
    stale = owner_api.post(
        base(workflow) + "/versions/1/restore", {"revision": 0}, format="json"
    )
    missing = owner_api.post(base(workflow) + "/versions/5/restore", {}, format="json")

    assert frozen.status_code == 409 and "draft" in frozen.data["detail"]
    assert stale.status_code == 409 and "revision" in stale.data["detail"]
    assert missing.status_code == 404
    assert WorkflowVersion.objects.filter(source="restore").count() == 0


# Personas


def test_a_teammate_reads_compares_versions_and_restores_into_a_draft(
    teammate_api, teammate, workflow
):
    workflow.shared_with.add(teammate)
    actions.create_version(workflow.pk)

    assert teammate_api.get(base(workflow) + "/versions").status_code == 200
    assert teammate_api.get(base(workflow) + "/versions/1").status_code == 200
    compare = teammate_api.get(base(workflow) + "/versions/compare?from=1&to=1")
    assert compare.status_code == 200
    made = teammate_api.post(base(workflow) + "/versions", {}, format="json")
    assert made.status_code == 201
    restored = teammate_api.post(
        base(workflow) + "/versions/1/restore", {}, format="json"
    )
    assert restored.status_code == 201


def test_an_outsider_reaches_no_version_endpoint(outsider_api, workflow):
    actions.create_version(workflow.pk)
    url = base(workflow) + "/versions"

    assert outsider_api.get(url).status_code == 404
    assert outsider_api.post(url, {}, format="json").status_code == 404
    assert outsider_api.get(url + "/1").status_code == 404
    assert outsider_api.get(url + "/compare?from=1&to=1").status_code == 404
    assert outsider_api.post(url + "/1/restore", {}, format="json").status_code == 404
    assert outsider_api.get(url + "/1/export").status_code == 404
    assert workflow.versions.count() == 1


def test_the_openapi_schema_describes_the_new_endpoints(owner_api):
    response = owner_api.get("/v1/api/schema/", HTTP_ACCEPT="application/json")

    paths = json.loads(response.content)["paths"]
    base = "/v1/api/workflows/{workflow_id}"
    for path in (
        f"{base}/versions",
        f"{base}/versions/compare",
        f"{base}/versions/{{number}}",
        f"{base}/versions/{{number}}/restore",
        f"{base}/versions/{{number}}/export",
        f"{base}/dry-run",
        f"{base}/schedule",
        f"{base}/webhook",
        "/v1/api/hooks/{workflow_id}/{secret}",
        "/v1/api/hooks/{workflow_id}",
        "/v1/api/runs",
    ):
        assert path in paths, path
    # No login on the webhook: the secret is the credential.
    assert not paths["/v1/api/hooks/{workflow_id}"]["post"].get("security")
    assert paths[f"{base}/webhook"]["post"]["security"]
