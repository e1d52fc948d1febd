"""Response bodies and queries of the security events endpoint."""

from __future__ import annotations

import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from accounting_api.domain.security import Kind, Severity
from accounting_api.routes.schemas import ListQuery, Out, Ref


class SecurityEventOut(Out):
    object: Literal["security_event"] = "security_event"
    id: str
    event: str = Field(description="e.g. auth.sign_in_failed, user.role_changed.")
    severity: Severity
    user: str | None = Field(description="The user the event is about, if known.")
    client_ip: str | None = Field(description="The address the request came from.")
    request_id: str | None
    detail: dict[str, Any] = Field(
        description="What the event is about (e.g. the new role, why a sign-in failed)."
    )
    occurred_at: datetime.datetime


class SecurityEventListQuery(ListQuery):
    model_config = ConfigDict(extra="forbid")
    event: Kind | None = None
    severity: Severity | None = None
    user: Ref | None = None
    since: datetime.datetime | None = None
