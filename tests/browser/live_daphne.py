"""A real daphne serving the app (HTTP and WebSockets) for browser tests.

pytest-django's live server is WSGI, so WebSocket pages need this: daphne in
a subprocess, on the session's test database file, data dir and Redis, so
rows committed by a test (transactional_db) and sessions are seen by it.
Import the fixtures into a test module to use them.
"""

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from kubeorch.embedded import free_port
from tests.processes import database_url_for_children

START_TIMEOUT = 30.0


@pytest.fixture(scope="session")
def daphne_url(django_db_setup, django_db_blocker):
    """The base URL of a daphne running kubeorch.asgi on the test database."""
    with django_db_blocker.unblock():
        database_url = database_url_for_children()
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KUBEORCH_DATA_DIR": str(settings.DATA_DIR),
        "DJANGO_SETTINGS_MODULE": "kubeorch.settings",
    }
    daphne = Path(sys.executable).with_name("daphne")
    process = subprocess.Popen(
        [str(daphne), "-b", "127.0.0.1", "-p", str(port), "kubeorch.asgi:application"],
        env=env,
        cwd=settings.BASE_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_until_up(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"daphne exited: {process.stderr.read().decode()[-2000:]}"
            )
        try:
            with urllib.request.urlopen(f"{url}/accounts/login/", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"daphne did not answer on {url} within {START_TIMEOUT} s")


@pytest.fixture
def daphne_page(page, daphne_url, owner):
    """A page signed in as the owner on the daphne server."""
    client = Client()
    client.force_login(owner)
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": daphne_url,
            }
        ]
    )
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    assert not errors, f"the page raised: {errors}"
