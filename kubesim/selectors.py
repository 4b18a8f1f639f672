"""Label and field selectors: parsing from query strings and matching objects."""

import re
from dataclasses import dataclass

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_KEY_RE = re.compile(rf"^({_PREFIX}/)?{_NAME}$")
_VALUE_RE = re.compile(rf"^({_NAME})?$")

# Field labels every kind supports, and the extra ones per (group, kind).
COMMON_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
FIELD_LABELS: dict[tuple[str, str], frozenset[str]] = {
    ("", "Pod"): frozenset(
        {
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        }
    ),
    ("", "Event"): frozenset(
        {
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        }
    ),
    ("", "Secret"): frozenset({"type"}),
    ("", "Namespace"): frozenset({"status.phase"}),
    ("", "Node"): frozenset({"spec.unschedulable"}),
    ("", "PersistentVolumeClaim"): frozenset({"spec.storageClassName"}),
    ("apps", "ReplicaSet"): frozenset({"status.replicas"}),
    ("batch", "Job"): frozenset({"status.successful"}),
}


@dataclass(frozen=True)
class Requirement:
    """One clause of a label selector."""

    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist, Gt, Lt
    values: tuple[str, ...] = ()

    def matches(self, labels: dict) -> bool:
        """Return whether a label map satisfies this clause."""
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "In":
            return present and value in self.values
        if self.operator == "NotIn":
            return not present or value not in self.values
        if self.operator == "Exists":
            return present
        if self.operator == "DoesNotExist":
            return not present
        return present and _compare_numbers(value, self.operator, self.values[0])


def _compare_numbers(value: str, operator: str, bound: str) -> bool:
    try:
        number = int(value)
    except ValueError:
        return False
    return number > int(bound) if operator == "Gt" else number < int(bound)


class LabelSelector:
    """A conjunction of label requirements; the empty selector matches all."""

    def __init__(self, requirements: list[Requirement] | None = None) -> None:
        self.requirements = list(requirements or [])

    def matches(self, labels: dict | None) -> bool:
        """Return whether a label map satisfies every requirement."""
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def empty(self) -> bool:
        """Return whether the selector has no requirements."""
        return not self.requirements

    def __repr__(self) -> str:
        return f"LabelSelector({self.requirements!r})"


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _check_key(key: str) -> str:
    if not _KEY_RE.match(key) or len(key.rsplit("/", 1)[-1]) > 63:
        raise ValueError(f"invalid label key {key!r}")
    return key


def _check_value(value: str) -> str:
    if len(value) > 63 or not _VALUE_RE.match(value):
        raise ValueError(f"invalid label value {value!r}")
    return value


_SET_RE = re.compile(r"^(?P<key>\S+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_CMP_RE = re.compile(r"^(?P<key>[^!=<>\s]+)\s*(?P<op>==|=|!=|>|<)\s*(?P<value>\S*)$")


def _parse_requirement(clause: str) -> Requirement:
    match = _SET_RE.match(clause)
    if match:
        values = [v.strip() for v in match["values"].split(",")]
        if not values or values == [""]:
            raise ValueError(
                f"{clause!r}: for 'in' and 'notin', values must be non-empty"
            )
        operator = "In" if match["op"] == "in" else "NotIn"
        return Requirement(
            _check_key(match["key"]), operator, tuple(_check_value(v) for v in values)
        )
    match = _CMP_RE.match(clause)
    if match:
        return _comparison(match["key"], match["op"], match["value"])
    if clause.startswith("!"):
        return Requirement(_check_key(clause[1:].strip()), "DoesNotExist")
    return Requirement(_check_key(clause), "Exists")


def _comparison(key: str, op: str, value: str) -> Requirement:
    _check_key(key)
    if op in (">", "<"):
        if not re.fullmatch(r"-?\d+", value):
            raise ValueError(f"for '{op}', the value must be an integer, got {value!r}")
        return Requirement(key, "Gt" if op == ">" else "Lt", (value,))
    _check_value(value)
    return Requirement(key, "NotIn" if op == "!=" else "In", (value,))


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse a labelSelector query string; ValueError when malformed."""
    if not text or not text.strip():
        return LabelSelector()
    return LabelSelector([_parse_requirement(c) for c in _split_top_level(text)])


def selector_from_object(selector: dict | None) -> LabelSelector:
    """Build a selector from a LabelSelector object (matchLabels, matchExpressions)."""
    selector = selector or {}
    requirements = [
        Requirement(key, "In", (str(value),))
        for key, value in (selector.get("matchLabels") or {}).items()
    ]
    for expression in selector.get("matchExpressions") or []:
        requirements.append(
            Requirement(
                expression["key"],
                expression["operator"],
                tuple(str(v) for v in expression.get("values") or ()),
            )
        )
    return LabelSelector(requirements)


def selector_from_labels(labels: dict | None) -> LabelSelector:
    """Build a selector that requires every given label (a Service selector)."""
    return LabelSelector(
        [Requirement(k, "In", (str(v),)) for k, v in (labels or {}).items()]
    )


def to_label_selector(selector) -> LabelSelector:
    """Accept a query string, a LabelSelector object, a label map or a parsed one."""
    if selector is None or isinstance(selector, LabelSelector):
        return selector or LabelSelector()
    if isinstance(selector, str):
        return parse_label_selector(selector)
    if "matchLabels" in selector or "matchExpressions" in selector:
        return selector_from_object(selector)
    return selector_from_labels(selector)


def format_label_selector(selector: dict | None) -> str:
    """Render a LabelSelector object as a query string (for scale status)."""
    parts = [
        f"{k}={v}" for k, v in sorted((selector or {}).get("matchLabels", {}).items())
    ]
    for expression in (selector or {}).get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = ",".join(expression.get("values") or ())
        if operator == "In":
            parts.append(f"{key} in ({values})")
        elif operator == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif operator == "Exists":
            parts.append(key)
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


@dataclass(frozen=True)
class FieldRequirement:
    """One clause of a field selector."""

    path: str
    value: str
    negated: bool = False

    def matches(self, obj: dict) -> bool:
        """Return whether the object's field satisfies this clause."""
        equal = field_value(obj, self.path) == self.value
        return not equal if self.negated else equal


class FieldSelector:
    """A conjunction of field requirements; the empty selector matches all."""

    def __init__(self, requirements: list[FieldRequirement] | None = None) -> None:
        self.requirements = list(requirements or [])

    def matches(self, obj: dict) -> bool:
        """Return whether the object satisfies every requirement."""
        return all(r.matches(obj) for r in self.requirements)

    def empty(self) -> bool:
        """Return whether the selector has no requirements."""
        return not self.requirements

    def check_supported(self, group: str, kind: str) -> None:
        """Raise ValueError for a field the kind does not support."""
        allowed = COMMON_FIELDS | FIELD_LABELS.get((group, kind), frozenset())
        for requirement in self.requirements:
            if requirement.path not in allowed:
                raise ValueError(f'field label not supported: "{requirement.path}"')

    def single_name(self) -> str | None:
        """Return the name when the selector is exactly metadata.name=X."""
        if len(self.requirements) != 1:
            return None
        only = self.requirements[0]
        return only.value if only.path == "metadata.name" and not only.negated else None


_FIELD_RE = re.compile(r"^(?P<path>[A-Za-z0-9_.]+)\s*(?P<op>==|=|!=)\s*(?P<value>.*)$")


def parse_field_selector(text: str | None) -> FieldSelector:
    """Parse a fieldSelector query string; ValueError when malformed."""
    if not text or not text.strip():
        return FieldSelector()
    requirements = []
    for clause in text.split(","):
        match = _FIELD_RE.match(clause.strip())
        if not match:
            raise ValueError(f"invalid field selector {clause!r}")
        requirements.append(
            FieldRequirement(match["path"], match["value"].strip(), match["op"] == "!=")
        )
    return FieldSelector(requirements)


def to_field_selector(selector) -> FieldSelector:
    """Accept a query string, a {path: value} map or a parsed selector."""
    if selector is None or isinstance(selector, FieldSelector):
        return selector or FieldSelector()
    if isinstance(selector, str):
        return parse_field_selector(selector)
    return FieldSelector([FieldRequirement(k, str(v)) for k, v in selector.items()])


def field_value(obj: dict, path: str) -> str:
    """Return a dotted field of an object as the string a selector compares."""
    value = obj
    for part in path.split("."):
        if not isinstance(value, dict):
            return ""
        value = value.get(part)
        if value is None:
            return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        # Event source is a struct; the field label is its component.
        return str(value.get("component", ""))
    return str(value)
