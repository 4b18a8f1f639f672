"""Shared personas and API clients.

Every permission test uses the same three people: the owner of an object, a
teammate it was shared with, and an outsider who was given nothing.
"""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from kubeorch.models import ApiToken


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Hash test passwords cheaply; the real hasher costs ~0.3 s a user."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def no_health_settle_wait(settings):
    """kubesim's instant mode shows failures at once; no need to wait for them.

    tests/runs/test_engine_settle.py covers the wait in realistic mode.
    """
    settings.KUBEORCH_HEALTH_SETTLE_SECONDS = 0


def _user(username: str):
    return get_user_model().objects.create_user(username, password="pw-" + username)


@pytest.fixture
def owner(db):
    return _user("olivia")


@pytest.fixture
def teammate(db):
    return _user("tariq")


@pytest.fixture
def outsider(db):
    return _user("oscar")


def client_for(user) -> APIClient:
    """An API client that authenticates with a real bearer token."""
    _, token = ApiToken.objects.issue(user, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def owner_api(owner) -> APIClient:
    return client_for(owner)


@pytest.fixture
def teammate_api(teammate) -> APIClient:
    return client_for(teammate)


@pytest.fixture
def outsider_api(outsider) -> APIClient:
    return client_for(outsider)
