"""The real-infrastructure fixtures do what tests rely on them for."""

import asyncio
import os
import time

import pytest
import redis
import yaml
from asgiref.sync import async_to_sync
from celery import shared_task
from django.contrib.auth import get_user_model
from kubernetes import client as kube_client
from kubernetes import config as kube_config

from kubeorch.celery import app as celery_app
from tests.plugins import infra


@shared_task(name="tests.plugins.count_users")
def count_users_task() -> int:
    """Count users as the worker thread's own connection sees them."""
    return get_user_model().objects.count()


def test_every_part_of_the_suite_uses_the_session_redis(redis_url, settings):
    assert os.environ["REDIS_URL"] == redis_url == settings.REDIS_URL
    assert celery_app.conf.broker_url == redis_url
    hosts = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]
    assert hosts[0]["address"] == redis_url
    assert redis.Redis.from_url(redis_url).ping() is True


def test_a_given_redis_is_used_through_a_database_of_the_tests_own():
    moved = infra.url_with_db("redis://:secret@127.0.0.1:6379/0", infra.TEST_REDIS_DB)

    assert moved == f"redis://:secret@127.0.0.1:6379/{infra.TEST_REDIS_DB}"


@pytest.mark.parametrize("attempt", [1, 2])
def test_each_test_gets_a_freshly_reset_kubesim(kubesim, kubeconfig_path, attempt):
    api = kube_config.new_client_from_config(config_file=str(kubeconfig_path))
    core = kube_client.CoreV1Api(api)

    # Without a reset between the two attempts, the second create gets 409.
    core.create_namespaced_config_map(
        "default",
        kube_client.V1ConfigMap(metadata=kube_client.V1ObjectMeta(name="left-over")),
    )

    names = [
        item.metadata.name for item in core.list_namespaced_config_map("default").items
    ]
    assert "left-over" in names


def test_kubeconfig_text_points_at_the_simulated_cluster(kubesim, kubeconfig_text):
    kubeconfig = yaml.safe_load(kubeconfig_text)

    assert kubeconfig["clusters"][0]["cluster"]["server"].rstrip("/") == kubesim.url


def test_the_worker_runs_tasks_and_sees_rows_the_test_committed(celery_worker):
    user_model = get_user_model()
    user_model.objects.create_user("ada")
    user_model.objects.create_user("grace")

    assert count_users_task.delay().get(timeout=20) == 2


def test_channel_layer_delivers_a_group_message(channel_layer):
    async def round_trip() -> dict:
        channel = await channel_layer.new_channel()
        await channel_layer.group_add("fixtures", channel)
        await channel_layer.group_send("fixtures", {"type": "hello", "n": 1})
        return await asyncio.wait_for(channel_layer.receive(channel), timeout=10)

    assert async_to_sync(round_trip)() == {"type": "hello", "n": 1}


@pytest.mark.slow
def test_channel_layer_survives_a_quiet_spell_longer_than_redis_timeouts(
    channel_layer,
):
    # redis-py 8 times out sockets after 5 s by default; a consumer waiting
    # longer than that must still get the message.
    async def late_message() -> dict:
        channel = await channel_layer.new_channel()
        receiving = asyncio.ensure_future(channel_layer.receive(channel))
        await asyncio.sleep(6)
        await channel_layer.send(channel, {"type": "late"})
        return await asyncio.wait_for(receiving, timeout=10)

    started = time.monotonic()
    assert async_to_sync(late_message)() == {"type": "late"}
    assert time.monotonic() - started >= 6


@pytest.mark.browser
def test_playwright_drives_debian_chromium(page, browser):
    page.set_content("<button onclick=\"this.textContent='clicked'\">click</button>")
    page.click("button")

    assert page.text_content("button") == "clicked"
    assert browser.version.split(".")[0].isdigit()
