"""Each row of kubesim/FAILURE-MODES.md: what a real cluster shows, and the fix."""

from __future__ import annotations

import pytest

from kubesim import resources as r
from kubesim.clock import parse_time

from .test_controllers import (
    condition,
    container_status,
    deployment,
    running,
    set_image,
)


@pytest.fixture
def kube():
    """A fresh simulated cluster in instant mode."""
    yield from running()


def waiting(pod: dict) -> dict:
    """Return the first container's waiting state (fails when not waiting)."""
    return container_status(pod)["state"]["waiting"]


def healthy(kube, app: str, replicas: int = 3) -> bool:
    """Return whether the Deployment's pods all run and are ready."""
    pods = kube.pods(app)
    return len(pods) == replicas and all(
        p["status"]["phase"] == "Running" and condition(p, "Ready")["status"] == "True"
        for p in pods
    )


def messages(kube, obj: dict) -> list[str]:
    """Return the messages of the events about an object."""
    return [e["message"] for e in kube.events_for(obj)]


# ----- images that cannot be pulled


def test_missing_image_goes_from_err_image_pull_to_back_off(kube):
    kube.create(r.DEPLOYMENT, deployment("web", image="nginx:doesnotexist", replicas=1))

    [pod] = kube.pods("web")
    assert pod["status"]["phase"] == "Pending"
    state = waiting(pod)
    assert state["reason"] == "ImagePullBackOff"
    assert state["message"].startswith(
        'Back-off pulling image "nginx:doesnotexist": ErrImagePull: rpc error: code = '
        "NotFound"
    )
    assert container_status(pod)["ready"] is False
    told = messages(kube, pod)
    assert any(
        m.startswith('Failed to pull image "nginx:doesnotexist": ') for m in told
    )
    assert "Error: ErrImagePull" in told
    assert "Error: ImagePullBackOff" in told
    assert condition(pod, "Ready")["reason"] == "ContainersNotReady"


def test_image_pull_is_retried_with_growing_counts(kube):
    kube.create(r.DEPLOYMENT, deployment("web", image="nginx:notfound", replicas=1))
    [pod] = kube.pods("web")

    def pull_failures():
        return next(
            e["count"]
            for e in kube.events_for(pod)
            if e["message"].startswith("Failed to pull")
        )

    assert pull_failures() == 1
    kube.advance(10)
    assert pull_failures() == 2
    kube.advance(20)
    assert pull_failures() == 3
    assert (
        waiting(kube.get(r.POD, pod["metadata"]["name"]))["reason"]
        == "ImagePullBackOff"
    )


def test_fixing_the_tag_rolls_out_running_pods(kube):
    kube.create(r.DEPLOYMENT, deployment("web", image="nginx:doesnotexist"))

    kube.change(r.DEPLOYMENT, "web", set_image("nginx:1.27"))

    assert healthy(kube, "web")
    status = kube.get(r.DEPLOYMENT, "web")["status"]
    assert (status["updatedReplicas"], status["availableReplicas"]) == (3, 3)


def test_private_registry_needs_a_pull_secret(kube):
    image = "private.registry.example/team/api:1.0"
    kube.create(r.DEPLOYMENT, deployment("api", image=image, replicas=1))
    [pod] = kube.pods("api")
    assert waiting(pod)["reason"] == "ImagePullBackOff"
    assert "pull access denied" in waiting(pod)["message"]

    kube.create(
        r.SECRET,
        {
            "metadata": {"name": "registry"},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": "e30="},
        },
    )
    kube.change(
        r.DEPLOYMENT,
        "api",
        lambda d: d["spec"]["template"]["spec"].__setitem__(
            "imagePullSecrets", [{"name": "registry"}]
        ),
    )

    assert healthy(kube, "api", 1)
    assert container_status(kube.pods("api")[0])["image"] == image


def test_a_pull_secret_on_the_service_account_is_enough(kube):
    kube.create(r.SECRET, {"metadata": {"name": "registry"}, "data": {"x": "eA=="}})
    kube.change(
        r.SERVICEACCOUNT,
        "default",
        lambda sa: sa.__setitem__("imagePullSecrets", [{"name": "registry"}]),
    )

    kube.create(
        r.DEPLOYMENT,
        deployment("api", image="private.registry.example/api:1", replicas=1),
    )

    assert healthy(kube, "api", 1)


def test_invalid_image_name_is_reported(kube):
    kube.create(r.DEPLOYMENT, deployment("web", image="Nginx:Latest", replicas=1))

    [pod] = kube.pods("web")

    assert waiting(pod)["reason"] == "InvalidImageName"
    assert "invalid reference format" in waiting(pod)["message"]


# ----- crash loops


def test_crashloop_backs_off_with_rising_restarts(kube):
    kube.create(r.DEPLOYMENT, deployment("web", image="kubesim/crashloop", replicas=1))

    [pod] = kube.pods("web")
    assert pod["status"]["phase"] == "Running"
    app = container_status(pod)
    assert app["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert app["state"]["waiting"]["message"].startswith(
        "back-off 10s restarting failed container=app "
        f"pod={pod['metadata']['name']}_default("
    )
    assert app["restartCount"] == 1
    assert (app["ready"], app["started"]) == (False, False)
    last = app["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"]) == (1, "Error")
    assert last["startedAt"] and last["finishedAt"] and last["containerID"]
    assert any(
        m.startswith("Back-off restarting failed container app in pod")
        for m in messages(kube, pod)
    )

    kube.advance(10)
    assert (
        container_status(kube.get(r.POD, pod["metadata"]["name"]))["restartCount"] == 2
    )
    kube.advance(20)
    app = container_status(kube.get(r.POD, pod["metadata"]["name"]))
    assert app["restartCount"] == 3
    assert "back-off 40s" in app["state"]["waiting"]["message"]


def test_a_long_crashloop_caps_its_back_off_at_five_minutes(kube):
    kube.create(r.DEPLOYMENT, deployment("web", image="kubesim/crashloop", replicas=1))
    [pod] = kube.pods("web")

    kube.advance(3600)

    app = container_status(kube.get(r.POD, pod["metadata"]["name"]))
    # 0 + 10 + 20 + 40 + 80 + 160 s, then one restart every 300 s.
    assert 14 <= app["restartCount"] <= 18
    assert "back-off 5m0s" in app["state"]["waiting"]["message"]


def test_crashloop_previous_logs_show_the_error(kube):
    kube.create(r.DEPLOYMENT, deployment("web", image="kubesim/crashloop", replicas=1))
    [pod] = kube.pods("web")

    lines = [text for _, text in kube.manager.log_lines(pod, "app", previous=True)]

    assert "panic: dial tcp 10.96.0.20:5432: connect: connection refused" in lines
    assert 'level=info msg="starting app"' in lines[0]


def test_fixing_a_crashloop_image_makes_the_deployment_healthy(kube):
    kube.create(r.DEPLOYMENT, deployment("web", image="kubesim/crashloop"))
    assert condition(kube.get(r.DEPLOYMENT, "web"), "Available")["status"] == "False"

    kube.change(r.DEPLOYMENT, "web", set_image("nginx:1.27"))

    assert healthy(kube, "web")
    assert condition(kube.get(r.DEPLOYMENT, "web"), "Available")["status"] == "True"


# ----- out of memory


def memhog(need: str, limit: str | None) -> dict:
    """Return a Deployment running kubesim/memhog:<need> under a memory limit."""
    resources = {"limits": {"memory": limit}} if limit else {}
    return deployment(
        "hog", image=f"kubesim/memhog:{need}", replicas=1, resources=resources
    )


def test_memhog_over_its_limit_is_oom_killed(kube):
    kube.create(r.DEPLOYMENT, memhog("256Mi", "128Mi"))

    app = container_status(kube.pods("hog")[0])

    last = app["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"]) == (137, "OOMKilled")
    assert app["state"]["waiting"]["reason"] == "CrashLoopBackOff"


def test_raising_the_memory_limit_fixes_the_oom(kube):
    kube.create(r.DEPLOYMENT, memhog("256Mi", "128Mi"))

    def raise_limit(d):
        d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"][
            "memory"
        ] = "512Mi"

    kube.change(r.DEPLOYMENT, "hog", raise_limit)

    assert healthy(kube, "hog", 1)
    assert container_status(kube.pods("hog")[0])["restartCount"] == 0


def test_memhog_without_a_limit_runs(kube):
    kube.create(r.DEPLOYMENT, memhog("256Mi", None))

    assert healthy(kube, "hog", 1)


def test_an_ordinary_image_below_its_need_is_oom_killed(kube):
    kube.create(
        r.DEPLOYMENT,
        deployment(
            "db",
            image="postgres:16",
            replicas=1,
            resources={"limits": {"memory": "16Mi"}},
        ),
    )

    last = container_status(kube.pods("db")[0])["lastState"]["terminated"]

    assert last["reason"] == "OOMKilled"


def test_kubesim_oom_is_killed_whatever_the_limit(kube):
    kube.create(
        r.DEPLOYMENT,
        deployment(
            "leak",
            image="kubesim/oom",
            replicas=1,
            resources={"limits": {"memory": "8Gi"}},
        ),
    )

    assert (
        container_status(kube.pods("leak")[0])["lastState"]["terminated"]["exitCode"]
        == 137
    )


# ----- scheduling


def hungry(cpu: str) -> dict:
    """Return a one-replica Deployment requesting that much CPU."""
    return deployment(
        "big", replicas=1, resources={"requests": {"cpu": cpu, "memory": "64Mi"}}
    )


def test_requests_no_node_fits_leave_the_pod_unschedulable(kube):
    kube.create(r.DEPLOYMENT, hungry("8"))

    [pod] = kube.pods("big")
    assert pod["status"]["phase"] == "Pending"
    assert "nodeName" not in pod["spec"]
    scheduled = condition(pod, "PodScheduled")
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
    assert scheduled["message"] == (
        "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are "
        "available: "
        "3 No preemption victims found for incoming pod."
    )
    [event] = [e for e in kube.events_for(pod) if e["reason"] == "FailedScheduling"]
    assert (event["type"], event["message"]) == ("Warning", scheduled["message"])
    assert event["source"] == {"component": "default-scheduler"}

    kube.advance(60)
    [event] = [e for e in kube.events_for(pod) if e["reason"] == "FailedScheduling"]
    assert event["count"] == 2


def test_lowering_the_requests_schedules_the_pod(kube):
    kube.create(r.DEPLOYMENT, hungry("8"))

    def lower(d):
        d["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"][
            "cpu"
        ] = "500m"

    kube.change(r.DEPLOYMENT, "big", lower)

    assert healthy(kube, "big", 1)


def test_nodes_fill_up_and_free_room_is_reused(kube):
    kube.create(
        r.DEPLOYMENT,
        deployment("fill", replicas=4, resources={"requests": {"cpu": "3"}}),
    )

    pending = [p for p in kube.pods("fill") if not p["spec"].get("nodeName")]
    assert len(pending) == 1
    assert "3 Insufficient cpu" in condition(pending[0], "PodScheduled")["message"]

    kube.change(r.DEPLOYMENT, "fill", lambda d: d["spec"].__setitem__("replicas", 3))
    kube.create(
        r.DEPLOYMENT,
        deployment(
            "small", replicas=1, resources={"requests": {"cpu": "1", "memory": "7Gi"}}
        ),
    )

    assert healthy(kube, "fill")
    assert healthy(kube, "small", 1)


def test_memory_and_selector_failures_are_counted_per_node(kube):
    kube.change(
        r.NODE,
        "kubesim-node-1",
        lambda n: n["metadata"]["labels"].__setitem__("disk", "ssd"),
        namespace=None,
    )
    body = deployment(
        "picky",
        replicas=1,
        resources={"requests": {"memory": "9Gi"}},
    )
    body["spec"]["template"]["spec"]["nodeSelector"] = {"disk": "ssd"}

    kube.create(r.DEPLOYMENT, body)

    message = condition(kube.pods("picky")[0], "PodScheduled")["message"]
    assert message.startswith(
        "0/3 nodes are available: 1 Insufficient memory, 2 node(s) didn't match Pod's "
        "node "
        "affinity/selector. preemption: 0/3 nodes are available: 1 No preemption "
        "victims "
        "found for incoming pod, 2 Preemption is not helpful for scheduling."
    )


def test_a_pod_that_tolerates_nothing_avoids_a_tainted_node(kube):
    for name in ("kubesim-node-1", "kubesim-node-2", "kubesim-node-3"):
        kube.change(
            r.NODE,
            name,
            lambda n: n["spec"].__setitem__(
                "taints", [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
            ),
            namespace=None,
        )

    kube.create(r.DEPLOYMENT, deployment("web", replicas=1))

    message = condition(kube.pods("web")[0], "PodScheduled")["message"]
    assert message.startswith(
        "0/3 nodes are available: 3 node(s) had untolerated taint {dedicated: gpu}."
    )


# ----- missing configuration


def with_env(name: str, env: list | None = None, env_from: list | None = None) -> dict:
    """Return a Deployment whose container reads env from ConfigMaps or Secrets."""
    extra = {}
    if env:
        extra["env"] = env
    if env_from:
        extra["envFrom"] = env_from
    return deployment(name, replicas=1, **extra)


PASSWORD = [
    {
        "name": "PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}},
    }
]


def test_missing_secret_is_a_create_container_config_error(kube):
    kube.create(r.DEPLOYMENT, with_env("api", PASSWORD))

    [pod] = kube.pods("api")

    assert pod["status"]["phase"] == "Pending"
    assert waiting(pod) == {
        "reason": "CreateContainerConfigError",
        "message": 'secret "db" not found',
    }
    assert 'Error: secret "db" not found' in messages(kube, pod)


def test_missing_secret_key_names_the_key_and_resolves_when_added(kube):
    kube.create(r.SECRET, {"metadata": {"name": "db"}, "data": {"user": "YWRtaW4="}})
    kube.create(r.DEPLOYMENT, with_env("api", PASSWORD))
    [pod] = kube.pods("api")
    assert waiting(pod)["message"] == "couldn't find key password in Secret default/db"

    kube.change(r.SECRET, "db", lambda s: s["data"].__setitem__("password", "czNjcjN0"))

    assert healthy(kube, "api", 1)


def test_missing_configmap_key_resolves_when_the_configmap_appears(kube):
    env = [
        {
            "name": "MODE",
            "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}},
        }
    ]
    kube.create(r.DEPLOYMENT, with_env("api", env))
    assert waiting(kube.pods("api")[0])["message"] == 'configmap "settings" not found'

    kube.create(r.CONFIGMAP, {"metadata": {"name": "settings"}, "data": {"other": "x"}})
    assert waiting(kube.pods("api")[0])["message"] == (
        "couldn't find key mode in ConfigMap default/settings"
    )

    kube.change(
        r.CONFIGMAP, "settings", lambda c: c["data"].__setitem__("mode", "fast")
    )
    assert healthy(kube, "api", 1)


def test_optional_references_do_not_block(kube):
    env = [
        {
            "name": "MODE",
            "valueFrom": {
                "configMapKeyRef": {"name": "settings", "key": "mode", "optional": True}
            },
        }
    ]
    kube.create(
        r.DEPLOYMENT,
        with_env("api", env, [{"secretRef": {"name": "x", "optional": True}}]),
    )

    assert healthy(kube, "api", 1)


def test_env_from_a_missing_configmap_blocks_the_container(kube):
    kube.create(
        r.DEPLOYMENT, with_env("api", env_from=[{"configMapRef": {"name": "cfg"}}])
    )

    assert waiting(kube.pods("api")[0]) == {
        "reason": "CreateContainerConfigError",
        "message": 'configmap "cfg" not found',
    }


def test_a_missing_configmap_volume_keeps_the_pod_creating(kube):
    body = deployment(
        "web", replicas=1, volumeMounts=[{"name": "cfg", "mountPath": "/etc/x"}]
    )
    body["spec"]["template"]["spec"]["volumes"] = [
        {"name": "cfg", "configMap": {"name": "app"}}
    ]
    kube.create(r.DEPLOYMENT, body)

    [pod] = kube.pods("web")
    assert waiting(pod)["reason"] == "ContainerCreating"
    assert condition(pod, "PodReadyToStartContainers")["status"] == "False"
    assert (
        'MountVolume.SetUp failed for volume "cfg" : configmap "app" not found'
        in messages(kube, pod)
    )

    kube.create(r.CONFIGMAP, {"metadata": {"name": "app"}, "data": {"a": "b"}})
    assert healthy(kube, "web", 1)


# ----- readiness


def test_unready_image_runs_but_never_becomes_ready(kube):
    probe = {"httpGet": {"path": "/healthz", "port": 80}}
    kube.create(
        r.DEPLOYMENT,
        deployment("web", image="kubesim/unready", replicas=1, readinessProbe=probe),
    )

    [pod] = kube.pods("web")

    assert pod["status"]["phase"] == "Running"
    assert container_status(pod)["ready"] is False
    assert condition(pod, "Ready")["status"] == "False"
    assert "Readiness probe failed: HTTP probe failed with statuscode: 503" in messages(
        kube, pod
    )


@pytest.mark.parametrize(
    "image",
    [
        "nginx:1.27",
        "postgres:16",
        "redis:7",
        "busybox",
        "ghcr.io/acme/app:2.1",
        "kubesim/unready",
    ],
)
def test_ordinary_images_run_fine(kube, image):
    kube.create(r.DEPLOYMENT, deployment("web", image=image, replicas=2))

    assert healthy(kube, "web", 2)


def test_a_pod_unblocked_later_starts_then_not_back_at_creation(kube):
    body = deployment(
        "web", replicas=1, volumeMounts=[{"name": "cfg", "mountPath": "/x"}]
    )
    body["spec"]["template"]["spec"]["volumes"] = [
        {"name": "cfg", "configMap": {"name": "app"}}
    ]
    kube.create(r.DEPLOYMENT, body)
    kube.advance(600)

    kube.create(r.CONFIGMAP, {"metadata": {"name": "app"}, "data": {"a": "b"}})

    [pod] = kube.pods("web")
    started = parse_time(container_status(pod)["state"]["running"]["startedAt"])
    assert started.timestamp() >= kube.clock.time() - 2  # now, not ten minutes ago


def test_a_running_pod_keeps_its_mounts_when_the_configmap_goes(kube):
    kube.create(r.CONFIGMAP, {"metadata": {"name": "app"}, "data": {"a": "b"}})
    body = deployment(
        "web", replicas=1, volumeMounts=[{"name": "cfg", "mountPath": "/x"}]
    )
    body["spec"]["template"]["spec"]["volumes"] = [
        {"name": "cfg", "configMap": {"name": "app"}}
    ]
    kube.create(r.DEPLOYMENT, body)

    kube.delete(r.CONFIGMAP, "app")

    assert healthy(kube, "web", 1)
