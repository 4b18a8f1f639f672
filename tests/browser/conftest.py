"""Fixtures for the browser tests: a logged-in page on the live server.

The app runs in pytest-django's live server (WSGI in a thread, static files
served); Chromium is Debian's, launched by tests/plugins/infra.py.
"""

import time

import pytest
from django.conf import settings
from django.test import Client

from tests.factories import make_cluster, make_workflow, three_tier_canvas

VIEWPORT = {"width": 1440, "height": 900}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    """A desktop-sized window."""
    return {**browser_context_args, "viewport": VIEWPORT}


@pytest.fixture
def signed_in(page, live_server, owner):
    """The page, signed in as the owner (session cookie of a real login)."""
    client = Client()
    client.force_login(owner)
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    assert not errors, f"the page raised: {errors}"


@pytest.fixture
def cluster(owner, kubeconfig_text):
    return make_cluster(owner, kubeconfig_text)


@pytest.fixture
def empty_workflow(owner, cluster):
    return make_workflow(owner, cluster, name="shop")


@pytest.fixture
def three_tier_workflow(owner, cluster):
    return make_workflow(owner, cluster, canvas=three_tier_canvas(), name="shop")


def wait_until(check, timeout: float = 10.0, interval: float = 0.1):
    """Poll check() until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {check}")
        time.sleep(interval)
