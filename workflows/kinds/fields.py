"""Typed field descriptions of node data: checks, defaults and JSON Schema.

A node kind lists its fields once; the same list cleans the data a save sends
(`clean_object`), gives the JSON Schema the settings panel and the API
publish (`object_schema`), and finds the sensitive values to seal
(`sensitive_values`).

Cleaning fills every missing field with its default (or the blank of its
type: "", None, False, [], {}), so a stored node always has the full shape.
Keys starting with "_" are dropped (the `_linked*` ones are recomputed from
the edges); any other unknown key is refused, so a typo is not lost silently.
"""

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from workflows.kinds.formats import FORMATS, load_user_yaml

STRING_TYPES = {"string", "text", "enum", "quantity", "yaml"}
NULLABLE_TYPES = {"integer", "number", "port", "portref"}
DEFAULT_MAX_LENGTH = {"string": 1024, "text": 256 * 1024, "yaml": 256 * 1024}
MAX_VALUE_LENGTH = 1024 * 1024
MAX_ITEMS = 500
MIN_PORT, MAX_PORT = 1, 65535
SEALED_PREFIX = "enc:"


class Errors:
    """Error messages by field path ("ports[0].port"), in insertion order."""

    def __init__(self) -> None:
        self.by_path: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.by_path.setdefault(path or "data", []).append(message)

    def merge(self, other: dict[str, list[str]]) -> None:
        for path, messages in other.items():
            for message in messages:
                self.add(path, message)

    def __bool__(self) -> bool:
        return bool(self.by_path)


@dataclass(frozen=True)
class Field:
    """One field of a node's data (or of an item in a list field)."""

    key: str
    type: str
    label: str
    help: str = ""
    default: Any = None
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    format: str | None = None
    fields: tuple["Field", ...] = ()
    min_items: int = 0
    max_items: int | None = None
    unique: bool = False
    identity: str | None = None
    nullable: bool = False
    sensitive: bool = False
    sensitive_if: str | None = None
    key_format: str | None = None
    value_format: str | None = None
    max_total: int | None = None

    def initial(self) -> Any:
        """Return the value a missing field takes, before cleaning."""
        if self.default is not None:
            return copy.deepcopy(self.default)
        if self.type == "object" and not self.nullable:
            return {}
        return _BLANKS.get(self.type)

    def length_limit(self) -> int:
        """Return the longest string this field accepts."""
        return self.max_length or DEFAULT_MAX_LENGTH.get(self.type, 1024)


_BLANKS: dict[str, Any] = {
    "string": "",
    "text": "",
    "yaml": "",
    "enum": "",
    "quantity": "",
    "boolean": False,
    "keyvalue": {},
    "stringlist": [],
    "list": [],
}


def string(key: str, label: str, **options: Any) -> Field:
    """Describe a one-line text field."""
    return Field(key, "string", label, **options)


def text(key: str, label: str, **options: Any) -> Field:
    """Describe a multi-line text field."""
    return Field(key, "text", label, **options)


def yaml_text(key: str, label: str, **options: Any) -> Field:
    """Describe a YAML document that must be a mapping."""
    return Field(key, "yaml", label, **options)


def integer(key: str, label: str, **options: Any) -> Field:
    """Describe a whole-number field (None when left empty)."""
    return Field(key, "integer", label, **options)


def number(key: str, label: str, **options: Any) -> Field:
    """Describe a decimal-number field (None when left empty)."""
    return Field(key, "number", label, **options)


def boolean(key: str, label: str, **options: Any) -> Field:
    """Describe a yes/no field."""
    return Field(key, "boolean", label, **options)


def enum(key: str, label: str, choices: tuple[str, ...], **options: Any) -> Field:
    """Describe a field with a fixed set of values."""
    options.setdefault("default", choices[0])
    return Field(key, "enum", label, choices=choices, **options)


def quantity(key: str, label: str, unit: str, **options: Any) -> Field:
    """Describe a Kubernetes quantity; unit is 'cpu', 'memory' or 'storage'."""
    return Field(key, "quantity", label, format=unit, max_length=32, **options)


def port(key: str, label: str, **options: Any) -> Field:
    """Describe a port number, 1 to 65535."""
    return Field(key, "port", label, minimum=MIN_PORT, maximum=MAX_PORT, **options)


def portref(key: str, label: str, **options: Any) -> Field:
    """Describe a port given by number or by name ('http')."""
    return Field(key, "portref", label, minimum=MIN_PORT, maximum=MAX_PORT, **options)


def keyvalue(key: str, label: str, **options: Any) -> Field:
    """Describe a map of string keys to string values."""
    return Field(key, "keyvalue", label, **options)


def stringlist(key: str, label: str, **options: Any) -> Field:
    """Describe a list of strings (command arguments, hosts, modes)."""
    return Field(key, "stringlist", label, **options)


def items(key: str, label: str, fields: tuple[Field, ...], **options: Any) -> Field:
    """Describe a list of sub-objects, each with its own fields."""
    return Field(key, "list", label, fields=fields, **options)


def group(key: str, label: str, fields: tuple[Field, ...], **options: Any) -> Field:
    """Describe a nested object; nullable ones are None until switched on."""
    return Field(key, "object", label, fields=fields, **options)


def clean_object(
    fields: tuple[Field, ...], data: Any, errors: Errors, prefix: str = ""
) -> dict:
    """Return data with every field checked and defaulted; record problems."""
    if not isinstance(data, dict):
        errors.add(prefix, "Must be an object.")
        return {}
    known = {field.key for field in fields}
    for key in data:
        if not isinstance(key, str) or (key not in known and not key.startswith("_")):
            errors.add(_join(prefix, str(key)), f"Unknown field '{key}'.")
    return {
        field.key: clean_field(
            field,
            data.get(field.key),
            errors,
            _join(prefix, field.key),
            field.key in data,
        )
        for field in fields
    }


def clean_field(
    field: Field, value: Any, errors: Errors, path: str, present: bool = False
) -> Any:
    """Return one field's value checked and defaulted; record problems.

    A missing field takes its default; so does "" or null, except that an
    explicit null clears a number or port field ("no CPU target").
    """
    if value is None and present and field.type in NULLABLE_TYPES:
        if field.required:
            errors.add(path, f"{field.label} is required.")
        return None
    if value is None or value == "":
        value = field.initial()
    if value is None or value == "":
        if field.required:
            errors.add(path, f"{field.label} is required.")
        return value
    return _CLEANERS[field.type](field, value, errors, path)


def _clean_string(field: Field, value: Any, errors: Errors, path: str) -> Any:
    if not isinstance(value, str):
        errors.add(path, f"{field.label} must be text.")
        return value
    sealed = (field.sensitive or field.sensitive_if) and value.startswith(SEALED_PREFIX)
    if len(value) > field.length_limit() and not sealed:
        # A sealed value is longer than the clear text that was measured.
        errors.add(
            path, f"{field.label} must be at most {field.length_limit()} characters."
        )
        return value
    if field.type != "text" and field.type != "yaml" and "\n" in value:
        errors.add(path, f"{field.label} must be a single line.")
        return value
    _check_format(field, value, errors, path)
    return value


def _clean_enum(field: Field, value: Any, errors: Errors, path: str) -> Any:
    if value not in field.choices:
        shown = ", ".join(repr(choice) for choice in field.choices if choice)
        errors.add(path, f"{field.label} must be one of {shown}.")
    return value


def _clean_yaml(field: Field, value: Any, errors: Errors, path: str) -> Any:
    value = _clean_string(field, value, errors, path)
    if not isinstance(value, str):
        return value
    try:
        document = load_user_yaml(value)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or "it does not parse"
        errors.add(path, f"{field.label} is not valid YAML{where}: {problem}.")
        return value
    if document is not None and not isinstance(document, dict):
        errors.add(path, f"{field.label} must be a YAML mapping (key: value).")
    return value


def _clean_integer(field: Field, value: Any, errors: Errors, path: str) -> Any:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(path, f"{field.label} must be a whole number.")
        return value
    _check_range(field, value, errors, path)
    return value


def _clean_number(field: Field, value: Any, errors: Errors, path: str) -> Any:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
    ):
        errors.add(path, f"{field.label} must be a number.")
        return value
    _check_range(field, value, errors, path)
    return value


def _clean_boolean(field: Field, value: Any, errors: Errors, path: str) -> Any:
    if not isinstance(value, bool):
        errors.add(path, f"{field.label} must be true or false.")
    return value


def _clean_portref(field: Field, value: Any, errors: Errors, path: str) -> Any:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, str):
        problem = FORMATS["iana-port-name"](value)
        if problem:
            errors.add(
                path,
                f"{field.label} must be a port number or a port name: it {problem}",
            )
        return value
    return _clean_integer(field, value, errors, path)


def _clean_keyvalue(field: Field, value: Any, errors: Errors, path: str) -> Any:
    if not isinstance(value, dict):
        errors.add(path, f"{field.label} must be a map of keys to values.")
        return value
    cleaned = {}
    for key, item in value.items():
        item_path = f"{path}[{key}]"
        if not isinstance(item, str):
            errors.add(
                item_path, f"The value of {key!r} in {field.label} must be text."
            )
            continue
        _check_map_entry(field, key, item, errors, item_path)
        cleaned[key] = item
    _check_map_size(field, cleaned, errors, path)
    return cleaned


def _check_map_entry(
    field: Field, key: str, item: str, errors: Errors, path: str
) -> None:
    key_problem = field.key_format and FORMATS[field.key_format](key)
    if key_problem:
        errors.add(path, f"The key {key!r} in {field.label} {key_problem}")
    value_problem = field.value_format and FORMATS[field.value_format](item)
    if value_problem:
        errors.add(path, f"The value of {key!r} in {field.label} {value_problem}")
    if _measured(field, item) > MAX_VALUE_LENGTH:
        errors.add(path, f"The value of {key!r} in {field.label} is longer than 1 MiB.")


def _check_map_size(field: Field, value: dict, errors: Errors, path: str) -> None:
    if field.required and not value:
        errors.add(path, f"{field.label} needs at least one entry.")
    total = sum(len(key) + _measured(field, item) for key, item in value.items())
    if field.max_total and total > field.max_total:
        errors.add(
            path, f"{field.label} is larger than {field.max_total // 1024} KiB in all."
        )


def _measured(field: Field, item: str) -> int:
    """Return the size a value counts for; sealed ones were measured in clear."""
    if field.sensitive and item.startswith(SEALED_PREFIX):
        return 0
    return len(item)


def _clean_stringlist(field: Field, value: Any, errors: Errors, path: str) -> Any:
    if not isinstance(value, list):
        errors.add(path, f"{field.label} must be a list.")
        return value
    item_field = Field(field.key, "string", field.label, format=field.format)
    cleaned = []
    for index, item in enumerate(value):
        item_path = f"{path}[{index}]"
        if field.choices:
            cleaned.append(_clean_enum(field, item, errors, item_path))
        else:
            cleaned.append(_clean_string(item_field, item, errors, item_path))
    _check_items(field, cleaned, errors, path)
    if field.unique and len(set(map(str, cleaned))) != len(cleaned):
        errors.add(path, f"{field.label} lists a value twice.")
    return cleaned


def _clean_list(field: Field, value: Any, errors: Errors, path: str) -> Any:
    if not isinstance(value, list):
        errors.add(path, f"{field.label} must be a list.")
        return value
    cleaned = [
        clean_object(field.fields, item, errors, f"{path}[{index}]")
        for index, item in enumerate(value)
    ]
    _check_items(field, cleaned, errors, path)
    if field.identity:
        _check_unique_identity(field, cleaned, errors, path)
    return cleaned


def _clean_group(field: Field, value: Any, errors: Errors, path: str) -> Any:
    return clean_object(field.fields, value, errors, path)


def _check_items(field: Field, value: list, errors: Errors, path: str) -> None:
    limit = field.max_items or MAX_ITEMS
    if len(value) < field.min_items:
        need = (
            "at least one entry"
            if field.min_items == 1
            else f"at least {field.min_items} entries"
        )
        errors.add(path, f"{field.label} needs {need}.")
    if len(value) > limit:
        errors.add(path, f"{field.label} can have at most {limit} entries.")


def _check_unique_identity(
    field: Field, value: list, errors: Errors, path: str
) -> None:
    seen: dict[Any, int] = {}
    for index, item in enumerate(value):
        identity = item.get(field.identity)
        if identity in (None, ""):
            continue
        if identity in seen:
            errors.add(
                f"{path}[{index}].{field.identity}",
                (
                    f"{field.label} already has an entry {identity!r} (entry "
                    f"{seen[identity] + 1})."
                ),
            )
        seen.setdefault(identity, index)


def _check_range(field: Field, value: float, errors: Errors, path: str) -> None:
    low, high = field.minimum, field.maximum
    if low is not None and high is not None and not low <= value <= high:
        errors.add(
            path,
            (
                f"{field.label} must be between {_number_text(low)} and "
                f"{_number_text(high)}."
            ),
        )
    elif low is not None and value < low:
        errors.add(path, f"{field.label} must be at least {_number_text(low)}.")
    elif high is not None and value > high:
        errors.add(path, f"{field.label} must be at most {_number_text(high)}.")


def _check_format(field: Field, value: str, errors: Errors, path: str) -> None:
    if field.format:
        problem = FORMATS[field.format](value)
        if problem:
            errors.add(path, f"{field.label} {problem}")


def _number_text(value: float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


_CLEANERS = {
    "string": _clean_string,
    "text": _clean_string,
    "quantity": _clean_string,
    "yaml": _clean_yaml,
    "enum": _clean_enum,
    "integer": _clean_integer,
    "number": _clean_number,
    "port": _clean_integer,
    "portref": _clean_portref,
    "boolean": _clean_boolean,
    "keyvalue": _clean_keyvalue,
    "stringlist": _clean_stringlist,
    "list": _clean_list,
    "object": _clean_group,
}


@dataclass(frozen=True)
class SensitiveValue:
    """Where one sensitive string sits in a node's data."""

    path: tuple
    identity: tuple
    field_path: str
    value: str


def sensitive_values(
    fields: tuple[Field, ...],
    data: dict,
    path: tuple = (),
    identity: tuple = (),
    prefix: str = "",
) -> Iterator[SensitiveValue]:
    """Yield each sensitive string value in data.

    The path locates the value (keys and list indexes); the identity names it
    by list-item identity instead of index, so a value is found again in an
    earlier version of the node after its list was reordered; field_path is
    the path as error messages show it ("env[2].value").
    """
    for field in fields:
        value = data.get(field.key)
        here, named, shown = (
            (*path, field.key),
            (*identity, field.key),
            _join(prefix, field.key),
        )
        if field.type == "keyvalue" and field.sensitive and isinstance(value, dict):
            for key, item in value.items():
                yield SensitiveValue(
                    (*here, key), (*named, key), f"{shown}[{key}]", item
                )
        elif field.type in STRING_TYPES and _is_sensitive(field, data) and value:
            yield SensitiveValue(here, named, shown, value)
        elif field.type == "list" and isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    item_id = item.get(field.identity) if field.identity else None
                    yield from sensitive_values(
                        field.fields,
                        item,
                        (*here, index),
                        (*named, item_id or index),
                        f"{shown}[{index}]",
                    )
        elif field.type == "object" and isinstance(value, dict):
            yield from sensitive_values(field.fields, value, here, named, shown)


def _is_sensitive(field: Field, data: dict) -> bool:
    return field.sensitive or bool(field.sensitive_if and data.get(field.sensitive_if))


def object_schema(fields: tuple[Field, ...], linked: dict | None = None) -> dict:
    """Return a JSON Schema (draft 2020-12) object for these fields."""
    properties = {field.key: field_schema(field) for field in fields}
    for key, description in (linked or {}).items():
        properties[key] = {"readOnly": True, "description": description}
    schema = {
        "type": "object",
        "properties": properties,
        "patternProperties": {
            "^_": {"description": "computed by the server; ignored on input"}
        },
        "additionalProperties": False,
    }
    required = [
        field.key for field in fields if field.required and field.default is None
    ]
    if required:
        schema["required"] = required
    return schema


def field_schema(field: Field) -> dict:
    """Return the JSON Schema of one field."""
    schema = _TYPE_SCHEMAS[field.type](field)
    schema["title"] = field.label
    if field.help:
        schema["description"] = field.help
    default = field.initial()
    if default is not None and field.type not in ("list", "object"):
        schema["default"] = default
    elif field.default is not None:
        schema["default"] = copy.deepcopy(field.default)
    if field.format:
        schema["format"] = field.format
    if field.sensitive or field.sensitive_if:
        schema["x-sensitive"] = (
            True if field.sensitive else {"when": field.sensitive_if}
        )
    return schema


def _string_schema(field: Field) -> dict:
    schema: dict[str, Any] = {"type": "string", "maxLength": field.length_limit()}
    if field.required:
        schema["minLength"] = 1
    return schema


def _enum_schema(field: Field) -> dict:
    return {"type": "string", "enum": list(field.choices)}


def _yaml_schema(field: Field) -> dict:
    schema = _string_schema(field)
    schema["contentMediaType"] = "application/yaml"
    return schema


def _number_schema(field: Field, json_type: str) -> dict:
    schema: dict[str, Any] = {
        "type": json_type if field.required else [json_type, "null"]
    }
    if field.minimum is not None:
        schema["minimum"] = field.minimum
    if field.maximum is not None:
        schema["maximum"] = field.maximum
    return schema


def _portref_schema(field: Field) -> dict:
    named = {"type": "string", "format": "iana-port-name", "maxLength": 15}
    options = [{"type": "integer", "minimum": MIN_PORT, "maximum": MAX_PORT}, named]
    if not field.required:
        options.append({"type": "null"})
    return {"anyOf": options}


def _keyvalue_schema(field: Field) -> dict:
    return {"type": "object", "additionalProperties": {"type": "string"}}


def _stringlist_schema(field: Field) -> dict:
    item: dict[str, Any] = {"type": "string"}
    if field.choices:
        item["enum"] = list(field.choices)
    if field.format:
        item["format"] = field.format
    return _array_schema(field, item)


def _list_schema(field: Field) -> dict:
    return _array_schema(field, object_schema(field.fields))


def _array_schema(field: Field, item: dict) -> dict:
    schema: dict[str, Any] = {
        "type": "array",
        "items": item,
        "maxItems": field.max_items or MAX_ITEMS,
    }
    if field.min_items:
        schema["minItems"] = field.min_items
    if field.unique:
        schema["uniqueItems"] = True
    return schema


def _group_schema(field: Field) -> dict:
    schema = object_schema(field.fields)
    if field.nullable:
        schema["type"] = ["object", "null"]
    return schema


_TYPE_SCHEMAS = {
    "string": _string_schema,
    "text": _string_schema,
    "quantity": _string_schema,
    "yaml": _yaml_schema,
    "enum": _enum_schema,
    "integer": lambda field: _number_schema(field, "integer"),
    "number": lambda field: _number_schema(field, "number"),
    "port": lambda field: _number_schema(field, "integer"),
    "portref": _portref_schema,
    "boolean": lambda field: {"type": "boolean"},
    "keyvalue": _keyvalue_schema,
    "stringlist": _stringlist_schema,
    "list": _list_schema,
    "object": _group_schema,
}
