"""Response bodies and queries of the audit trail endpoints."""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from accounting_api.routes.schemas import ListQuery, Out, Ref

Action = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]*\.[a-z][a-z_]*$", max_length=64)]


class AuditEventOut(Out):
    object: Literal["audit_event"] = "audit_event"
    id: str
    seq: int | None = Field(
        description="Position in the organization's chain, from 1; null until linked."
    )
    actor: str | None = Field(description="The user who made the change.")
    action: str = Field(description="e.g. journal_entry.created, invoice.finalized.")
    object_type: str
    object_id: str
    target_id: str | None = Field(
        description="The object the request addressed, when it produced another (reversals)."
    )
    request_id: str | None
    before_sha256: str | None = Field(
        description="sha256 of the object's JSON representation before the change."
    )
    after_sha256: str | None = Field(
        description="sha256 of the object's JSON representation after the change."
    )
    occurred_at: datetime.datetime
    prev_hash: str | None = Field(description="The preceding event's hash; null until linked.")
    hash: str | None = Field(
        description="sha256(prev_hash + sha256 of the event's canonical content); null until"
        " linked (the worker and verify link recorded events, in link order)."
    )


class AuditEventListQuery(ListQuery):
    model_config = ConfigDict(extra="forbid")
    action: Action | None = None
    object_id: Ref | None = None


class BrokenLinkOut(BaseModel):
    id: str
    reason: str


class VerificationOut(Out):
    object: Literal["audit_verification"] = "audit_verification"
    valid: bool
    events_checked: int
    first_broken: BrokenLinkOut | None
