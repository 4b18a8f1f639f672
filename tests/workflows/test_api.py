"""The workflow API: access, saving with validation and revisions, states."""

import json

import pytest

from tests.factories import make_cluster, make_workflow, three_tier_canvas

pytestmark = pytest.mark.django_db


@pytest.fixture
def cluster(owner, kubeconfig_text):
    return make_cluster(owner, kubeconfig_text)


@pytest.fixture
def workflow(owner, cluster):
    return make_workflow(owner, cluster)


def node_of(canvas: dict, node_type: str) -> dict:
    return next(n for n in canvas["nodes"] if n["type"] == node_type)


def save(api, workflow, canvas, **extra):
    """Save a canvas, based on the stored revision unless one is given."""
    workflow.refresh_from_db()
    body = {
        "nodes": canvas["nodes"],
        "edges": canvas["edges"],
        "revision": workflow.revision,
        **extra,
    }
    return api.post(f"/v1/api/workflows/{workflow.pk}/save", body, format="json")


# Access


def test_create_workflow_on_a_usable_cluster(owner_api, cluster):
    response = owner_api.post(
        "/v1/api/workflows",
        {"name": "My Web App", "cluster_id": str(cluster.pk), "namespace": "shop"},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.data["state"] == "draft"
    assert response.data["revision"] == 0
    assert response.data["owner"] == "olivia"


def test_create_is_refused_on_a_cluster_the_user_was_not_given(outsider_api, cluster):
    response = outsider_api.post(
        "/v1/api/workflows", {"name": "x", "cluster_id": str(cluster.pk)}, format="json"
    )

    assert response.status_code == 400
    assert "cluster_id" in response.data


def test_create_names_each_missing_field(owner_api):
    response = owner_api.post("/v1/api/workflows", {}, format="json")

    assert response.status_code == 400
    assert set(response.data) >= {"name", "cluster_id"}


def test_an_outsider_cannot_see_or_touch_a_workflow(outsider_api, workflow):
    base = f"/v1/api/workflows/{workflow.pk}"

    assert outsider_api.get(base).status_code == 404
    assert outsider_api.patch(base, {"name": "x"}, format="json").status_code == 404
    assert outsider_api.delete(base).status_code == 404
    assert outsider_api.post(base + "/run", {}, format="json").status_code == 404
    assert outsider_api.get(base + "/runs").status_code == 404
    assert outsider_api.get("/v1/api/workflows").data["results"] == []


def test_a_teammate_it_was_shared_with_can_read_but_not_delete(
    teammate_api, teammate, workflow
):
    workflow.shared_with.add(teammate)
    base = f"/v1/api/workflows/{workflow.pk}"

    assert teammate_api.get(base).status_code == 200
    assert teammate_api.delete(base).status_code == 403
    assert [w["id"] for w in teammate_api.get("/v1/api/workflows").data["results"]] == [
        str(workflow.pk)
    ]


def test_requests_without_a_valid_token_are_refused(client, workflow):
    assert client.get("/v1/api/workflows").status_code in (401, 403)
    response = client.get(
        "/v1/api/workflows", HTTP_AUTHORIZATION="Bearer ko_not-a-real-token"
    )
    assert response.status_code == 401


def test_list_filters_by_state_and_search(owner_api, owner, cluster):
    make_workflow(owner, cluster, name="alpha")
    make_workflow(
        owner, cluster, name="beta", canvas=three_tier_canvas(), state="published"
    )

    drafts = owner_api.get("/v1/api/workflows?state=draft").data["results"]
    found = owner_api.get("/v1/api/workflows?search=bet").data["results"]

    assert [w["name"] for w in drafts] == ["alpha"]
    assert [w["name"] for w in found] == ["beta"]


def test_list_query_count_does_not_grow_with_workflows(
    owner_api, owner, cluster, django_assert_max_num_queries
):
    for i in range(5):
        make_workflow(owner, cluster, name=f"w{i}")

    with django_assert_max_num_queries(6):
        response = owner_api.get("/v1/api/workflows")

    assert response.data["count"] == 5


# Saving


def test_save_stores_the_canvas_and_bumps_the_revision(owner_api, workflow):
    canvas = three_tier_canvas()

    response = save(owner_api, workflow, canvas, revision=0)

    assert response.status_code == 200, response.content
    assert response.data["revision"] == 1
    assert {n["id"] for n in response.data["nodes"]} == {
        n["id"] for n in canvas["nodes"]
    }
    workflow.refresh_from_db()
    assert len(workflow.edges) == len(canvas["edges"])


def test_save_recomputes_linked_fields_from_edges(owner_api, workflow):
    canvas = three_tier_canvas()
    for node in canvas["nodes"]:
        node["data"] = {k: v for k, v in node["data"].items() if not k.startswith("_")}

    response = save(owner_api, workflow, canvas)

    service = next(
        n
        for n in response.data["nodes"]
        if n["type"] == "service" and any(k.startswith("_linked") for k in n["data"])
    )
    assert any(v for k, v in service["data"].items() if k.startswith("_linked"))


def test_secret_values_are_stored_sealed_and_returned_masked(owner_api, workflow):
    canvas = three_tier_canvas()

    response = save(owner_api, workflow, canvas)

    body = response.content.decode()
    stored = json.dumps(type(workflow).objects.get(pk=workflow.pk).nodes)
    for value in _secret_values(canvas):
        assert value not in body
        assert value not in stored
    assert "********" in body


def test_saving_the_mask_back_keeps_the_stored_secret(owner_api, workflow):
    first = save(owner_api, workflow, three_tier_canvas())
    stored_before = type(workflow).objects.get(pk=workflow.pk).nodes

    second = save(
        owner_api,
        workflow,
        {"nodes": first.data["nodes"], "edges": first.data["edges"]},
    )

    assert second.status_code == 200, second.content
    stored_after = type(workflow).objects.get(pk=workflow.pk).nodes
    assert _sealed(stored_after) == _sealed(stored_before)


def test_a_save_based_on_an_old_revision_is_refused(owner_api, workflow):
    canvas = three_tier_canvas()
    assert save(owner_api, workflow, canvas, revision=0).status_code == 200

    response = save(owner_api, workflow, canvas, revision=0)

    assert response.status_code == 409
    assert "revision" in response.data["detail"]


@pytest.mark.parametrize(
    "breakage, where",
    [
        ("unknown_kind", "nodes"),
        ("disallowed_edge", "edges"),
        ("cycle", "edges"),
        ("bad_name", "nodes"),
        ("missing_image", "nodes"),
        ("port_out_of_range", "nodes"),
    ],
)
def test_bad_canvases_are_refused_per_node_and_field_and_nothing_is_saved(
    owner_api, workflow, breakage, where
):
    canvas = three_tier_canvas()
    BREAKAGES[breakage](canvas)

    response = save(owner_api, workflow, canvas)

    assert response.status_code == 400, response.content
    assert response.data.get(where), response.data
    workflow.refresh_from_db()
    assert workflow.revision == 0 and workflow.nodes == []


def test_a_body_of_several_megabytes_is_refused(owner_api, workflow):
    canvas = three_tier_canvas()
    node_of(canvas, "configmap")["data"]["padding"] = "x" * 5_000_000

    response = save(owner_api, workflow, canvas)

    assert response.status_code == 400
    workflow.refresh_from_db()
    assert workflow.nodes == []


def test_a_published_workflow_cannot_be_saved(owner_api, owner, cluster):
    workflow = make_workflow(
        owner, cluster, canvas=three_tier_canvas(), state="published"
    )

    response = save(owner_api, workflow, three_tier_canvas())

    assert response.status_code == 409
    assert "draft" in response.data["detail"]


# States


def test_publish_then_edit_then_archive_then_restore(owner_api, owner, cluster):
    workflow = make_workflow(owner, cluster, canvas=three_tier_canvas())
    base = f"/v1/api/workflows/{workflow.pk}"

    assert owner_api.post(base + "/publish").data["state"] == "published"
    assert owner_api.post(base + "/edit").data["state"] == "draft"
    assert owner_api.post(base + "/archive").data["state"] == "archived"
    assert owner_api.post(base + "/edit").data["state"] == "draft"


def test_archived_cannot_be_published_directly(owner_api, owner, cluster):
    workflow = make_workflow(
        owner, cluster, canvas=three_tier_canvas(), state="archived"
    )

    response = owner_api.post(f"/v1/api/workflows/{workflow.pk}/publish")

    assert response.status_code == 409
    assert "archived" in response.data["detail"]


def test_running_a_draft_is_refused(owner_api, owner, cluster):
    workflow = make_workflow(owner, cluster, canvas=three_tier_canvas())

    response = owner_api.post(f"/v1/api/workflows/{workflow.pk}/run", {}, format="json")

    assert response.status_code == 409
    assert "publish" in response.data["detail"]
    assert workflow.runs.count() == 0


# Registry and schema


def test_node_kinds_lists_every_kind(owner_api):
    response = owner_api.get("/v1/api/node-kinds")

    assert response.status_code == 200
    text = json.dumps(response.data)
    for kind in (
        "deployment",
        "statefulset",
        "daemonset",
        "job",
        "cronjob",
        "service",
        "ingress",
        "configmap",
        "secret",
        "persistentvolumeclaim",
        "hpa",
        "networkpolicy",
        "customresource",
    ):
        assert f'"{kind}"' in text


def test_openapi_schema_describes_the_api(owner_api):
    response = owner_api.get("/v1/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    paths = json.loads(response.content)["paths"]
    assert "/v1/api/workflows/{id}/run/" in paths
    assert "/v1/api/workflows/{id}/save/" in paths
    assert "/v1/api/runs/{run_id}" in paths
    assert "BearerAuth" in json.loads(response.content)["components"]["securitySchemes"]


# Helpers to break a canvas in one precise way each.


def _secret_values(canvas) -> list[str]:
    secret = node_of(canvas, "secret")
    data = secret["data"].get("data") or {}
    if isinstance(data, list):
        return [entry["value"] for entry in data]
    return list(data.values())


def _sealed(nodes) -> list[str]:
    text = json.dumps(nodes)
    return sorted(part.split('"')[0] for part in text.split('"enc:')[1:])


def _unknown_kind(canvas):
    canvas["nodes"][0]["type"] = "frobnicator"


def _disallowed_edge(canvas):
    config = node_of(canvas, "configmap")
    service = node_of(canvas, "service")
    canvas["edges"].append(
        {
            "id": "bad-edge",
            "source": config["id"],
            "target": service["id"],
            "sourceHandle": None,
            "targetHandle": None,
        }
    )


def _cycle(canvas):
    edge = next(
        e
        for e in canvas["edges"]
        if node_of_id(canvas, e["source"])["type"] == "service"
    )
    canvas["edges"].append(
        {
            **edge,
            "id": "back-edge",
            "source": edge["target"],
            "target": edge["source"],
            "sourceHandle": edge["targetHandle"],
            "targetHandle": edge["sourceHandle"],
        }
    )


def _bad_name(canvas):
    node_of(canvas, "deployment")["data"]["name"] = "Web_App!"


def _missing_image(canvas):
    node_of(canvas, "deployment")["data"].pop("image")


def _port_out_of_range(canvas):
    service = node_of(canvas, "service")
    service["data"]["ports"][0]["port"] = 70000


def node_of_id(canvas, node_id):
    return next(n for n in canvas["nodes"] if n["id"] == node_id)


BREAKAGES = {
    "unknown_kind": _unknown_kind,
    "disallowed_edge": _disallowed_edge,
    "cycle": _cycle,
    "bad_name": _bad_name,
    "missing_image": _missing_image,
    "port_out_of_range": _port_out_of_range,
}


def test_a_teammate_can_publish_but_not_archive(teammate_api, teammate, owner, cluster):
    workflow = make_workflow(owner, cluster, canvas=three_tier_canvas())
    workflow.shared_with.add(teammate)
    base = f"/v1/api/workflows/{workflow.pk}"

    assert teammate_api.post(base + "/publish").status_code == 200
    assert teammate_api.post(base + "/archive").status_code == 403
    workflow.refresh_from_db()
    assert workflow.state == "published"
