"""One container's life on the simulated kubelet, advanced to the clock.

A container status is a small state machine: waiting (creating, pulling,
bad config, back-off), running, terminated. `ContainerRun.advance` replays
every transition that is due by now, from the status last written, so a
clock that jumps an hour shows an hour of restarts. Every transition time is
whole seconds, like the timestamps the status keeps, so replaying from a
written status gives the same answer as replaying in one go.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .. import images
from ..clock import format_time
from ..store import clone
from .meta import seconds_of

BACKOFF_START = 10.0
BACKOFF_MAX = 300.0
MAX_TRANSITIONS = 400


def restart_backoff(restart_count: int) -> float:
    """Return the wait before the next restart: none first, then 10s doubling to 5m."""
    if restart_count <= 0:
        return 0.0
    return min(BACKOFF_MAX, BACKOFF_START * 2 ** (restart_count - 1))


def pull_backoff(failures: int) -> float:
    """Return the wait before pulling again after this many failed pulls."""
    return min(BACKOFF_MAX, BACKOFF_START * 2 ** max(0, failures - 1))


def stamp(seconds: float) -> str:
    """Format epoch seconds as an object timestamp."""
    return format_time(datetime.fromtimestamp(seconds, tz=UTC))


@dataclass
class Environment:
    """What the kubelet knows when it starts a container."""

    pod: dict
    config_problem: str | None  # why env cannot be built, if it cannot
    pull_secret: bool  # whether a usable image pull secret exists
    batch: bool  # run to completion (restartPolicy not Always, or an init container)
    restarts: bool  # whether a terminated run is restarted (per exit code below)
    restart_on_success: bool
    readiness_delay: float
    delays: object
    pulls: dict  # (pod uid, container) -> (failures, last failure time)


@dataclass(frozen=True)
class Told:
    """An event the kubelet wants to record."""

    event_type: str
    reason: str
    message: str
    once: bool = False  # a condition that persists: tell it when it starts only


@dataclass
class ContainerRun:
    """The status of one container and the transitions that led to it."""

    spec: dict
    env: Environment
    status: dict
    events: list[Told] = field(default_factory=list)
    wake: float | None = None

    @classmethod
    def start(cls, spec: dict, env: Environment, previous: dict | None) -> ContainerRun:
        """Resume from the last written status, or begin a new container."""
        if previous is None or previous.get("image") != _shown_image(spec):
            previous = _new_status(spec, previous)
        return cls(spec, env, clone(previous))

    # ----- reading the status

    @property
    def name(self) -> str:
        """Return the container name."""
        return self.spec["name"]

    @property
    def state(self) -> tuple[str, dict]:
        """Return the current state as (kind, details)."""
        state = self.status.get("state") or {"waiting": {"reason": "ContainerCreating"}}
        kind = next(iter(state))
        return kind, state[kind] or {}

    def waiting_reason(self) -> str | None:
        """Return the waiting reason, None when not waiting."""
        kind, details = self.state
        return details.get("reason") if kind == "waiting" else None

    def has_run(self) -> bool:
        """Return whether this container has started at least once."""
        kind, _ = self.state
        return kind != "waiting" or bool(self.status.get("lastState"))

    def finished_for_good(self) -> bool:
        """Return whether the container terminated and will not start again."""
        kind, details = self.state
        return kind == "terminated" and not self._restarts(details.get("exitCode", 0))

    def succeeded(self) -> bool:
        """Return whether the container terminated with exit code 0."""
        kind, details = self.state
        return kind == "terminated" and details.get("exitCode") == 0

    def started_at(self) -> float | None:
        """Return when the current run started, None when not running."""
        kind, details = self.state
        return seconds_of(details.get("startedAt")) if kind == "running" else None

    def finished_at(self) -> float | None:
        """Return when the current run ended, None when it has not."""
        kind, details = self.state
        return seconds_of(details.get("finishedAt")) if kind == "terminated" else None

    # ----- advancing

    def advance(self, gate: float | None, now: float) -> None:
        """Apply every transition due by now; gate is when creation may begin."""
        for _ in range(MAX_TRANSITIONS):
            if not self._step(gate, now):
                return

    def _step(self, gate: float | None, now: float) -> bool:
        kind, details = self.state
        if kind == "running":
            return self._while_running(details, now)
        if kind == "terminated":
            return self._after_exit(details, now)
        return self._while_waiting(details.get("reason"), gate, now)

    def _while_waiting(
        self, reason: str | None, gate: float | None, now: float
    ) -> bool:
        attempt = self._next_attempt(reason, gate, now)
        if attempt is None or attempt > now:
            self._wake_at(attempt)
            return False
        if reason == "ErrImagePull" and self._pull_failures()[0] > 0:
            self._back_off_pull()
            return True
        before = clone(self.status)
        self._create(attempt)
        # A refused attempt that changes nothing (bad config, bad name) is tried
        # again on the next change, not in a loop.
        return self.status != before

    def _next_attempt(
        self, reason: str | None, gate: float | None, now: float
    ) -> float | None:
        if reason in ("ContainerCreating", "PodInitializing", None):
            return gate
        if gate is None:
            return None
        if reason == "CrashLoopBackOff":
            last = (self.status.get("lastState") or {}).get("terminated") or {}
            finished = seconds_of(last.get("finishedAt")) or now
            return finished + restart_backoff(self.status.get("restartCount", 0))
        if reason == "ErrImagePull":
            failures, since = self._pull_failures()
            return since + self.env.delays.pull_backoff_switch if failures else now
        if reason == "ImagePullBackOff":
            failures, since = self._pull_failures()
            return since + pull_backoff(failures) if failures else now
        return now  # CreateContainerConfigError, InvalidImageName: try on every change

    def _create(self, at: float) -> None:
        """Try to create and start the container at time `at`."""
        failure = images.pull_failure(
            self.spec.get("image") or "", self.env.pull_secret
        )
        if failure is not None:
            self._pull_failed(failure, at)
            return
        if self.env.config_problem:
            self._set_waiting("CreateContainerConfigError", self.env.config_problem)
            self.events.append(
                Told(
                    "Warning", "Failed", f"Error: {self.env.config_problem}", once=True
                )
            )
            return
        self._run(at)

    def _pull_failed(self, failure: images.PullFailure, at: float) -> None:
        image = self.spec.get("image") or ""
        if failure.reason == "InvalidImageName":
            self._set_waiting("InvalidImageName", failure.message)
            self.events.append(
                Told("Warning", "InspectFailed", failure.message, once=True)
            )
            self.events.append(
                Told("Warning", "Failed", "Error: InvalidImageName", once=True)
            )
            return
        failures, _ = self._pull_failures()
        self.env.pulls[self._pull_key()] = (failures + 1, math.floor(at))
        self._set_waiting("ErrImagePull", failure.message)
        self.events.append(Told("Normal", "Pulling", f'Pulling image "{image}"'))
        self.events.append(
            Told(
                "Warning",
                "Failed",
                f'Failed to pull image "{image}": {failure.message}',
            )
        )
        self.events.append(Told("Warning", "Failed", "Error: ErrImagePull"))

    def _back_off_pull(self) -> None:
        image = self.spec.get("image") or ""
        _, details = self.state
        error = details.get("message", "")
        message = f'Back-off pulling image "{image}": ErrImagePull: {error}'
        self._set_waiting("ImagePullBackOff", message)
        self.events.append(
            Told("Normal", "BackOff", f'Back-off pulling image "{image}"')
        )
        self.events.append(Told("Warning", "Failed", "Error: ImagePullBackOff"))

    def _run(self, at: float) -> None:
        at = math.floor(at)
        image = self.spec.get("image") or ""
        restarted = self.has_run()
        if restarted:
            self._remember_last_run()
            self.status["restartCount"] = self.status.get("restartCount", 0) + 1
            self.events.append(
                Told(
                    "Normal",
                    "Pulled",
                    f'Container image "{image}" already present on machine',
                )
            )
        else:
            self.events.append(Told("Normal", "Pulling", f'Pulling image "{image}"'))
            self.events.append(
                Told("Normal", "Pulled", f'Successfully pulled image "{image}"')
            )
        self.env.pulls.pop(self._pull_key(), None)
        pod_uid = self.env.pod["metadata"]["uid"]
        self.status["containerID"] = images.container_id(
            pod_uid, self.name, self.status.get("restartCount", 0)
        )
        ref = images.parse_image(image)
        self.status["imageID"] = ref.image_id if ref else ""
        self.status["state"] = {"running": {"startedAt": stamp(at)}}
        self.status["started"] = True
        self.status["ready"] = False
        self.events.append(Told("Normal", "Created", f"Created container: {self.name}"))
        self.events.append(Told("Normal", "Started", f"Started container {self.name}"))

    def _while_running(self, details: dict, now: float) -> bool:
        started = seconds_of(details.get("startedAt")) or now
        outcome = self._outcome()
        exit_at = None if outcome.exit_after is None else started + outcome.exit_after
        if exit_at is not None and exit_at <= now:
            self._terminate(outcome, started, exit_at)
            return True
        ready_at = started + self.env.readiness_delay
        passes = images.passes_readiness(self.spec)
        self.status["ready"] = passes and ready_at <= now
        if not passes:
            self.events.append(
                Told(
                    "Warning",
                    "Unhealthy",
                    "Readiness probe failed: HTTP probe failed with statuscode: 503",
                    once=True,
                )
            )
        if passes and ready_at > now:
            self._wake_at(ready_at)
        self._wake_at(exit_at)
        return False

    def _terminate(self, outcome: images.Outcome, started: float, at: float) -> None:
        at = math.floor(at)
        self.status["state"] = {
            "terminated": {
                "exitCode": outcome.exit_code,
                "reason": outcome.reason,
                "startedAt": stamp(started),
                "finishedAt": stamp(at),
                "containerID": self.status.get("containerID", ""),
            }
        }
        self.status["ready"] = False
        self.status["started"] = False

    def _after_exit(self, details: dict, now: float) -> bool:
        if not self._restarts(details.get("exitCode", 0)):
            return False
        finished = seconds_of(details.get("finishedAt")) or now
        count = self.status.get("restartCount", 0)
        restart_at = finished + restart_backoff(count)
        self._remember_last_run()
        if restart_at > now:
            self._enter_crash_loop(count)
            self._wake_at(restart_at)
            return False
        restart_at = self._skip_capped_cycles(restart_at, now)
        self.status["state"] = {"waiting": {"reason": "CrashLoopBackOff"}}
        self._run(restart_at)
        return True

    def _enter_crash_loop(self, count: int) -> None:
        pod = self.env.pod["metadata"]
        who = f"{pod['name']}_{pod['namespace']}({pod['uid']})"
        delay = int(restart_backoff(count))
        self._set_waiting(
            "CrashLoopBackOff",
            f"back-off {_duration(delay)} restarting failed container={self.name} "
            f"pod={who}",
        )
        self.events.append(
            Told(
                "Warning",
                "BackOff",
                f"Back-off restarting failed container {self.name} in pod {who}",
            )
        )

    def _skip_capped_cycles(self, restart_at: float, now: float) -> float:
        """Jump over whole capped back-off cycles when the clock leapt far ahead.

        Return when the restart being replayed happens after the jump.
        """
        count = self.status.get("restartCount", 0)
        outcome = self._outcome()
        if restart_backoff(count) < BACKOFF_MAX or outcome.exit_after is None:
            return restart_at
        cycle = BACKOFF_MAX + math.floor(outcome.exit_after)
        skipped = int((now - restart_at) // cycle) - 1
        if skipped <= 0:
            return restart_at
        self.status["restartCount"] = count + skipped
        return restart_at + skipped * cycle

    def _outcome(self) -> images.Outcome:
        delays = self.env.delays
        timings = images.Timings(
            run_to_completion=delays.run_to_completion, crash_after=delays.crash_after
        )
        return images.run_outcome(self.spec, batch=self.env.batch, timings=timings)

    def _restarts(self, exit_code: int) -> bool:
        if not self.env.restarts:
            return False
        return exit_code != 0 or self.env.restart_on_success

    # ----- small writes

    def _remember_last_run(self) -> None:
        kind, details = self.state
        if kind == "terminated":
            self.status["lastState"] = {"terminated": dict(details)}

    def _set_waiting(self, reason: str, message: str | None) -> None:
        waiting = {"reason": reason}
        if message:
            waiting["message"] = message
        self.status["state"] = {"waiting": waiting}
        self.status["ready"] = False
        self.status["started"] = False

    def _pull_key(self) -> tuple[str, str]:
        return (self.env.pod["metadata"]["uid"], self.name)

    def _pull_failures(self) -> tuple[int, float]:
        return self.env.pulls.get(self._pull_key(), (0, 0.0))

    def _wake_at(self, when: float | None) -> None:
        if when is not None and (self.wake is None or when < self.wake):
            self.wake = when


def _shown_image(spec: dict) -> str:
    ref = images.parse_image(spec.get("image") or "")
    return ref.full if ref else spec.get("image") or ""


def _new_status(spec: dict, previous: dict | None) -> dict:
    """Return the status of a container not created yet (or whose image changed)."""
    status = {
        "name": spec["name"],
        "image": _shown_image(spec),
        "imageID": "",
        "ready": False,
        "started": False,
        "restartCount": 0,
        "state": {"waiting": {"reason": "ContainerCreating"}},
        "lastState": {},
    }
    if previous is not None:
        # The image changed in place: the kubelet kills and recreates the container.
        status["restartCount"] = previous.get("restartCount", 0)
        kind = next(iter(previous.get("state") or {"waiting": {}}))
        if kind == "running":
            details = previous["state"]["running"]
            status["lastState"] = {
                "terminated": {
                    "exitCode": 0,
                    "reason": "Completed",
                    "startedAt": details.get("startedAt"),
                    "finishedAt": details.get("startedAt"),
                    "containerID": previous.get("containerID", ""),
                }
            }
        elif previous.get("lastState"):
            status["lastState"] = previous["lastState"]
    return status


def _duration(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    if minutes and rest:
        return f"{minutes}m{rest}s"
    if minutes:
        return f"{minutes}m0s"
    return f"{rest}s"
