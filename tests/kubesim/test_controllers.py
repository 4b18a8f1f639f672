"""Controllers driven through the store and the clock: bootstrap and workloads.

The harness below is shared by every test_controllers_*.py module: a real
Store, a real Clock and the real ControllerManager, with no HTTP in between.
Time moves only when a test advances the clock; nothing sleeps.
"""

from __future__ import annotations

import re

import pytest

from kubesim import resources as r
from kubesim.clock import Clock
from kubesim.controllers import ControllerManager
from kubesim.store import Store, clone


class Harness:
    """A store, a clock and the controllers, with helpers to act and look."""

    def __init__(self, *, realistic: bool = False) -> None:
        self.realistic = realistic
        self.clock = Clock()
        self.store = Store(self.clock)
        self.manager = ControllerManager(self.store, self.clock, realistic=realistic)
        self.manager.bootstrap()
        self.manager.settle()

    def create(self, rt, obj: dict, namespace: str = "default") -> dict:
        """Create an object, let the controllers settle, return it as stored."""
        obj = clone(obj)
        if rt.namespaced:
            obj["metadata"].setdefault("namespace", namespace)
        created = self.store.create(rt, obj)
        self.manager.settle()
        return self.get(
            rt, created["metadata"]["name"], created["metadata"].get("namespace")
        )

    def change(self, rt, name: str, mutate, namespace: str = "default") -> dict:
        """Apply mutate(obj) to a fresh copy, update it, settle, return it."""
        obj = self.store.get(rt, namespace, name)
        mutate(obj)
        self.store.update(rt, obj)
        self.manager.settle()
        return self.get(rt, name, namespace)

    def delete(self, rt, name: str, namespace: str = "default") -> None:
        """Delete an object and settle."""
        self.store.delete(rt, namespace, name)
        self.manager.settle()

    def get(self, rt, name: str, namespace: str | None = "default") -> dict | None:
        """Read one object from the store."""
        return self.store.get(rt, namespace, name)

    def list(self, rt, namespace: str | None = "default", **selectors) -> list[dict]:
        """List objects, optionally by label selector."""
        return self.store.list(rt, namespace, selectors.get("labels"))

    def pods(self, app: str, namespace: str = "default") -> list[dict]:
        """Return the pods labelled app=<app>."""
        return self.store.list(r.POD, namespace, {"app": app})

    def advance(self, seconds: float) -> None:
        """Move the clock and settle (realistic mode: in the daemon's small ticks)."""
        tick = 0.25 if self.realistic else seconds
        while seconds > 0:
            self.clock.advance(min(tick, seconds))
            seconds -= tick
            self.manager.settle()

    def events_for(self, obj: dict) -> list[dict]:
        """Return the Events recorded about an object."""
        namespace = obj["metadata"].get("namespace") or "default"
        return [
            e
            for e in self.store.list(r.EVENT, namespace)
            if e["involvedObject"].get("uid") == obj["metadata"]["uid"]
        ]

    def reasons(self, obj: dict) -> set[str]:
        """Return the reasons of the Events about an object."""
        return {e["reason"] for e in self.events_for(obj)}


def deployment(
    name: str, image: str = "nginx:1.27", replicas: int = 3, **container
) -> dict:
    """Return a Deployment whose pods are labelled app=<name>."""
    spec = {
        "name": "app",
        "image": image,
        "ports": [{"name": "http", "containerPort": 80}],
    }
    spec.update(container)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [spec]},
            },
        },
    }


def container_status(pod: dict, index: int = 0) -> dict:
    """Return one container status of a pod."""
    return pod["status"]["containerStatuses"][index]


def condition(obj: dict, kind: str) -> dict:
    """Return a condition of an object's status (fails when missing)."""
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item["type"] == kind:
            return item
    raise AssertionError(f"no {kind} condition in {obj['status']}")


def set_image(image: str):
    """Return a mutation that sets the first container's image of a template."""

    def mutate(obj: dict) -> None:
        obj["spec"]["template"]["spec"]["containers"][0]["image"] = image

    return mutate


def running(*, realistic: bool = False):
    """Yield a fresh Harness and close it afterwards (the body of the fixtures)."""
    harness = Harness(realistic=realistic)
    yield harness
    harness.manager.close()


@pytest.fixture
def kube() -> Harness:
    """A fresh simulated cluster in instant mode."""
    yield from running()


@pytest.fixture
def realistic_kube() -> Harness:
    """A fresh simulated cluster in realistic mode, stepped by hand."""
    yield from running(realistic=True)


# ----- bootstrap


def test_bootstrap_creates_ready_nodes_namespaces_and_classes(kube):
    nodes = kube.list(r.NODE, None)
    assert [n["metadata"]["name"] for n in nodes] == [
        "kubesim-node-1",
        "kubesim-node-2",
        "kubesim-node-3",
    ]
    for node in nodes:
        assert condition(node, "Ready")["status"] == "True"
        assert node["status"]["allocatable"] == {
            "cpu": "4",
            "memory": "8Gi",
            "pods": "110",
            "ephemeral-storage": "100Gi",
        }
    phases = {
        n["metadata"]["name"]: n["status"]["phase"]
        for n in kube.list(r.NAMESPACE, None)
    }
    assert phases == {
        "default": "Active",
        "kube-system": "Active",
        "kube-public": "Active",
        "kube-node-lease": "Active",
    }
    classes = {c["metadata"]["name"]: c for c in kube.list(r.STORAGECLASS, None)}
    assert classes["standard"]["volumeBindingMode"] == "Immediate"
    assert classes["standard"]["metadata"]["annotations"] == {
        "storageclass.kubernetes.io/is-default-class": "true"
    }
    assert classes["local-wait"]["volumeBindingMode"] == "WaitForFirstConsumer"
    ingress_class = kube.get(r.INGRESSCLASS, "kubesim", None)
    assert ingress_class["metadata"]["annotations"] == {
        "ingressclass.kubernetes.io/is-default-class": "true"
    }
    for namespace in phases:
        assert kube.get(r.SERVICEACCOUNT, "default", namespace) is not None


def test_bootstrap_twice_changes_nothing(kube):
    version = kube.store.resource_version()

    kube.manager.bootstrap()
    kube.manager.settle()

    assert kube.store.resource_version() == version


def test_new_namespace_becomes_active_with_a_default_service_account(kube):
    kube.create(r.NAMESPACE, {"metadata": {"name": "team-a"}})

    assert kube.get(r.NAMESPACE, "team-a", None)["status"]["phase"] == "Active"
    assert kube.get(r.SERVICEACCOUNT, "default", "team-a") is not None


def test_deleting_a_namespace_removes_everything_in_it(kube):
    kube.create(r.NAMESPACE, {"metadata": {"name": "doomed"}})
    kube.create(r.DEPLOYMENT, deployment("web"), namespace="doomed")
    assert len(kube.pods("web", "doomed")) == 3

    kube.delete(r.NAMESPACE, "doomed", None)

    assert kube.get(r.NAMESPACE, "doomed", None) is None
    assert kube.pods("web", "doomed") == []
    assert kube.list(r.REPLICASET, "doomed") == []


# ----- deployments


def test_deployment_creates_a_replicaset_and_running_pods(kube):
    created = kube.create(r.DEPLOYMENT, deployment("web"))

    [rs] = kube.list(r.REPLICASET)
    pod_hash = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{pod_hash}"
    assert re.fullmatch(r"[bcdfghjklmnpqrstvwxz2456789]{8,10}", pod_hash)
    assert rs["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "web",
            "uid": created["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert rs["spec"]["selector"]["matchLabels"] == {
        "app": "web",
        "pod-template-hash": pod_hash,
    }
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert rs["status"] == {
        "replicas": 3,
        "fullyLabeledReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "observedGeneration": 1,
    }
    pods = kube.pods("web")
    assert len(pods) == 3
    for pod in pods:
        assert re.fullmatch(
            rf"web-{pod_hash}-[bcdfghjklmnpqrstvwxz2456789]{{5}}",
            pod["metadata"]["name"],
        )
        assert pod["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
        assert pod["metadata"]["labels"]["pod-template-hash"] == pod_hash
    assert {p["spec"]["nodeName"] for p in pods} == {
        "kubesim-node-1",
        "kubesim-node-2",
        "kubesim-node-3",
    }


def test_deployment_status_looks_like_a_finished_rollout(kube):
    kube.create(r.DEPLOYMENT, deployment("web"))

    found = kube.get(r.DEPLOYMENT, "web")

    status = found["status"]
    assert status["observedGeneration"] == 1
    assert (
        status["replicas"],
        status["updatedReplicas"],
        status["readyReplicas"],
        status["availableReplicas"],
    ) == (3, 3, 3, 3)
    assert "unavailableReplicas" not in status  # omitted when zero, as the API does
    available, progressing = status["conditions"]
    assert (available["type"], available["status"], available["reason"]) == (
        "Available",
        "True",
        "MinimumReplicasAvailable",
    )
    assert (progressing["type"], progressing["status"], progressing["reason"]) == (
        "Progressing",
        "True",
        "NewReplicaSetAvailable",
    )
    assert found["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"


def test_running_pod_reports_container_and_pod_status(kube):
    kube.create(r.DEPLOYMENT, deployment("web", replicas=1))

    [pod] = kube.pods("web")

    status = pod["status"]
    assert status["phase"] == "Running"
    assert [c["type"] for c in status["conditions"]] == [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ]
    assert all(c["status"] == "True" for c in status["conditions"])
    assert re.fullmatch(r"10\.244\.[123]\.\d+", status["podIP"])
    assert status["podIPs"] == [{"ip": status["podIP"]}]
    assert re.fullmatch(r"172\.18\.0\.[234]", status["hostIP"])
    assert status["startTime"]
    assert status["qosClass"] == "BestEffort"
    app = container_status(pod)
    assert app["name"] == "app"
    assert app["image"] == "docker.io/library/nginx:1.27"
    assert app["imageID"].startswith("docker.io/library/nginx@sha256:")
    assert re.fullmatch(r"containerd://[0-9a-f]{64}", app["containerID"])
    assert (app["ready"], app["started"], app["restartCount"]) == (True, True, 0)
    assert app["state"]["running"]["startedAt"]
    assert kube.reasons(pod) >= {"Scheduled", "Pulling", "Pulled", "Created", "Started"}


def test_pod_ips_are_unique(kube):
    kube.create(r.DEPLOYMENT, deployment("web", replicas=12))

    ips = [p["status"]["podIP"] for p in kube.pods("web")]

    assert len(set(ips)) == 12


def test_scaling_a_deployment_adds_and_removes_pods(kube):
    kube.create(r.DEPLOYMENT, deployment("web"))

    def scale(n):
        return lambda d: d["spec"].__setitem__("replicas", n)

    kube.change(r.DEPLOYMENT, "web", scale(5))
    assert len(kube.pods("web")) == 5
    assert kube.get(r.DEPLOYMENT, "web")["status"]["availableReplicas"] == 5

    kube.change(r.DEPLOYMENT, "web", scale(1))
    assert len(kube.pods("web")) == 1
    status = kube.get(r.DEPLOYMENT, "web")["status"]
    assert (status["replicas"], status["availableReplicas"]) == (1, 1)
    assert "Scaled down replica set" in " ".join(
        e["message"] for e in kube.events_for(kube.get(r.DEPLOYMENT, "web"))
    )


def test_settled_controllers_write_nothing_more(kube):
    kube.create(r.DEPLOYMENT, deployment("web"))
    version = kube.store.resource_version()

    changed = kube.manager.step()
    kube.manager.settle()

    assert changed is False
    assert kube.store.resource_version() == version


def test_template_change_rolls_out_a_new_replicaset(kube):
    kube.create(r.DEPLOYMENT, deployment("web"))
    [old] = kube.list(r.REPLICASET)

    kube.change(r.DEPLOYMENT, "web", set_image("nginx:1.28"))

    sets = {rs["metadata"]["name"]: rs for rs in kube.list(r.REPLICASET)}
    assert len(sets) == 2
    new = next(rs for name, rs in sets.items() if name != old["metadata"]["name"])
    assert sets[old["metadata"]["name"]]["spec"]["replicas"] == 0
    assert new["spec"]["replicas"] == 3
    assert new["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    pods = kube.pods("web")
    assert len(pods) == 3
    assert {container_status(p)["image"] for p in pods} == {
        "docker.io/library/nginx:1.28"
    }
    found = kube.get(r.DEPLOYMENT, "web")
    assert found["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert found["status"]["observedGeneration"] == 2
    assert condition(found, "Progressing")["reason"] == "NewReplicaSetAvailable"
    assert (
        f'ReplicaSet "{new["metadata"]["name"]}"'
        in condition(found, "Progressing")["message"]
    )


def test_rolling_back_reuses_the_old_replicaset_with_a_new_revision(kube):
    kube.create(r.DEPLOYMENT, deployment("web"))
    [first] = kube.list(r.REPLICASET)
    kube.change(r.DEPLOYMENT, "web", set_image("nginx:1.28"))

    kube.change(r.DEPLOYMENT, "web", set_image("nginx:1.27"))

    assert len(kube.list(r.REPLICASET)) == 2
    reused = kube.get(r.REPLICASET, first["metadata"]["name"])
    assert reused["spec"]["replicas"] == 3
    assert reused["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"


def test_a_broken_rollout_keeps_the_old_pods_within_the_surge_budget(kube):
    kube.create(r.DEPLOYMENT, deployment("web"))
    [old] = kube.list(r.REPLICASET)

    kube.change(r.DEPLOYMENT, "web", set_image("kubesim/crashloop"))

    old = kube.get(r.REPLICASET, old["metadata"]["name"])
    [new] = [
        rs
        for rs in kube.list(r.REPLICASET)
        if rs["metadata"]["uid"] != old["metadata"]["uid"]
    ]
    # 3 replicas: maxSurge 25% rounds up to 1, maxUnavailable 25% rounds down to 0.
    assert (old["spec"]["replicas"], new["spec"]["replicas"]) == (3, 1)
    status = kube.get(r.DEPLOYMENT, "web")["status"]
    assert (
        status["replicas"],
        status["updatedReplicas"],
        status["availableReplicas"],
    ) == (4, 1, 3)
    assert status["unavailableReplicas"] == 1
    assert condition(kube.get(r.DEPLOYMENT, "web"), "Available")["status"] == "True"


def test_a_stuck_rollout_exceeds_its_progress_deadline(kube):
    kube.create(r.DEPLOYMENT, deployment("web", image="nginx:doesnotexist", replicas=2))
    assert condition(kube.get(r.DEPLOYMENT, "web"), "Progressing")["status"] == "True"
    assert condition(kube.get(r.DEPLOYMENT, "web"), "Available")["reason"] == (
        "MinimumReplicasUnavailable"
    )

    kube.advance(601)

    progressing = condition(kube.get(r.DEPLOYMENT, "web"), "Progressing")
    assert (progressing["status"], progressing["reason"]) == (
        "False",
        "ProgressDeadlineExceeded",
    )
    assert progressing["message"].endswith("has timed out progressing.")


def test_progress_deadline_can_be_shortened(kube):
    body = deployment("web", image="kubesim/crashloop", replicas=1)
    body["spec"]["progressDeadlineSeconds"] = 30
    kube.create(r.DEPLOYMENT, body)

    kube.advance(20)
    assert condition(kube.get(r.DEPLOYMENT, "web"), "Progressing")["status"] == "True"
    kube.advance(15)
    assert condition(kube.get(r.DEPLOYMENT, "web"), "Progressing")["reason"] == (
        "ProgressDeadlineExceeded"
    )


def test_a_paused_deployment_does_not_roll_out(kube):
    kube.create(r.DEPLOYMENT, deployment("web"))

    kube.change(r.DEPLOYMENT, "web", lambda d: d["spec"].__setitem__("paused", True))
    kube.change(r.DEPLOYMENT, "web", set_image("nginx:1.28"))

    assert len(kube.list(r.REPLICASET)) == 1
    progressing = condition(kube.get(r.DEPLOYMENT, "web"), "Progressing")
    assert (progressing["status"], progressing["reason"]) == (
        "Unknown",
        "DeploymentPaused",
    )

    kube.change(r.DEPLOYMENT, "web", lambda d: d["spec"].__setitem__("paused", False))

    assert len(kube.list(r.REPLICASET)) == 2
    assert {container_status(p)["image"] for p in kube.pods("web")} == {
        "docker.io/library/nginx:1.28"
    }


def test_recreate_strategy_replaces_every_pod_at_once(kube):
    body = deployment("web")
    body["spec"]["strategy"] = {"type": "Recreate"}
    kube.create(r.DEPLOYMENT, body)
    before = {p["metadata"]["name"] for p in kube.pods("web")}

    kube.change(r.DEPLOYMENT, "web", set_image("nginx:1.28"))

    after = kube.pods("web")
    assert len(after) == 3
    assert before.isdisjoint(p["metadata"]["name"] for p in after)


def test_deleting_a_deployment_removes_its_replicasets_and_pods(kube):
    kube.create(r.DEPLOYMENT, deployment("web"))

    kube.delete(r.DEPLOYMENT, "web")

    assert kube.list(r.REPLICASET) == []
    assert kube.pods("web") == []


def test_a_deleted_pod_is_replaced(kube):
    kube.create(r.DEPLOYMENT, deployment("web"))
    victim = kube.pods("web")[0]["metadata"]["name"]

    kube.delete(r.POD, victim)

    names = {p["metadata"]["name"] for p in kube.pods("web")}
    assert len(names) == 3
    assert victim not in names


def test_orphans_whose_owner_is_gone_are_collected(kube):
    orphan = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "orphan",
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "gone",
                    "uid": "00000000-0000-0000-0000-000000000000",
                    "controller": True,
                }
            ],
        },
        "spec": {"containers": [{"name": "app", "image": "nginx"}]},
    }

    kube.store.create(
        r.POD, {**orphan, "metadata": {**orphan["metadata"], "namespace": "default"}}
    )
    kube.manager.settle()

    assert kube.get(r.POD, "orphan") is None


# ----- realistic timing


def test_realistic_pods_take_a_second_or_two_to_become_ready(realistic_kube):
    kube = realistic_kube
    kube.create(r.DEPLOYMENT, deployment("web", replicas=1))

    [pod] = kube.pods("web")
    assert pod["status"]["phase"] == "Pending"
    assert container_status(pod)["state"] == {
        "waiting": {"reason": "ContainerCreating"}
    }
    assert condition(pod, "PodScheduled")["status"] == "True"

    kube.advance(2.5)

    [pod] = kube.pods("web")
    assert pod["status"]["phase"] == "Running"
    assert condition(pod, "Ready")["status"] == "True"
    assert kube.get(r.DEPLOYMENT, "web")["status"]["availableReplicas"] == 1


def test_realistic_readiness_probe_delays_ready(realistic_kube):
    kube = realistic_kube
    kube.create(
        r.DEPLOYMENT,
        deployment(
            "web",
            replicas=1,
            readinessProbe={
                "httpGet": {"path": "/", "port": 80},
                "initialDelaySeconds": 5,
            },
        ),
    )

    kube.advance(3)
    [pod] = kube.pods("web")
    assert pod["status"]["phase"] == "Running"
    assert container_status(pod)["ready"] is False

    kube.advance(5)
    [pod] = kube.pods("web")
    assert container_status(pod)["ready"] is True


# ----- statefulsets


def statefulset(name: str, replicas: int = 3, **spec) -> dict:
    """Return a StatefulSet with one volume claim template named data."""
    body = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "serviceName": name,
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "db", "image": "postgres:16"}]},
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ],
        },
    }
    body["spec"].update(spec)
    return body


def test_statefulset_creates_ordered_pods_with_their_claims(kube):
    kube.create(r.STATEFULSET, statefulset("db"))

    pods = sorted(kube.pods("db"), key=lambda p: p["metadata"]["name"])
    assert [p["metadata"]["name"] for p in pods] == ["db-0", "db-1", "db-2"]
    for ordinal, pod in enumerate(pods):
        assert pod["spec"]["hostname"] == f"db-{ordinal}"
        assert pod["spec"]["subdomain"] == "db"
        assert (
            pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"]
            == f"db-{ordinal}"
        )
        assert {
            "name": "data",
            "persistentVolumeClaim": {"claimName": f"data-db-{ordinal}"},
        } in (pod["spec"]["volumes"])
        assert pod["status"]["phase"] == "Running"
    claims = {c["metadata"]["name"]: c for c in kube.list(r.PVC)}
    assert set(claims) == {"data-db-0", "data-db-1", "data-db-2"}
    assert all(c["status"]["phase"] == "Bound" for c in claims.values())
    status = kube.get(r.STATEFULSET, "db")["status"]
    assert (
        status["replicas"],
        status["readyReplicas"],
        status["currentReplicas"],
        status["updatedReplicas"],
        status["availableReplicas"],
    ) == (3, 3, 3, 3, 3)
    assert status["currentRevision"] == status["updateRevision"]
    assert status["updateRevision"].startswith("db-")
    assert status["observedGeneration"] == 1
    assert kube.get(r.CONTROLLERREVISION, status["updateRevision"]) is not None


def test_ordered_ready_waits_for_each_pod_before_the_next(realistic_kube):
    kube = realistic_kube
    kube.create(r.STATEFULSET, statefulset("db"))
    assert [p["metadata"]["name"] for p in kube.pods("db")] == ["db-0"]

    seen = {1}
    for _ in range(40):
        kube.advance(0.25)
        pods = {p["metadata"]["name"]: p for p in kube.pods("db")}
        for ordinal in (1, 2):
            if f"db-{ordinal}" in pods:
                assert condition(pods[f"db-{ordinal - 1}"], "Ready")["status"] == "True"
        seen.add(len(pods))
    assert seen == {1, 2, 3}


def test_parallel_policy_creates_every_pod_at_once(realistic_kube):
    kube = realistic_kube
    kube.create(r.STATEFULSET, statefulset("db", podManagementPolicy="Parallel"))

    assert len(kube.pods("db")) == 3


def test_scaling_a_statefulset_down_keeps_its_claims(kube):
    kube.create(r.STATEFULSET, statefulset("db"))

    kube.change(r.STATEFULSET, "db", lambda s: s["spec"].__setitem__("replicas", 1))

    assert [p["metadata"]["name"] for p in kube.pods("db")] == ["db-0"]
    assert {c["metadata"]["name"] for c in kube.list(r.PVC)} == {
        "data-db-0",
        "data-db-1",
        "data-db-2",
    }
    assert kube.get(r.STATEFULSET, "db")["status"]["replicas"] == 1


def test_statefulset_update_replaces_pods_from_the_highest_ordinal(realistic_kube):
    kube = realistic_kube
    kube.create(r.STATEFULSET, statefulset("db"))
    kube.advance(10)
    old_revision = kube.get(r.STATEFULSET, "db")["status"]["currentRevision"]

    kube.change(r.STATEFULSET, "db", set_image("postgres:17"))

    def revisions():
        return {
            p["metadata"]["name"]: p["metadata"]["labels"]["controller-revision-hash"]
            for p in kube.pods("db")
        }

    order = []
    for _ in range(60):
        for name, revision in sorted(revisions().items()):
            if revision != old_revision and name not in order:
                order.append(name)
        kube.advance(0.25)
    assert order == ["db-2", "db-1", "db-0"]
    status = kube.get(r.STATEFULSET, "db")["status"]
    assert status["updatedReplicas"] == 3
    assert status["currentRevision"] == status["updateRevision"] != old_revision


# ----- daemonsets


def daemonset(name: str, **pod_spec) -> dict:
    """Return a DaemonSet whose pods are labelled app=<name>."""
    spec = {"containers": [{"name": "agent", "image": "busybox:1.36"}]}
    spec.update(pod_spec)
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec},
        },
    }


def test_daemonset_runs_one_pod_per_node(kube):
    kube.create(r.DAEMONSET, daemonset("agent"))

    pods = kube.pods("agent")
    assert sorted(p["spec"]["nodeName"] for p in pods) == [
        "kubesim-node-1",
        "kubesim-node-2",
        "kubesim-node-3",
    ]
    status = kube.get(r.DAEMONSET, "agent")["status"]
    assert status == {
        "currentNumberScheduled": 3,
        "numberMisscheduled": 0,
        "desiredNumberScheduled": 3,
        "numberReady": 3,
        "observedGeneration": 1,
        "updatedNumberScheduled": 3,
        "numberAvailable": 3,
    }


def test_daemonset_honours_node_selector_and_taints(kube):
    def label(node):
        node["metadata"]["labels"]["disk"] = "ssd"

    def taint(node):
        node["spec"]["taints"] = [
            {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
        ]

    kube.change(r.NODE, "kubesim-node-1", label, namespace=None)
    kube.change(r.NODE, "kubesim-node-2", label, namespace=None)
    kube.change(r.NODE, "kubesim-node-2", taint, namespace=None)

    kube.create(r.DAEMONSET, daemonset("picky", nodeSelector={"disk": "ssd"}))
    kube.create(
        r.DAEMONSET,
        daemonset(
            "tolerant",
            tolerations=[
                {
                    "key": "dedicated",
                    "operator": "Equal",
                    "value": "gpu",
                    "effect": "NoSchedule",
                }
            ],
        ),
    )

    assert [p["spec"]["nodeName"] for p in kube.pods("picky")] == ["kubesim-node-1"]
    assert kube.get(r.DAEMONSET, "picky")["status"]["desiredNumberScheduled"] == 1
    assert len(kube.pods("tolerant")) == 3


def test_daemonset_follows_new_nodes(kube):
    kube.create(r.DAEMONSET, daemonset("agent"))
    node = kube.get(r.NODE, "kubesim-node-3", None)
    node = clone(node)
    node["metadata"] = {
        "name": "kubesim-node-4",
        "labels": dict(node["metadata"]["labels"]),
    }
    node["metadata"]["labels"]["kubernetes.io/hostname"] = "kubesim-node-4"

    kube.create(r.NODE, node)

    assert len(kube.pods("agent")) == 4
    assert kube.get(r.DAEMONSET, "agent")["status"]["desiredNumberScheduled"] == 4


def test_daemonset_update_rolls_every_pod(kube):
    kube.create(r.DAEMONSET, daemonset("agent"))

    kube.change(r.DAEMONSET, "agent", set_image("busybox:1.37"))

    pods = kube.pods("agent")
    assert len(pods) == 3
    assert {container_status(p)["image"] for p in pods} == {
        "docker.io/library/busybox:1.37"
    }
    assert kube.get(r.DAEMONSET, "agent")["status"]["updatedNumberScheduled"] == 3


# ----- pods of their own


def bare_pod(name: str, image: str = "nginx:1.27", **spec) -> dict:
    """Return a pod created directly, not by a controller."""
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [{"name": "app", "image": image}]},
    }
    body["spec"].update(spec)
    return body


def test_a_bare_pod_is_scheduled_and_run(kube):
    kube.create(r.POD, bare_pod("solo"))

    pod = kube.get(r.POD, "solo")

    assert pod["spec"]["nodeName"].startswith("kubesim-node-")
    assert pod["status"]["phase"] == "Running"


def test_a_pod_with_a_node_name_skips_the_scheduler(kube):
    kube.create(r.POD, bare_pod("pinned", nodeName="kubesim-node-2"))

    pod = kube.get(r.POD, "pinned")

    assert pod["spec"]["nodeName"] == "kubesim-node-2"
    assert pod["status"]["phase"] == "Running"
    assert "Scheduled" not in kube.reasons(pod)


def test_init_containers_complete_before_the_app_starts(realistic_kube):
    kube = realistic_kube
    init = [{"name": "migrate", "image": "busybox:1.36"}]
    kube.create(r.POD, bare_pod("app", initContainers=init))

    pod = kube.get(r.POD, "app")
    assert condition(pod, "Initialized")["status"] == "False"
    assert container_status(pod)["state"]["waiting"]["reason"] == "PodInitializing"

    kube.advance(6)

    pod = kube.get(r.POD, "app")
    [done] = pod["status"]["initContainerStatuses"]
    assert done["state"]["terminated"]["reason"] == "Completed"
    assert condition(pod, "Initialized")["status"] == "True"
    assert pod["status"]["phase"] == "Running"
    started = container_status(pod)["state"]["running"]["startedAt"]
    assert started >= done["state"]["terminated"]["finishedAt"]


def test_a_failing_init_container_holds_the_pod_in_back_off(kube):
    init = [{"name": "migrate", "image": "kubesim/fail"}]
    kube.create(r.POD, bare_pod("app", initContainers=init))

    pod = kube.get(r.POD, "app")

    assert pod["status"]["phase"] == "Pending"
    [failing] = pod["status"]["initContainerStatuses"]
    assert failing["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert failing["lastState"]["terminated"]["exitCode"] == 1
    assert container_status(pod)["state"]["waiting"]["reason"] == "PodInitializing"
    initialized = condition(pod, "Initialized")
    assert initialized["message"] == "containers with incomplete status: [migrate]"


def test_a_failing_init_container_fails_a_never_restarting_pod(kube):
    init = [{"name": "migrate", "image": "kubesim/fail"}]
    kube.create(r.POD, bare_pod("app", initContainers=init, restartPolicy="Never"))

    assert kube.get(r.POD, "app")["status"]["phase"] == "Failed"
