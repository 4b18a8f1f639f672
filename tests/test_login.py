"""The login page and its rate limit per address and username."""

import pytest
from django.core.cache import cache
from django.urls import reverse

from kubeorch.login import MAX_FAILURES_PER_ADDRESS, MAX_FAILURES_PER_USERNAME

pytestmark = pytest.mark.django_db

LOGIN = reverse("login")


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()
    yield
    cache.clear()


def attempt(client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password})


def test_a_right_password_logs_in_and_lands_on_the_workflows(client, owner):
    response = attempt(client, "olivia", "pw-olivia")

    assert response.status_code == 302
    assert response["Location"] == reverse("workflows:list")


def test_after_too_many_failures_even_the_right_password_is_refused(client, owner):
    for _ in range(MAX_FAILURES_PER_USERNAME):
        assert attempt(client, "olivia", "wrong").status_code == 200

    response = attempt(client, "olivia", "pw-olivia")

    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_lockout_of_one_username_leaves_others_alone(client, owner, teammate):
    for _ in range(MAX_FAILURES_PER_USERNAME):
        attempt(client, "olivia", "wrong")

    assert attempt(client, "tariq", "pw-tariq").status_code == 302


def test_one_address_guessing_many_usernames_is_locked_out(client, owner):
    for index in range(MAX_FAILURES_PER_ADDRESS):
        attempt(client, f"nobody-{index}", "wrong")

    assert attempt(client, "olivia", "pw-olivia").status_code == 429


def test_a_success_forgets_earlier_failures(client, owner):
    for _ in range(MAX_FAILURES_PER_USERNAME - 1):
        attempt(client, "olivia", "wrong")
    assert attempt(client, "olivia", "pw-olivia").status_code == 302
    client.logout()

    for _ in range(MAX_FAILURES_PER_USERNAME - 1):
        attempt(client, "olivia", "wrong")
    assert attempt(client, "olivia", "pw-olivia").status_code == 302


def test_logout_is_a_post_and_shows_a_page(client, owner):
    client.force_login(owner)

    response = client.post(reverse("logout"))

    assert response.status_code == 200
    assert "You are logged out" in response.content.decode()


@pytest.mark.django_db
def test_the_admin_login_is_throttled_too(client):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("root", password="right-password")
    for _ in range(5):
        client.post("/admin/login/", {"username": "root", "password": "wrong"})

    response = client.post(
        "/admin/login/", {"username": "root", "password": "right-password"}
    )

    assert response.status_code == 200
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session
