"""The clusters admin: listing, adding by kubeconfig, checking, no credentials."""

import pytest
from django.urls import reverse

from clusters import actions
from clusters.models import Cluster
from workflows.models import Workflow

from .conftest import SIM_TOKEN, kubeconfig_secrets, token_kubeconfig

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:clusters_cluster_changelist")
ADD = reverse("admin:clusters_cluster_add")


def change_url(cluster) -> str:
    return reverse("admin:clusters_cluster_change", args=[cluster.pk])


def _add_form(owner, kubeconfig: str, **extra) -> dict:
    return {
        "name": "added",
        "owner": owner.pk,
        "description": "",
        "kubeconfig": kubeconfig,
        "test_connection": "on",
        **extra,
    }


def test_changelist_searches_and_filters(admin_client, sim_cluster, owner):
    actions.register_cluster(
        owner,
        name="other",
        auth_method="token",
        credentials={"server": "http://127.0.0.1:9", "token": "t"},
        test=False,
    )

    found = admin_client.get(CHANGELIST, {"q": "sim"})
    reachable = admin_client.get(CHANGELIST, {"reachable__exact": "1"})
    by_method = admin_client.get(CHANGELIST, {"auth_method__exact": "token"})

    assert [c.name for c in found.context["cl"].result_list] == ["sim"]
    assert [c.name for c in reachable.context["cl"].result_list] == ["sim"]
    assert [c.name for c in by_method.context["cl"].result_list] == ["other"]


def test_change_page_shows_status_but_no_credentials(
    admin_client, owner, token_kubesim
):
    cluster = actions.register_cluster(
        owner,
        name="guarded",
        auth_method="kubeconfig",
        credentials={"kubeconfig": token_kubeconfig(token_kubesim.url, SIM_TOKEN)},
    )

    page = admin_client.get(change_url(cluster))

    body = page.content.decode()
    assert page.status_code == 200
    assert "v1.32" in body or cluster.kubernetes_version in body
    assert SIM_TOKEN not in body
    assert cluster.sealed_credentials not in body
    assert "sealed_credentials" not in body


def test_add_page_offers_a_kubeconfig_textarea(admin_client):
    page = admin_client.get(ADD)

    assert page.status_code == 200
    assert '<textarea name="kubeconfig"' in page.content.decode()
    assert "sealed_credentials" not in page.content.decode()


def test_add_by_kubeconfig_seals_it_and_never_shows_it_again(
    admin_client, owner, kubesim, kubeconfig_text
):
    response = admin_client.post(ADD, _add_form(owner, kubeconfig_text))

    assert response.status_code == 302, response.context["adminform"].form.errors
    cluster = Cluster.objects.get(name="added")
    assert cluster.owner == owner
    assert cluster.reachable is True
    assert cluster.credentials() == {"kubeconfig": kubeconfig_text}
    assert cluster.sealed_credentials.startswith("enc:")
    page = admin_client.get(change_url(cluster)).content.decode()
    for secret in [kubeconfig_text, *kubeconfig_secrets(kubeconfig_text)]:
        assert secret not in page


def test_add_of_an_unreachable_cluster_shows_the_cause_and_saves_nothing(
    admin_client, owner, closed_port_url
):
    kubeconfig = token_kubeconfig(closed_port_url, SIM_TOKEN)

    response = admin_client.post(ADD, _add_form(owner, kubeconfig))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["kubeconfig"] == [
        f"the cluster did not answer: {closed_port_url} refused the connection"
    ]
    assert not Cluster.objects.exists()
    # The pasted kubeconfig is not rendered back into the page.
    assert SIM_TOKEN not in response.content.decode()


def test_add_without_testing_saves_an_unreachable_cluster(
    admin_client, owner, closed_port_url
):
    form = _add_form(owner, token_kubeconfig(closed_port_url, "t"))
    del form["test_connection"]

    response = admin_client.post(ADD, form)

    assert response.status_code == 302
    assert Cluster.objects.get().reachable is None


def test_change_keeps_credentials_when_the_kubeconfig_is_left_blank(
    admin_client, sim_cluster, teammate
):
    before = sim_cluster.credentials()

    response = admin_client.post(
        change_url(sim_cluster),
        {
            "name": "renamed",
            "description": "d",
            "shared_with": [teammate.pk],
            "kubeconfig": "",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    sim_cluster.refresh_from_db()
    assert sim_cluster.name == "renamed"
    assert sim_cluster.credentials() == before
    assert list(sim_cluster.shared_with.all()) == [teammate]


def test_check_now_action_probes_the_selected_clusters(
    admin_client, owner, closed_port_url
):
    cluster = actions.register_cluster(
        owner,
        name="dead",
        auth_method="token",
        credentials={"server": closed_port_url, "token": "t"},
        test=False,
    )

    response = admin_client.post(
        CHANGELIST,
        {"action": "check_now", "_selected_action": [cluster.pk]},
        follow=True,
    )

    cluster.refresh_from_db()
    assert cluster.reachable is False
    assert cluster.last_checked_at is not None
    shown = [str(m) for m in response.context["messages"]]
    assert "Checked 1 cluster(s): 0 reachable." in shown
    assert f"dead: {closed_port_url} refused the connection" in shown


def test_delete_of_a_cluster_in_use_is_refused(admin_client, owner, sim_cluster):
    Workflow.objects.create(name="shop", cluster=sim_cluster, owner=owner)
    delete_url = reverse("admin:clusters_cluster_delete", args=[sim_cluster.pk])

    admin_client.post(delete_url, {"post": "yes"})

    assert Cluster.objects.filter(pk=sim_cluster.pk).exists()
