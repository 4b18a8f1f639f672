"""Cluster actions the API and admin share: keys, the simulated cluster, sharing."""

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from clusters import actions, connection
from clusters.models import Cluster
from kubeorch.api import Conflict
from kubeorch.crypto import SealError
from workflows.models import Workflow

from .conftest import SIM_TOKEN

pytestmark = pytest.mark.django_db


def test_rotation_reseals_so_the_old_key_can_be_dropped(owner, token_kubesim, settings):
    cluster = actions.register_cluster(
        owner,
        name="guarded",
        auth_method="token",
        credentials={"server": token_kubesim.url, "token": SIM_TOKEN},
    )
    old_key = settings.KUBEORCH_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    sealed_before = cluster.sealed_credentials

    settings.KUBEORCH_ENCRYPTION_KEYS = [new_key]
    with pytest.raises(SealError):
        cluster.credentials()
    settings.KUBEORCH_ENCRYPTION_KEYS = [new_key, old_key]
    assert actions.rotate_credentials_keys() == 1
    settings.KUBEORCH_ENCRYPTION_KEYS = [new_key]

    cluster.refresh_from_db()
    assert cluster.sealed_credentials != sealed_before
    assert cluster.credentials()["token"] == SIM_TOKEN
    assert connection.probe(cluster).ok


def test_rotate_keys_command_reseals_clusters_and_workflows(
    owner, sim_cluster, settings
):
    Workflow.objects.create(name="shop", cluster=sim_cluster, owner=owner)
    new_key = Fernet.generate_key().decode()
    settings.KUBEORCH_ENCRYPTION_KEYS = [new_key, *settings.KUBEORCH_ENCRYPTION_KEYS]
    out = io.StringIO()

    call_command("rotate_keys", stdout=out)

    assert "Re-sealed the credentials of 1 cluster(s)." in out.getvalue()
    assert "Re-sealed the secret values of 1 workflow(s)." in out.getvalue()
    settings.KUBEORCH_ENCRYPTION_KEYS = [new_key]
    sim_cluster.refresh_from_db()
    assert sim_cluster.credentials()["kubeconfig"]


def test_simulated_cluster_is_one_row_refreshed_on_every_start(
    owner, teammate, kubesim, kubeconfig_text
):
    first = actions.register_simulated_cluster(owner, kubeconfig_text)
    moved = kubeconfig_text.replace(kubesim.url.rstrip("/"), "http://127.0.0.1:9")

    second = actions.register_simulated_cluster(teammate, moved)

    assert second.pk == first.pk
    assert Cluster.objects.count() == 1
    assert (second.is_simulated, second.is_public) == (True, True)
    assert second.server == "http://127.0.0.1:9"
    assert second.reachable is False
    third = actions.register_simulated_cluster(owner, kubeconfig_text)
    assert third.reachable is True
    assert third.name == "kubesim"


def test_simulated_cluster_is_usable_by_everyone(
    owner, teammate, outsider, kubesim, kubeconfig_text
):
    cluster = actions.register_simulated_cluster(owner, kubeconfig_text)

    for user in (owner, teammate, outsider):
        assert list(Cluster.objects.usable_by(user)) == [cluster]


def test_sharing_skips_the_owner(owner, teammate, sim_cluster):
    actions.share_cluster(sim_cluster, [owner, teammate])

    assert list(sim_cluster.shared_with.all()) == [teammate]


def test_unsharing_takes_the_cluster_away(teammate, sim_cluster):
    actions.share_cluster(sim_cluster, [teammate])

    actions.unshare_cluster(sim_cluster, [teammate])

    assert not Cluster.objects.usable_by(teammate).exists()


def test_delete_is_refused_while_workflows_use_the_cluster(owner, sim_cluster):
    Workflow.objects.create(name="shop", cluster=sim_cluster, owner=owner)
    Workflow.objects.create(name="blog", cluster=sim_cluster, owner=owner)

    with pytest.raises(Conflict) as refused:
        actions.delete_cluster(sim_cluster)

    assert "target of 2 workflow(s) (yours: blog, shop)" in str(refused.value.detail)


def test_register_refuses_a_wrong_token_naming_the_field(owner, token_kubesim):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        actions.register_cluster(
            owner,
            name="guarded",
            auth_method="service_account",
            credentials={"server": token_kubesim.url, "token": "wrong"},
        )

    assert refused.value.message_dict == {
        "token": ["the server refused the credentials (401)"]
    }
    assert not Cluster.objects.exists()
