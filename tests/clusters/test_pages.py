"""The cluster pages: the list and the add-cluster form, tested on save."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from clusters import actions
from clusters.models import Cluster

from .conftest import SIM_TOKEN

pytestmark = pytest.mark.django_db

NEW = reverse("clusters:new")


def form(**fields) -> dict:
    return {"name": "prod", "description": "", "auth_method": "kubeconfig", **fields}


def test_the_list_badges_the_simulated_cluster_and_hides_others_clusters(
    client, owner, outsider, kubeconfig_text
):
    actions.register_simulated_cluster(owner, kubeconfig_text)
    actions.register_cluster(
        outsider,
        name="oscar-private",
        auth_method="kubeconfig",
        credentials={"kubeconfig": kubeconfig_text},
    )
    client.force_login(owner)

    page = client.get(reverse("clusters:list")).content.decode()

    assert actions.SIMULATED_CLUSTER_NAME in page
    assert 'class="badge simulated"' in page
    assert "reachable" in page
    assert "oscar-private" not in page


def test_a_kubeconfig_upload_is_tested_and_saved(client, owner, kubeconfig_text):
    client.force_login(owner)
    upload = SimpleUploadedFile("config", kubeconfig_text.encode())

    response = client.post(NEW, form(kubeconfig_file=upload), follow=True)

    cluster = Cluster.objects.get(owner=owner, name="prod")
    assert cluster.reachable is True
    assert cluster.credentials()["kubeconfig"] == kubeconfig_text
    assert response.redirect_chain[-1][0] == reverse("clusters:list")
    assert "answered" in response.content.decode()


def test_a_token_is_tested_and_saved(client, owner, token_kubesim):
    client.force_login(owner)

    client.post(
        NEW, form(auth_method="token", server=token_kubesim.url, token=SIM_TOKEN)
    )

    cluster = Cluster.objects.get(owner=owner, name="prod")
    assert (cluster.auth_method, cluster.reachable) == ("token", True)


def test_a_wrong_token_is_refused_on_its_field_and_nothing_is_saved(
    client, owner, token_kubesim
):
    client.force_login(owner)

    response = client.post(
        NEW, form(auth_method="token", server=token_kubesim.url, token="wrong")
    )

    assert response.status_code == 200
    assert response.context["form"].errors["token"]
    assert not Cluster.objects.filter(owner=owner).exists()


def test_an_unreachable_kubeconfig_is_refused_with_the_reason(
    client, owner, closed_port_url
):
    from .conftest import token_kubeconfig

    client.force_login(owner)

    response = client.post(NEW, form(kubeconfig=token_kubeconfig(closed_port_url, "t")))

    errors = response.context["form"].errors["kubeconfig"]
    assert "did not answer" in errors[0]
    assert not Cluster.objects.filter(owner=owner).exists()


def test_a_kubeconfig_is_required_for_that_method(client, owner):
    client.force_login(owner)

    response = client.post(NEW, form())

    assert response.context["form"].errors["kubeconfig"] == [
        "Upload a kubeconfig file or paste one."
    ]


def test_the_pages_need_a_login(client):
    for url in (reverse("clusters:list"), NEW):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
