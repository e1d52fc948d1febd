"""What every resource's request and response bodies share (pydantic; strict, unknown
fields refused): the field types, the base models and the list envelope."""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

import iso4217
from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from accounting_api.domain import money

T = TypeVar("T")


_RANGE = f"at most {money.MAX_AMOUNT:,} (the money range: docs/api.md, Amounts)"

Amount = Annotated[
    int,
    Field(gt=0, le=money.MAX_AMOUNT, description=f"Integer minor units (cents), > 0, {_RANGE}."),
]
"""Every amount a request gives: a posting, a payment, an application, a refund, a credit."""

AmountOrZero = Annotated[
    int,
    Field(ge=0, le=money.MAX_AMOUNT, description=f"Integer minor units (cents), >= 0, {_RANGE}."),
]
"""A unit amount, a discount, a part to refund at once: 0 allowed."""


CURRENCIES = sorted(c.code for c in iso4217.Currency if money.is_currency(c.code))
"""The ISO-4217 codes money can be booked in (those with a minor unit)."""

Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    Field(description="ISO-4217 code, e.g. USD.", json_schema_extra={"enum": CURRENCIES}),
]


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here, naming the field.
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    return value


Text = Annotated[
    str, AfterValidator(_no_nul), Field(json_schema_extra={"pattern": "^[^\\u0000]*$"})
]


Email = Annotated[
    EmailStr,
    Field(description="A deliverable address: no special-use domain such as .test or .local."),
]


Name = Annotated[Text, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


Ref = Annotated[Text, StringConstraints(min_length=1, max_length=64)]
"""An object id given in a body or query (checked against the database later)."""


Description = Annotated[Text, StringConstraints(max_length=1000)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _given(name: str) -> dict[str, Any]:
    return {"required": [name], "properties": {name: {"not": {"type": "null"}}}}


def exactly_one_of(first: str, second: str) -> ConfigDict:
    """A body's model config that documents: give `first` or `second` (not null), not both
    (a rule its handler checks)."""
    return Body.model_config | ConfigDict(
        json_schema_extra={"oneOf": [_given(first), _given(second)]}
    )


def at_least_one_of(first: str, second: str) -> ConfigDict:
    """A body's model config that documents: give `first` or `second` (not null), or both
    (a rule its model checks)."""
    return Body.model_config | ConfigDict(
        json_schema_extra={"anyOf": [_given(first), _given(second)]}
    )


def at_most_one_of(first: str, second: str) -> ConfigDict:
    """A body's model config that documents: `first` and `second` are not both given."""
    both = _given(first)
    both["required"].append(second)
    both["properties"] |= _given(second)["properties"]
    return Body.model_config | ConfigDict(json_schema_extra={"not": both})


class Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(default=10, ge=1, le=100)
    starting_after: Ref | None = None


class ListOut(Out, Generic[T]):
    object: Literal["list"] = "list"
    data: list[T]
    has_more: bool


def list_of(model: type[BaseModel]) -> type[BaseModel]:
    """The list envelope of `model`, for the route table."""
    return ListOut[model]  # type: ignore[valid-type]
