"""Resource quantities ("500m", "1Gi") as plain numbers."""

import re

_SUFFIXES = {
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "": 1.0,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "Pi": 2.0**50,
    "Ei": 2.0**60,
}
_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(?P<suffix>[numkMGTPE]i?|)$"
)


def parse_quantity(value) -> float:
    """Return a quantity as a number (cores or bytes); ValueError if malformed."""
    if isinstance(value, int | float):
        return float(value)
    match = _QUANTITY.match(str(value).strip())
    if not match or match["suffix"] not in _SUFFIXES:
        raise ValueError(f"invalid quantity {value!r}")
    return float(match["number"]) * _SUFFIXES[match["suffix"]]


def quantity_or_zero(value) -> float:
    """Return a quantity as a number, 0 when missing or malformed."""
    if value is None:
        return 0.0
    try:
        return parse_quantity(value)
    except ValueError:
        return 0.0


def format_cpu(cores: float) -> str:
    """Render cores the way metrics show them ("250m")."""
    return f"{round(cores * 1000)}m"
