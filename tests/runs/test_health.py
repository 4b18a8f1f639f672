"""The health rules of HEALTH.md, one kind at a time, on API-shaped objects."""

from datetime import UTC, datetime, timedelta

import pytest

from runs.health import (
    Health,
    HealthState,
    SnapshotView,
    assess,
    assess_node,
    worst,
)

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
WORKFLOW = "6f1c2a9e-0d7b-4c55-9a51-3f2f0c1e8b77"
NAMESPACE = "shop"


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def ownership(node: str) -> dict:
    return {
        "app.kubernetes.io/managed-by": "kubeorch",
        "kubeorch.io/workflow": WORKFLOW,
        "kubeorch.io/node": node,
    }


def metadata(name, *, uid=None, labels=None, owner=None, **extra) -> dict:
    meta = {
        "name": name,
        "namespace": NAMESPACE,
        "uid": uid or f"uid-{name}",
        "resourceVersion": "100",
        "generation": 1,
        "creationTimestamp": stamp(NOW - timedelta(minutes=5)),
        "labels": labels if labels is not None else ownership(name),
    }
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    meta.update(extra)
    return meta


def running(name="app", *, ready=True, restarts=0, last_terminated=None) -> dict:
    status = {
        "name": name,
        "image": "nginx:1.27",
        "imageID": "docker.io/library/nginx@sha256:abc",
        "ready": ready,
        "started": True,
        "restartCount": restarts,
        "state": {"running": {"startedAt": stamp(NOW - timedelta(minutes=4))}},
        "lastState": {},
    }
    if last_terminated:
        status["lastState"] = {"terminated": last_terminated}
    return status


def waiting(reason, message="", *, name="app", restarts=0, last_terminated=None):
    status = {
        "name": name,
        "image": "nginx:doesnotexist",
        "imageID": "",
        "ready": False,
        "started": False,
        "restartCount": restarts,
        "state": {"waiting": {"reason": reason, "message": message}},
        "lastState": {},
    }
    if last_terminated:
        status["lastState"] = {"terminated": last_terminated}
    return status


def pod(
    name,
    *,
    node="web",
    phase="Running",
    ready=True,
    containers=None,
    owner=None,
    scheduled=True,
    unschedulable_message=None,
    labels=None,
    restart_policy="Always",
    ports=(80,),
) -> dict:
    pod_labels = labels if labels is not None else {**ownership(node), "app": node}
    conditions = [
        {"type": "Initialized", "status": "True"},
        {"type": "Ready", "status": "True" if ready else "False"},
        {"type": "ContainersReady", "status": "True" if ready else "False"},
        {"type": "PodScheduled", "status": "True" if scheduled else "False"},
    ]
    if unschedulable_message:
        conditions[-1].update(reason="Unschedulable", message=unschedulable_message)
    statuses = containers if containers is not None else [running(ready=ready)]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata(name, labels=pod_labels, owner=owner),
        "spec": {
            "restartPolicy": restart_policy,
            "containers": [
                {
                    "name": "app",
                    "image": "nginx:1.27",
                    "ports": [{"containerPort": p, "protocol": "TCP"} for p in ports],
                }
            ],
        },
        "status": {
            "phase": phase,
            "conditions": conditions,
            "containerStatuses": statuses if scheduled else [],
            "podIP": "10.244.0.12",
        },
    }


def deployment(name="web", *, replicas=3, status=None, generation=1, revision="1"):
    labels = ownership(name)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(
            name,
            generation=generation,
            annotations={"deployment.kubernetes.io/revision": revision},
        ),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {k: labels[k] for k in list(labels)[1:]}},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": []}},
        },
        "status": status
        if status is not None
        else {
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True",
                    "reason": "MinimumReplicasAvailable",
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "NewReplicaSetAvailable",
                },
            ],
        },
    }


def replica_set(owner, name, revision, created):
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": metadata(
            name,
            owner=owner,
            creationTimestamp=stamp(created),
            annotations={"deployment.kubernetes.io/revision": revision},
            labels=ownership(owner["metadata"]["name"]),
        ),
        "spec": {"replicas": 1, "selector": owner["spec"]["selector"]},
        "status": {"observedGeneration": 1, "replicas": 1},
    }


def view(*objects) -> SnapshotView:
    return SnapshotView(objects)


def judge(obj, *others, now=NOW) -> Health:
    return assess(obj, view(obj, *others), now)


# --- States -------------------------------------------------------------------


def test_states_are_ordered_worst_last():
    assert [s.value for s in sorted(HealthState, key=lambda s: s.severity)] == [
        "healthy",
        "suspended",
        "progressing",
        "missing",
        "degraded",
        "unknown",
    ]


def test_worst_picks_the_worst_state_and_defaults_to_healthy():
    assert worst([HealthState.HEALTHY, HealthState.MISSING]) == HealthState.MISSING
    assert worst([HealthState.DEGRADED, HealthState.UNKNOWN]) == HealthState.UNKNOWN
    assert worst([]) == HealthState.HEALTHY


def test_an_object_being_deleted_is_progressing():
    web = deployment()
    web["metadata"]["deletionTimestamp"] = stamp(NOW)
    health = judge(web)
    assert (health.state, health.message) == (HealthState.PROGRESSING, "deleting")


# --- Deployment -------------------------------------------------------------------


def test_deployment_with_every_replica_updated_and_available_is_healthy():
    health = judge(deployment())
    assert health.state == HealthState.HEALTHY
    assert (health.ready, health.desired, health.message) == (3, 3, "3/3 ready")


def test_deployment_mid_rollout_shows_ready_over_desired():
    web = deployment(
        status={
            "observedGeneration": 1,
            "replicas": 3,
            "updatedReplicas": 3,
            "readyReplicas": 2,
            "availableReplicas": 2,
        }
    )
    health = judge(web)
    assert (health.state, health.message) == (HealthState.PROGRESSING, "2/3 ready")


def test_deployment_with_old_replicas_left_is_progressing():
    web = deployment(
        status={
            "observedGeneration": 1,
            "replicas": 4,
            "updatedReplicas": 3,
            "readyReplicas": 3,
            "availableReplicas": 3,
        }
    )
    health = judge(web)
    assert health.state == HealthState.PROGRESSING
    assert "1 old replica" in health.message


def test_deployment_whose_generation_is_not_observed_is_progressing():
    web = deployment(generation=2)
    web["status"]["observedGeneration"] = 1
    assert judge(web).state == HealthState.PROGRESSING


def test_deployment_past_its_progress_deadline_is_degraded():
    web = deployment(
        status={
            "observedGeneration": 1,
            "replicas": 3,
            "updatedReplicas": 3,
            "readyReplicas": 1,
            "availableReplicas": 1,
            "conditions": [
                {
                    "type": "Progressing",
                    "status": "False",
                    "reason": "ProgressDeadlineExceeded",
                    "message": 'ReplicaSet "web-7d4b9c" has timed out progressing.',
                }
            ],
        }
    )
    health = judge(web)
    assert (health.state, health.message) == (
        HealthState.DEGRADED,
        "progress deadline exceeded",
    )
    assert health.evidence["reason"] == "ProgressDeadlineExceeded"


def rolling_out(**status_overrides):
    status = {
        "observedGeneration": 1,
        "replicas": 1,
        "updatedReplicas": 1,
        "readyReplicas": 0,
        "availableReplicas": 0,
        "unavailableReplicas": 1,
    }
    status.update(status_overrides)
    return deployment(replicas=1, status=status)


def test_deployment_is_degraded_at_once_when_its_pod_cannot_pull_its_image():
    web = rolling_out()
    rs = replica_set(web, "web-7d4b9c", "1", NOW - timedelta(minutes=1))
    message = 'Back-off pulling image "nginx:doesnotexist"'
    failing = pod(
        "web-7d4b9c-x2k4p",
        ready=False,
        owner=rs,
        containers=[waiting("ImagePullBackOff", message)],
    )
    health = judge(web, rs, failing)
    assert health.state == HealthState.DEGRADED
    assert health.message == message
    assert health.evidence["pod"] == "web-7d4b9c-x2k4p"
    assert health.evidence["reason"] == "ImagePullBackOff"
    assert (health.ready, health.desired) == (0, 1)


def test_deployment_is_degraded_at_once_when_its_pod_crash_loops():
    web = rolling_out()
    rs = replica_set(web, "web-7d4b9c", "1", NOW - timedelta(minutes=1))
    crashed = {"exitCode": 1, "reason": "Error", "finishedAt": stamp(NOW)}
    failing = pod(
        "web-7d4b9c-x2k4p",
        ready=False,
        owner=rs,
        containers=[
            waiting(
                "CrashLoopBackOff",
                "back-off 40s restarting failed container=app",
                restarts=4,
                last_terminated=crashed,
            )
        ],
    )
    health = judge(web, rs, failing)
    assert health.state == HealthState.DEGRADED
    assert "keeps crashing" in health.message and "exit code 1" in health.message
    assert health.evidence["restart_count"] == 4
    assert health.evidence["exit_code"] == 1


def test_deployment_is_degraded_when_its_pod_was_oom_killed():
    web = rolling_out()
    rs = replica_set(web, "web-7d4b9c", "1", NOW - timedelta(minutes=1))
    oom = {"exitCode": 137, "reason": "OOMKilled", "finishedAt": stamp(NOW)}
    failing = pod(
        "web-7d4b9c-x2k4p",
        ready=False,
        owner=rs,
        containers=[
            waiting("CrashLoopBackOff", "back-off", restarts=2, last_terminated=oom)
        ],
    )
    health = judge(web, rs, failing)
    assert health.state == HealthState.DEGRADED
    assert health.message.startswith("container app runs out of memory (OOMKilled")
    assert health.evidence["terminated_reason"] == "OOMKilled"
    assert health.evidence["exit_code"] == 137


def test_deployment_is_degraded_when_its_pod_cannot_be_scheduled():
    web = rolling_out()
    rs = replica_set(web, "web-7d4b9c", "1", NOW - timedelta(minutes=1))
    stuck = pod(
        "web-7d4b9c-x2k4p",
        phase="Pending",
        ready=False,
        owner=rs,
        scheduled=False,
        unschedulable_message="0/3 nodes are available: 3 Insufficient cpu.",
    )
    health = judge(web, rs, stuck)
    assert health.state == HealthState.DEGRADED
    assert health.message == "0/3 nodes are available: 3 Insufficient cpu."
    assert health.evidence["condition"] == "PodScheduled"


def test_deployment_ignores_failing_pods_of_an_old_replica_set():
    web = rolling_out()
    web["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "2"
    old = replica_set(web, "web-old111", "1", NOW - timedelta(minutes=9))
    new = replica_set(web, "web-new222", "2", NOW - timedelta(minutes=1))
    old_pod = pod(
        "web-old111-aaaaa",
        ready=False,
        owner=old,
        containers=[waiting("CrashLoopBackOff", "back-off", restarts=9)],
    )
    new_pod = pod(
        "web-new222-bbbbb",
        phase="Pending",
        ready=False,
        owner=new,
        containers=[waiting("ContainerCreating")],
    )
    health = judge(web, old, new, old_pod, new_pod)
    assert health.state == HealthState.PROGRESSING


def test_paused_deployment_is_suspended():
    web = deployment()
    web["spec"]["paused"] = True
    assert judge(web).state == HealthState.SUSPENDED


# --- StatefulSet -------------------------------------------------------------------


def statefulset(*, replicas=2, ready=2, current="db-5c8", update="db-5c8", **spec):
    labels = ownership("db")
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata("db"),
        "spec": {
            "replicas": replicas,
            "serviceName": "db",
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}},
            **spec,
        },
        "status": {
            "observedGeneration": 1,
            "replicas": replicas,
            "readyReplicas": ready,
            "currentReplicas": replicas,
            "updatedReplicas": replicas if current == update else 0,
            "currentRevision": current,
            "updateRevision": update,
        },
    }


def test_statefulset_ready_on_its_current_revision_is_healthy():
    health = judge(statefulset())
    assert (health.state, health.message) == (HealthState.HEALTHY, "2/2 ready")


def test_statefulset_with_pods_not_ready_is_progressing():
    health = judge(statefulset(ready=1))
    assert (health.state, health.message) == (HealthState.PROGRESSING, "1/2 ready")


def test_statefulset_updating_to_a_new_revision_is_progressing():
    assert judge(statefulset(update="db-9f1")).state == HealthState.PROGRESSING


def test_statefulset_with_a_satisfied_partition_is_healthy():
    db = statefulset(
        update="db-9f1",
        updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 1}},
    )
    db["status"]["updatedReplicas"] = 1
    assert judge(db).state == HealthState.HEALTHY


def test_statefulset_is_degraded_when_a_pod_of_it_is_degraded():
    db = statefulset(ready=0)
    failing = pod(
        "db-0",
        node="db",
        labels=ownership("db"),
        ready=False,
        owner=db,
        containers=[
            waiting("CreateContainerConfigError", 'secret "db-auth" not found')
        ],
    )
    health = judge(db, failing)
    assert health.state == HealthState.DEGRADED
    assert health.message == 'secret "db-auth" not found'


# --- DaemonSet -------------------------------------------------------------------


def daemonset(*, desired=3, ready=3, updated=3):
    labels = ownership("agent")
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": metadata("agent"),
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}},
        },
        "status": {
            "observedGeneration": 1,
            "desiredNumberScheduled": desired,
            "currentNumberScheduled": desired,
            "numberReady": ready,
            "numberAvailable": ready,
            "updatedNumberScheduled": updated,
        },
    }


def test_daemonset_with_a_ready_updated_pod_per_node_is_healthy():
    assert judge(daemonset()).state == HealthState.HEALTHY


def test_daemonset_not_yet_updated_everywhere_is_progressing():
    assert judge(daemonset(updated=2)).state == HealthState.PROGRESSING
    assert judge(daemonset(ready=1)).state == HealthState.PROGRESSING


def test_daemonset_is_degraded_when_a_pod_of_it_is_degraded():
    agent = daemonset(ready=2)
    failing = pod(
        "agent-7xk2q",
        node="agent",
        labels=ownership("agent"),
        ready=False,
        owner=agent,
        containers=[waiting("ErrImagePull", "manifest unknown")],
    )
    assert judge(agent, failing).state == HealthState.DEGRADED


# --- ReplicaSet ------------------------------------------------------------------


def test_replicaset_rules():
    web = deployment()
    rs = replica_set(web, "web-7d4b9c", "1", NOW)
    rs["status"].update(readyReplicas=1, availableReplicas=1)
    assert judge(rs).state == HealthState.HEALTHY
    rs["status"].update(availableReplicas=0, readyReplicas=0)
    assert judge(rs).state == HealthState.PROGRESSING
    rs["status"]["conditions"] = [
        {
            "type": "ReplicaFailure",
            "status": "True",
            "reason": "FailedCreate",
            "message": 'pods "web-7d4b9c-" is forbidden: exceeded quota',
        }
    ]
    assert judge(rs).state == HealthState.DEGRADED


# --- Job and CronJob --------------------------------------------------------------


def job(name="migrate", *, conditions=(), active=0, owner=None, suspend=False, **st):
    labels = ownership(name)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(name, owner=owner),
        "spec": {
            "suspend": suspend,
            "backoffLimit": 2,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}},
            "template": {"metadata": {"labels": labels}},
        },
        "status": {"active": active, "conditions": list(conditions), **st},
    }


def test_job_with_condition_complete_is_healthy():
    done = job(
        conditions=[{"type": "Complete", "status": "True"}],
        succeeded=1,
        completionTime=stamp(NOW),
    )
    assert judge(done).state == HealthState.HEALTHY


def test_running_job_is_progressing():
    assert judge(job(active=1)).state == HealthState.PROGRESSING


def test_job_with_condition_failed_is_degraded_with_the_reason():
    failed = job(
        conditions=[
            {
                "type": "Failed",
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
            }
        ],
        failed=3,
    )
    health = judge(failed)
    assert health.state == HealthState.DEGRADED
    assert health.message.startswith("BackoffLimitExceeded")


def test_suspended_job_is_suspended():
    assert judge(job(suspend=True)).state == HealthState.SUSPENDED


def cronjob(**status):
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata("nightly"),
        "spec": {"schedule": "0 3 * * *", "suspend": False, "jobTemplate": {}},
        "status": status,
    }


def test_cronjob_with_nothing_scheduled_yet_is_healthy():
    assert judge(cronjob()).state == HealthState.HEALTHY


def test_cronjob_whose_job_runs_is_progressing():
    running_job = {"kind": "Job", "name": "nightly-2899", "namespace": NAMESPACE}
    nightly = cronjob(active=[running_job], lastScheduleTime=stamp(NOW))
    assert judge(nightly).state == HealthState.PROGRESSING


def test_cronjob_whose_last_job_succeeded_is_healthy():
    nightly = cronjob(
        lastScheduleTime=stamp(NOW - timedelta(hours=1)),
        lastSuccessfulTime=stamp(NOW - timedelta(minutes=59)),
    )
    assert judge(nightly).state == HealthState.HEALTHY


def test_cronjob_whose_last_job_failed_is_degraded():
    nightly = cronjob(lastScheduleTime=stamp(NOW - timedelta(hours=1)))
    failed = job(
        "nightly-2899",
        owner=nightly,
        conditions=[
            {
                "type": "Failed",
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
            }
        ],
    )
    health = judge(nightly, failed)
    assert health.state == HealthState.DEGRADED
    assert health.message.startswith("its last job failed")
    assert health.evidence["job"] == "nightly-2899"


def test_suspended_cronjob_is_suspended():
    nightly = cronjob()
    nightly["spec"]["suspend"] = True
    assert judge(nightly).state == HealthState.SUSPENDED


# --- Pod ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reason",
    [
        "ImagePullBackOff",
        "ErrImagePull",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "RunContainerError",
    ],
)
def test_pod_with_a_container_waiting_on_a_failure_reason_is_degraded(reason):
    failing = pod("api-0", ready=False, containers=[waiting(reason, "boom")])
    health = judge(failing)
    assert health.state == HealthState.DEGRADED
    assert health.evidence["reason"] == reason


def test_pod_running_and_ready_or_succeeded_is_healthy():
    assert judge(pod("api-0")).state == HealthState.HEALTHY
    assert judge(pod("api-1", phase="Succeeded", ready=False)).state == (
        HealthState.HEALTHY
    )


def test_pod_creating_or_not_ready_yet_is_progressing():
    creating = pod(
        "api-0", phase="Pending", ready=False, containers=[waiting("ContainerCreating")]
    )
    assert judge(creating).state == HealthState.PROGRESSING
    assert judge(pod("api-1", ready=False)).state == HealthState.PROGRESSING


def test_failed_pod_is_degraded():
    failed = pod("api-0", phase="Failed", ready=False, restart_policy="Never")
    failed["status"]["reason"] = "Evicted"
    failed["status"]["message"] = "The node was low on resource: memory."
    health = judge(failed)
    assert health.state == HealthState.DEGRADED
    assert health.message == "The node was low on resource: memory."


def test_pod_running_but_not_ready_after_a_restart_is_degraded():
    restarted = pod(
        "api-0",
        ready=False,
        containers=[
            running(
                ready=False,
                restarts=1,
                last_terminated={"exitCode": 2, "reason": "Error"},
            )
        ],
    )
    health = judge(restarted)
    assert health.state == HealthState.DEGRADED
    assert health.evidence["exit_code"] == 2


def test_unschedulable_pod_is_degraded():
    stuck = pod(
        "api-0",
        phase="Pending",
        ready=False,
        scheduled=False,
        unschedulable_message="0/1 nodes are available: 1 Insufficient memory.",
    )
    assert judge(stuck).state == HealthState.DEGRADED


def test_degraded_pod_carries_its_last_warning_events():
    failing = pod(
        "api-0",
        ready=False,
        containers=[waiting("ImagePullBackOff", 'Back-off pulling image "x:nope"')],
    )
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": metadata("api-0.17f3", labels={}),
        "involvedObject": {"kind": "Pod", "name": "api-0", "uid": "uid-api-0"},
        "type": "Warning",
        "reason": "Failed",
        "message": 'Failed to pull image "x:nope": not found',
        "count": 4,
        "lastTimestamp": stamp(NOW),
    }
    health = judge(failing, event)
    assert health.evidence["events"] == [
        {
            "reason": "Failed",
            "message": 'Failed to pull image "x:nope": not found',
            "count": 4,
        }
    ]


# --- Service ----------------------------------------------------------------------


def service(name="web-svc", *, selector=None, service_type="ClusterIP", status=None):
    spec = {
        "type": service_type,
        "clusterIP": "10.96.12.7",
        "ports": [{"port": 80, "targetPort": 80, "protocol": "TCP"}],
    }
    if selector is not None:
        spec["selector"] = selector
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name),
        "spec": spec,
        "status": status or {"loadBalancer": {}},
    }


def test_service_selecting_a_ready_pod_is_healthy():
    health = judge(service(selector={"app": "web"}), pod("web-1"))
    assert health.state == HealthState.HEALTHY
    assert health.ready == 1
    assert health.warnings == []


def test_service_warns_while_its_pods_start():
    starting = pod("web-1", ready=False)
    health = judge(service(selector={"app": "web"}), starting)
    assert health.state == HealthState.HEALTHY
    assert health.warnings == ["selects no ready pod yet: 1 starting"]


def test_service_is_degraded_when_pods_are_ready_elsewhere_but_not_selected():
    health = judge(service(selector={"app": "wbe"}), pod("web-1"))
    assert health.state == HealthState.DEGRADED
    assert "selects no pod" in health.message
    assert health.evidence["selector"] == {"app": "wbe"}


def test_service_selecting_nothing_before_any_pod_runs_only_warns():
    health = judge(service(selector={"app": "web"}))
    assert health.state == HealthState.HEALTHY
    assert health.warnings == ["selects no pod yet"]


def test_service_warns_when_its_target_port_is_not_a_container_port():
    health = judge(service(selector={"app": "web"}), pod("web-1", ports=(8080,)))
    assert health.state == HealthState.HEALTHY
    assert health.warnings == ["target port 80 is not a container port (8080)"]


def test_load_balancer_service_needs_an_address():
    pending = service(selector={"app": "web"}, service_type="LoadBalancer")
    assert judge(pending, pod("web-1")).state == HealthState.PROGRESSING
    ready = service(
        selector={"app": "web"},
        service_type="LoadBalancer",
        status={"loadBalancer": {"ingress": [{"ip": "172.18.0.50"}]}},
    )
    assert judge(ready, pod("web-1")).state == HealthState.HEALTHY


def test_service_without_selector_is_healthy_once_it_exists():
    assert judge(service()).state == HealthState.HEALTHY


# --- Ingress -----------------------------------------------------------------------


def ingress(*, backend="web-svc", address=False, age=timedelta(seconds=10)):
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata("site", creationTimestamp=stamp(NOW - age)),
        "spec": {
            "ingressClassName": "nginx",
            "rules": [
                {
                    "host": "shop.example.test",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {
                                    "service": {
                                        "name": backend,
                                        "port": {"number": 80},
                                    }
                                },
                            }
                        ]
                    },
                }
            ],
        },
        "status": {
            "loadBalancer": {"ingress": [{"ip": "172.18.0.60"}]} if address else {}
        },
    }


def test_ingress_with_an_address_is_healthy():
    assert judge(ingress(address=True), service()).state == HealthState.HEALTHY


def test_ingress_without_an_address_is_progressing_within_the_grace_period():
    health = judge(ingress(), service())
    assert health.state == HealthState.PROGRESSING


def test_ingress_without_an_address_after_the_grace_period_is_healthy_with_a_warning():
    late = ingress(age=timedelta(seconds=61))
    health = judge(late, service())
    assert health.state == HealthState.HEALTHY
    assert health.warnings == ["the controller published no address"]


def test_ingress_grace_period_is_configurable():
    late = ingress(age=timedelta(seconds=61))
    health = assess(late, view(late, service()), NOW, ingress_grace=300)
    assert health.state == HealthState.PROGRESSING


def test_ingress_naming_a_missing_backend_service_is_degraded():
    health = judge(ingress(backend="nope", address=True), service())
    assert health.state == HealthState.DEGRADED
    assert health.evidence["missing_services"] == ["nope"]


# --- PVC ---------------------------------------------------------------------------


def storage_class(name, *, mode="Immediate", default=False):
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"}
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "annotations": annotations if default else {},
        },
        "provisioner": "rancher.io/local-path",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": mode,
    }


def claim(*, phase="Pending", class_name=None):
    spec = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}},
        "volumeMode": "Filesystem",
    }
    if class_name is not None:
        spec["storageClassName"] = class_name
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata("data"),
        "spec": spec,
        "status": {"phase": phase},
    }


def test_bound_pvc_is_healthy():
    assert judge(claim(phase="Bound", class_name="standard")).state == (
        HealthState.HEALTHY
    )


def test_pending_pvc_is_progressing():
    health = judge(claim(class_name="standard"), storage_class("standard"))
    assert health.state == HealthState.PROGRESSING
    assert not health.done


def test_pvc_waiting_for_its_first_consumer_never_blocks():
    lazy = storage_class("local-path", mode="WaitForFirstConsumer", default=True)
    health = judge(claim(), lazy)
    assert (health.state, health.message) == (
        HealthState.PROGRESSING,
        "waiting for a consumer",
    )
    assert health.waiting_for_consumer and health.done


def test_lost_pvc_is_degraded():
    assert judge(claim(phase="Lost", class_name="standard")).state == (
        HealthState.DEGRADED
    )


def test_pvc_with_an_unknown_storage_class_is_degraded():
    health = judge(claim(class_name="fast-ssd"), storage_class("standard"))
    assert health.state == HealthState.DEGRADED
    assert health.message == 'storage class "fast-ssd" does not exist'


def test_pvc_with_a_provisioning_failed_event_is_degraded():
    data = claim(class_name="standard")
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": metadata("data.17f3", labels={}),
        "involvedObject": {
            "kind": "PersistentVolumeClaim",
            "name": "data",
            "namespace": NAMESPACE,
            "uid": "uid-data",
        },
        "type": "Warning",
        "reason": "ProvisioningFailed",
        "message": "failed to provision volume: quota exceeded",
        "count": 2,
    }
    health = judge(data, storage_class("standard"), event)
    assert health.state == HealthState.DEGRADED
    assert health.message == "failed to provision volume: quota exceeded"


# --- HPA --------------------------------------------------------------------------


def hpa(*conditions, current_metrics=None):
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata("web-hpa"),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "web",
            },
            "minReplicas": 1,
            "maxReplicas": 5,
        },
        "status": {
            "currentReplicas": 2,
            "desiredReplicas": 2,
            "currentMetrics": current_metrics,
            "conditions": [
                {"type": t, "status": s, "reason": r, "message": m}
                for t, s, r, m in conditions
            ],
        },
    }


ABLE = ("AbleToScale", "True", "ReadyForNewScale", "recommended size matches")
ACTIVE = ("ScalingActive", "True", "ValidMetricFound", "the HPA was able to compute")
METRIC = [{"type": "Resource", "resource": {"name": "cpu"}}]


def test_hpa_able_to_scale_and_active_is_healthy():
    assert judge(hpa(ABLE, ACTIVE, current_metrics=METRIC)).state == (
        HealthState.HEALTHY
    )


def test_hpa_limited_within_its_range_is_healthy():
    limited = ("ScalingLimited", "True", "TooFewReplicas", "the desired count is 0")
    health = judge(hpa(ABLE, ACTIVE, limited, current_metrics=METRIC))
    assert health.state == HealthState.HEALTHY
    assert health.message.startswith("limited within range")


def test_hpa_waiting_for_its_first_metrics_is_progressing():
    no_metrics = (
        "ScalingActive",
        "False",
        "FailedGetResourceMetric",
        "unable to get metrics for resource cpu: no metrics returned",
    )
    assert judge(hpa(ABLE, no_metrics)).state == HealthState.PROGRESSING
    assert judge(hpa()).state == HealthState.PROGRESSING


def test_hpa_that_cannot_get_its_scale_target_is_degraded():
    cannot = (
        "AbleToScale",
        "False",
        "FailedGetScale",
        'deployments/scale.apps "web" not found',
    )
    health = judge(hpa(cannot))
    assert health.state == HealthState.DEGRADED
    assert health.evidence["reason"] == "FailedGetScale"


def test_hpa_on_a_target_without_cpu_requests_is_degraded():
    missing = (
        "ScalingActive",
        "False",
        "FailedGetResourceMetric",
        "failed to get cpu utilization: missing request for cpu in container app",
    )
    health = judge(hpa(ABLE, missing))
    assert health.state == HealthState.DEGRADED
    assert "missing request for cpu" in health.message


def test_hpa_with_an_invalid_selector_is_degraded():
    invalid = ("ScalingActive", "False", "InvalidSelector", "couldn't convert selector")
    assert judge(hpa(ABLE, invalid)).state == HealthState.DEGRADED


# --- Exists kinds, namespaces, custom resources ------------------------------------


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("rbac.authorization.k8s.io/v1", "Role"),
    ],
)
def test_objects_that_only_need_to_exist_are_healthy(api_version, kind):
    obj = {"apiVersion": api_version, "kind": kind, "metadata": metadata("cfg")}
    assert judge(obj).state == HealthState.HEALTHY


def test_namespace_is_healthy_when_active_and_progressing_when_terminating():
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "shop", "uid": "uid-ns"},
        "status": {"phase": "Active"},
    }
    assert judge(namespace).state == HealthState.HEALTHY
    namespace["status"]["phase"] = "Terminating"
    assert judge(namespace).state == HealthState.PROGRESSING


def custom(ready_status=None):
    obj = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": metadata("site-tls"),
        "spec": {"secretName": "site-tls"},
        "status": {},
    }
    if ready_status:
        obj["status"]["conditions"] = [
            {
                "type": "Ready",
                "status": ready_status,
                "reason": "Pending",
                "message": "Issuing certificate as Secret does not exist",
            }
        ]
    return obj


def test_custom_resource_follows_its_ready_condition():
    assert judge(custom()).state == HealthState.HEALTHY
    assert judge(custom("True")).state == HealthState.HEALTHY
    assert judge(custom("Unknown")).state == HealthState.PROGRESSING
    degraded = judge(custom("False"))
    assert degraded.state == HealthState.DEGRADED
    assert degraded.message == "Issuing certificate as Secret does not exist"


def test_malformed_status_is_unknown():
    web = deployment()
    web["status"] = {"observedGeneration": 1, "replicas": "three", "updatedReplicas": 3}
    assert judge(web).state == HealthState.UNKNOWN


# --- Nodes ----------------------------------------------------------------------------


def manifest_of(obj):
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": {
            "name": obj["metadata"]["name"],
            "namespace": obj["metadata"].get("namespace"),
        },
    }


def test_node_health_is_the_worst_of_its_manifests():
    db = statefulset(ready=1)
    headless = service("db", selector=None)
    health = assess_node(
        [manifest_of(db), manifest_of(headless)], view(db, headless), NOW
    )
    assert (health.state, health.message) == (HealthState.PROGRESSING, "1/2 ready")
    assert (health.ready, health.desired) == (1, 2)


def test_node_whose_object_is_not_found_is_missing():
    web = deployment()
    health = assess_node([manifest_of(web)], view(), NOW)
    assert health.state == HealthState.MISSING
    assert health.message == "Deployment web not found in shop"


def test_node_with_a_claim_waiting_for_a_consumer_is_done():
    data = claim()
    lazy = storage_class("local-path", mode="WaitForFirstConsumer", default=True)
    health = assess_node([manifest_of(data)], view(data, lazy), NOW)
    assert health.state == HealthState.PROGRESSING
    assert health.done
