"""Two-factor sign-in rules (docs/two-factor.md): TOTP codes (RFC 6238, pyotp: 6 digits,
30-second steps, SHA-1, as every authenticator app reads an otpauth:// URI), accepted
once and within one step of clock drift; single-use recovery codes; and the
organization's rule of who must have a second factor."""

from __future__ import annotations

import datetime
import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import pyotp

from accounting_api.domain import sealing
from accounting_api.domain.roles import Role

ISSUER = "Universal Accounting"
STEP_SECONDS = 30
DRIFT_STEPS = 1
"""A code of the step before or after the current one is accepted too (clock drift)."""
RECOVERY_CODES = 10
_RECOVERY_GROUPS, _RECOVERY_GROUP_LENGTH = 4, 5
"""A recovery code is 20 hex digits (80 random bits) in four groups: `xxxxx-xxxxx-...`;
so many bits that its stored sha256 is no shortcut to it."""
_CODE = re.compile(r"[0-9]{6}")


class Requirement(enum.StrEnum):
    """`two_factor_required_for` of an organization."""

    NONE = "none"
    OWNERS_AND_ADMINS = "owners_and_admins"

    def applies_to(self, role: Role) -> bool:
        return self is Requirement.OWNERS_AND_ADMINS and role.allows(Role.ADMIN)


@dataclass(frozen=True, slots=True)
class Answer:
    """What a request gives as its second factor: a current code or a recovery code."""

    otp: str | None = None
    recovery_code: str | None = None

    @property
    def given(self) -> bool:
        return self.otp is not None or self.recovery_code is not None


NO_ANSWER = Answer()


@dataclass(frozen=True, slots=True)
class Status:
    """A member's second factor as they (and the audit trail) see it: never a secret."""

    id: str
    """The user's id."""
    enabled: bool
    confirmed_at: datetime.datetime | None
    enrolment_pending: bool
    recovery_codes_left: int


@dataclass(frozen=True, slots=True)
class Stored:
    """A member's second factor as the database keeps it (secrets sealed)."""

    secret_sealed: str | None
    confirmed_at: datetime.datetime | None
    last_step: int
    recovery_codes_left: int
    pending_sealed: str | None

    def status(self, user_id: str) -> Status:
        return Status(
            user_id,
            self.confirmed_at is not None,
            self.confirmed_at,
            self.pending_sealed is not None,
            self.recovery_codes_left if self.confirmed_at is not None else 0,
        )


def not_enrolled(user_id: str) -> Status:
    return Status(user_id, False, None, False, 0)


def secret_binding(email: str) -> bytes:
    """Where a sealed secret belongs: the person (their login e-mail), in either column."""
    return sealing.binding("second_factors.secret", email.lower())


def new_secret() -> str:
    """A fresh TOTP secret: base32 of 160 random bits (RFC 4226's recommended length)."""
    return pyotp.random_base32(32)


def uri(secret: str, email: str) -> str:
    """The otpauth:// URI an authenticator app reads (as a QR code, usually)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def step_at(now: float) -> int:
    return int(now // STEP_SECONDS)


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).generate_otp(step)


def matching_step(secret: str, code: str, *, now: float, after: int) -> int | None:
    """The latest time step within the drift whose code `code` is, and later than `after`
    (the last step used: a code is accepted once); None if there is none."""
    if not _CODE.fullmatch(code):
        return None
    current = step_at(now)
    for step in range(current + DRIFT_STEPS, current - DRIFT_STEPS - 1, -1):
        if step > after and hmac.compare_digest(code_at(secret, step), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    size = _RECOVERY_GROUPS * _RECOVERY_GROUP_LENGTH
    codes = []
    for _ in range(RECOVERY_CODES):
        digits = secrets.token_hex(size // 2)
        groups = [
            digits[i : i + _RECOVERY_GROUP_LENGTH] for i in range(0, size, _RECOVERY_GROUP_LENGTH)
        ]
        codes.append("-".join(groups))
    return codes


def recovery_hash(email: str, code: str) -> str:
    """What is stored of a recovery code: sha256 of the e-mail and the code, read as
    typed (any letter case, with or without dashes and spaces)."""
    normalized = re.sub(r"[\s-]", "", code).lower()
    return hashlib.sha256(f"{email.lower()}\x00{normalized}".encode()).hexdigest()
