"""What every resource's request and response bodies share (pydantic; strict, unknown
fields refused): the field types, the base models and the list envelope."""

from __future__ import annotations

from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from accounting_api.domain import money

T = TypeVar("T")


_RANGE = f"at most {money.MAX_AMOUNT:,} (the money range: README, Amounts)"

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


Currency = Annotated[
    str, StringConstraints(pattern=r"^[A-Z]{3}$"), Field(description="ISO-4217 code, e.g. USD.")
]


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here, naming the field.
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]


Name = Annotated[Text, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


Ref = Annotated[Text, StringConstraints(min_length=1, max_length=64)]
"""An object id given in a body or query (checked against the database later)."""


Description = Annotated[Text, StringConstraints(max_length=1000)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


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
