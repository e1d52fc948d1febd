"""Cross-field rules written once, enforced twice: by pydantic and by the API server.

A `Rule` carries a CEL expression for the CRD (`x-kubernetes-validations`, so a bad
resource is rejected at `kubectl apply`) and the same predicate in Python (so the
operator, examples and tests reject it identically). Unit tests evaluate the CEL with a
CEL interpreter against the same cases as the Python check, so the two cannot drift.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel

# Five cron fields, or one of the macros a CronJob accepts. Shape only: the CronJob
# controller rejects impossible values such as minute 61.
CRON_PATTERN = (
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)"
    r"|[0-9A-Za-z*/,?-]+( +[0-9A-Za-z*/,?-]+){4})$"
)
CRON_MESSAGE = (
    "must be a cron schedule with 5 fields (minute hour day-of-month month day-of-week), "
    "e.g. '0 * * * *', or a macro such as @daily"
)


@dataclass(frozen=True, slots=True)
class Rule:
    """One validation rule of the object it is attached to."""

    cel: str
    """CEL expression over `self` (the object), true when the object is valid."""
    message: str
    """What the user reads when the rule fails; names the offending field."""
    check: Callable[[Any], bool]
    """The same rule in Python, over the parsed model."""
    field_path: str | None = None
    """JSONPath (relative to the object) the API server reports the error under."""

    def to_crd(self) -> dict[str, str]:
        entry = {"rule": self.cel, "message": self.message}
        if self.field_path:
            entry["fieldPath"] = self.field_path
        return entry


def cron_rule(where: str) -> Rule:
    """The cron-shape rule for the `schedule` field; `where` names the field for users."""
    return Rule(
        cel=f"self.schedule.matches('{CRON_PATTERN}')",
        message=f"{where} {CRON_MESSAGE}",
        check=lambda m: re.fullmatch(CRON_PATTERN, m.schedule) is not None,
        field_path=".schedule",
    )


class Model(BaseModel):
    """Base of every spec and status model: camelCase on the wire, strict, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    rules: ClassVar[tuple[Rule, ...]] = ()
    """Cross-field rules of this object; the CRD generator emits them as CEL."""

    @model_validator(mode="after")
    def _apply_rules(self) -> Self:
        broken = [rule.message for rule in type(self).rules if not rule.check(self)]
        if broken:
            raise ValueError("; ".join(broken))
        return self

    def wire(self) -> dict[str, Any]:
        """The object as it appears in the resource: camelCase, unset optionals omitted."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")
