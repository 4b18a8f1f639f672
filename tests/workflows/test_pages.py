"""The workflow pages: list, new workflow, and the editor's page."""

import json

import pytest
from django.urls import reverse

from clusters import actions as cluster_actions
from runs import actions as run_actions
from tests.factories import make_cluster, make_workflow, three_tier_canvas
from workflows.models import Workflow

pytestmark = pytest.mark.django_db

LIST = reverse("workflows:list")
NEW = reverse("workflows:new")


@pytest.fixture
def cluster(owner, kubeconfig_text):
    return make_cluster(owner, kubeconfig_text)


def editor_config(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="editor-config" type="application/json">')
    body = html[start:].split(">", 1)[1].split("</script>", 1)[0]
    return json.loads(body)


def test_the_list_shows_what_each_persona_may_reach(
    client, owner, teammate, outsider, cluster
):
    shared = make_workflow(owner, cluster, name="shared-shop")
    shared.shared_with.add(teammate)
    make_workflow(owner, cluster, name="private-shop")

    for user, expected in (
        (owner, {"shared-shop", "private-shop"}),
        (teammate, {"shared-shop"}),
        (outsider, set()),
    ):
        client.force_login(user)
        names = {w.name for w in client.get(LIST).context["page"].object_list}
        assert names == expected, user


def test_the_list_shows_run_counters_and_the_last_run(client, owner, cluster):
    workflow = make_workflow(
        owner, cluster, canvas=three_tier_canvas(), state="published"
    )
    run_actions.start_run(workflow.pk, triggered_by="manual", user=owner)
    client.force_login(owner)

    page = client.get(LIST).content.decode()

    assert 'title="runs">1</span>' in page
    assert "0 ok" in page and "0 failed" in page
    assert 'class="badge run-running"' in page


def test_search_and_state_filter_narrow_the_list(client, owner, cluster):
    make_workflow(owner, cluster, name="shop-frontend")
    make_workflow(
        owner, cluster, name="billing", canvas=three_tier_canvas(), state="published"
    )
    client.force_login(owner)

    def names(**query):
        return {w.name for w in client.get(LIST, query).context["page"].object_list}

    assert names(q="shop") == {"shop-frontend"}
    assert names(state="published") == {"billing"}
    assert names(q="shop", state="published") == set()


def test_an_htmx_request_gets_only_the_results(client, owner, cluster):
    make_workflow(owner, cluster, name="shop")
    client.force_login(owner)

    response = client.get(LIST, {"q": "sh"}, HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert "<table" in html and "<html" not in html


def test_the_list_is_paginated_with_a_fixed_number_of_queries(
    client, owner, cluster, django_assert_max_num_queries
):
    for index in range(25):
        make_workflow(owner, cluster, name=f"app-{index:02d}")
    client.force_login(owner)

    with django_assert_max_num_queries(8):
        first = client.get(LIST)
    second = client.get(LIST, {"page": 2})

    assert len(first.context["page"].object_list) == 20
    assert len(second.context["page"].object_list) == 5
    assert 'rel="prev"' in second.content.decode()


def test_a_new_workflow_targets_the_simulated_cluster_by_default(
    client, owner, kubeconfig_text
):
    simulated = cluster_actions.register_simulated_cluster(owner, kubeconfig_text)
    client.force_login(owner)

    assert client.get(NEW).context["form"]["cluster"].initial == simulated.pk
    response = client.post(
        NEW,
        {
            "name": "shop",
            "description": "d",
            "cluster": simulated.pk,
            "namespace": "shop",
        },
    )

    workflow = Workflow.objects.get(name="shop")
    assert response["Location"] == reverse("workflows:editor", args=[workflow.pk])
    assert (workflow.state, workflow.cluster, workflow.namespace) == (
        "draft",
        simulated,
        "shop",
    )


def test_a_new_workflow_defaults_to_the_cluster_used_last(
    client, owner, kubeconfig_text
):
    cluster_actions.register_simulated_cluster(owner, kubeconfig_text)
    mine = make_cluster(owner, kubeconfig_text, name="mine")
    make_workflow(owner, mine)
    client.force_login(owner)

    assert client.get(NEW).context["form"]["cluster"].initial == mine.pk


def test_someone_elses_private_cluster_cannot_be_chosen(
    client, owner, outsider, kubeconfig_text
):
    theirs = make_cluster(outsider, kubeconfig_text, name="theirs")
    client.force_login(owner)

    response = client.post(
        NEW, {"name": "shop", "cluster": theirs.pk, "namespace": "default"}
    )

    assert "cluster" in response.context["form"].errors
    assert not Workflow.objects.exists()


def test_the_editor_page_carries_the_canvas_with_secrets_masked(client, owner, cluster):
    workflow = make_workflow(owner, cluster, canvas=three_tier_canvas())
    client.force_login(owner)

    response = client.get(reverse("workflows:editor", args=[workflow.pk]))

    config = editor_config(response)
    html = response.content.decode()
    assert config["revision"] == workflow.revision
    assert config["readOnly"] is False
    assert {n["id"] for n in config["nodes"]} == {n["id"] for n in workflow.nodes}
    assert "pg-pa55w0rd-for-tests" not in html and "enc:" not in html
    secret = next(n for n in config["nodes"] if n["id"] == "web-secret")
    assert set(secret["data"]["data"].values()) == {"********"}
    assert config["urls"]["save"] == f"/v1/api/workflows/{workflow.pk}/save"


def test_a_published_workflow_opens_read_only(client, owner, cluster):
    workflow = make_workflow(
        owner, cluster, canvas=three_tier_canvas(), state="published"
    )
    client.force_login(owner)

    config = editor_config(client.get(reverse("workflows:editor", args=[workflow.pk])))

    assert (config["state"], config["readOnly"]) == ("published", True)


def test_the_editor_of_a_workflow_not_given_is_not_found(
    client, owner, teammate, outsider, cluster
):
    workflow = make_workflow(owner, cluster)
    workflow.shared_with.add(teammate)
    url = reverse("workflows:editor", args=[workflow.pk])

    client.force_login(teammate)
    assert client.get(url).status_code == 200
    client.force_login(outsider)
    assert client.get(url).status_code == 404


def test_the_pages_need_a_login(client, owner, cluster):
    workflow = make_workflow(owner, cluster)
    for url in (LIST, NEW, reverse("workflows:editor", args=[workflow.pk])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_the_pages_refuse_other_methods(client, owner, cluster):
    workflow = make_workflow(owner, cluster)
    client.force_login(owner)

    assert client.post(LIST).status_code == 405
    assert (
        client.post(reverse("workflows:editor", args=[workflow.pk])).status_code == 405
    )
