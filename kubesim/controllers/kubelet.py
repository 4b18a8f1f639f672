"""The kubelet of every simulated node: run bound pods and report their status."""

from __future__ import annotations

import math
from collections import Counter

from ..resources import CONFIGMAP, NODE, POD, PVC, SECRET, SERVICEACCOUNT
from .base import Controller
from .containers import ContainerRun, Environment, Told
from .meta import find_condition, is_deleting, make_condition, seconds_of
from .nodes import internal_ip
from .pods import qos_class

COMPONENT = "kubelet"


class Kubelet(Controller):
    """Move bound pods through ContainerCreating, Running, restarts and exits."""

    primary = POD
    name = "kubelet"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._pulls: dict[tuple[str, str], tuple[int, float]] = {}
        self._ips: dict[str, str] = {}  # pod IP -> pod uid
        self._next_ip: Counter = Counter()
        self._blocked: dict[str, set[str]] = {}  # namespace -> pods waiting on objects
        self._held: set[str] = set()  # pods whose volumes were not ready yet
        self._released_at: dict[str, float] = {}  # pod uid -> when volumes got ready
        for rt in (CONFIGMAP, SECRET, PVC, SERVICEACCOUNT):
            self.watches[rt.key] = self.on_dependency

    def on_primary(self, event_type: str, obj: dict, old: dict | None) -> None:
        """Queue bound pods; release the IP of deleted ones."""
        meta = obj["metadata"]
        if event_type == "DELETED":
            self._release(obj)
            spec = obj.get("spec") or {}
            for container in [*(spec.get("initContainers") or []), *spec["containers"]]:
                self._pulls.pop((meta["uid"], container.get("name")), None)
            self._blocked.get(meta["namespace"], set()).discard(meta["name"])
            self._held.discard(meta["uid"])
            self._released_at.pop(meta["uid"], None)
            return
        ip = (obj.get("status") or {}).get("podIP")
        if ip:
            self._ips[ip] = meta["uid"]
        if (obj.get("spec") or {}).get("nodeName"):
            self.enqueue((meta["namespace"], meta["name"]))

    def on_dependency(self, event_type: str, obj: dict, old: dict | None) -> None:
        """Retry the pods of a namespace that wait on a ConfigMap, Secret or claim."""
        namespace = obj["metadata"].get("namespace") or ""
        for name in self._blocked.get(namespace, ()):
            self.enqueue((namespace, name))

    def forget(self) -> None:
        """Drop queues and memory (after the store was cleared)."""
        super().forget()
        self._pulls.clear()
        self._ips.clear()
        self._next_ip.clear()
        self._blocked.clear()
        self._held.clear()
        self._released_at.clear()

    # ----- reconcile

    def reconcile(self, namespace: str, name: str) -> None:
        """Advance the pod's containers to now and write the resulting status."""
        pod = self.cache.get(POD, namespace, name)
        if (
            pod is None
            or is_deleting(pod)
            or not (pod.get("spec") or {}).get("nodeName")
        ):
            return
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            self._set_blocked(pod, False)
            return
        node = self.cache.get(NODE, None, pod["spec"]["nodeName"])
        if node is None:
            # TODO(node-loss): pods of a deleted node are left as they are; the
            # real node lifecycle controller would evict them after 5 minutes.
            return
        now = self.ctx.now()
        sandbox_at, mount_problem = self._sandbox(pod, now)
        runs, init_done_at = self._advance(pod, sandbox_at, now)
        self._set_blocked(pod, self._is_blocked(mount_problem, runs))
        status = self._status(pod, node, runs, sandbox_at, init_done_at, now)
        self.ctx.set_status(POD, pod, status)
        self._tell(pod, node, runs, mount_problem)
        every = [*runs[0], *runs[1]]
        wake = min((r.wake for r in every if r.wake is not None), default=None)
        if sandbox_at is not None and sandbox_at > now:
            wake = sandbox_at if wake is None else min(wake, sandbox_at)
        if wake is not None:
            self.enqueue_at((namespace, name), wake)

    def _sandbox(self, pod: dict, now: float) -> tuple[float | None, str | None]:
        """Return when the pod sandbox is (or will be) up; None while volumes block it.

        Once up it stays up: a running pod keeps its mounts even if the
        ConfigMap behind one is deleted, as on a real node.
        """
        uid = pod["metadata"]["uid"]
        up = find_condition(pod.get("status"), "PodReadyToStartContainers")
        if up is not None and up.get("status") == "True":
            return seconds_of(up.get("lastTransitionTime")) or now, None
        problem = self._mount_problem(pod)
        if problem is not None or self._claims_unbound(pod):
            self._held.add(uid)
            return None, problem
        if uid in self._held:
            # Volumes just got ready: the sandbox starts now, not back at creation.
            self._held.discard(uid)
            self._released_at[uid] = now
        scheduled = find_condition(pod.get("status"), "PodScheduled") or {}
        base = max(
            seconds_of(pod["metadata"].get("creationTimestamp")) or now,
            seconds_of(scheduled.get("lastTransitionTime")) or 0.0,
            self._released_at.get(uid, 0.0),
        )
        return base + self.ctx.delays.container_create, None

    def _advance(self, pod: dict, sandbox_at: float | None, now: float):
        """Advance init containers in order, then the app containers together."""
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        gate = math.floor(sandbox_at) if sandbox_at is not None else None
        previous = {s["name"]: s for s in status.get("initContainerStatuses") or []}
        init_runs = []
        for container in spec.get("initContainers") or []:
            run = ContainerRun.start(
                container,
                self._env(pod, container, init=True),
                previous.get(container["name"]),
            )
            run.advance(gate, now)
            init_runs.append(run)
            gate = _next_gate(run, container)
        init_done_at = gate
        previous = {s["name"]: s for s in status.get("containerStatuses") or []}
        runs = []
        for container in spec.get("containers") or []:
            run = ContainerRun.start(
                container,
                self._env(pod, container, init=False),
                previous.get(container["name"]),
            )
            if init_runs and init_done_at is None and not run.has_run():
                run.status["state"] = {"waiting": {"reason": "PodInitializing"}}
            run.advance(init_done_at, now)
            runs.append(run)
        return (init_runs, runs), init_done_at

    def _env(self, pod: dict, container: dict, *, init: bool) -> Environment:
        # TODO(probes): liveness and startup probes never fail; readiness fails
        # only for kubesim/unready (see FAILURE-MODES.md).
        policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
        sidecar = init and container.get("restartPolicy") == "Always"
        probe = container.get("readinessProbe")
        delay = 0.0
        if probe and self.ctx.realistic:
            delay = (
                float(probe.get("initialDelaySeconds") or 0) + self.ctx.delays.readiness
            )
        return Environment(
            pod=pod,
            config_problem=self._config_problem(pod, container),
            pull_secret=self._has_pull_secret(pod),
            batch=(init and not sidecar) or (not init and policy != "Always"),
            restarts=sidecar or policy != "Never",
            restart_on_success=sidecar or (not init and policy == "Always"),
            readiness_delay=delay,
            delays=self.ctx.delays,
            pulls=self._pulls,
        )

    # ----- what blocks a container

    def _config_problem(self, pod: dict, container: dict) -> str | None:
        """Return why the container's environment cannot be built, if it cannot."""
        namespace = pod["metadata"]["namespace"]
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            for field, rt in (("configMapKeyRef", CONFIGMAP), ("secretKeyRef", SECRET)):
                if source.get(field):
                    problem = self._key_problem(namespace, rt, source[field])
                    if problem:
                        return problem
        for env_from in container.get("envFrom") or []:
            for field, rt in (("configMapRef", CONFIGMAP), ("secretRef", SECRET)):
                ref = env_from.get(field) or {}
                problem = self._object_problem(namespace, rt, ref.get("name"), ref)
                if ref and problem:
                    return problem
        return None

    def _key_problem(self, namespace: str, rt, ref: dict) -> str | None:
        name, key = ref.get("name", ""), ref.get("key", "")
        problem = self._object_problem(namespace, rt, name, ref)
        if problem or ref.get("optional"):
            return problem
        obj = self.cache.get(rt, namespace, name)
        if obj is None or key in _keys(obj):
            return None
        return f"couldn't find key {key} in {rt.kind} {namespace}/{name}"

    def _object_problem(self, namespace: str, rt, name, ref: dict) -> str | None:
        if ref.get("optional") or self.cache.get(rt, namespace, name or "") is not None:
            return None
        return f'{rt.kind.lower()} "{name}" not found'

    def _mount_problem(self, pod: dict) -> str | None:
        """Return why a volume cannot be mounted (a missing ConfigMap or Secret)."""
        namespace = pod["metadata"]["namespace"]
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            sources = [volume, *((volume.get("projected") or {}).get("sources") or [])]
            for source in sources:
                problem = self._source_problem(namespace, source)
                if problem:
                    name = volume.get("name")
                    return f'MountVolume.SetUp failed for volume "{name}" : {problem}'
        return None

    def _source_problem(self, namespace: str, source: dict) -> str | None:
        for field, rt, name_field in (
            ("configMap", CONFIGMAP, "name"),
            ("secret", SECRET, "secretName"),
        ):
            ref = source.get(field)
            if not ref or ref.get("optional"):
                continue
            name = ref.get(name_field) or ref.get("name") or ""
            obj = self.cache.get(rt, namespace, name)
            if obj is None:
                return f'{rt.kind.lower()} "{name}" not found'
            for item in ref.get("items") or []:
                if item.get("key") not in _keys(obj):
                    noun = "config" if rt is CONFIGMAP else "secret"
                    key = item.get("key")
                    return f"{field.lower()} references non-existent {noun} key: {key}"
        return None

    def _claims_unbound(self, pod: dict) -> bool:
        namespace = pod["metadata"]["namespace"]
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            claim_ref = volume.get("persistentVolumeClaim")
            if not claim_ref:
                continue
            claim = self.cache.get(PVC, namespace, claim_ref.get("claimName", ""))
            if claim is None or (claim.get("status") or {}).get("phase") != "Bound":
                return True
        return False

    def _has_pull_secret(self, pod: dict) -> bool:
        namespace = pod["metadata"]["namespace"]
        spec = pod.get("spec") or {}
        names = [ref.get("name") for ref in spec.get("imagePullSecrets") or []]
        account = self.cache.get(
            SERVICEACCOUNT, namespace, spec.get("serviceAccountName") or "default"
        )
        names += [
            ref.get("name") for ref in (account or {}).get("imagePullSecrets") or []
        ]
        return any(
            self.cache.get(SECRET, namespace, n or "") is not None for n in names
        )

    def _is_blocked(self, mount_problem, runs) -> bool:
        init_runs, app_runs = runs
        if mount_problem:
            return True
        return any(
            r.waiting_reason()
            in (
                "CreateContainerConfigError",
                "ContainerCreating",
                "ErrImagePull",
                "ImagePullBackOff",
            )
            for r in [*init_runs, *app_runs]
        )

    def _set_blocked(self, pod: dict, blocked: bool) -> None:
        meta = pod["metadata"]
        names = self._blocked.setdefault(meta["namespace"], set())
        if blocked:
            names.add(meta["name"])
        else:
            names.discard(meta["name"])

    # ----- status

    def _status(self, pod, node, runs, sandbox_at, init_done_at, now) -> dict:
        init_runs, app_runs = runs
        old = pod.get("status") or {}
        stamp = self.ctx.stamp()
        sandbox_up = sandbox_at is not None and sandbox_at <= now
        status = {
            "phase": _phase(pod, init_runs, app_runs),
            "conditions": self._conditions(
                old,
                init_runs,
                app_runs,
                sandbox_up,
                init_done_at is not None,
                stamp,
                pod,
            ),
            "hostIP": internal_ip(node),
            "hostIPs": [{"ip": internal_ip(node)}],
            "startTime": old.get("startTime") or stamp,
            "qosClass": old.get("qosClass") or qos_class(pod),
        }
        if sandbox_up:
            ip = old.get("podIP") or self._allocate_ip(pod, node)
            status["podIP"] = ip
            status["podIPs"] = [{"ip": ip}]
        if init_runs:
            status["initContainerStatuses"] = [r.status for r in init_runs]
        status["containerStatuses"] = [r.status for r in app_runs]
        return status

    def _conditions(
        self, old, init_runs, app_runs, sandbox_up, initialized, stamp, pod
    ):
        def previous(kind):
            return find_condition(old, kind)

        finished = _phase(pod, init_runs, app_runs)
        unready = [r.name for r in app_runs if not r.status.get("ready")]
        incomplete = [
            r.name for r in init_runs if not r.succeeded() and not r.status.get("ready")
        ]
        if finished in ("Succeeded", "Failed"):
            ready = (
                "False",
                "PodCompleted" if finished == "Succeeded" else "PodFailed",
                None,
            )
        elif unready:
            ready = (
                "False",
                "ContainersNotReady",
                f"containers with unready status: [{' '.join(unready)}]",
            )
        else:
            ready = ("True", None, None)
        if initialized:
            init = ("True", "PodCompleted" if finished == "Succeeded" else None, None)
        else:
            init = (
                "False",
                "ContainersNotInitialized",
                f"containers with incomplete status: [{' '.join(incomplete)}]",
            )
        conditions = [
            make_condition(
                previous("PodReadyToStartContainers"),
                "PodReadyToStartContainers",
                "True" if sandbox_up else "False",
                None,
                None,
                stamp,
                probe_time=True,
            ),
            make_condition(
                previous("Initialized"), "Initialized", *init, stamp, probe_time=True
            ),
            make_condition(previous("Ready"), "Ready", *ready, stamp, probe_time=True),
            make_condition(
                previous("ContainersReady"),
                "ContainersReady",
                *ready,
                stamp,
                probe_time=True,
            ),
        ]
        scheduled = previous("PodScheduled")
        if scheduled is not None:
            conditions.append(scheduled)
        return conditions

    def _allocate_ip(self, pod: dict, node: dict) -> str:
        prefix = _pod_prefix(node)
        for _ in range(253):
            self._next_ip[prefix] = self._next_ip[prefix] % 253 + 1
            ip = f"{prefix}.{self._next_ip[prefix] + 1}"
            if ip not in self._ips:
                self._ips[ip] = pod["metadata"]["uid"]
                return ip
        return f"{prefix}.254"

    def _release(self, pod: dict) -> None:
        ip = (pod.get("status") or {}).get("podIP")
        if ip and self._ips.get(ip) == pod["metadata"]["uid"]:
            del self._ips[ip]

    def _tell(self, pod: dict, node: dict, runs, mount_problem: str | None) -> None:
        host = node["metadata"]["name"]
        events = self.ctx.events
        if mount_problem:
            events.record_once(
                pod, POD, "Warning", "FailedMount", mount_problem, COMPONENT, host=host
            )
        init_runs, app_runs = runs
        told: dict[tuple, int] = {}
        for kind, group in (("initContainers", init_runs), ("containers", app_runs)):
            for run in group:
                for item in run.events:
                    key = (item, f"spec.{kind}{{{run.name}}}")
                    told[key] = told.get(key, 0) + 1
        for (item, field_path), times in told.items():
            self._record(pod, item, field_path, host, times)

    def _record(
        self, pod: dict, item: Told, field_path: str, host: str, times: int
    ) -> None:
        events = self.ctx.events
        if item.once:
            events.record_once(
                pod,
                POD,
                item.event_type,
                item.reason,
                item.message,
                COMPONENT,
                host=host,
                field_path=field_path,
            )
            return
        events.record(
            pod,
            POD,
            item.event_type,
            item.reason,
            item.message,
            COMPONENT,
            host=host,
            field_path=field_path,
            times=times,
        )


def _next_gate(run: ContainerRun, container: dict) -> float | None:
    """Return when the next init container may start (None: not yet)."""
    if container.get("restartPolicy") == "Always":
        return run.started_at()
    if run.succeeded():
        return run.finished_at()
    return None


def _phase(
    pod: dict, init_runs: list[ContainerRun], app_runs: list[ContainerRun]
) -> str:
    if any(r.finished_for_good() and not r.succeeded() for r in init_runs):
        return "Failed"
    if not any(r.has_run() for r in app_runs):
        return "Pending"
    if all(r.finished_for_good() for r in app_runs):
        return "Succeeded" if all(r.succeeded() for r in app_runs) else "Failed"
    return "Running"


def _keys(obj: dict) -> set[str]:
    return (
        set(obj.get("data") or {})
        | set(obj.get("binaryData") or {})
        | set(obj.get("stringData") or {})
    )


def _pod_prefix(node: dict) -> str:
    cidr = (node.get("spec") or {}).get("podCIDR") or "10.244.0.0/24"
    return cidr.split("/")[0].rsplit(".", 1)[0]
