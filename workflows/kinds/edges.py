"""The edge table: which node may link to which, and what the link means."""

from dataclasses import dataclass

from workflows.kinds import fields as f
from workflows.kinds.workloads import POD_WORKLOADS, SCALABLE

SERVICE_TARGETS = ("deployment", "statefulset", "daemonset")


@dataclass(frozen=True)
class EdgeRule:
    """One allowed (source kind → target kinds) link."""

    source: str
    targets: tuple[str, ...]
    effect: str
    source_handle: str = "out"
    target_handle: str = "in"
    fields: tuple[f.Field, ...] = ()
    # Which end is applied first: the one the other depends on.
    first: str = "source"
    max_per_source_handle: int | None = None
    max_per_target: int | None = None

    def handle_matches(self, handle: str) -> bool:
        """Tell whether a source handle is one this rule's source offers."""
        if self.source_handle.endswith("*"):
            prefix = self.source_handle[:-1]
            return handle.startswith(prefix) and handle[len(prefix) :].isdigit()
        return handle == self.source_handle


def _mount_fields(default_path: str) -> tuple[f.Field, ...]:
    return (
        f.enum(
            "mode",
            "Use as",
            ("volume", "env"),
            help=(
                "'volume': files under the mount path; 'env': every key as a variable "
                "(envFrom)."
            ),
        ),
        f.string(
            "mountPath",
            "Mount path",
            default=default_path,
            format="mount-path",
            help="Where the files appear (volume mode).",
        ),
        f.string(
            "prefix",
            "Variable prefix",
            format="env-name",
            help="Env mode: put before each key.",
        ),
    )


EDGE_RULES = (
    EdgeRule(
        "service",
        SERVICE_TARGETS,
        (
            "The Service selects the workload's pods; its target port follows the "
            "workload's container port."
        ),
        first="target",
        max_per_source_handle=1,
    ),
    EdgeRule(
        "ingress",
        ("service",),
        (
            "That path's backend is the Service, on the port given here (default: its "
            "first port)."
        ),
        source_handle="path-*",
        fields=(
            f.portref(
                "port",
                "Service port",
                help="Number or name of a port of the Service; empty: its first.",
            ),
        ),
        first="target",
        max_per_source_handle=1,
    ),
    EdgeRule(
        "hpa",
        SCALABLE,
        "The HPA scales the workload.",
        first="target",
        max_per_source_handle=1,
        max_per_target=1,
    ),
    EdgeRule(
        "configmap",
        POD_WORKLOADS,
        "Mounted as a volume (default /etc/config) or injected as env (envFrom).",
        fields=_mount_fields("/etc/config"),
    ),
    EdgeRule(
        "secret",
        POD_WORKLOADS,
        "Mounted as a volume (default /etc/secrets) or injected as env (envFrom).",
        fields=_mount_fields("/etc/secrets"),
    ),
    EdgeRule(
        "persistentvolumeclaim",
        SCALABLE,
        "Mounted at the mount path for persistent storage.",
        fields=(
            f.string(
                "mountPath",
                "Mount path",
                required=True,
                default="/data",
                format="mount-path",
            ),
            f.string(
                "subPath",
                "Sub-path",
                format="relative-path",
                help="Mount only this folder of the volume.",
            ),
            f.boolean("readOnly", "Read-only"),
        ),
    ),
    EdgeRule(
        "networkpolicy",
        POD_WORKLOADS,
        "The policy's pod selector selects the workload's pods.",
        first="target",
    ),
)


def rule_for(source_type: str, target_type: str) -> EdgeRule | None:
    """Return the rule allowing source → target, or None."""
    for rule in EDGE_RULES:
        if rule.source == source_type and target_type in rule.targets:
            return rule
    return None


def targets_of(source_type: str) -> tuple[str, ...]:
    """Return the kinds a source kind may link to."""
    return tuple(
        target
        for rule in EDGE_RULES
        if rule.source == source_type
        for target in rule.targets
    )
