"""docs/reference/accountingplatform.md, generated from the CRD's schema (itself generated
from accounting_operator.spec): every field with its type, default, validation rules,
description and, where the shipped examples set it, an example value.

`accounting-operator reference > docs/reference/accountingplatform.md`; a unit test fails
when the page is stale, as it does for the CRD.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from accounting_operator import crd

EXAMPLES = ("minimal.yaml", "staging.yaml", "production.yaml")
"""Where example values are taken from (the first example that sets a field wins, in
reverse order: production first)."""

HEADER = """# AccountingPlatform reference

<!-- Generated from accounting_operator.spec by `accounting-operator reference`. Do not edit. -->

`apiVersion: {group}/{version}`, `kind: {kind}` (short name `acp`). Every field of `spec`, as
the API server validates it at `kubectl apply`: a value that breaks a rule below is refused
with the rule's message before the operator sees it. Examples come from `examples/`
(production first). Status fields are written by the operator only (`kubectl acp status`).
"""

Field = tuple[str, dict[str, Any], bool]
"""(dotted path, schema, required)."""


def fields(schema: dict[str, Any], path: str = "spec") -> Iterator[Field]:
    required = set(schema.get("required", ()))
    for name, child in schema.get("properties", {}).items():
        child_path = f"{path}.{name}"
        yield child_path, child, name in required
        if child.get("type") == "object":
            yield from fields(child, child_path)
        items = child.get("items", {})
        if child.get("type") == "array" and items.get("type") == "object":
            yield from fields(items, f"{child_path}[]")


def _type(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    kind = str(schema.get("type", "any"))
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if schema.get("x-kubernetes-int-or-string"):
        return "integer or string"
    return kind


_RULES = (
    ("minimum", "≥ {}"), ("maximum", "≤ {}"), ("minLength", "length ≥ {}"),
    ("maxLength", "length ≤ {}"), ("minItems", "≥ {} items"), ("maxItems", "≤ {} items"),
    ("pattern", "matches `{}`"), ("format", "format {}"),
)  # fmt: skip


def _rules(schema: dict[str, Any]) -> str:
    found = [text.format(schema[key]) for key, text in _RULES if key in schema]
    if schema.get("uniqueItems"):
        found.append("unique items")
    found += [v["message"] for v in schema.get("x-kubernetes-validations", ())]
    return "; ".join(found).replace("|", "\\|")


def _examples(root: Path) -> list[dict[str, Any]]:
    found = []
    for name in reversed(EXAMPLES):
        path = root / "examples" / name
        if path.exists():
            found.append(yaml.safe_load(path.read_text()) or {})
    return found


def _example(path: str, examples: list[dict[str, Any]]) -> str:
    for document in examples:
        value: Any = document
        for part in path.split("."):
            key = part.removesuffix("[]")
            value = value.get(key) if isinstance(value, dict) else None
            if part.endswith("[]"):
                value = value[0] if isinstance(value, list) and value else None
            if value is None:
                break
        if value is not None and not isinstance(value, dict):
            return f"`{json.dumps(value)}`"
    return ""


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render(root: Path) -> str:
    """The reference page, with example values from `root`/examples."""
    definition = crd.crd()
    version = definition["spec"]["versions"][0]
    spec_schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    examples = _examples(root)
    lines = [
        HEADER.format(
            group=definition["spec"]["group"],
            version=version["name"],
            kind=definition["spec"]["names"]["kind"],
        ),
        "## Rules across fields",
        "",
    ]
    lines += [f"- {_cell(v['message'])}" for v in spec_schema.get("x-kubernetes-validations", ())]
    lines += [
        "",
        "## Fields",
        "",
        "| field | type | default | rules | description | example |",
        "|---|---|---|---|---|---|",
    ]
    for path, schema, required in fields(spec_schema):
        shown = "default" in schema and schema.get("type") != "object"  # objects: see below
        default = f"`{json.dumps(schema['default'])}`" if shown else ""
        if required:
            default = "required"
        lines.append(
            f"| `{path}` | {_type(schema)} | {default} | {_rules(schema)}"
            f" | {_cell(schema.get('description', ''))} | {_example(path, examples)} |"
        )
    return "\n".join(lines) + "\n"
