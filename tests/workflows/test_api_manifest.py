"""GET /v1/api/workflows/:id/nodes/:node_id/manifest, the editor's YAML tab."""

import pytest
import yaml

from tests.factories import make_cluster, make_workflow, three_tier_canvas

pytestmark = pytest.mark.django_db


@pytest.fixture
def workflow(owner, kubeconfig_text):
    cluster = make_cluster(owner, kubeconfig_text)
    return make_workflow(owner, cluster, canvas=three_tier_canvas())


def url(workflow, node_id: str) -> str:
    return f"/v1/api/workflows/{workflow.pk}/nodes/{node_id}/manifest"


def test_a_node_renders_to_its_manifest_with_its_links(owner_api, workflow):
    answer = owner_api.get(url(workflow, "web-svc")).json()

    (service,) = yaml.safe_load_all(answer["yaml"].split("\n", 1)[1])
    assert answer["revision"] == workflow.revision
    assert service["kind"] == "Service"
    assert service["spec"]["selector"]["kubeorch.io/node"] == "web"
    assert answer["manifests"][0] == service


def test_secret_values_are_never_shown(owner_api, workflow):
    answer = owner_api.get(url(workflow, "web-secret")).json()
    web = owner_api.get(url(workflow, "web")).json()

    for text in (answer["yaml"], web["yaml"]):
        assert "pg-pa55w0rd-for-tests" not in text
        assert "s3ss10n-k3y-f0r-t3sts" not in text
        assert "enc:" not in text
    assert set(answer["manifests"][0]["data"].values()) == {"********"}


def test_only_people_given_the_workflow_see_it(
    teammate, teammate_api, outsider_api, workflow
):
    workflow.shared_with.add(teammate)

    assert teammate_api.get(url(workflow, "web")).status_code == 200
    assert outsider_api.get(url(workflow, "web")).status_code == 404


def test_a_node_not_in_the_saved_canvas_is_not_found(owner_api, workflow):
    response = owner_api.get(url(workflow, "deploy-9"))

    assert response.status_code == 404
    assert "not in the saved canvas" in response.json()["detail"]
