"""The manager itself: speed at scale, robustness, resets and the daemon thread."""

from __future__ import annotations

import logging
import time

import pytest

from kubesim import resources as r
from kubesim.controllers import ControllerManager

from .test_controllers import daemonset, deployment, running, set_image, statefulset
from .test_controllers_batch import cronjob, job
from .test_controllers_hpa import hpa
from .test_controllers_network import ingress, service
from .test_controllers_storage import claim

logger = logging.getLogger(__name__)

# Measured on the dev machine: ~0.6 s to settle 100 new Deployments at once,
# 10-30 ms to settle one change among them. The bounds leave room for slow CI.
SETTLE_ALL_BOUND = 5.0
SETTLE_ONE_BOUND = 0.5


@pytest.fixture
def kube():
    """A fresh simulated cluster in instant mode."""
    yield from running()


def test_a_change_among_a_hundred_deployments_settles_fast(kube):
    for i in range(100):
        body = deployment(f"app{i}")
        body["metadata"]["namespace"] = "default"
        kube.store.create(r.DEPLOYMENT, body)
    started = time.perf_counter()
    kube.manager.settle()
    settle_all = time.perf_counter() - started
    assert len(kube.list(r.POD)) == 300

    started = time.perf_counter()
    kube.change(r.DEPLOYMENT, "app7", set_image("nginx:1.28"))
    settle_one = time.perf_counter() - started

    logger.info(
        "settled 100 deployments in %.3fs, one change in %.3fs", settle_all, settle_one
    )
    assert settle_all < SETTLE_ALL_BOUND
    assert settle_one < SETTLE_ONE_BOUND
    assert kube.get(r.DEPLOYMENT, "app7")["status"]["updatedReplicas"] == 3


def test_a_controller_that_fails_on_one_object_keeps_the_others_going(kube, caplog):
    broken = deployment("broken")
    broken["spec"]["replicas"] = "many"

    kube.create(r.DEPLOYMENT, broken)
    kube.create(r.DEPLOYMENT, deployment("fine"))

    assert len(kube.pods("fine")) == 3
    assert "deployment failed to reconcile default/broken" in caplog.text


def test_a_cleared_store_is_bootstrapped_again(kube):
    kube.create(r.DEPLOYMENT, deployment("web"))

    kube.store.clear()
    kube.manager.settle()

    assert len(kube.list(r.NODE, None)) == 3
    assert kube.pods("web") == []
    kube.create(r.DEPLOYMENT, deployment("web"))
    assert len(kube.pods("web")) == 3


def test_a_manager_over_an_existing_store_picks_up_where_it_was(kube):
    kube.create(r.DEPLOYMENT, deployment("web", replicas=2))
    kube.manager.close()
    version = kube.store.resource_version()

    kube.manager = ControllerManager(kube.store, kube.clock, realistic=False)
    kube.manager.settle()

    assert kube.store.resource_version() == version
    kube.change(r.DEPLOYMENT, "web", lambda d: d["spec"].__setitem__("replicas", 4))
    ips = [p["status"]["podIP"] for p in kube.pods("web")]
    assert len(set(ips)) == 4


def test_the_daemon_thread_starts_and_stops():
    harness = next(running(realistic=True))

    harness.manager.start(interval=0.01)
    thread = harness.manager._thread
    assert thread.is_alive() and thread.daemon

    harness.manager.stop()
    assert not thread.is_alive()
    harness.manager.close()


def test_every_kind_at_once_reaches_a_fixpoint(kube):
    kube.create(r.DEPLOYMENT, deployment("web", image="kubesim/crashloop"))
    kube.create(r.STATEFULSET, statefulset("db"))
    kube.create(r.DAEMONSET, daemonset("agent"))
    kube.create(r.JOB, job("once"))
    kube.create(r.CRONJOB, cronjob("tick"))
    kube.create(r.SERVICE, service("web", {"app": "web"}, type="LoadBalancer"))
    kube.create(r.INGRESS, ingress("web"))
    kube.create(r.PVC, claim("lost", "nope"))
    kube.create(r.HPA, hpa("web", "web"))
    kube.advance(3600)
    version = kube.store.resource_version()

    changed = kube.manager.step()

    assert changed is False
    assert kube.store.resource_version() == version
