"""The cluster API, driven with real bearer tokens against a real kubesim."""

import time

import pytest
import yaml
from django.urls import reverse

from clusters import actions
from clusters.models import Cluster
from kubesim import SERVER_VERSION
from kubesim.resources import NODE
from workflows.models import Workflow

from .conftest import SIM_TOKEN, kubeconfig_secrets, token_kubeconfig

pytestmark = pytest.mark.django_db

LIST_URL = reverse("clusters_api:cluster-list")


def detail_url(cluster) -> str:
    return reverse("clusters_api:cluster-detail", args=[cluster.pk])


def check_url(cluster) -> str:
    return reverse("clusters_api:cluster-check", args=[cluster.pk])


def share_url(cluster) -> str:
    return reverse("clusters_api:cluster-share", args=[cluster.pk])


def _body(response) -> str:
    return response.content.decode()


# Registration -------------------------------------------------------------------


def test_register_by_kubeconfig_stores_the_probed_status(
    owner_api, kubesim, kubeconfig_text
):
    response = owner_api.post(
        LIST_URL, {"name": "sim", "kubeconfig": kubeconfig_text}, format="json"
    )

    assert response.status_code == 201, response.json()
    shown = response.json()
    assert shown["auth_method"] == "kubeconfig"
    assert shown["server"] == kubesim.url.rstrip("/")
    assert shown["reachable"] is True
    assert shown["kubernetes_version"] == SERVER_VERSION["gitVersion"]
    assert shown["node_count"] == kubesim.store.count(NODE)
    assert "default" in shown["namespaces"]
    assert shown["owner"] == "olivia"
    assert shown["last_checked_at"] is not None
    stored = Cluster.objects.get(pk=shown["id"])
    assert (stored.reachable, stored.node_count) == (True, shown["node_count"])


def test_register_by_token_with_the_right_token(owner_api, token_kubesim):
    response = owner_api.post(
        LIST_URL,
        {
            "name": "guarded",
            "auth_method": "token",
            "server": token_kubesim.url,
            "token": SIM_TOKEN,
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["reachable"] is True
    assert response.json()["auth_method"] == "token"
    assert SIM_TOKEN not in _body(response)


def test_register_by_token_with_a_wrong_token_is_refused(owner_api, token_kubesim):
    response = owner_api.post(
        LIST_URL,
        {"name": "guarded", "server": token_kubesim.url, "token": "not-the-token"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {"token": ["the server refused the credentials (401)"]}
    assert not Cluster.objects.exists()


def test_register_service_account_token(owner_api, token_kubesim):
    response = owner_api.post(
        LIST_URL,
        {
            "name": "sa",
            "auth_method": "service_account",
            "server": token_kubesim.url,
            "token": SIM_TOKEN,
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["auth_method"] == "service_account"


def test_unreachable_cluster_is_refused_in_bounded_time(owner_api, closed_port_url):
    started = time.monotonic()

    response = owner_api.post(
        LIST_URL,
        {"name": "dead", "server": closed_port_url, "token": "t"},
        format="json",
    )

    assert time.monotonic() - started < 15
    assert response.status_code == 400
    assert response.json() == {
        "server": [
            f"the cluster did not answer: {closed_port_url} refused the connection"
        ]
    }
    assert not Cluster.objects.exists()


def test_silent_cluster_is_refused_after_the_kube_timeout(
    owner_api, silent_server, settings
):
    settings.KUBEORCH_KUBE_TIMEOUT = 2
    started = time.monotonic()

    response = owner_api.post(
        LIST_URL,
        {"name": "silent", "kubeconfig": _token_kubeconfig(silent_server.url)},
        format="json",
    )

    assert time.monotonic() - started < 15
    assert response.status_code == 400
    assert response.json()["kubeconfig"] == [
        f"the cluster did not answer: {silent_server.url} did not answer within 2 s"
    ]
    assert not Cluster.objects.exists()


def test_unreachable_cluster_is_saved_when_testing_is_turned_off(
    owner_api, closed_port_url
):
    response = owner_api.post(
        LIST_URL,
        {"name": "later", "server": closed_port_url, "token": "t", "test": False},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["reachable"] is None


@pytest.mark.parametrize(
    ("kubeconfig", "message"),
    [
        ("clusters: [a\n  b: {", "the kubeconfig is not valid YAML (line 2)"),
        ("apiVersion: v1\nkind: Config\n", "the kubeconfig has no current-context"),
    ],
)
def test_broken_kubeconfig_is_refused_naming_the_field(owner_api, kubeconfig, message):
    response = owner_api.post(
        LIST_URL, {"name": "x", "kubeconfig": kubeconfig}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"kubeconfig": [message]}


def test_kubeconfig_with_an_exec_plugin_is_refused(owner_api, kubeconfig_text):
    config = yaml.safe_load(kubeconfig_text)
    config["users"][0]["user"] = {"exec": {"command": "touch", "args": ["/tmp/x"]}}

    response = owner_api.post(
        LIST_URL, {"name": "x", "kubeconfig": yaml.safe_dump(config)}, format="json"
    )

    assert response.status_code == 400
    assert "exec plugins are not run on the server" in response.json()["kubeconfig"][0]


def test_duplicate_name_is_refused(owner_api, sim_cluster, kubeconfig_text):
    response = owner_api.post(
        LIST_URL, {"name": "sim", "kubeconfig": kubeconfig_text}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"name": ["You already have a cluster named sim."]}


def test_token_fields_without_a_server_are_refused(owner_api):
    response = owner_api.post(LIST_URL, {"name": "x", "token": "t"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"server": ["this field is required"]}


def test_paths_are_written_without_a_trailing_slash(owner_api, sim_cluster):
    assert LIST_URL == "/v1/api/clusters"
    assert owner_api.get(f"/v1/api/clusters/{sim_cluster.pk}").status_code == 200
    assert owner_api.post(f"/v1/api/clusters/{sim_cluster.pk}/check").status_code == 200
    assert owner_api.get(f"/v1/api/clusters/{sim_cluster.pk}/").status_code == 200


# Credentials never come back ------------------------------------------------------


def test_credentials_never_appear_in_any_answer(
    owner_api, token_kubesim, kubeconfig_text
):
    created = owner_api.post(
        LIST_URL,
        {"name": "sim", "kubeconfig": kubeconfig_text},
        format="json",
    )
    guarded = owner_api.post(
        LIST_URL,
        {"name": "guarded", "server": token_kubesim.url, "token": SIM_TOKEN},
        format="json",
    )
    cluster = Cluster.objects.get(pk=guarded.json()["id"])
    answers = [
        created,
        guarded,
        owner_api.get(LIST_URL),
        owner_api.get(detail_url(cluster)),
        owner_api.post(check_url(cluster)),
        owner_api.patch(detail_url(cluster), {"description": "d"}, format="json"),
    ]

    secrets = [SIM_TOKEN, kubeconfig_text, *kubeconfig_secrets(kubeconfig_text)]
    for answer in answers:
        assert answer.status_code in (200, 201)
        body = _body(answer)
        for secret in secrets:
            assert secret not in body
        assert "sealed_credentials" not in body
        assert "enc:" not in body


def test_stored_credentials_are_sealed(owner_api, token_kubesim):
    owner_api.post(
        LIST_URL,
        {"name": "guarded", "server": token_kubesim.url, "token": SIM_TOKEN},
        format="json",
    )

    stored = Cluster.objects.values_list("sealed_credentials", flat=True).get()
    assert stored.startswith("enc:")
    assert SIM_TOKEN not in stored
    assert token_kubesim.url not in stored


# Change, check, delete ---------------------------------------------------------


def test_owner_renames_a_cluster(owner_api, sim_cluster):
    response = owner_api.patch(detail_url(sim_cluster), {"name": "s2"}, format="json")

    assert response.status_code == 200
    assert response.json()["name"] == "s2"


def test_new_credentials_are_tested_and_a_bad_one_keeps_the_old(
    owner_api, owner, token_kubesim
):
    cluster = actions.register_cluster(
        owner,
        name="guarded",
        auth_method="token",
        credentials={"server": token_kubesim.url, "token": SIM_TOKEN},
    )

    response = owner_api.patch(
        detail_url(cluster),
        {"server": token_kubesim.url, "token": "wrong"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {"token": ["the server refused the credentials (401)"]}
    cluster.refresh_from_db()
    assert cluster.credentials()["token"] == SIM_TOKEN


def test_check_probes_again_and_sees_the_cluster_go_away(
    owner_api, owner, closed_port_url
):
    cluster = actions.register_cluster(
        owner,
        name="gone",
        auth_method="token",
        credentials={"server": closed_port_url, "token": "t"},
        test=False,
    )

    response = owner_api.post(check_url(cluster))

    assert response.status_code == 200
    assert response.json()["reachable"] is False
    assert response.json()["last_error"] == f"{closed_port_url} refused the connection"


def test_delete_is_refused_while_a_workflow_uses_the_cluster(
    owner_api, owner, sim_cluster
):
    Workflow.objects.create(name="shop", cluster=sim_cluster, owner=owner)

    response = owner_api.delete(detail_url(sim_cluster))

    assert response.status_code == 409
    assert "target of 1 workflow(s) (yours: shop)" in response.json()["detail"]
    assert Cluster.objects.filter(pk=sim_cluster.pk).exists()


def test_owner_deletes_an_unused_cluster(owner_api, sim_cluster):
    response = owner_api.delete(detail_url(sim_cluster))

    assert response.status_code == 204
    assert not Cluster.objects.exists()


# Personas ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", detail_url),
        ("patch", detail_url),
        ("delete", detail_url),
        ("post", check_url),
        ("post", share_url),
    ],
)
def test_outsider_gets_404_for_everything(outsider_api, sim_cluster, method, url):
    response = getattr(outsider_api, method)(url(sim_cluster), {}, format="json")

    assert response.status_code == 404


def test_outsider_does_not_see_the_cluster_in_the_list(outsider_api, sim_cluster):
    assert outsider_api.get(LIST_URL).json()["count"] == 0


def test_teammate_given_the_cluster_can_see_and_check_it(
    teammate_api, teammate, sim_cluster
):
    actions.share_cluster(sim_cluster, [teammate])

    listed = teammate_api.get(LIST_URL).json()["results"]
    shown = teammate_api.get(detail_url(sim_cluster))
    checked = teammate_api.post(check_url(sim_cluster))

    assert [c["id"] for c in listed] == [str(sim_cluster.pk)]
    assert shown.status_code == 200
    assert shown.json()["shared_with"] == ["tariq"]
    assert shown.json()["can_manage"] is False
    assert checked.status_code == 200


@pytest.mark.parametrize(
    ("method", "url", "data"),
    [
        ("patch", detail_url, {"name": "mine"}),
        ("delete", detail_url, None),
        ("post", share_url, {"usernames": ["oscar"]}),
    ],
)
def test_teammate_cannot_change_a_shared_cluster(
    teammate_api, teammate, sim_cluster, method, url, data
):
    actions.share_cluster(sim_cluster, [teammate])

    response = getattr(teammate_api, method)(url(sim_cluster), data, format="json")

    assert response.status_code == 403
    sim_cluster.refresh_from_db()
    assert sim_cluster.name == "sim"


def test_owner_shares_by_username(owner_api, teammate, sim_cluster):
    response = owner_api.post(
        share_url(sim_cluster), {"usernames": ["tariq"]}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["shared_with"] == ["tariq"]


def test_sharing_with_an_unknown_user_names_them(owner_api, sim_cluster):
    response = owner_api.post(
        share_url(sim_cluster), {"usernames": ["nobody"]}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"usernames": ["no such user: nobody"]}


def test_public_simulated_cluster_is_usable_by_all_and_changeable_by_none(
    owner, teammate_api, outsider_api, kubesim, kubeconfig_text
):
    cluster = actions.register_simulated_cluster(owner, kubeconfig_text)

    for api in (teammate_api, outsider_api):
        listed = api.get(LIST_URL).json()["results"]
        assert [(c["name"], c["is_simulated"], c["is_public"]) for c in listed] == [
            ("kubesim", True, True)
        ]
        assert api.get(detail_url(cluster)).status_code == 200
        assert api.patch(detail_url(cluster), {"name": "x"}).status_code == 403
        assert api.delete(detail_url(cluster)).status_code == 403


def test_anonymous_request_is_refused(client, sim_cluster):
    assert client.get(LIST_URL).status_code in (401, 403)


def test_list_query_count_does_not_grow_with_clusters(
    owner_api, owner, teammate, outsider, kubeconfig_text, django_assert_max_num_queries
):
    for index in range(5):
        cluster = actions.register_cluster(
            owner,
            name=f"c{index}",
            auth_method="kubeconfig",
            credentials={"kubeconfig": kubeconfig_text},
            test=False,
        )
        actions.share_cluster(cluster, [teammate, outsider])

    # Token lookup, count, page, shared users.
    with django_assert_max_num_queries(5):
        response = owner_api.get(LIST_URL)

    assert response.json()["count"] == 5


def _token_kubeconfig(server: str) -> str:
    return token_kubeconfig(server, "t")
