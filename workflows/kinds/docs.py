"""Write the node-kind reference (docs/node-kinds.md) from the registry.

Run `python -m workflows.kinds.docs > docs/node-kinds.md` after changing a
kind; a test fails while the file and the registry disagree.
"""

import json
from collections.abc import Iterator

from workflows.kinds import EDGE_RULES, GROUPS, KINDS
from workflows.kinds.base import NodeKind
from workflows.kinds.fields import Field

INTRO = """\
# Node kinds

Generated from the registry (`workflows/kinds/`) by
`python -m workflows.kinds.docs > docs/node-kinds.md`; do not edit by hand.
The same descriptions drive the settings panel (`GET /v1/api/node-kinds`),
the validation of every save, the renderer and lint.

Conventions:

- A field left out (or sent as `null` or `""`) takes its default; stored
  nodes always carry every field.
- Keys starting with `_` are computed by the server (`_linked*`, from the
  edges) and ignored on input; any other unknown key is refused.
- Sensitive values are stored sealed and shown as `********`; sending
  `********` back keeps the stored value.
- Every object gets the labels `app.kubernetes.io/managed-by: kubeorch`,
  `kubeorch.io/workflow` and `kubeorch.io/node`; pods get them too, and
  workloads select their pods by the last two.
"""


def reference_markdown() -> str:
    """Return the whole reference page as Markdown."""
    parts = [INTRO]
    for group in GROUPS:
        parts.append(f"## {group}\n")
        for kind in KINDS.values():
            if kind.group == group:
                parts.append(_kind_section(kind))
    parts.append(_edge_section())
    return "\n".join(parts).rstrip() + "\n"


def _kind_section(kind: NodeKind) -> str:
    object_kind = (
        f"`{kind.api_version}` `{kind.object_kind}`" if kind.object_kind else "as given"
    )
    ports = (
        ", ".join(
            f"`{port['handle']}` ({port['direction']})" for port in kind.port_docs
        )
        or "none"
    )
    lines = [
        f"### {kind.label} (`{kind.key}`)\n",
        f"{kind.description}\n",
        f"- Renders: {object_kind}; apply tier {kind.tier}; health rule "
        f"`{kind.health_rule}`",
        f"- Ports: {ports}",
        f"- Card summary: {', '.join(f'`{key}`' for key in kind.summary_fields)}",
    ]
    for key, text in kind.linked_fields.items():
        lines.append(f"- `{key}` (computed): {text}")
    lines += ["", "| field | type | default | limits | help |", "|---|---|---|---|---|"]
    lines += [_field_row(path, field) for path, field in _walk(kind.fields)]
    return "\n".join(lines) + "\n"


def _walk(fields: tuple[Field, ...], prefix: str = "") -> Iterator[tuple[str, Field]]:
    for field in fields:
        path = f"{prefix}{field.key}"
        yield path, field
        if field.type == "list":
            yield from _walk(field.fields, f"{path}[].")
        elif field.type == "object":
            yield from _walk(field.fields, f"{path}.")


def _field_row(path: str, field: Field) -> str:
    name = f"`{path}`" + (" **required**" if field.required else "")
    return (
        f"| {name} | {_type_text(field)} | {_default_text(field)} | "
        f"{_limits(field)} | {_cell(field.help)} |"
    )


def _type_text(field: Field) -> str:
    text = field.type
    if field.type == "quantity":
        text = f"quantity ({field.format})"
    if field.sensitive or field.sensitive_if:
        text += (
            ", sensitive"
            if field.sensitive
            else f", sensitive when `{field.sensitive_if}`"
        )
    return text


def _default_text(field: Field) -> str:
    if field.type == "object" and not field.nullable:
        return ""
    value = field.initial()
    if value in (None, "", [], {}, False) and field.default is None:
        return ""
    return _cell(f"`{json.dumps(value)}`")


def _limits(field: Field) -> str:
    limits = []
    if field.minimum is not None:
        limits.append(f"≥ {field.minimum:g}")
    if field.maximum is not None:
        limits.append(f"≤ {field.maximum:g}")
    if field.choices:
        limits.append(
            "one of " + ", ".join(f"`{choice}`" for choice in field.choices if choice)
        )
    if field.format and field.type != "quantity":
        limits.append(f"format `{field.format}`")
    if field.max_length and field.type in ("string", "text", "yaml"):
        limits.append(f"≤ {field.max_length} chars")
    if field.min_items:
        limits.append(f"≥ {field.min_items} item(s)")
    if field.key_format:
        limits.append(f"keys `{field.key_format}`")
    if field.value_format:
        limits.append(f"values `{field.value_format}`")
    return _cell(", ".join(limits))


def _edge_section() -> str:
    lines = [
        "## Edges\n",
        "Only these links are allowed; edges run source → target between ports.\n",
        "| source → targets | ports | applied first | effect | edge data |",
        "|---|---|---|---|---|",
    ]
    for rule in EDGE_RULES:
        targets = ", ".join(KINDS[key].label for key in rule.targets)
        data = "; ".join(_edge_field_text(field) for field in rule.fields)
        limits = []
        if rule.max_per_source_handle:
            limits.append(f"at most {rule.max_per_source_handle} per source port")
        if rule.max_per_target:
            limits.append(f"at most {rule.max_per_target} per target")
        effect = rule.effect + (f" ({', '.join(limits)})" if limits else "")
        row = (
            f"| {KINDS[rule.source].label} → {targets} | `{rule.source_handle}` → "
            f"`{rule.target_handle}` "
            f"| {rule.first} | {_cell(effect)} | {_cell(data)} |"
        )
        lines.append(row)
    return "\n".join(lines) + "\n"


def _edge_field_text(field: Field) -> str:
    default = f", default {json.dumps(field.default)}" if field.default else ""
    return f"`{field.key}` ({field.type}{default})"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


if __name__ == "__main__":
    print(reference_markdown(), end="")
