"""Defaults and validation a real API server applies to incoming objects."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from decimal import Decimal, InvalidOperation

from . import errors
from . import resources as r
from .selectors import LabelSelector, selector_from_object

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
IANA_SVC_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
C_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
QUANTITY = re.compile(
    r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[numkMGTPE]|[KMGTPE]i)?$"
)
LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
NODE_PORT_RANGE = range(30000, 32768)
PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

_SUFFIXES = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}


def parse_quantity(value) -> Decimal:
    """Parse a resource quantity ("500m", "1Gi", 2) to a Decimal; ValueError if bad."""
    text = str(value).strip()
    if not QUANTITY.match(text):
        raise ValueError(f"quantities must match the regular expression: {text!r}")
    match = re.match(r"^([+-]?[\d.]+(?:[eE][+-]?\d+)?)([a-zA-Z]*)$", text)
    number, suffix = match.group(1), match.group(2)
    if suffix and suffix not in _SUFFIXES:
        number, suffix = text, ""
    try:
        return Decimal(number) * _SUFFIXES[suffix]
    except (InvalidOperation, KeyError) as exc:
        raise ValueError(f"invalid quantity {text!r}") from exc


class Causes:
    """Collects the field errors of one object."""

    def __init__(self) -> None:
        self.items: list[dict] = []

    def add(self, field: str, message: str, reason: str = "FieldValueInvalid") -> None:
        """Record one invalid field."""
        self.items.append(errors.cause(field, message, reason))

    def required(self, field: str) -> None:
        """Record a missing required field."""
        self.add(field, "Required value", "FieldValueRequired")

    def invalid(self, field: str, value, why: str) -> None:
        """Record an invalid value with the reason."""
        self.add(field, f"Invalid value: {_show(value)}: {why}")

    def unsupported(self, field: str, value, allowed) -> None:
        """Record a value outside an enumeration."""
        listed = ", ".join(f'"{a}"' for a in allowed)
        self.add(
            field,
            f"Unsupported value: {_show(value)}: supported values: {listed}",
            "FieldValueNotSupported",
        )

    def duplicate(self, field: str, value) -> None:
        """Record a duplicated key in a list."""
        self.add(field, f"Duplicate value: {_show(value)}", "FieldValueDuplicate")

    def forbidden(self, field: str, message: str) -> None:
        """Record a change the server does not allow."""
        self.add(field, f"Forbidden: {message}", "FieldValueForbidden")

    def immutable(self, field: str, value) -> None:
        """Record a change to an immutable field."""
        self.add(field, f"Invalid value: {_show(value)}: field is immutable")

    def raise_if_any(self, rt, name: str) -> None:
        """Raise 422 Invalid when anything was recorded."""
        if self.items:
            raise errors.invalid(rt, name, self.items)


def _show(value) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return "{...}" if isinstance(value, dict) else "[...]"
    return str(value)


# ----- names, labels, metadata


def dns_label_errors(value: str) -> list[str]:
    """Return why a value is not a DNS-1123 label (empty when it is)."""
    problems = []
    if len(value) > 63:
        problems.append("must be no more than 63 characters")
    if not DNS1123_LABEL.match(value):
        problems.append(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric "
            "characters or '-', and must start and end with an alphanumeric character"
        )
    return problems


def dns_subdomain_errors(value: str) -> list[str]:
    """Return why a value is not a DNS-1123 subdomain (empty when it is)."""
    problems = []
    if len(value) > 253:
        problems.append("must be no more than 253 characters")
    if not DNS1123_SUBDOMAIN.match(value):
        problems.append(
            "a lowercase RFC 1123 subdomain must consist of lower case "
            "alphanumeric characters, '-' or '.', and must start and end with an "
            "alphanumeric character"
        )
    return problems


def _path_segment_errors(value: str) -> list[str]:
    if value in (".", "..") or "/" in value or "%" in value:
        return ["may not contain '/' or '%' and may not be '.' or '..'"]
    return []


_LABEL_NAMED = {r.SERVICE.key, r.NAMESPACE.key}
_PATH_SEGMENT_NAMED = {
    r.ROLE.key,
    r.ROLEBINDING.key,
    r.CLUSTERROLE.key,
    r.CLUSTERROLEBINDING.key,
}


def name_errors(rt, name: str) -> list[str]:
    """Return why a name is not valid for this kind."""
    if rt.key in _LABEL_NAMED:
        return dns_label_errors(name)
    if rt.key in _PATH_SEGMENT_NAMED:
        return _path_segment_errors(name)
    problems = dns_subdomain_errors(name)
    if rt.key == r.CRONJOB.key and len(name) > 52:
        problems.append("must be no more than 52 characters")
    if rt.key == r.JOB.key and len(name) > 63:
        problems.append("must be no more than 63 characters")
    return problems


def qualified_name_errors(key: str) -> list[str]:
    """Return why a label or annotation key is not a qualified name."""
    prefix, _, name = key.rpartition("/")
    problems = []
    if prefix and dns_subdomain_errors(prefix):
        problems.append("prefix part must be a lowercase RFC 1123 subdomain")
    if not name or len(name) > 63 or not LABEL_NAME.match(name):
        problems.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and "
            "must start and end with an alphanumeric character (at most 63 characters)"
        )
    return problems


def label_value_errors(value) -> list[str]:
    """Return why a value is not a valid label value."""
    if not isinstance(value, str):
        return ["must be a string"]
    if len(value) > 63 or not LABEL_VALUE.match(value):
        return [
            "a valid label must be an empty string or consist of alphanumeric "
            "characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character"
        ]
    return []


def validate_metadata(rt, meta: dict, causes: Causes) -> None:
    """Check the name, labels and annotations."""
    name = meta.get("name")
    if name:
        for problem in name_errors(rt, name):
            causes.invalid("metadata.name", name, problem)
    elif not meta.get("generateName"):
        causes.add(
            "metadata.name",
            "Required value: name or generateName is required",
            "FieldValueRequired",
        )
    validate_labels(meta.get("labels"), "metadata.labels", causes)
    for key, value in (meta.get("annotations") or {}).items():
        for problem in qualified_name_errors(key):
            causes.invalid("metadata.annotations", key, problem)
        if not isinstance(value, str):
            causes.invalid(f"metadata.annotations[{key}]", value, "must be a string")


def validate_labels(labels, field: str, causes: Causes) -> None:
    """Check every key and value of a label map."""
    if labels is None:
        return
    if not isinstance(labels, dict):
        causes.invalid(field, labels, "must be a map of strings")
        return
    for key, value in labels.items():
        for problem in qualified_name_errors(key):
            causes.invalid(field, key, problem)
        for problem in label_value_errors(value):
            causes.invalid(field, value, problem)


def validate_label_selector(
    selector, field: str, causes: Causes, required=True
) -> None:
    """Check a LabelSelector object."""
    if not selector:
        if required:
            causes.required(field)
        return
    validate_labels(selector.get("matchLabels"), f"{field}.matchLabels", causes)
    for n, expression in enumerate(selector.get("matchExpressions") or []):
        path = f"{field}.matchExpressions[{n}]"
        operator = expression.get("operator")
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            causes.unsupported(
                f"{path}.operator", operator, ("In", "NotIn", "Exists", "DoesNotExist")
            )
        values = expression.get("values") or []
        if operator in ("In", "NotIn") and not values:
            causes.required(f"{path}.values")
        if operator in ("Exists", "DoesNotExist") and values:
            causes.forbidden(
                f"{path}.values",
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )


# ----- quantities and resources


def validate_resources(resources, field: str, causes: Causes) -> None:
    """Check container resource requests and limits."""
    if not resources:
        return
    parsed: dict[str, dict[str, Decimal]] = {}
    for part in ("limits", "requests"):
        parsed[part] = {}
        for resource, value in (resources.get(part) or {}).items():
            try:
                quantity = parse_quantity(value)
            except ValueError:
                causes.invalid(
                    f"{field}.{part}[{resource}]",
                    value,
                    "must match the regular expression "
                    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                )
                continue
            if quantity < 0:
                causes.invalid(
                    f"{field}.{part}[{resource}]",
                    value,
                    "must be greater than or equal to 0",
                )
            parsed[part][resource] = quantity
    for resource, request in parsed["requests"].items():
        limit = parsed["limits"].get(resource)
        if limit is not None and request > limit:
            causes.invalid(
                f"{field}.requests",
                str(resources["requests"][resource]),
                f"must be less than or equal to {resource} limit of "
                f"{resources['limits'][resource]}",
            )


# ----- pod specs


def image_pull_policy(image: str) -> str:
    """Return the default pull policy for an image reference."""
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return "IfNotPresent"
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def default_container(container: dict) -> None:
    """Add the defaults a real server fills in a container."""
    if container.get("image"):
        container.setdefault("imagePullPolicy", image_pull_policy(container["image"]))
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(probe_name)
        if isinstance(probe, dict):
            for key, value in (
                ("timeoutSeconds", 1),
                ("periodSeconds", 10),
                ("successThreshold", 1),
                ("failureThreshold", 3),
            ):
                probe.setdefault(key, value)
            http_get = probe.get("httpGet")
            if isinstance(http_get, dict):
                http_get.setdefault("scheme", "HTTP")
                http_get.setdefault("path", "/")


def default_pod_spec(spec: dict) -> None:
    """Add the defaults a real server fills in a pod spec."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for field in ("containers", "initContainers"):
        for container in spec.get(field) or []:
            if isinstance(container, dict):
                default_container(container)
    for volume in spec.get("volumes") or []:
        for source in ("configMap", "secret"):
            if isinstance(volume, dict) and isinstance(volume.get(source), dict):
                volume[source].setdefault("defaultMode", 420)


_RESTART_POLICIES = ("Always", "OnFailure", "Never")
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_PROTOCOLS = ("TCP", "UDP", "SCTP")


def validate_pod_spec(
    spec,
    field: str,
    causes: Causes,
    restart_policies=_RESTART_POLICIES,
    claim_volumes: frozenset[str] = frozenset(),
):
    """Check a pod spec: containers, ports, volumes, policies.

    `claim_volumes` are the volumes a StatefulSet's claim templates add to
    every pod, which mounts may name without a matching `volumes` entry.
    """
    if not isinstance(spec, dict):
        causes.required(field)
        return
    containers = spec.get("containers")
    if not containers:
        causes.required(f"{field}.containers")
    volume_names = _validate_volumes(
        spec.get("volumes") or [], f"{field}.volumes", causes
    ) | set(claim_volumes)
    seen: set[str] = set()
    for list_field in ("initContainers", "containers"):
        for n, container in enumerate(spec.get(list_field) or []):
            path = f"{field}.{list_field}[{n}]"
            _validate_container(container, path, causes, volume_names, seen)
    policy = spec.get("restartPolicy")
    if policy is not None and policy not in restart_policies:
        causes.unsupported(f"{field}.restartPolicy", policy, restart_policies)
    grace = spec.get("terminationGracePeriodSeconds")
    if isinstance(grace, int) and grace < 0:
        causes.invalid(f"{field}.terminationGracePeriodSeconds", grace, "must be >= 0")
    for n, toleration in enumerate(spec.get("tolerations") or []):
        operator = toleration.get("operator", "Equal")
        if operator not in ("Equal", "Exists"):
            causes.unsupported(
                f"{field}.tolerations[{n}].operator", operator, ("Equal", "Exists")
            )
    validate_labels(spec.get("nodeSelector"), f"{field}.nodeSelector", causes)
    account = spec.get("serviceAccountName")
    if account:
        for problem in dns_subdomain_errors(account):
            causes.invalid(f"{field}.serviceAccountName", account, problem)


def _validate_volumes(volumes: list, field: str, causes: Causes) -> set[str]:
    names: set[str] = set()
    for n, volume in enumerate(volumes):
        name = volume.get("name") if isinstance(volume, dict) else None
        if not name:
            causes.required(f"{field}[{n}].name")
            continue
        for problem in dns_label_errors(name):
            causes.invalid(f"{field}[{n}].name", name, problem)
        if name in names:
            causes.duplicate(f"{field}[{n}].name", name)
        names.add(name)
        sources = [k for k in volume if k != "name"]
        if len(sources) > 1:
            causes.forbidden(f"{field}[{n}]", "may not specify more than 1 volume type")
        claim = volume.get("persistentVolumeClaim")
        if isinstance(claim, dict) and not claim.get("claimName"):
            causes.required(f"{field}[{n}].persistentVolumeClaim.claimName")
    return names


def _validate_container(container, path: str, causes: Causes, volumes: set, seen: set):
    if not isinstance(container, dict):
        causes.invalid(path, container, "must be an object")
        return
    name = container.get("name")
    if not name:
        causes.required(f"{path}.name")
    else:
        for problem in dns_label_errors(name):
            causes.invalid(f"{path}.name", name, problem)
        if name in seen:
            causes.duplicate(f"{path}.name", name)
        seen.add(name)
    if not container.get("image"):
        causes.required(f"{path}.image")
    policy = container.get("imagePullPolicy")
    if policy is not None and policy not in _PULL_POLICIES:
        causes.unsupported(f"{path}.imagePullPolicy", policy, _PULL_POLICIES)
    _validate_container_ports(container.get("ports") or [], f"{path}.ports", causes)
    _validate_env(container.get("env") or [], f"{path}.env", causes)
    validate_resources(container.get("resources"), f"{path}.resources", causes)
    _validate_mounts(
        container.get("volumeMounts") or [], f"{path}.volumeMounts", causes, volumes
    )
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _validate_probe(container.get(probe), f"{path}.{probe}", causes)


def _validate_container_ports(ports: list, field: str, causes: Causes) -> None:
    names: set[str] = set()
    for n, port in enumerate(ports):
        path = f"{field}[{n}]"
        number = port.get("containerPort")
        if number is None:
            causes.required(f"{path}.containerPort")
        elif not isinstance(number, int) or not 1 <= number <= 65535:
            causes.invalid(
                f"{path}.containerPort",
                number,
                "must be between 1 and 65535, inclusive",
            )
        protocol = port.get("protocol", "TCP")
        if protocol not in _PROTOCOLS:
            causes.unsupported(f"{path}.protocol", protocol, _PROTOCOLS)
        name = port.get("name")
        if name:
            if len(name) > 15 or not IANA_SVC_NAME.match(name):
                causes.invalid(
                    f"{path}.name",
                    name,
                    "must be no more than 15 characters, lower case "
                    "alphanumeric or '-', with at least one letter",
                )
            if name in names:
                causes.duplicate(f"{path}.name", name)
            names.add(name)


def _validate_env(env: list, field: str, causes: Causes) -> None:
    for n, variable in enumerate(env):
        name = variable.get("name")
        if not name:
            causes.required(f"{field}[{n}].name")
        elif not ENV_NAME.match(name):
            causes.invalid(
                f"{field}[{n}].name",
                name,
                "a valid environment variable name must consist "
                "of alphabetic characters, digits, '_', '-', or '.', and must not "
                "start with a digit",
            )
        source = variable.get("valueFrom")
        if source is not None and "value" in variable and variable["value"]:
            causes.invalid(
                f"{field}[{n}].valueFrom",
                "",
                "may not be specified when `value` is not empty",
            )
        if isinstance(source, dict):
            for ref in ("configMapKeyRef", "secretKeyRef"):
                if ref in source and not (source[ref] or {}).get("key"):
                    causes.required(f"{field}[{n}].valueFrom.{ref}.key")


def _validate_mounts(mounts: list, field: str, causes: Causes, volumes: set) -> None:
    paths: set[str] = set()
    for n, mount in enumerate(mounts):
        name, mount_path = mount.get("name"), mount.get("mountPath")
        if not name:
            causes.required(f"{field}[{n}].name")
        elif name not in volumes:
            causes.add(
                f"{field}[{n}].name", f'Not found: "{name}"', "FieldValueNotFound"
            )
        if not mount_path:
            causes.required(f"{field}[{n}].mountPath")
        elif mount_path in paths:
            causes.invalid(f"{field}[{n}].mountPath", mount_path, "must be unique")
        paths.add(mount_path)


def _validate_probe(probe, field: str, causes: Causes) -> None:
    if not probe:
        return
    handlers = [h for h in ("exec", "httpGet", "tcpSocket", "grpc") if h in probe]
    if len(handlers) != 1:
        causes.required(f"{field}") if not handlers else causes.forbidden(
            field, "may not specify more than 1 handler type"
        )
    for key in (
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "failureThreshold",
    ):
        value = probe.get(key)
        if isinstance(value, int) and value < 0:
            causes.invalid(
                f"{field}.{key}", value, "must be greater than or equal to 0"
            )
    for handler in ("httpGet", "tcpSocket"):
        port = (probe.get(handler) or {}).get("port") if handler in probe else None
        if handler in probe and port is None:
            causes.required(f"{field}.{handler}.port")
        elif isinstance(port, int) and not 1 <= port <= 65535:
            causes.invalid(
                f"{field}.{handler}.port", port, "must be between 1 and 65535"
            )


def validate_template(
    spec: dict,
    field: str,
    causes: Causes,
    restart_policies=_RESTART_POLICIES,
    claim_volumes: frozenset[str] = frozenset(),
):
    """Check a pod template and that the selector selects its labels."""
    template = spec.get("template")
    if not isinstance(template, dict):
        causes.required(f"{field}.template")
        return
    labels = (template.get("metadata") or {}).get("labels") or {}
    validate_labels(labels, f"{field}.template.metadata.labels", causes)
    validate_pod_spec(
        template.get("spec"),
        f"{field}.template.spec",
        causes,
        restart_policies,
        claim_volumes,
    )
    selector = spec.get("selector")
    if selector and not selector_from_object(selector).matches(labels):
        causes.invalid(
            f"{field}.template.metadata.labels",
            ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
            "`selector` does not match template `labels`",
        )


def default_template(spec: dict) -> None:
    """Default the pod spec inside a workload's template."""
    template = spec.get("template")
    if isinstance(template, dict):
        template.setdefault("metadata", {})
        if isinstance(template.get("spec"), dict):
            default_pod_spec(template["spec"])


# ----- workloads


def _validate_replicas(spec: dict, field: str, causes: Causes) -> None:
    replicas = spec.get("replicas")
    if replicas is not None and (not isinstance(replicas, int) or replicas < 0):
        causes.invalid(
            f"{field}.replicas", replicas, "must be greater than or equal to 0"
        )


def _workload_spec(obj: dict, causes: Causes) -> dict | None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        causes.required("spec")
        return None
    return spec


def validate_deployment(obj: dict, causes: Causes) -> None:
    """Check a Deployment."""
    spec = _workload_spec(obj, causes)
    if spec is None:
        return
    _validate_replicas(spec, "spec", causes)
    validate_label_selector(spec.get("selector"), "spec.selector", causes)
    _reject_empty_selector(spec.get("selector"), "spec.selector", causes)
    validate_template(spec, "spec", causes, ("Always",))
    strategy = spec.get("strategy") or {}
    kind = strategy.get("type", "RollingUpdate")
    if kind not in ("RollingUpdate", "Recreate"):
        causes.unsupported("spec.strategy.type", kind, ("Recreate", "RollingUpdate"))
    if kind == "Recreate" and strategy.get("rollingUpdate"):
        causes.forbidden(
            "spec.strategy.rollingUpdate",
            "may not be specified when strategy `type` is 'Recreate'",
        )
    rolling = strategy.get("rollingUpdate") or {}
    if str(rolling.get("maxSurge", "25%")) in ("0", "0%") and str(
        rolling.get("maxUnavailable", "25%")
    ) in ("0", "0%"):
        causes.invalid(
            "spec.strategy.rollingUpdate.maxUnavailable",
            rolling.get("maxUnavailable"),
            "may not be 0 when `maxSurge` is 0",
        )


def _reject_empty_selector(selector, field: str, causes: Causes) -> None:
    if (
        isinstance(selector, dict)
        and selector
        and not (selector.get("matchLabels") or selector.get("matchExpressions"))
    ):
        causes.invalid(field, "{}", "empty selector is invalid for deployment")


def validate_replicaset(obj: dict, causes: Causes) -> None:
    """Check a ReplicaSet."""
    spec = _workload_spec(obj, causes)
    if spec is None:
        return
    _validate_replicas(spec, "spec", causes)
    validate_label_selector(spec.get("selector"), "spec.selector", causes)
    validate_template(spec, "spec", causes, ("Always",))


def validate_statefulset(obj: dict, causes: Causes) -> None:
    """Check a StatefulSet."""
    spec = _workload_spec(obj, causes)
    if spec is None:
        return
    _validate_replicas(spec, "spec", causes)
    validate_label_selector(spec.get("selector"), "spec.selector", causes)
    claims = frozenset(
        (claim.get("metadata") or {}).get("name", "")
        for claim in spec.get("volumeClaimTemplates") or []
        if isinstance(claim, dict)
    )
    validate_template(spec, "spec", causes, ("Always",), claims)
    policy = spec.get("podManagementPolicy", "OrderedReady")
    if policy not in ("OrderedReady", "Parallel"):
        causes.unsupported(
            "spec.podManagementPolicy", policy, ("OrderedReady", "Parallel")
        )
    for n, claim in enumerate(spec.get("volumeClaimTemplates") or []):
        name = (claim.get("metadata") or {}).get("name")
        if not name:
            causes.required(f"spec.volumeClaimTemplates[{n}].metadata.name")
        _validate_pvc_spec(
            claim.get("spec") or {}, f"spec.volumeClaimTemplates[{n}].spec", causes
        )


def validate_daemonset(obj: dict, causes: Causes) -> None:
    """Check a DaemonSet."""
    spec = _workload_spec(obj, causes)
    if spec is None:
        return
    validate_label_selector(spec.get("selector"), "spec.selector", causes)
    validate_template(spec, "spec", causes, ("Always",))
    kind = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
    if kind not in ("RollingUpdate", "OnDelete"):
        causes.unsupported(
            "spec.updateStrategy.type", kind, ("OnDelete", "RollingUpdate")
        )


_JOB_RESTART = ("OnFailure", "Never")


def validate_job(obj: dict, causes: Causes) -> None:
    """Check a Job."""
    spec = _workload_spec(obj, causes)
    if spec is None:
        return
    _validate_job_spec(spec, "spec", causes)


def _validate_job_spec(spec: dict, field: str, causes: Causes) -> None:
    for key in ("parallelism", "completions", "backoffLimit", "activeDeadlineSeconds"):
        value = spec.get(key)
        if value is not None and (not isinstance(value, int) or value < 0):
            causes.invalid(
                f"{field}.{key}", value, "must be greater than or equal to 0"
            )
    template = spec.get("template") or {}
    pod_spec = template.get("spec") or {}
    if "restartPolicy" not in pod_spec:
        causes.add(
            f"{field}.template.spec.restartPolicy",
            'Required value: valid values: "OnFailure", "Never"',
            "FieldValueRequired",
        )
    validate_template(spec, field, causes, _JOB_RESTART)


_CRON_MACROS = (
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
)
_CRON_FIELD = re.compile(
    r"^(\*|\?|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/\d+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/\d+)?)*$"
)


def cron_schedule_errors(schedule: str) -> list[str]:
    """Return why a cron schedule is not valid (empty when it is)."""
    text = schedule.strip()
    if text.startswith(("TZ=", "CRON_TZ=")):
        return ["cannot use TZ or CRON_TZ in schedule, use timeZone field instead"]
    if text in _CRON_MACROS or text.startswith("@every "):
        return []
    fields = text.split()
    if len(fields) != 5:
        return [f"expected exactly 5 fields, found {len(fields)}: {text}"]
    if not all(_CRON_FIELD.match(f) for f in fields):
        return [f"unparseable schedule: {text}"]
    limits = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
    for value, (low, high) in zip(fields, limits, strict=True):
        for number in re.findall(r"(?<![/\d])\d+", value):
            if not low <= int(number) <= high:
                return [f"value {number} out of range [{low}, {high}]: {text}"]
    return []


def validate_cronjob(obj: dict, causes: Causes) -> None:
    """Check a CronJob."""
    spec = _workload_spec(obj, causes)
    if spec is None:
        return
    schedule = spec.get("schedule")
    if not schedule:
        causes.required("spec.schedule")
    else:
        for problem in cron_schedule_errors(schedule):
            causes.invalid("spec.schedule", schedule, problem)
    policy = spec.get("concurrencyPolicy", "Allow")
    if policy not in ("Allow", "Forbid", "Replace"):
        causes.unsupported(
            "spec.concurrencyPolicy", policy, ("Allow", "Forbid", "Replace")
        )
    job_spec = (spec.get("jobTemplate") or {}).get("spec")
    if not isinstance(job_spec, dict):
        causes.required("spec.jobTemplate.spec")
        return
    _validate_job_spec(job_spec, "spec.jobTemplate.spec", causes)


# ----- services and networking


_SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")


def validate_service(obj: dict, causes: Causes) -> None:
    """Check a Service."""
    spec = obj.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    if kind not in _SERVICE_TYPES:
        causes.unsupported("spec.type", kind, _SERVICE_TYPES)
    ports = spec.get("ports") or []
    headless = spec.get("clusterIP") == "None"
    if not ports and kind != "ExternalName" and not headless:
        causes.required("spec.ports")
    if kind == "ExternalName" and not spec.get("externalName"):
        causes.required("spec.externalName")
    _validate_service_ports(ports, kind, causes)
    validate_labels(spec.get("selector"), "spec.selector", causes)
    affinity = spec.get("sessionAffinity", "None")
    if affinity not in ("None", "ClientIP"):
        causes.unsupported("spec.sessionAffinity", affinity, ("ClientIP", "None"))
    cluster_ip = spec.get("clusterIP")
    if cluster_ip and cluster_ip != "None":
        _validate_cluster_ip(cluster_ip, causes)


def _validate_service_ports(ports: list, kind: str, causes: Causes) -> None:
    names: set[str] = set()
    for n, port in enumerate(ports):
        path = f"spec.ports[{n}]"
        name = port.get("name")
        if len(ports) > 1 and not name:
            causes.required(f"{path}.name")
        if name:
            for problem in dns_label_errors(name):
                causes.invalid(f"{path}.name", name, problem)
            if name in names:
                causes.duplicate(f"{path}.name", name)
            names.add(name)
        number = port.get("port")
        if number is None:
            causes.required(f"{path}.port")
        elif not isinstance(number, int) or not 1 <= number <= 65535:
            causes.invalid(
                f"{path}.port", number, "must be between 1 and 65535, inclusive"
            )
        protocol = port.get("protocol", "TCP")
        if protocol not in _PROTOCOLS:
            causes.unsupported(f"{path}.protocol", protocol, _PROTOCOLS)
        _validate_target_port(port.get("targetPort"), f"{path}.targetPort", causes)
        node_port = port.get("nodePort")
        if node_port not in (None, 0):
            if kind not in ("NodePort", "LoadBalancer"):
                causes.forbidden(
                    f"{path}.nodePort", f"may not be used when `type` is '{kind}'"
                )
            elif node_port not in NODE_PORT_RANGE:
                causes.invalid(
                    f"{path}.nodePort",
                    node_port,
                    "provided port is not in the valid range. The range of valid "
                    "ports is 30000-32767",
                )


def _validate_target_port(target, field: str, causes: Causes) -> None:
    if target is None:
        return
    if isinstance(target, int):
        if not 1 <= target <= 65535:
            causes.invalid(field, target, "must be between 1 and 65535, inclusive")
    elif isinstance(target, str):
        if target.isdigit():
            if not 1 <= int(target) <= 65535:
                causes.invalid(field, target, "must be between 1 and 65535, inclusive")
        elif len(target) > 15 or not IANA_SVC_NAME.match(target):
            causes.invalid(
                field,
                target,
                "must contain only alpha-numeric characters (a-z, 0-9), and "
                "hyphens (-), at most 15 characters",
            )
    else:
        causes.invalid(field, target, "must be an integer or a port name")


def _validate_cluster_ip(cluster_ip: str, causes: Causes) -> None:
    try:
        address = ipaddress.ip_address(cluster_ip)
    except ValueError:
        causes.invalid("spec.clusterIPs[0]", cluster_ip, "must be a valid IP address")
        return
    if address not in SERVICE_CIDR:
        causes.invalid(
            "spec.clusterIPs",
            [cluster_ip],
            f"failed to allocate IP {cluster_ip}: the provided IP ({cluster_ip}) "
            f"is not in the valid range. The range of valid IPs is {SERVICE_CIDR}",
        )


def default_service(obj: dict) -> None:
    """Add the defaults a real server fills in a Service."""
    spec = obj.setdefault("spec", {})
    kind = spec.setdefault("type", "ClusterIP")
    if kind != "ExternalName":
        spec.setdefault("sessionAffinity", "None")
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if kind in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])


def allocate_service_addresses(
    store, obj: dict, old: dict | None, causes: Causes
) -> None:
    """Give a Service its cluster IP and node ports, keeping those it has."""
    spec = obj.setdefault("spec", {})
    old_spec = (old or {}).get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    if old is not None:
        _carry_allocations(spec, old_spec, kind)
    used_ips, used_ports = _allocated(store, obj)
    if kind != "ExternalName":
        _allocate_cluster_ip(spec, used_ips, causes)
    if kind in ("NodePort", "LoadBalancer"):
        _allocate_node_ports(spec, old_spec, used_ports, causes)


def _carry_allocations(spec: dict, old_spec: dict, kind: str) -> None:
    if (
        not spec.get("clusterIP")
        and old_spec.get("clusterIP")
        and kind != "ExternalName"
    ):
        spec["clusterIP"] = old_spec["clusterIP"]
        spec["clusterIPs"] = list(old_spec.get("clusterIPs") or [old_spec["clusterIP"]])
    if kind not in ("NodePort", "LoadBalancer"):
        return
    old_ports = {
        (p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
        for p in old_spec.get("ports") or []
    }
    for port in spec.get("ports") or []:
        if not port.get("nodePort"):
            previous = old_ports.get((port.get("port"), port.get("protocol", "TCP")))
            if previous:
                port["nodePort"] = previous


def _allocated(store, obj: dict) -> tuple[set[str], set[int]]:
    meta = obj.get("metadata") or {}
    ips, ports = set(), set()
    for service in store.list(r.SERVICE):
        other = service["metadata"]
        if other.get("namespace") == meta.get("namespace") and other[
            "name"
        ] == meta.get("name"):
            continue
        spec = service.get("spec") or {}
        ips.update(spec.get("clusterIPs") or [spec.get("clusterIP")])
        ports.update(
            p.get("nodePort") for p in spec.get("ports") or [] if p.get("nodePort")
        )
    return ips, ports


def _allocate_cluster_ip(spec: dict, used: set, causes: Causes) -> None:
    wanted = spec.get("clusterIP")
    if wanted == "None":
        spec["clusterIPs"] = ["None"]
        return
    if wanted:
        if wanted in used:
            causes.invalid(
                "spec.clusterIPs",
                [wanted],
                f"failed to allocate IP {wanted}: provided IP is already allocated",
            )
        spec["clusterIPs"] = [wanted]
        return
    base = int(SERVICE_CIDR.network_address)
    for offset in range(16, SERVICE_CIDR.num_addresses - 1):
        candidate = str(ipaddress.ip_address(base + offset))
        if candidate not in used:
            spec["clusterIP"] = candidate
            spec["clusterIPs"] = [candidate]
            return
    causes.add("spec.clusterIPs", "Internal error: range is full")


def _allocate_node_ports(spec: dict, old_spec: dict, used: set, causes: Causes) -> None:
    mine: set[int] = set()
    for n, port in enumerate(spec.get("ports") or []):
        wanted = port.get("nodePort")
        if wanted:
            if wanted in used or wanted in mine:
                causes.invalid(
                    f"spec.ports[{n}].nodePort",
                    wanted,
                    "provided port is already allocated",
                )
            mine.add(wanted)
    for port in spec.get("ports") or []:
        if port.get("nodePort"):
            continue
        free = next(
            (p for p in NODE_PORT_RANGE if p not in used and p not in mine), None
        )
        if free is None:
            causes.add("spec.ports", "Internal error: node port range is full")
            return
        port["nodePort"] = free
        mine.add(free)


def validate_ingress(obj: dict, causes: Causes) -> None:
    """Check an Ingress."""
    spec = obj.get("spec") or {}
    if not spec.get("rules") and not spec.get("defaultBackend"):
        causes.add(
            "spec",
            "Invalid value: either `defaultBackend` or `rules` must be specified",
        )
    if spec.get("defaultBackend"):
        _validate_backend(spec["defaultBackend"], "spec.defaultBackend", causes)
    for n, rule in enumerate(spec.get("rules") or []):
        host = rule.get("host")
        if host:
            bare = host[2:] if host.startswith("*.") else host
            for problem in dns_subdomain_errors(bare):
                causes.invalid(f"spec.rules[{n}].host", host, problem)
        for m, path in enumerate((rule.get("http") or {}).get("paths") or []):
            _validate_ingress_path(path, f"spec.rules[{n}].http.paths[{m}]", causes)
    for n, tls in enumerate(spec.get("tls") or []):
        for host in tls.get("hosts") or []:
            bare = host[2:] if host.startswith("*.") else host
            for problem in dns_subdomain_errors(bare):
                causes.invalid(f"spec.tls[{n}].hosts", host, problem)


_PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")


def _validate_ingress_path(path: dict, field: str, causes: Causes) -> None:
    path_type = path.get("pathType")
    if not path_type:
        causes.add(
            f"{field}.pathType",
            "Required value: pathType must be specified",
            "FieldValueRequired",
        )
    elif path_type not in _PATH_TYPES:
        causes.unsupported(f"{field}.pathType", path_type, _PATH_TYPES)
    value = path.get("path")
    if path_type in ("Exact", "Prefix") and not (value or "").startswith("/"):
        causes.invalid(f"{field}.path", value, "must be an absolute path")
    backend = path.get("backend")
    if not backend:
        causes.required(f"{field}.backend")
    else:
        _validate_backend(backend, f"{field}.backend", causes)


def _validate_backend(backend: dict, field: str, causes: Causes) -> None:
    service = backend.get("service")
    if not service and not backend.get("resource"):
        causes.add(
            field, "Invalid value: one of `service` or `resource` must be specified"
        )
        return
    if not service:
        return
    if not service.get("name"):
        causes.required(f"{field}.service.name")
    port = service.get("port") or {}
    number, name = port.get("number"), port.get("name")
    if number is None and not name:
        causes.required(f"{field}.service.port")
    if number is not None and name:
        causes.invalid(
            f"{field}.service.port", port, "cannot set both port name & port number"
        )
    if number is not None and (not isinstance(number, int) or not 1 <= number <= 65535):
        causes.invalid(
            f"{field}.service.port.number", number, "must be between 1 and 65535"
        )


def validate_network_policy(obj: dict, causes: Causes) -> None:
    """Check a NetworkPolicy."""
    spec = obj.get("spec")
    if not isinstance(spec, dict) or "podSelector" not in spec:
        causes.required("spec.podSelector")
        return
    validate_label_selector(
        spec["podSelector"], "spec.podSelector", causes, required=False
    )
    for n, kind in enumerate(spec.get("policyTypes") or []):
        if kind not in ("Ingress", "Egress"):
            causes.unsupported(f"spec.policyTypes[{n}]", kind, ("Egress", "Ingress"))
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for n, rule in enumerate(spec.get(direction) or []):
            for m, port in enumerate(rule.get("ports") or []):
                protocol = port.get("protocol", "TCP")
                if protocol not in _PROTOCOLS:
                    causes.unsupported(
                        f"spec.{direction}[{n}].ports[{m}].protocol",
                        protocol,
                        _PROTOCOLS,
                    )
                _validate_target_port(
                    port.get("port"), f"spec.{direction}[{n}].ports[{m}].port", causes
                )
            for m, peer in enumerate(rule.get(peers) or []):
                for key in ("podSelector", "namespaceSelector"):
                    if key in peer:
                        validate_label_selector(
                            peer[key],
                            f"spec.{direction}[{n}].{peers}[{m}].{key}",
                            causes,
                            required=False,
                        )


def default_network_policy(obj: dict) -> None:
    """Fill policyTypes the way a real server does."""
    spec = obj.get("spec")
    if isinstance(spec, dict) and not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress"] + (["Egress"] if spec.get("egress") else [])


# ----- config, storage, autoscaling


def _validate_data_keys(data, field: str, causes: Causes) -> None:
    for key in data or {}:
        if len(key) > 253 or not CONFIG_KEY.match(key):
            causes.invalid(
                f"{field}[{key}]",
                key,
                "a valid config key must consist of alphanumeric "
                "characters, '-', '_' or '.'",
            )


def validate_configmap(obj: dict, causes: Causes) -> None:
    """Check a ConfigMap."""
    _validate_data_keys(obj.get("data"), "data", causes)
    _validate_data_keys(obj.get("binaryData"), "binaryData", causes)
    for key, value in (obj.get("data") or {}).items():
        if not isinstance(value, str):
            causes.invalid(f"data[{key}]", value, "must be a string")
    for key in set(obj.get("data") or {}) & set(obj.get("binaryData") or {}):
        causes.invalid(f"data[{key}]", key, "duplicate of key present in binaryData")
    size = sum(len(k) + len(str(v)) for k, v in (obj.get("data") or {}).items())
    if size > 1024 * 1024:
        causes.add("", "Too long: must have at most 1048576 bytes", "FieldValueTooLong")


def default_secret(obj: dict) -> None:
    """Merge stringData into base64 data and default the type."""
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None)
    if string_data:
        data = obj.setdefault("data", {}) or {}
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = data


def validate_secret(obj: dict, causes: Causes) -> None:
    """Check a Secret."""
    _validate_data_keys(obj.get("data"), "data", causes)
    for key, value in (obj.get("data") or {}).items():
        try:
            base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            causes.invalid(
                f"data[{key}]", "<secret contents redacted>", "illegal base64 data"
            )
    kind = obj.get("type", "Opaque")
    required_keys = {
        "kubernetes.io/tls": ("tls.crt", "tls.key"),
        "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
        "kubernetes.io/basic-auth": (),
    }.get(kind, ())
    for key in required_keys:
        if key not in (obj.get("data") or {}):
            causes.required(f"data[{key}]")


_ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")


def _validate_pvc_spec(spec: dict, field: str, causes: Causes) -> None:
    modes = spec.get("accessModes")
    if not modes:
        causes.add(
            f"{field}.accessModes",
            "Required value: at least 1 access mode is required",
            "FieldValueRequired",
        )
    for mode in modes or []:
        if mode not in _ACCESS_MODES:
            causes.unsupported(f"{field}.accessModes", mode, _ACCESS_MODES)
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    if storage is None:
        causes.required(f"{field}.resources[storage]")
    else:
        try:
            if parse_quantity(storage) <= 0:
                causes.invalid(
                    f"{field}.resources[storage]", storage, "must be greater than zero"
                )
        except ValueError:
            causes.invalid(f"{field}.resources[storage]", storage, "must be a quantity")
    mode = spec.get("volumeMode", "Filesystem")
    if mode not in ("Block", "Filesystem"):
        causes.unsupported(f"{field}.volumeMode", mode, ("Block", "Filesystem"))


def validate_pvc(obj: dict, causes: Causes) -> None:
    """Check a PersistentVolumeClaim."""
    _validate_pvc_spec(obj.get("spec") or {}, "spec", causes)


def default_pvc(store, obj: dict) -> None:
    """Default volumeMode and the storage class (the DefaultStorageClass admission)."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("volumeMode", "Filesystem")
    if "storageClassName" in spec:
        return
    for storage_class in store.list(r.STORAGECLASS):
        annotations = storage_class["metadata"].get("annotations") or {}
        if annotations.get("storageclass.kubernetes.io/is-default-class") == "true":
            spec["storageClassName"] = storage_class["metadata"]["name"]
            return


def validate_hpa(obj: dict, causes: Causes) -> None:
    """Check a HorizontalPodAutoscaler (autoscaling/v2)."""
    spec = obj.get("spec") or {}
    target = spec.get("scaleTargetRef") or {}
    if not target.get("kind"):
        causes.required("spec.scaleTargetRef.kind")
    if not target.get("name"):
        causes.required("spec.scaleTargetRef.name")
    low, high = spec.get("minReplicas", 1), spec.get("maxReplicas")
    if not isinstance(low, int) or low < 1:
        causes.invalid("spec.minReplicas", low, "must be greater than or equal to 1")
    if high is None:
        causes.required("spec.maxReplicas")
    elif not isinstance(high, int) or high < 1:
        causes.invalid("spec.maxReplicas", high, "must be greater than 0")
    elif isinstance(low, int) and high < low:
        causes.invalid(
            "spec.maxReplicas", high, "must be greater than or equal to `minReplicas`"
        )
    for n, metric in enumerate(spec.get("metrics") or []):
        kind = metric.get("type")
        allowed = ("ContainerResource", "External", "Object", "Pods", "Resource")
        if kind not in allowed:
            causes.unsupported(f"spec.metrics[{n}].type", kind, allowed)
            continue
        body = metric.get(kind[0].lower() + kind[1:])
        if not body:
            causes.required(f"spec.metrics[{n}].{kind[0].lower() + kind[1:]}")
        elif kind == "Resource" and not (body.get("target") or {}).get("type"):
            causes.required(f"spec.metrics[{n}].resource.target.type")


def default_hpa(obj: dict) -> None:
    """Default minReplicas."""
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec.setdefault("minReplicas", 1)


def validate_crd(obj: dict, causes: Causes) -> None:
    """Check a CustomResourceDefinition."""
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    group, plural = spec.get("group"), names.get("plural")
    if not group:
        causes.required("spec.group")
    elif dns_subdomain_errors(group) or "." not in group:
        causes.invalid("spec.group", group, "should be a domain with at least one dot")
    if not plural:
        causes.required("spec.names.plural")
    elif dns_label_errors(plural):
        causes.invalid("spec.names.plural", plural, "must be a DNS-1123 label")
    if not names.get("kind"):
        causes.required("spec.names.kind")
    scope = spec.get("scope")
    if scope not in ("Namespaced", "Cluster"):
        causes.unsupported("spec.scope", scope, ("Cluster", "Namespaced"))
    versions = spec.get("versions") or []
    if not versions:
        causes.required("spec.versions")
    if versions and sum(1 for v in versions if v.get("storage")) != 1:
        causes.invalid(
            "spec.versions",
            "",
            "must have exactly one version marked as storage version",
        )
    for n, version in enumerate(versions):
        if not version.get("name"):
            causes.required(f"spec.versions[{n}].name")
        if "served" not in version:
            causes.required(f"spec.versions[{n}].served")
    name = (obj.get("metadata") or {}).get("name")
    if group and plural and name != f"{plural}.{group}":
        causes.invalid(
            "metadata.name", name, 'must be spec.names.plural+"."+spec.group'
        )


def default_crd(obj: dict) -> None:
    """Fill the CRD names the server derives."""
    names = (obj.get("spec") or {}).get("names")
    if isinstance(names, dict) and names.get("kind"):
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")


def validate_namespace(obj: dict, causes: Causes) -> None:
    """Check a Namespace (the name is checked with the metadata)."""


def default_namespace(obj: dict) -> None:
    """Add the name label and the kubernetes finalizer."""
    meta = obj.setdefault("metadata", {})
    if meta.get("name"):
        labels = meta.get("labels") or {}
        labels.setdefault("kubernetes.io/metadata.name", meta["name"])
        meta["labels"] = labels
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])


# ----- workload defaults


def default_deployment(obj: dict) -> None:
    """Add the Deployment defaults."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    default_template(spec)


def default_replicaset(obj: dict) -> None:
    """Add the ReplicaSet defaults."""
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        default_template(spec)


def default_statefulset(obj: dict) -> None:
    """Add the StatefulSet defaults."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    spec.setdefault("revisionHistoryLimit", 10)
    strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        strategy.setdefault("type", "RollingUpdate")
        strategy.setdefault("rollingUpdate", {}).setdefault("partition", 0)
    spec.setdefault(
        "persistentVolumeClaimRetentionPolicy",
        {"whenDeleted": "Retain", "whenScaled": "Retain"},
    )
    for claim in spec.get("volumeClaimTemplates") or []:
        if isinstance(claim, dict):
            claim.setdefault("apiVersion", "v1")
            claim.setdefault("kind", "PersistentVolumeClaim")
            claim.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
    default_template(spec)


def default_daemonset(obj: dict) -> None:
    """Add the DaemonSet defaults."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    spec.setdefault("revisionHistoryLimit", 10)
    strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        strategy.setdefault("type", "RollingUpdate")
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    default_template(spec)


def _default_job_spec(spec: dict, name: str | None, uid: str | None) -> None:
    spec.setdefault("parallelism", 1)
    if "completions" not in spec and spec.get("completionMode") != "Indexed":
        spec["completions"] = 1
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    template = spec.setdefault("template", {})
    pod_spec = template.get("spec")
    if isinstance(pod_spec, dict):
        policy = pod_spec.get("restartPolicy")
        default_pod_spec(pod_spec)
        if policy is None:
            pod_spec.pop("restartPolicy", None)
    if uid and not spec.get("manualSelector"):
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        labels.setdefault("batch.kubernetes.io/controller-uid", uid)
        labels.setdefault("batch.kubernetes.io/job-name", name or "")
        labels.setdefault("controller-uid", uid)
        labels.setdefault("job-name", name or "")
        spec.setdefault(
            "selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        )


def default_job(obj: dict) -> None:
    """Add the Job defaults, including the generated selector."""
    spec = obj.get("spec")
    if isinstance(spec, dict):
        meta = obj.get("metadata") or {}
        _default_job_spec(spec, meta.get("name"), meta.get("uid"))


def default_cronjob(obj: dict) -> None:
    """Add the CronJob defaults."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job_spec = (spec.get("jobTemplate") or {}).get("spec")
    if isinstance(job_spec, dict):
        job_spec.setdefault("backoffLimit", 6)
        job_spec.setdefault("completionMode", "NonIndexed")
        job_spec.setdefault("suspend", False)
        pod_spec = (job_spec.get("template") or {}).get("spec")
        if isinstance(pod_spec, dict):
            policy = pod_spec.get("restartPolicy")
            default_pod_spec(pod_spec)
            if policy is None:
                pod_spec.pop("restartPolicy", None)


def default_pod(obj: dict) -> None:
    """Add the Pod defaults."""
    spec = obj.get("spec")
    if isinstance(spec, dict):
        default_pod_spec(spec)
        spec.setdefault("serviceAccountName", "default")
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("priority", 0)


def validate_pod(obj: dict, causes: Causes) -> None:
    """Check a Pod."""
    validate_pod_spec(obj.get("spec"), "spec", causes)


# ----- immutability on update


def _immutable(old: dict, new: dict, path: tuple[str, ...], causes: Causes) -> None:
    before, after = _dig(old, path), _dig(new, path)
    if before != after:
        causes.immutable(".".join(path), after)


def _dig(obj, path):
    for part in path:
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def _check_deployment_update(old, new, causes):
    _immutable(old, new, ("spec", "selector"), causes)


def _check_set_update(old, new, causes):
    _immutable(old, new, ("spec", "selector"), causes)


_STATEFULSET_MUTABLE = (
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
    "revisionHistoryLimit",
)


def _check_statefulset_update(old, new, causes):
    before = {
        k: v
        for k, v in (old.get("spec") or {}).items()
        if k not in _STATEFULSET_MUTABLE
    }
    after = {
        k: v
        for k, v in (new.get("spec") or {}).items()
        if k not in _STATEFULSET_MUTABLE
    }
    if before != after:
        causes.forbidden(
            "spec",
            "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
            "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
            "'minReadySeconds' are forbidden",
        )


def _check_job_update(old, new, causes):
    _immutable(old, new, ("spec", "selector"), causes)
    _immutable(old, new, ("spec", "template"), causes)
    _immutable(old, new, ("spec", "completionMode"), causes)


def _check_service_update(old, new, causes):
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    if new_spec.get("type") == "ExternalName" or old_spec.get("type") == "ExternalName":
        return
    if old_spec.get("clusterIP") and new_spec.get("clusterIP") != old_spec.get(
        "clusterIP"
    ):
        causes.immutable("spec.clusterIPs[0]", new_spec.get("clusterIP"))


def _check_pvc_update(old, new, causes):
    def strip(spec):
        spec = dict(spec or {})
        resources = dict(spec.pop("resources", None) or {})
        resources.pop("requests", None)
        spec.pop("volumeAttributesClassName", None)
        if not (old.get("spec") or {}).get("volumeName"):
            spec.pop("volumeName", None)
        return spec, resources

    if strip(old.get("spec")) != strip(new.get("spec")):
        causes.forbidden(
            "spec",
            "spec is immutable after creation except resources.requests and "
            "volumeAttributesClassName for bound claims",
        )


def _check_immutable_data(old, new, causes):
    if old.get("immutable"):
        for field in ("data", "binaryData", "stringData"):
            if old.get(field) != new.get(field):
                causes.forbidden(field, "field is immutable when `immutable` is set")
        if not new.get("immutable"):
            causes.forbidden("immutable", "field is immutable when `immutable` is set")


def _check_secret_update(old, new, causes):
    _check_immutable_data(old, new, causes)
    if old.get("type", "Opaque") != new.get("type", "Opaque"):
        causes.immutable("type", new.get("type"))


_POD_MUTABLE_CONTAINER_FIELDS = ("image",)


def _check_pod_update(old, new, causes):
    def strip(spec):
        spec = dict(spec or {})
        for key in (
            "activeDeadlineSeconds",
            "tolerations",
            "terminationGracePeriodSeconds",
        ):
            spec.pop(key, None)
        for field in ("containers", "initContainers"):
            spec[field] = [
                {k: v for k, v in c.items() if k not in _POD_MUTABLE_CONTAINER_FIELDS}
                for c in spec.get(field) or []
            ]
        return spec

    if strip(old.get("spec")) != strip(new.get("spec")):
        causes.forbidden(
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`, "
            "`spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, "
            "`spec.tolerations` (only additions to existing tolerations), "
            "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
            "previously negative)",
        )


def _check_crd_update(old, new, causes):
    for path in (("spec", "group"), ("spec", "names", "plural"), ("spec", "scope")):
        _immutable(old, new, path, causes)


_VALIDATORS = {
    r.POD.key: validate_pod,
    r.DEPLOYMENT.key: validate_deployment,
    r.REPLICASET.key: validate_replicaset,
    r.STATEFULSET.key: validate_statefulset,
    r.DAEMONSET.key: validate_daemonset,
    r.JOB.key: validate_job,
    r.CRONJOB.key: validate_cronjob,
    r.SERVICE.key: validate_service,
    r.INGRESS.key: validate_ingress,
    r.NETWORKPOLICY.key: validate_network_policy,
    r.CONFIGMAP.key: validate_configmap,
    r.SECRET.key: validate_secret,
    r.PVC.key: validate_pvc,
    r.HPA.key: validate_hpa,
    r.CRD.key: validate_crd,
    r.NAMESPACE.key: validate_namespace,
}
_DEFAULTERS = {
    r.POD.key: default_pod,
    r.DEPLOYMENT.key: default_deployment,
    r.REPLICASET.key: default_replicaset,
    r.STATEFULSET.key: default_statefulset,
    r.DAEMONSET.key: default_daemonset,
    r.JOB.key: default_job,
    r.CRONJOB.key: default_cronjob,
    r.SERVICE.key: default_service,
    r.NETWORKPOLICY.key: default_network_policy,
    r.SECRET.key: default_secret,
    r.HPA.key: default_hpa,
    r.CRD.key: default_crd,
    r.NAMESPACE.key: default_namespace,
}
_UPDATE_CHECKS = {
    r.POD.key: _check_pod_update,
    r.DEPLOYMENT.key: _check_deployment_update,
    r.REPLICASET.key: _check_set_update,
    r.DAEMONSET.key: _check_set_update,
    r.STATEFULSET.key: _check_statefulset_update,
    r.JOB.key: _check_job_update,
    r.SERVICE.key: _check_service_update,
    r.PVC.key: _check_pvc_update,
    r.CONFIGMAP.key: _check_immutable_data,
    r.SECRET.key: _check_secret_update,
    r.CRD.key: _check_crd_update,
}


def apply_defaults(rt, obj: dict) -> None:
    """Fill the defaults a real server adds to an object of this kind."""
    defaulter = _DEFAULTERS.get(rt.key)
    if defaulter is not None:
        defaulter(obj)


def admit(store, rt, obj: dict, old: dict | None = None) -> None:
    """Default, allocate and validate an object being created or updated.

    Raises ApiError 422 listing every invalid field. ``old`` is the stored
    object on update, None on create.
    """
    apply_defaults(rt, obj)
    causes = Causes()
    if rt.key == r.PVC.key and old is None:
        default_pvc(store, obj)
    if rt.key == r.SERVICE.key and old is not None:
        # A replace without the allocated IP and node ports keeps them.
        spec = obj.setdefault("spec", {})
        _carry_allocations(spec, old.get("spec") or {}, spec.get("type", "ClusterIP"))
    validate_metadata(rt, obj.get("metadata") or {}, causes)
    validator = _VALIDATORS.get(rt.key)
    if validator is not None:
        validator(obj, causes)
    if old is not None and rt.key in _UPDATE_CHECKS:
        _UPDATE_CHECKS[rt.key](old, obj, causes)
    if rt.key == r.SERVICE.key and not causes.items:
        allocate_service_addresses(store, obj, old, causes)
    name = (obj.get("metadata") or {}).get("name") or ""
    causes.raise_if_any(rt, name)


def selector_of(obj: dict) -> LabelSelector:
    """Return the parsed spec.selector of a workload."""
    return selector_from_object((obj.get("spec") or {}).get("selector"))


# ----- custom resources (a structural-schema subset)

_JSON_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
}


def validate_custom(
    obj: dict, schema: dict | None, causes: Causes, has_status=False
) -> None:
    """Check a custom object against its CRD schema and prune unknown fields."""
    if not schema:
        return
    properties = schema.get("properties") or {}
    preserve = schema.get("x-kubernetes-preserve-unknown-fields")
    for key in list(obj):
        if key in ("apiVersion", "kind", "metadata"):
            continue
        if key in properties:
            obj[key] = _check_schema(obj[key], properties[key], key, causes)
        elif not preserve:
            del obj[key]
    for key in schema.get("required") or []:
        if key not in obj and key not in ("apiVersion", "kind", "metadata"):
            if key == "status" and has_status:
                continue
            causes.required(key)


def _type_ok(value, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    expected = _JSON_TYPES.get(kind)
    return expected is None or isinstance(value, expected)


def _check_schema(value, schema: dict, path: str, causes: Causes):
    if value is None:
        return value
    if schema.get("x-kubernetes-int-or-string"):
        if not isinstance(value, (int, str)) or isinstance(value, bool):
            causes.invalid(path, value, f"{path} in body must be of type int-or-string")
        return value
    kind = schema.get("type")
    if kind and not _type_ok(value, kind):
        actual = type(value).__name__
        causes.add(
            path,
            f'Invalid value: "{actual}": {path} in body must be of type {kind}: '
            f'"{actual}"',
            "FieldValueTypeInvalid",
        )
        return value
    if "enum" in schema and value not in schema["enum"]:
        causes.unsupported(path, value, schema["enum"])
    _check_bounds(value, schema, path, causes)
    if isinstance(value, list):
        items = schema.get("items") or {}
        return [
            _check_schema(v, items, f"{path}[{n}]", causes) for n, v in enumerate(value)
        ]
    if isinstance(value, dict):
        return _check_object(value, schema, path, causes)
    return value


def _check_bounds(value, schema: dict, path: str, causes: Causes) -> None:
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            causes.add(
                path,
                f"Too long: may not be more than {schema['maxLength']} bytes",
                "FieldValueTooLong",
            )
        if "minLength" in schema and len(value) < schema["minLength"]:
            causes.invalid(
                path,
                value,
                f"{path} in body should be at least {schema['minLength']} chars long",
            )
        if "pattern" in schema and not re.search(schema["pattern"], value):
            causes.invalid(
                path, value, f"{path} in body should match '{schema['pattern']}'"
            )
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            causes.invalid(
                path,
                value,
                f"{path} in body should be greater than or equal "
                f"to {schema['minimum']}",
            )
        if "maximum" in schema and value > schema["maximum"]:
            causes.invalid(
                path,
                value,
                f"{path} in body should be less than or equal to {schema['maximum']}",
            )
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            causes.add(
                path,
                f"Too many: {len(value)}: must have at most {schema['maxItems']} items",
                "FieldValueTooMany",
            )
        if "minItems" in schema and len(value) < schema["minItems"]:
            causes.invalid(
                path,
                value,
                f"{path} in body should have at least {schema['minItems']} items",
            )


def _check_object(value: dict, schema: dict, path: str, causes: Causes) -> dict:
    properties = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    preserve = schema.get("x-kubernetes-preserve-unknown-fields")
    result = {}
    for key, child in value.items():
        if key in properties:
            result[key] = _check_schema(child, properties[key], f"{path}.{key}", causes)
        elif isinstance(extra, dict):
            result[key] = _check_schema(child, extra, f"{path}.{key}", causes)
        elif (
            preserve or extra is True or (not properties and extra is None and preserve)
        ):
            result[key] = child
    if (
        not properties
        and extra is None
        and not preserve
        and schema.get("type") == "object"
    ):
        # An object with no declared fields keeps nothing, as a structural schema does.
        result = {}
    for key in schema.get("required") or []:
        if key not in value:
            causes.required(f"{path}.{key}")
    return result
