"""The watcher against a real kubesim over real HTTP, publishing on a real layer.

Runs are executed for real (the engine in the test thread); the watcher runs
in its own thread with its own database connection, so these tests commit.
kubesim is in instant mode: nothing waits for controllers, only for the
asynchronous delivery of watch events and channel-layer messages (bounded).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from kubernetes import client

from clusters.connection import api_client_for
from kubeorch.embedded import free_port
from kubesim import resources as kinds
from kubesim.sim import KubeSim
from runs import live
from runs.actions import execute_run, start_run
from runs.models import NodeStatus, Run
from runs.watcher import (
    LEASE_PREFIX,
    WATCHED_KINDS,
    Watcher,
    WatchOptions,
    lease_client,
)
from tests.factories import make_cluster, make_workflow, three_tier_canvas
from tests.processes import database_url_for_children
from tests.runs.test_live import GroupListener, small_canvas, wait_until
from workflows import actions as workflow_actions
from workflows.models import Workflow

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

FAST = WatchOptions(request_timeout=5, backoff_base=0.05, backoff_cap=0.5)


def make_watcher(**overrides) -> Watcher:
    """A watcher with intervals short enough for tests."""
    knobs = {
        "refresh_interval": 0.1,
        "batch_window": 0.01,
        "lease_ttl": 5.0,
        "unreachable_after": 1.0,
        "options": FAST,
    }
    return Watcher(**{**knobs, **overrides})


def deploy(workflow: Workflow) -> Run:
    """Run the workflow's published canvas to the end, in this thread."""
    run = start_run(workflow.pk, triggered_by="manual")
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED, run.summary
    return run


def statuses(workflow) -> dict[str, NodeStatus]:
    return {s.node_id: s for s in NodeStatus.objects.filter(workflow=workflow)}


def wait_for_states(workflow, expected: dict[str, str], what="node states"):
    """Wait until the stored states of the given nodes are the expected ones."""

    def reached():
        current = statuses(workflow)
        return all(
            node in current and current[node].state == state
            for node, state in expected.items()
        )

    wait_until(reached, what=f"{what} {expected}")
    return statuses(workflow)


def node_events(listener: GroupListener, node_id: str) -> list[dict]:
    return [e for e in listener.of_type(live.NODE_STATUS) if e["node_id"] == node_id]


def visible(event: dict) -> tuple:
    """What a user sees of a node.status event."""
    return (event["state"], event["message"], event["ready"], event["desired"])


@pytest.fixture
def cluster(owner, kubeconfig_text):
    return make_cluster(owner, kubeconfig_text)


@pytest.fixture
def workflow(owner, cluster):
    return make_workflow(owner, cluster, canvas=small_canvas(), state="published")


@pytest.fixture
def apps(cluster):
    api = api_client_for(cluster)
    yield client.AppsV1Api(api)
    api.close()


def test_every_deployed_node_is_stored_and_published_once_healthy(
    workflow, channel_layer
):
    deploy(workflow)

    with (
        GroupListener(channel_layer, live.group_for(workflow.pk)) as listener,
        make_watcher(reassess_interval=0.1).running() as watcher,
    ):
        stored = wait_for_states(workflow, {"api": "healthy", "api-svc": "healthy"})
        listener.wait_for(lambda got: len(got.of_type(live.NODE_STATUS)) >= 2)
        published = watcher.published_changes
        rounds = watcher.reassessments
        wait_until(lambda: watcher.reassessments >= rounds + 5)
        republished = watcher.published_changes - published

    assert (stored["api"].ready, stored["api"].desired) == (2, 2)
    assert stored["api"].message == "2/2 ready"
    assert stored["api"].kind == "deployment"
    assert stored["api-svc"].health["message"] == "2 ready endpoints"
    [api_event] = node_events(listener, "api")
    assert api_event == live.node_status_data(stored["api"])
    assert republished == 0, "a node whose health did not change is not republished"


def test_scaling_a_deployment_publishes_the_new_ready_count(
    workflow, channel_layer, apps
):
    deploy(workflow)
    with (
        GroupListener(channel_layer, live.group_for(workflow.pk)) as listener,
        make_watcher().running(),
    ):
        wait_for_states(workflow, {"api": "healthy"})

        apps.patch_namespaced_deployment_scale(
            "api", "default", {"spec": {"replicas": 4}}
        )

        listener.wait_for(
            lambda got: any(
                visible(e) == ("healthy", "4/4 ready", 4, 4)
                for e in node_events(got, "api")
            ),
            what="api at 4/4",
        )

    assert statuses(workflow)["api"].message == "4/4 ready"
    assert statuses(workflow)["api-svc"].message == "4 ready endpoints"


def test_an_image_that_does_not_exist_turns_the_node_red_at_once(
    workflow, channel_layer, apps
):
    deploy(workflow)
    with make_watcher().running():
        wait_for_states(workflow, {"api": "healthy"})
        patch = {
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "api", "image": "nginx:notfound"}]}
                }
            }
        }

        apps.patch_namespaced_deployment("api", "default", patch)

        stored = wait_for_states(workflow, {"api": "degraded"})

    evidence = stored["api"].health["evidence"]
    assert evidence["reason"] in ("ErrImagePull", "ImagePullBackOff")
    assert evidence["image"].endswith("nginx:notfound")
    assert "not found" in stored["api"].message


def test_a_deleted_object_makes_its_node_missing(workflow, channel_layer, cluster):
    deploy(workflow)
    api = api_client_for(cluster)
    with make_watcher().running():
        wait_for_states(workflow, {"api-svc": "healthy"})

        client.CoreV1Api(api).delete_namespaced_service("api", "default")

        stored = wait_for_states(workflow, {"api-svc": "missing"})
    api.close()

    assert stored["api-svc"].message == "Service api not found in default"


@pytest.fixture
def own_sim():
    """A kubesim on a fixed port, so it can be stopped and started again."""
    sim = KubeSim(mode="instant", port=free_port()).start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def own_workflow(owner, own_sim):
    own_cluster = make_cluster(owner, own_sim.kubeconfig(), name="own")
    return make_workflow(owner, own_cluster, canvas=small_canvas(), state="published")


def scale_in_store(sim: KubeSim, replicas: int) -> None:
    """Scale the api Deployment behind the HTTP server's back."""
    deployment = sim.store.get(kinds.DEPLOYMENT, "default", "api")
    deployment["spec"]["replicas"] = replicas
    sim.store.update(kinds.DEPLOYMENT, deployment)
    sim.settle()


def test_an_unreachable_cluster_turns_nodes_unknown_then_back_to_the_truth(
    own_sim, own_workflow, channel_layer
):
    deploy(own_workflow)
    with (
        GroupListener(channel_layer, live.group_for(own_workflow.pk)) as listener,
        make_watcher().running(),
    ):
        wait_for_states(own_workflow, {"api": "healthy"})

        own_sim.stop()
        stored = wait_for_states(own_workflow, {"api": "unknown", "api-svc": "unknown"})
        scale_in_store(own_sim, 3)
        own_sim.start()

        back = wait_for_states(own_workflow, {"api": "healthy"})

    assert stored["api"].message.startswith("cannot reach the cluster: ")
    assert (back["api"].message, back["api"].desired) == ("3/3 ready", 3)
    states = [e["state"] for e in node_events(listener, "api")]
    assert states[-2:] == ["unknown", "healthy"]


def test_a_watch_cut_by_the_server_resumes_and_ends_in_the_right_state(
    own_sim, own_workflow, channel_layer
):
    deploy(own_workflow)
    with make_watcher(unreachable_after=60).running() as watcher:
        wait_for_states(own_workflow, {"api": "healthy"})
        cached = watcher.cache_of(own_workflow.cluster_id).count()

        # Stopping closes every open connection: each stream is cut.
        own_sim.stop()
        scale_in_store(own_sim, 1)
        own_sim.start()

        stored = wait_until(
            lambda: (
                statuses(own_workflow)["api"].desired == 1
                and statuses(own_workflow)["api"]
            ),
            what="api at 1 replica",
        )
        wait_for_states(own_workflow, {"api": "healthy"})

    assert stored.state == "healthy"
    assert watcher.cache_of(own_workflow.cluster_id) is None, "released at exit"
    assert cached > 0


def test_a_410_makes_the_streams_list_again_and_catch_deletions(
    own_sim, own_workflow, channel_layer, caplog
):
    caplog.set_level(logging.INFO, logger="runs.watcher")
    deploy(own_workflow)
    with make_watcher(unreachable_after=60).running():
        wait_for_states(own_workflow, {"api": "healthy", "api-svc": "healthy"})
        answer = requests.post(
            f"{own_sim.url}/_kubesim/watch-history?size=1", timeout=5
        )
        assert answer.status_code == 200

        own_sim.stop()
        own_sim.store.delete(kinds.SERVICE, "default", "api")
        scale_in_store(own_sim, 3)
        own_sim.start()

        stored = wait_for_states(own_workflow, {"api-svc": "missing"})
        stored = wait_until(
            lambda: (
                statuses(own_workflow)["api"].message == "3/3 ready"
                and statuses(own_workflow)
            ),
            what="api at 3/3",
        )

    assert stored["api-svc"].state == "missing"
    assert any("expired (410)" in r.getMessage() for r in caplog.records)


def test_two_replicas_publish_each_change_once_and_hand_over(
    workflow, channel_layer, apps
):
    deploy(workflow)
    cluster_id = str(workflow.cluster_id)
    replicas = [make_watcher(replica_id="one"), make_watcher(replica_id="two")]
    threads = [InThread(watcher) for watcher in replicas]
    with GroupListener(channel_layer, live.group_for(workflow.pk)) as listener:
        try:
            wait_for_states(workflow, {"api": "healthy"})
            holder = next(i for i, w in enumerate(replicas) if w.holds(cluster_id))
            standby = 1 - holder
            apps.patch_namespaced_deployment_scale(
                "api", "default", {"spec": {"replicas": 3}}
            )
            wait_until(lambda: statuses(workflow)["api"].message == "3/3 ready")

            threads[holder].stop()
            wait_until(
                lambda: replicas[standby].is_synced(cluster_id), what="hand-over"
            )
            apps.patch_namespaced_deployment_scale(
                "api", "default", {"spec": {"replicas": 1}}
            )
            listener.wait_for(
                lambda got: any(
                    visible(e) == ("healthy", "1/1 ready", 1, 1)
                    for e in node_events(got, "api")
                )
            )
        finally:
            for thread in threads:
                thread.stop()

    for node_id in ("api", "api-svc"):
        seen = [e["health"] for e in node_events(listener, node_id)]
        repeats = [a for a, b in zip(seen, seen[1:], strict=False) if a == b]
        assert not repeats, f"{node_id} published twice: {seen}"
    published = [watcher.published_changes for watcher in replicas]
    assert sum(published) == len(listener.of_type(live.NODE_STATUS))
    assert published[standby] > 0, "the standby took over"
    assert published[holder] > 0, "the first holder published before it stopped"


class InThread:
    """A watcher running in a thread that a test can stop at any time."""

    def __init__(self, watcher: Watcher) -> None:
        self.stop_event = threading.Event()
        self.thread = threading.Thread(
            target=watcher.run_forever, args=(self.stop_event,), daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()


def test_a_new_version_without_a_node_announces_its_removal(workflow, channel_layer):
    deploy(workflow)
    with (
        GroupListener(channel_layer, live.group_for(workflow.pk)) as listener,
        make_watcher().running(),
    ):
        wait_for_states(workflow, {"api": "healthy", "api-svc": "healthy"})
        canvas = small_canvas()
        canvas["nodes"] = canvas["nodes"][:1]
        canvas["edges"] = []
        workflow_actions.move_workflow(workflow.pk, Workflow.State.DRAFT)
        workflow_actions.save_canvas(
            workflow.pk, nodes=canvas["nodes"], edges=[], base_revision=None
        )
        workflow_actions.move_workflow(workflow.pk, Workflow.State.PUBLISHED)

        deploy(workflow)

        listener.wait_for(lambda got: got.of_type(live.NODE_REMOVED))
        wait_until(lambda: set(statuses(workflow)) == {"api"})

    assert listener.of_type(live.NODE_REMOVED) == [
        {"workflow_id": str(workflow.pk), "node_id": "api-svc"}
    ]


def test_run_status_is_published_when_a_run_starts_and_when_it_ends(
    workflow, channel_layer
):
    with (
        GroupListener(channel_layer, live.group_for(workflow.pk)) as listener,
        make_watcher().running() as watcher,
    ):
        wait_until(lambda: watcher.is_synced(workflow.cluster_id))
        run = start_run(workflow.pk, triggered_by="manual")
        listener.wait_for(lambda got: got.of_type(live.RUN_STATUS))

        execute_run(run.pk)

        listener.wait_for(lambda got: len(got.of_type(live.RUN_STATUS)) >= 2)

    started, ended = listener.of_type(live.RUN_STATUS)[:2]
    assert (started["run_id"], started["status"]) == (str(run.pk), "running")
    assert (ended["status"], ended["version"]) == ("completed", 1)
    assert ended["completed_at"] is not None


def test_secrets_and_config_maps_are_cached_as_metadata_only(
    owner, cluster, channel_layer
):
    three_tier = make_workflow(
        owner, cluster, canvas=three_tier_canvas(), state="published"
    )
    deploy(three_tier)
    with make_watcher().running() as watcher:
        wait_for_states(three_tier, {"web-secret": "healthy", "web": "healthy"})
        cached = watcher.cache_of(cluster.pk).objects_in(["default"])

    secrets = [o for o in cached if o["kind"] == "Secret"]
    config_maps = [o for o in cached if o["kind"] == "ConfigMap"]
    assert {s["metadata"]["name"] for s in secrets} >= {"web-secret", "web-env"}
    assert all(set(s) == {"apiVersion", "kind", "metadata"} for s in secrets)
    assert all("data" not in c for c in config_maps)
    assert "pg-pa55w0rd" not in repr(cached)


def test_the_watch_command_holds_the_lease_and_stops_cleanly_on_sigterm(
    workflow, redis_url
):
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_children(),
        "REDIS_URL": redis_url,
    }
    base = Path(__file__).resolve().parents[2]
    command = [sys.executable, "manage.py", "watch", "--replica-id", "cmd-test"]
    leases = lease_client(redis_url)
    process = subprocess.Popen(
        command, cwd=base, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        key = LEASE_PREFIX + str(workflow.cluster_id)
        wait_until(lambda: leases.get(key) == b"cmd-test", timeout=30, what="lease")

        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = process.stdout.read().decode()

    assert code == 0, output
    assert leases.get(key) is None, "the lease is released on the way out"
    assert "watcher cmd-test stopped" in output


def test_a_replica_that_loses_its_lease_stops_watching_until_it_is_free(
    workflow, channel_layer, redis_url
):
    deploy(workflow)
    key = LEASE_PREFIX + str(workflow.cluster_id)
    leases = lease_client(redis_url)
    with make_watcher(lease_ttl=0.6).running() as watcher:
        wait_until(lambda: watcher.is_synced(workflow.cluster_id), what="synced")

        leases.set(key, "another-replica", px=60_000)
        wait_until(lambda: not watcher.holds(workflow.cluster_id), what="stop")
        leases.delete(key)

        wait_until(lambda: watcher.is_synced(workflow.cluster_id), what="taken back")
        holder = leases.get(key)

    assert holder == watcher.replica_id.encode()


def test_the_periodic_resync_lists_again_without_republishing(workflow, channel_layer):
    deploy(workflow)
    options = WatchOptions(request_timeout=5, backoff_base=0.05, resync_interval=0.3)
    with make_watcher(options=options).running() as watcher:
        wait_for_states(workflow, {"api": "healthy", "api-svc": "healthy"})
        published, lists = watcher.published_changes, watcher.lists_taken
        kinds = len(WATCHED_KINDS)

        wait_until(lambda: watcher.lists_taken >= lists + 2 * kinds, what="resyncs")

        assert watcher.published_changes == published


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "gadgets.live.example.com"},
    "spec": {
        "group": "live.example.com",
        "scope": "Namespaced",
        "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


def test_a_custom_resource_node_gets_a_watch_of_its_kind(owner, cluster, channel_layer):
    api = api_client_for(cluster)
    client.ApiextensionsV1Api(api).create_custom_resource_definition(CRD)
    canvas = {
        "nodes": [
            {
                "id": "gadget",
                "type": "customresource",
                "position": {"x": 0, "y": 0},
                "data": {
                    "apiVersion": "live.example.com/v1",
                    "kind": "Gadget",
                    "name": "first",
                    "spec": "size: 1\n",
                },
            }
        ],
        "edges": [],
    }
    gadgets = make_workflow(owner, cluster, canvas=canvas, state="published")
    deploy(gadgets)
    custom = client.CustomObjectsApi(api)
    with make_watcher().running():
        wait_for_states(gadgets, {"gadget": "healthy"})
        status = {"conditions": [{"type": "Ready", "status": "False", "message": "no"}]}

        custom.patch_namespaced_custom_object_status(
            "live.example.com", "v1", "default", "gadgets", "first", {"status": status}
        )

        stored = wait_for_states(gadgets, {"gadget": "degraded"})
    api.close()

    assert stored["gadget"].message == "no"


def test_a_replica_restarted_under_its_id_takes_its_lease_back_at_once(
    workflow, channel_layer, redis_url
):
    key = LEASE_PREFIX + str(workflow.cluster_id)
    leases = lease_client(redis_url)
    # What a killed replica leaves behind: its lease, still valid for a minute.
    leases.set(key, "steady", px=60_000)

    with make_watcher(replica_id="steady").running() as watcher:
        wait_until(lambda: watcher.is_synced(workflow.cluster_id), what="synced")
    leases.set(key, "steady", px=60_000)
    with make_watcher(
        replica_id="newcomer", reassess_interval=0.05
    ).running() as newcomer:
        wait_until(lambda: newcomer.reassessments >= 5, what="a few turns")

        assert not newcomer.holds(workflow.cluster_id)
