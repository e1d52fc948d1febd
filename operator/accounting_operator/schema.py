"""Pydantic models -> structural OpenAPI v3 schema, the dialect a CRD accepts.

Pydantic emits JSON Schema 2020-12 with `$ref`s and `anyOf: [X, null]` for optionals;
the API server wants every schema inlined ("structural"), no `additionalProperties`
beside `properties` (a map's value schema stays), and booleans for exclusive bounds.
This module converts one to the other and adds what pydantic does not know: defaults of
nested objects and the CEL rules (`Model.rules`) as `x-kubernetes-validations`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from accounting_operator.validation import Model

JsonSchema = dict[str, Any]

# JSON Schema keywords with no place in a structural schema, dropped on the way.
_DROPPED = frozenset({"title", "additionalProperties"})
# Keywords the converter cannot translate faithfully: fail loudly instead of guessing.
_UNSUPPORTED = frozenset({"exclusiveMinimum", "exclusiveMaximum", "const", "oneOf", "allOf"})


class _Generator(GenerateJsonSchema):
    """Pydantic's generator, plus defaults of default_factory fields and CEL rules."""

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        if "default_factory" not in schema:
            return super().default_schema(schema)
        out = self.generate_inner(schema["schema"])
        value = schema["default_factory"]()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            # The whole object, not `{}`: the API server checks a default against the
            # object's CEL rules without first defaulting the default's own fields.
            value = value.model_dump(by_alias=True, exclude_none=True, mode="json")
        return {**out, "default": value}

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        out = super().model_schema(schema)
        cls = schema["cls"]
        if issubclass(cls, Model) and cls.rules:
            out["x-kubernetes-validations"] = [rule.to_crd() for rule in cls.rules]
        return out


def openapi_schema(model: type[BaseModel]) -> JsonSchema:
    """The structural schema of `model`, every `$ref` inlined."""
    raw = model.model_json_schema(by_alias=True, schema_generator=_Generator)
    definitions = raw.pop("$defs", {})
    return _structural(raw, definitions)


def _structural(node: JsonSchema, definitions: dict[str, JsonSchema]) -> JsonSchema:
    node = _inline(node, definitions)
    unsupported = _UNSUPPORTED & node.keys()
    if unsupported:
        raise ValueError(f"no structural equivalent for {sorted(unsupported)} in {node}")
    out = {key: value for key, value in node.items() if key not in _DROPPED}
    values = node.get("additionalProperties")
    if isinstance(values, dict) and "properties" not in node:
        out["additionalProperties"] = _structural(values, definitions)  # a map's values
    if "properties" in out:
        out["type"] = "object"
        out["properties"] = {
            name: _structural(child, definitions) for name, child in out["properties"].items()
        }
    if "items" in out:
        out["items"] = _structural(out["items"], definitions)
    if out.get("default", ...) is None:
        del out["default"]  # an absent optional, not a null value
    return _ordered(out)


def _ordered(node: JsonSchema) -> JsonSchema:
    """type and description first, nested schemas last: the order `kubectl explain` reads."""
    first = [key for key in ("type", "description") if key in node]
    last = [key for key in ("properties", "items") if key in node]
    middle = sorted(set(node) - set(first) - set(last))
    return {key: node[key] for key in first + middle + last}


def _inline(node: JsonSchema, definitions: dict[str, JsonSchema]) -> JsonSchema:
    """Replace `$ref` and `anyOf: [X, null]` by X; the outer keys (field docs) win."""
    outer = dict(node)
    if "anyOf" in outer:
        branches = [b for b in outer.pop("anyOf") if b.get("type") != "null"]
        if len(branches) != 1:
            raise ValueError(f"only Optional[X] unions are supported, got {node}")
        return _inline({**branches[0], **outer}, definitions)
    if "$ref" in outer:
        name = outer.pop("$ref").rsplit("/", 1)[-1]
        return _inline({**definitions[name], **outer}, definitions)
    return outer
