"""Fields and checks shared by several kinds (names, namespace, labels)."""

from workflows.kinds import fields as f
from workflows.kinds.base import MANAGED_BY

RESERVED_LABEL_PREFIX = "kubeorch.io/"
MAX_ANNOTATIONS_SIZE = 256 * 1024


def name_field(label_only: bool = False, max_length: int | None = None) -> f.Field:
    """Describe the object name: a DNS label or a DNS subdomain."""
    kind = "DNS label (at most 63 characters)" if label_only else "DNS subdomain"
    return f.string(
        "name",
        "Name",
        required=True,
        format="dns-label" if label_only else "dns-subdomain",
        max_length=max_length or (63 if label_only else 253),
        help=(
            f"The object's name in Kubernetes: a {kind}, unique per namespace and kind."
        ),
    )


NAMESPACE = f.string(
    "namespace",
    "Namespace",
    format="dns-label",
    max_length=63,
    help="Leave empty to use the workflow's namespace. Created when missing.",
)
LABELS = f.keyvalue(
    "labels",
    "Labels",
    key_format="qualified-name",
    value_format="label-value",
    help="Added to the object (and to its pods for workloads).",
)
ANNOTATIONS = f.keyvalue(
    "annotations",
    "Annotations",
    key_format="qualified-name",
    max_total=MAX_ANNOTATIONS_SIZE,
    help="Added to the object's metadata.",
)


def metadata_fields(label_only: bool = False, max_length: int | None = None) -> tuple:
    """Return the name, namespace, labels and annotations fields."""
    return (name_field(label_only, max_length), NAMESPACE, LABELS, ANNOTATIONS)


def check_labels(data: dict, key: str = "labels") -> dict[str, list[str]]:
    """Refuse user labels that would forge or break the ownership labels."""
    errors: dict[str, list[str]] = {}
    for label in data.get(key) or {}:
        if label.startswith(RESERVED_LABEL_PREFIX) or label == MANAGED_BY:
            message = f"The label {label!r} is set by KubeOrch and cannot be given."
            errors.setdefault(f"{key}[{label}]", []).append(message)
    return errors


def merge_errors(*parts: dict[str, list[str]]) -> dict[str, list[str]]:
    """Combine several path → messages maps into one."""
    merged: dict[str, list[str]] = {}
    for part in parts:
        for path, messages in part.items():
            merged.setdefault(path, []).extend(messages)
    return merged


def add_error(errors: dict[str, list[str]], path: str, message: str) -> None:
    """Record one message for a field path."""
    errors.setdefault(path, []).append(message)


def link_ref(node: dict) -> dict:
    """Return the short description of a linked node: id, kind and name."""
    return {
        "id": node["id"],
        "kind": node["type"],
        "name": node["data"].get("name", ""),
    }
