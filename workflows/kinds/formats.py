"""Named string formats the node fields are checked against.

Each checker takes a string and returns an error message, or None when the
value is fine. The messages are sentences without the field name; the field
validator puts the field's label in front.
"""

import ipaddress
import re
import zoneinfo
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import cache

import yaml
from croniter import croniter

DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN_RE = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
IANA_PORT_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
QUALIFIED_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
CONFIG_KEY_RE = re.compile(r"^[-._a-zA-Z0-9]+$")
ENV_NAME_RE = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
API_VERSION_RE = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"v[0-9]+((alpha|beta)[0-9]+)?$"
)
KIND_NAME_RE = re.compile(r"^[A-Z][A-Za-z0-9]{0,62}$")
MOUNT_PATH_RE = re.compile(r"^/[^\s:]*$")

_DOMAIN = (
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?"
)
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_RE = re.compile(
    rf"^{_DOMAIN}{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[\w][\w.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)

QUANTITY_RE = re.compile(
    r"^\+?(?P<number>[0-9]+(\.[0-9]*)?|\.[0-9]+)"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][-+]?[0-9]+)?$"
)
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9}
_DECIMAL.update({"T": 12, "P": 15, "E": 18})

CRON_DESCRIPTORS = {
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
}
_CRON_EVERY_RE = re.compile(r"^@every ([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")
_CRON_ATOM_RE = re.compile(r"^(\*|\?|[0-9]+|[A-Za-z]{3})$")
_MONTHS = {
    "jan",
    "feb",
    "mar",
    "apr",
    "may",
    "jun",
    "jul",
    "aug",
    "sep",
    "oct",
    "nov",
    "dec",
}
_DAYS = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"}


def dns_label(value: str) -> str | None:
    """Check a DNS-1123 label (Service names, namespaces, container names)."""
    if len(value) > 63:
        return "must be at most 63 characters."
    if not DNS_LABEL_RE.match(value):
        return (
            "must be lower-case letters, digits and '-', starting and ending "
            "with a letter or digit (e.g. 'my-app')."
        )
    return None


def dns_subdomain(value: str) -> str | None:
    """Check a DNS-1123 subdomain (most object names)."""
    if len(value) > 253:
        return "must be at most 253 characters."
    if not DNS_SUBDOMAIN_RE.match(value):
        return (
            "must be lower-case letters, digits, '-' and '.', starting and "
            "ending with a letter or digit (e.g. 'my-app' or 'app.v2')."
        )
    return None


def iana_port_name(value: str) -> str | None:
    """Check a named port (IANA service name: at most 15, with a letter)."""
    if len(value) > 15:
        return "must be at most 15 characters."
    if not IANA_PORT_NAME_RE.match(value) or "--" in value:
        return "must be lower-case letters, digits and single '-' (e.g. 'http')."
    if not re.search(r"[a-z]", value):
        return "must contain at least one letter."
    return None


def qualified_name(value: str) -> str | None:
    """Check a label or annotation key: an optional DNS prefix, '/', a name."""
    prefix, _, name = value.rpartition("/")
    if "/" in value and (not prefix or dns_subdomain(prefix)):
        return "has an invalid prefix before '/': it must be a DNS subdomain."
    if len(name) > 63:
        return "must have a name part of at most 63 characters."
    if not QUALIFIED_NAME_RE.match(name):
        return (
            "must be letters, digits, '-', '_' and '.', starting and ending "
            "with a letter or digit, optionally with a prefix (e.g. "
            "'app.kubernetes.io/name')."
        )
    return None


def label_value(value: str) -> str | None:
    """Check a label value (may be empty)."""
    if len(value) > 63:
        return "must be at most 63 characters."
    if not LABEL_VALUE_RE.match(value):
        return (
            "must be empty or letters, digits, '-', '_' and '.', starting "
            "and ending with a letter or digit."
        )
    return None


def config_key(value: str) -> str | None:
    """Check a ConfigMap or Secret key."""
    if len(value) > 253:
        return "must be at most 253 characters."
    if value in (".", "..") or not CONFIG_KEY_RE.match(value):
        return "must be letters, digits, '-', '_' and '.' (e.g. 'app.conf')."
    return None


def env_name(value: str) -> str | None:
    """Check an environment variable name."""
    if not ENV_NAME_RE.match(value):
        return (
            "must be letters, digits, '_', '-' and '.', not starting with a "
            "digit (e.g. 'DATABASE_URL')."
        )
    return None


def image(value: str) -> str | None:
    """Check a container image reference (registry/name:tag@digest)."""
    if not IMAGE_RE.match(value):
        return (
            "is not a valid image reference (e.g. 'nginx:1.27' or "
            "'ghcr.io/org/app:v2')."
        )
    return None


def mount_path(value: str) -> str | None:
    """Check an absolute path inside a container."""
    if not MOUNT_PATH_RE.match(value):
        return "must be an absolute path without spaces or ':' (e.g. '/data')."
    if ".." in value.split("/"):
        return "must not contain '..'."
    return None


def relative_path(value: str) -> str | None:
    """Check a path relative to a volume's root (a sub-path)."""
    if value.startswith("/") or ".." in value.split("/") or re.search(r"\s", value):
        return "must be a relative path without '..' or spaces (e.g. 'pgdata')."
    return None


def url_path(value: str) -> str | None:
    """Check an HTTP path (probes, Ingress paths)."""
    if not value.startswith("/") or re.search(r"\s", value):
        return "must start with '/' and contain no spaces (e.g. '/healthz')."
    return None


def hostname(value: str) -> str | None:
    """Check an Ingress host: a DNS name, possibly starting with '*.'."""
    name = value[2:] if value.startswith("*.") else value
    if _is_ip(name):
        return "must be a DNS name, not an IP address."
    problem = dns_subdomain(name)
    if problem:
        return problem
    return None


def cidr(value: str) -> str | None:
    """Check an IP block in CIDR notation."""
    if "/" not in value:
        return "must be in CIDR notation (e.g. '10.0.0.0/16')."
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return "is not a valid CIDR block (e.g. '10.0.0.0/16')."
    return None


def api_version(value: str) -> str | None:
    """Check an apiVersion such as 'v1' or 'cert-manager.io/v1'."""
    if not API_VERSION_RE.match(value):
        return "must look like 'group.example.com/v1' (or 'v1' for the core group)."
    return None


def kind_name(value: str) -> str | None:
    """Check a resource kind such as 'Certificate'."""
    if not KIND_NAME_RE.match(value):
        return (
            "must start with an upper-case letter, letters and digits only (e.g. "
            "'Certificate')."
        )
    return None


def cron(value: str) -> str | None:
    """Check a CronJob schedule the way Kubernetes parses it (5 fields)."""
    if value.startswith(("TZ=", "CRON_TZ=")):
        return "must not set a time zone in the schedule: use the Time zone field."
    if value in CRON_DESCRIPTORS or _CRON_EVERY_RE.match(value):
        return None
    fields = value.split()
    if len(fields) != 5:
        return (
            "must have 5 fields: minute hour day-of-month month day-of-week (e.g. "
            "'*/5 * * * *')."
        )
    if not all(_cron_field_ok(index, field) for index, field in enumerate(fields)):
        return "is not a valid cron expression (e.g. '0 3 * * MON-FRI')."
    if not croniter.is_valid(value):
        return "is not a valid cron expression (e.g. '0 3 * * MON-FRI')."
    return None


def _cron_field_ok(index: int, field: str) -> bool:
    """Tell whether a cron field uses only what the Kubernetes parser knows."""
    names = {3: _MONTHS, 4: _DAYS}.get(index, set())
    for atom in re.split(r"[,/-]", field):
        if not _CRON_ATOM_RE.match(atom):
            return False
        if atom.isalpha() and atom.lower() not in names:
            return False
    return True


def time_zone(value: str) -> str | None:
    """Check an IANA time zone name such as 'Europe/Paris'."""
    if value not in _known_time_zones():
        return "is not a known time zone (e.g. 'Etc/UTC' or 'Europe/Paris')."
    return None


@cache
def _known_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def parse_quantity(value: str) -> Decimal | None:
    """Return a Kubernetes quantity as a number, or None when malformed."""
    match = QUANTITY_RE.match(value)
    if not match:
        return None
    try:
        number = Decimal(match["number"])
    except InvalidOperation:
        return None
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * (Decimal(1024) ** _BINARY[suffix])
    if suffix in _DECIMAL:
        return number.scaleb(_DECIMAL[suffix])
    return number.scaleb(int(suffix[1:]))


def cpu_quantity(value: str) -> str | None:
    """Check a CPU quantity such as '250m' or '1.5'."""
    amount = parse_quantity(value)
    if amount is None:
        return "is not a CPU quantity (e.g. '250m' for a quarter core, or '2')."
    if 0 < amount < Decimal("0.001"):
        return "is below the smallest CPU unit, 1m."
    return None


def byte_quantity(value: str) -> str | None:
    """Check a memory or storage quantity such as '512Mi' or '10Gi'."""
    amount = parse_quantity(value)
    if amount is None:
        return "is not a size (e.g. '512Mi', '1Gi' or '500M')."
    if value.endswith(("m", "u", "n")):
        return f"is in thousandths of a byte: did you mean '{value[:-1]}Mi'?"
    if amount != amount.to_integral_value():
        return "must be a whole number of bytes (e.g. '1.5Gi' is fine, '0.5' is not)."
    return None


FORMATS: dict[str, Callable[[str], str | None]] = {
    "dns-label": dns_label,
    "dns-subdomain": dns_subdomain,
    "iana-port-name": iana_port_name,
    "qualified-name": qualified_name,
    "label-value": label_value,
    "config-key": config_key,
    "env-name": env_name,
    "image": image,
    "mount-path": mount_path,
    "url-path": url_path,
    "relative-path": relative_path,
    "hostname": hostname,
    "cidr": cidr,
    "api-version": api_version,
    "kind-name": kind_name,
    "cron": cron,
    "time-zone": time_zone,
    "cpu": cpu_quantity,
    "memory": byte_quantity,
    "storage": byte_quantity,
}


class _NoAliasLoader(yaml.SafeLoader):
    """A safe loader that refuses anchors and aliases.

    Aliases let a few hundred bytes expand into gigabytes ("billion laughs"),
    and a custom resource's spec has no need for them.
    """

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None,
                None,
                "anchors and aliases (*name) are not allowed",
                event.start_mark,
            )
        return super().compose_node(parent, index)


def load_user_yaml(text: str):
    """Parse YAML typed by a user, refusing aliases; raises yaml.YAMLError."""
    return yaml.load(text, Loader=_NoAliasLoader)
