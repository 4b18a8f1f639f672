"""Pytest fixtures for real infrastructure: Valkey, kubesim, Celery, Chromium.

Loaded with ``-p tests.plugins.infra`` (see pyproject.toml) so that, before
Django reads its settings, REDIS_URL already points at the tests' own server:

- REDIS_URL unset: an embedded Valkey is started for the session and stopped
  at its end (it also dies with pytest if pytest is killed);
- REDIS_URL set: the tests use database number ``TEST_REDIS_DB`` of that
  server and flush only that database, before and after the session.

Fixtures:

- ``redis_url`` (session): the URL every part of the suite uses.
- ``kubesim_server`` (session): an instant-mode KubeSim on a free port.
- ``kubesim`` (function): that server, reset before the test.
- ``kubeconfig_path`` / ``kubeconfig_text`` (function): its kubeconfig.
- ``celery_worker`` (function): a real Celery worker thread consuming from
  ``redis_url``. It brings in ``transactional_db``: the worker thread uses its
  own database connection, so rows must be committed to be seen.
- ``channel_layer`` (function): a channels-redis layer on ``redis_url`` with a
  prefix of its own, so tests never see each other's messages.
- ``browser_type_launch_args`` (session, in ``tests.plugins.chromium``):
  Playwright on Debian's chromium.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from kubeorch import embedded

TEST_REDIS_DB = 15
BROWSER_FIXTURES = {"page", "context", "browser", "new_context"}

redis_url_key = pytest.StashKey[str]()
valkey_key = pytest.StashKey["tuple[embedded.Child, str]"]()


def url_with_db(url: str, db: int) -> str:
    """Return a redis:// URL with its database number replaced by `db`."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Give the session a Redis of its own before Django reads REDIS_URL."""
    given = os.environ.get("REDIS_URL")
    if given:
        url = url_with_db(given, TEST_REDIS_DB)
        _flush(url)
    else:
        data_dir = tempfile.mkdtemp(prefix="kubeorch-test-valkey-")
        child, url = embedded.start_valkey(data_dir)
        early_config.stash[valkey_key] = (child, data_dir)
    os.environ["REDIS_URL"] = url
    # Celery reads this variable before its own settings. The product keeps
    # no task results; tests may wait on `.get()`.
    os.environ["CELERY_RESULT_BACKEND"] = url
    early_config.stash[redis_url_key] = url


def pytest_configure(config: pytest.Config) -> None:
    """Let Playwright find Debian's chromium."""
    from tests.plugins import chromium

    config.pluginmanager.register(chromium, "tests.plugins.chromium")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the embedded Valkey, or flush the test database of a given Redis."""
    if valkey_key in config.stash:
        child, data_dir = config.stash[valkey_key]
        embedded.stop_all([child], timeout=5)
        shutil.rmtree(data_dir, ignore_errors=True)
    elif redis_url_key in config.stash:
        _flush(config.stash[redis_url_key])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run browser tests last, and let Django's ORM work beside Playwright."""
    # Playwright's sync API keeps an event loop in the main thread for the
    # rest of the session, which makes Django refuse database work
    # (SynchronousOnlyOperation) and async_to_sync refuse to run: so the
    # browser tests go after every other test.
    browser = [item for item in items if _uses_browser(item)]
    if browser:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        others = [item for item in items if not _uses_browser(item)]
        items[:] = others + browser


def _uses_browser(item: pytest.Item) -> bool:
    fixtures = set(getattr(item, "fixturenames", ()))
    return bool(fixtures & BROWSER_FIXTURES) or item.get_closest_marker("browser")


def _flush(url: str) -> None:
    import redis

    try:
        with redis.Redis.from_url(url, socket_timeout=10) as client:
            client.flushdb()
    except redis.RedisError as error:
        raise pytest.UsageError(f"REDIS_URL={url} is not usable: {error}") from error


@pytest.fixture(scope="session")
def redis_url(pytestconfig: pytest.Config) -> str:
    """The Redis URL of this session (embedded Valkey or a dedicated db)."""
    return pytestconfig.stash[redis_url_key]


@pytest.fixture(scope="session")
def kubesim_server():
    """An instant-mode simulated cluster on a free port, for the session."""
    from kubesim.sim import KubeSim

    sim = KubeSim(mode="instant", port=0).start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(scope="session")
def _kubesim_kubeconfig(kubesim_server, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("kubesim") / "kubeconfig"
    kubesim_server.write_kubeconfig(path)
    return path


@pytest.fixture
def kubesim(kubesim_server):
    """The session's simulated cluster, reset to its bootstrap state."""
    kubesim_server.reset()
    return kubesim_server


@pytest.fixture
def kubeconfig_path(kubesim, _kubesim_kubeconfig) -> Path:
    """Path of a kubeconfig for the (reset) simulated cluster."""
    return _kubesim_kubeconfig


@pytest.fixture
def kubeconfig_text(kubeconfig_path: Path) -> str:
    """Text of a kubeconfig for the (reset) simulated cluster."""
    return kubeconfig_path.read_text()


@pytest.fixture
def celery_worker(transactional_db, redis_url):
    """A real Celery worker, in a thread, consuming from the test broker."""
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun
    from django.db import connections

    from kubeorch.celery import app

    # The worker thread opens its own connections; close them after each
    # task so PostgreSQL can drop the test database at the end.
    def close_connections(**_kwargs) -> None:
        connections.close_all()

    task_postrun.connect(close_connections, weak=False)
    _purge(app)
    try:
        with start_worker(
            app, pool="solo", perform_ping_check=False, shutdown_timeout=30
        ) as worker:
            yield worker
    finally:
        task_postrun.disconnect(close_connections)


def _purge(app) -> None:
    """Drop messages a previous test left in the queue."""
    with app.connection_for_write() as connection:
        app.control.purge(connection=connection)


@pytest.fixture
def channel_layer(settings, redis_url):
    """A channels-redis layer on the test Redis, private to this test."""
    from channels.layers import channel_layers, get_channel_layer

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 times out idle sockets after 5 s, which drops
                # channels-redis consumers: wait forever instead.
                "hosts": [{"address": redis_url, "socket_timeout": None}],
                "prefix": f"test-{uuid.uuid4().hex[:12]}",
            },
        }
    }
    channel_layers.backends.clear()
    try:
        yield get_channel_layer()
    finally:
        channel_layers.backends.clear()
