"""Security events: what happened to whose access, and how much it matters."""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Kind(enum.StrEnum):
    """Every event the API records (the `event` of GET /v1/security-events)."""

    SIGN_IN_SUCCEEDED = "auth.sign_in_succeeded"
    SIGN_IN_FAILED = "auth.sign_in_failed"
    TOKEN_ENDED = "auth.token_ended"
    """A request carried a token its user's changes or sign-out had ended."""
    SIGNED_OUT = "user.signed_out"
    USER_CREATED = "user.created"
    ROLE_CHANGED = "user.role_changed"
    DEACTIVATED = "user.deactivated"
    REACTIVATED = "user.reactivated"
    REMOVED = "user.removed"
    PASSWORD_CHANGED = "user.password_changed"
    SIGN_INS_BLOCKED = "auth.sign_ins_blocked"
    """Too many failed sign-ins of one account from one address: that pair is blocked."""
    ADDRESS_BLOCKED = "auth.address_blocked"
    """Too many failed requests from one address: every request from it is refused."""
    LOCKED = "user.locked"
    """Too many failed sign-ins of one account from any address: the account is locked."""
    UNLOCKED = "user.unlocked"
    FAILED_SIGN_INS_HIGH = "platform.failed_sign_ins_high"
    """Failed sign-ins across the platform past PLATFORM_FAILED_SIGNINS: the token
    endpoint's rate limit is halved (stored without an organization)."""
    FAILED_SIGN_INS_NORMAL = "platform.failed_sign_ins_normal"
    """Back under the threshold: the token endpoint's rate limit is restored."""
    THROTTLED = "organization.throttled"
    """An organization past ORG_API_CALLS_PER_MINUTE: its requests get 429 (once a minute)."""
    DATA_EXFILTRATION = "organization.data_exfiltration"
    """An organization's exports past ORG_EXPORT_BYTES_PER_HOUR: exports need a fresh token."""
    TWO_FACTOR_ENROLMENT_STARTED = "user.two_factor_enrolment_started"
    TWO_FACTOR_ENABLED = "user.two_factor_enabled"
    TWO_FACTOR_DISABLED = "user.two_factor_disabled"
    RECOVERY_CODES_REGENERATED = "user.recovery_codes_regenerated"
    RECOVERY_CODE_USED = "auth.recovery_code_used"
    TWO_FACTOR_FAILED = "auth.two_factor_failed"
    """A wrong or replayed code given to change one's own second factor (a wrong code
    at sign-in is an auth.sign_in_failed, reason two_factor_code_invalid)."""
    TWO_FACTOR_REQUIREMENT_CHANGED = "organization.two_factor_requirement_changed"

    @property
    def severity(self) -> Severity:
        return _SEVERITY.get(self, Severity.INFO)


_SEVERITY = {
    Kind.SIGN_IN_FAILED: Severity.WARNING,
    Kind.TOKEN_ENDED: Severity.WARNING,
    Kind.ROLE_CHANGED: Severity.WARNING,
    Kind.DEACTIVATED: Severity.WARNING,
    Kind.REMOVED: Severity.WARNING,
    Kind.SIGN_INS_BLOCKED: Severity.WARNING,
    Kind.ADDRESS_BLOCKED: Severity.WARNING,
    Kind.LOCKED: Severity.CRITICAL,
    Kind.UNLOCKED: Severity.WARNING,
    Kind.FAILED_SIGN_INS_HIGH: Severity.CRITICAL,
    Kind.THROTTLED: Severity.WARNING,
    Kind.DATA_EXFILTRATION: Severity.CRITICAL,
    Kind.TWO_FACTOR_DISABLED: Severity.WARNING,
    Kind.RECOVERY_CODE_USED: Severity.WARNING,
    Kind.TWO_FACTOR_FAILED: Severity.WARNING,
    Kind.TWO_FACTOR_REQUIREMENT_CHANGED: Severity.WARNING,
}


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from, as its security events record it."""

    client_ip: str | None = None
    request_id: str | None = None


NOWHERE = Origin()
"""A request's origin when it has none to give (a command, a test)."""


@dataclass(frozen=True, slots=True)
class NewEvent:
    kind: Kind
    organization_id: str | None
    user_id: str | None
    origin: Origin = NOWHERE
    detail: dict[str, Any] = field(default_factory=dict)
    """Never a secret: what the event is about (e.g. the new role, the failure's reason)."""


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    event: str
    severity: Severity
    user_id: str | None
    client_ip: str | None
    request_id: str | None
    detail: dict[str, Any]
    occurred_at: datetime.datetime
