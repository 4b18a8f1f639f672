"""Hostile and malformed input gets a clear 4xx in JSON, never a 500."""

import pytest

from tests.factories import make_cluster, make_workflow

pytestmark = pytest.mark.django_db

ALIAS_BOMB = "\n".join(
    ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    + [
        f"{b}: &{b} [*{a},*{a},*{a},*{a},*{a},*{a},*{a},*{a},*{a}]"
        for a, b in zip("abcdefg", "bcdefgh", strict=True)
    ]
)


@pytest.fixture
def workflow(owner, kubeconfig_text):
    return make_workflow(owner, make_cluster(owner, kubeconfig_text))


def save(api, workflow, nodes, edges=()):
    return api.post(
        f"/v1/api/workflows/{workflow.pk}/save",
        {"nodes": nodes, "edges": list(edges), "revision": workflow.revision},
        format="json",
    )


def custom_resource(spec: str) -> dict:
    return {
        "id": "cr",
        "type": "customresource",
        "position": {"x": 0, "y": 0},
        "data": {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "name": "w",
            "spec": spec,
        },
    }


def test_yaml_aliases_are_refused_so_a_bomb_cannot_expand(owner_api, workflow):
    response = save(owner_api, workflow, [custom_resource(ALIAS_BOMB)])

    assert response.status_code == 400
    assert "aliases" in response.content.decode()
    workflow.refresh_from_db()
    assert workflow.nodes == []


@pytest.mark.parametrize(
    "field, value", [("name", 5), ("image", 5), ("labels", {"k": 5})]
)
def test_a_number_where_text_is_expected_is_refused(owner_api, workflow, field, value):
    node = {
        "id": "web",
        "type": "deployment",
        "position": {"x": 0, "y": 0},
        "data": {"name": "web", "image": "nginx:1.27", field: value},
    }

    response = save(owner_api, workflow, [node])

    assert response.status_code == 400
    assert response.data["nodes"]["web"]


def test_deeply_nested_json_is_a_parse_error(owner_api, workflow):
    body = '{"nodes": [], "edges": [], "x": ' + "[" * 100_000 + "]" * 100_000 + "}"

    response = owner_api.post(
        f"/v1/api/workflows/{workflow.pk}/save", body, content_type="application/json"
    )

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("bad_id", ["0" * 36, "-" * 36])
def test_an_id_shaped_like_a_uuid_but_not_one_is_refused_cleanly(owner_api, bad_id):
    for path in ("", "/save", "/run", "/runs", "/publish"):
        method = owner_api.get if path in ("", "/runs") else owner_api.post
        response = method(f"/v1/api/workflows/{bad_id}{path}")

        assert response.status_code in (400, 404), (path, response.status_code)
        assert response["Content-Type"].startswith("application/json")


def test_an_oversized_body_answers_json(owner_api, workflow, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = owner_api.post(
        f"/v1/api/workflows/{workflow.pk}/save",
        {"nodes": [], "edges": [], "pad": "x" * 5000},
        format="json",
    )

    assert response.status_code == 400
    assert "larger than" in response.data["detail"]


def test_a_save_must_say_which_revision_it_is_based_on(owner_api, workflow):
    response = owner_api.post(
        f"/v1/api/workflows/{workflow.pk}/save",
        {"nodes": [], "edges": []},
        format="json",
    )

    assert response.status_code == 400
    assert "revision" in response.data
