"""Job: run pods to the wanted completions, within the backoff limit and deadline."""

from __future__ import annotations

from ..resources import JOB, POD
from ..store import clone
from .base import Controller
from .meta import (
    condition_is,
    drop_zero,
    find_condition,
    is_deleting,
    make_condition,
    owner_reference,
    random_suffix,
    seconds_of,
)
from .pods import is_active, is_ready, phase, pod_from_template

COMPONENT = "job-controller"
DEFAULT_BACKOFF_LIMIT = 6
POD_BACKOFF_START = 10.0
POD_BACKOFF_MAX = 360.0
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
SUCCESS_MESSAGE = "Reached expected number of succeeded pods"


class JobController(Controller):
    """Create pods until enough succeed; fail the Job past its limits."""

    primary = JOB
    name = "job"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.watches[POD.key] = self.on_pod

    def on_pod(self, event_type: str, obj: dict, old: dict | None) -> None:
        """Queue the Job that owns a changed pod."""
        self.enqueue_owner(obj, "Job")

    def reconcile(self, namespace: str, name: str) -> None:
        """Count the pods, then create, stop, complete or fail the Job."""
        job = self.cache.get(JOB, namespace, name)
        if job is None or is_deleting(job):
            return
        if _finished(job):
            self._expire(job)
            return
        pods = self.cache.children(job["metadata"]["uid"], POD)
        if (job.get("spec") or {}).get("suspend"):
            self._suspend(job, pods)
            return
        status = self._base_status(job, pods)
        failure = self._failure(job, status)
        if failure is not None:
            self._fail(job, pods, status, *failure)
            return
        if self._complete(job, status):
            self._succeed(job, status)
            return
        self._create_pods(job, pods, status)
        self.ctx.set_status(JOB, job, _clean(status))

    # ----- counting

    def _base_status(self, job: dict, pods: list[dict]) -> dict:
        old = job.get("status") or {}
        spec = job.get("spec") or {}
        active = [p for p in pods if is_active(p)]
        status = clone(old)
        status["startTime"] = old.get("startTime") or self.ctx.stamp()
        status["active"] = len(active)
        status["ready"] = sum(1 for p in active if is_ready(p))
        status["terminating"] = 0
        status["succeeded"] = max(
            int(old.get("succeeded") or 0),
            sum(1 for p in pods if phase(p) == "Succeeded"),
        )
        failed = sum(1 for p in pods if phase(p) == "Failed")
        if (spec.get("template") or {}).get("spec", {}).get(
            "restartPolicy"
        ) == "OnFailure":
            failed += sum(_restarts(p) for p in pods)
        status["failed"] = max(int(old.get("failed") or 0), failed)
        status["uncountedTerminatedPods"] = {}
        if spec.get("completionMode") == "Indexed":
            status["completedIndexes"] = _ranges(sorted(self._succeeded_indexes(pods)))
        if find_condition(old, "Suspended") is not None:
            status["conditions"] = [
                make_condition(
                    find_condition(old, "Suspended"),
                    "Suspended",
                    "False",
                    "JobResumed",
                    "Job resumed",
                    self.ctx.stamp(),
                    probe_time=True,
                )
                if c["type"] == "Suspended"
                else c
                for c in old.get("conditions") or []
            ]
        return status

    def _failure(self, job: dict, status: dict) -> tuple[str, str] | None:
        spec = job.get("spec") or {}
        limit = spec.get("backoffLimit", DEFAULT_BACKOFF_LIMIT)
        if status["failed"] > int(
            limit if limit is not None else DEFAULT_BACKOFF_LIMIT
        ):
            return "BackoffLimitExceeded", "Job has reached the specified backoff limit"
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None:
            ends = (seconds_of(status["startTime"]) or self.ctx.now()) + int(deadline)
            if ends <= self.ctx.now():
                return (
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                )
            self.enqueue_at(
                (job["metadata"]["namespace"], job["metadata"]["name"]), ends
            )
        return None

    def _complete(self, job: dict, status: dict) -> bool:
        spec = job.get("spec") or {}
        completions = spec.get("completions")
        if completions is None:
            return status["succeeded"] >= 1 and status["active"] == 0
        return status["succeeded"] >= int(completions)

    # ----- acting

    def _create_pods(self, job: dict, pods: list[dict], status: dict) -> None:
        spec = job.get("spec") or {}
        parallelism = int(
            spec.get("parallelism", 1) if spec.get("parallelism") is not None else 1
        )
        completions = spec.get("completions")
        if completions is None:
            wanted = 0 if status["succeeded"] else parallelism
        else:
            wanted = min(parallelism, int(completions) - status["succeeded"])
        missing = wanted - status["active"]
        if missing <= 0 or self._backing_off(job, pods, status):
            return
        indexes = (
            self._free_indexes(job, pods)
            if spec.get("completionMode") == "Indexed"
            else []
        )
        for i in range(missing):
            index = indexes[i] if i < len(indexes) else None
            if spec.get("completionMode") == "Indexed" and index is None:
                break
            if self._create_pod(job, index):
                status["active"] += 1

    def _backing_off(self, job: dict, pods: list[dict], status: dict) -> bool:
        """Wait 10s, 20s, 40s … (up to 6m) after each failure before a new pod."""
        if not status["failed"]:
            return False
        finished = [
            seconds_of(_finished_at(p))
            for p in pods
            if phase(p) == "Failed" and _finished_at(p)
        ]
        if not finished:
            return False
        delay = min(POD_BACKOFF_MAX, POD_BACKOFF_START * 2 ** (status["failed"] - 1))
        ready_at = max(finished) + delay
        if ready_at <= self.ctx.now():
            return False
        self.enqueue_at(
            (job["metadata"]["namespace"], job["metadata"]["name"]), ready_at
        )
        return True

    def _create_pod(self, job: dict, index: int | None) -> bool:
        meta = job["metadata"]
        template = clone((job.get("spec") or {}).get("template") or {})
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        for key in ("batch.kubernetes.io/controller-uid", "controller-uid"):
            labels.setdefault(key, meta["uid"])
        for key in ("batch.kubernetes.io/job-name", "job-name"):
            labels.setdefault(key, meta["name"])
        prefix = meta["name"]
        if index is not None:
            prefix = f"{meta['name']}-{index}"
            template["metadata"].setdefault("annotations", {})[INDEX_ANNOTATION] = str(
                index
            )
            labels[INDEX_ANNOTATION] = str(index)
            template.setdefault("spec", {}).setdefault("hostname", prefix)
            for container in template["spec"].get("containers") or []:
                container.setdefault("env", []).append(
                    {"name": "JOB_COMPLETION_INDEX", "value": str(index)}
                )
        name = self._free_name(meta["namespace"], prefix)
        pod = pod_from_template(
            template, meta["namespace"], name, owner_reference(job, JOB)
        )
        if self.ctx.create(POD, pod) is None:
            return False
        self.ctx.events.record(
            job, JOB, "Normal", "SuccessfulCreate", f"Created pod: {name}", COMPONENT
        )
        return True

    def _free_name(self, namespace: str, prefix: str) -> str:
        while True:
            name = f"{prefix}-{random_suffix(self.ctx.rng)}"
            if self.cache.get(POD, namespace, name) is None:
                return name

    def _succeeded_indexes(self, pods: list[dict]) -> set[int]:
        return {
            _index(p) for p in pods if phase(p) == "Succeeded" and _index(p) is not None
        }

    def _free_indexes(self, job: dict, pods: list[dict]) -> list[int]:
        taken = self._succeeded_indexes(pods) | {
            _index(p) for p in pods if is_active(p) and _index(p) is not None
        }
        completions = int((job.get("spec") or {}).get("completions") or 1)
        return [i for i in range(completions) if i not in taken]

    def _succeed(self, job: dict, status: dict) -> None:
        now = self.ctx.stamp()
        status["completionTime"] = now
        conditions = [
            c
            for c in status.get("conditions") or []
            if c["type"] not in ("SuccessCriteriaMet", "Complete")
        ]
        for kind in ("SuccessCriteriaMet", "Complete"):
            conditions.append(
                make_condition(
                    None,
                    kind,
                    "True",
                    "CompletionsReached",
                    SUCCESS_MESSAGE,
                    now,
                    probe_time=True,
                )
            )
        status["conditions"] = conditions
        status["active"] = 0
        self.ctx.set_status(JOB, job, _clean(status))
        self.ctx.events.record(
            job, JOB, "Normal", "Completed", "Job completed", COMPONENT
        )

    def _fail(
        self, job: dict, pods: list[dict], status: dict, reason: str, message: str
    ):
        for pod in pods:
            if is_active(pod):
                self.ctx.delete(POD, pod)
                self.ctx.events.record(
                    job,
                    JOB,
                    "Normal",
                    "SuccessfulDelete",
                    f"Deleted pod: {pod['metadata']['name']}",
                    COMPONENT,
                )
        now = self.ctx.stamp()
        conditions = [
            c
            for c in status.get("conditions") or []
            if c["type"] not in ("FailureTarget", "Failed")
        ]
        for kind in ("FailureTarget", "Failed"):
            conditions.append(
                make_condition(
                    None, kind, "True", reason, message, now, probe_time=True
                )
            )
        status["conditions"] = conditions
        status["active"] = 0
        status["ready"] = 0
        self.ctx.set_status(JOB, job, _clean(status))
        self.ctx.events.record(job, JOB, "Warning", reason, message, COMPONENT)

    def _suspend(self, job: dict, pods: list[dict]) -> None:
        for pod in pods:
            if is_active(pod):
                self.ctx.delete(POD, pod)
                self.ctx.events.record(
                    job,
                    JOB,
                    "Normal",
                    "SuccessfulDelete",
                    f"Deleted pod: {pod['metadata']['name']}",
                    COMPONENT,
                )
        old = job.get("status") or {}
        status = clone(old)
        status.pop("startTime", None)
        status["active"] = 0
        status["ready"] = 0
        previous = find_condition(old, "Suspended")
        suspended = make_condition(
            previous,
            "Suspended",
            "True",
            "JobSuspended",
            "Job suspended",
            self.ctx.stamp(),
            probe_time=True,
        )
        others = [c for c in old.get("conditions") or [] if c["type"] != "Suspended"]
        status["conditions"] = [*others, suspended]
        if not condition_is(old, "Suspended"):
            self.ctx.events.record(
                job, JOB, "Normal", "Suspended", "Job suspended", COMPONENT
            )
        self.ctx.set_status(JOB, job, _clean(status))

    def _expire(self, job: dict) -> None:
        """Delete a finished Job once ttlSecondsAfterFinished has passed."""
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        if ttl is None:
            return
        status = job.get("status") or {}
        finished = seconds_of(status.get("completionTime")) or seconds_of(
            (find_condition(status, "Failed") or {}).get("lastTransitionTime")
        )
        if finished is None:
            return
        expires = finished + int(ttl)
        if expires > self.ctx.now():
            self.enqueue_at(
                (job["metadata"]["namespace"], job["metadata"]["name"]), expires
            )
            return
        self.ctx.delete(JOB, job, "Foreground")


def _finished(job: dict) -> bool:
    status = job.get("status")
    return condition_is(status, "Complete") or condition_is(status, "Failed")


def _restarts(pod: dict) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return sum(int(s.get("restartCount") or 0) for s in statuses)


def _finished_at(pod: dict) -> str | None:
    times = []
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated") or {}
        if terminated.get("finishedAt"):
            times.append(terminated["finishedAt"])
    return max(times) if times else None


def _index(pod: dict) -> int | None:
    value = (pod["metadata"].get("annotations") or {}).get(INDEX_ANNOTATION)
    return int(value) if value is not None and str(value).isdigit() else None


def _ranges(indexes: list[int]) -> str:
    """Render completed indexes the way the Job status does: "0-2,5"."""
    parts, start, prev = [], None, None
    for index in indexes:
        if start is None:
            start = prev = index
        elif index == prev + 1:
            prev = index
        else:
            parts.append(f"{start}-{prev}" if prev != start else str(start))
            start = prev = index
    if start is not None:
        parts.append(f"{start}-{prev}" if prev != start else str(start))
    return ",".join(parts)


def _clean(status: dict) -> dict:
    drop_zero(status, "active", "succeeded", "failed")
    if not status.get("completedIndexes"):
        status.pop("completedIndexes", None)
    return status
