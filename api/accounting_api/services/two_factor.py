"""Two-factor sign-in (docs/two-factor.md): a member enrols (a fresh secret, sealed at
rest), confirms with a current code (10 recovery codes, shown once, kept as hashes),
regenerates recovery codes or disables it with a current code or a recovery code; the
token endpoint then asks for a code after a correct password (`second_step`).

A wrong code, here or at sign-in, counts as a failed sign-in of the account from the
caller's address (services/lockout.py): blocks and locks hold codes as they hold passwords.
Its security event and audit event are kept past the refused request's rollback, on the
request's own connection (Unit.keep). No secret, code or recovery code is ever logged or
recorded."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import NoReturn

from accounting_api.db import tenants
from accounting_api.db import two_factor as factors_db
from accounting_api.db.connection import Connection
from accounting_api.domain import audit, errors, sealing, security, two_factor
from accounting_api.domain.organizations import Profile
from accounting_api.domain.roles import Principal, Role, User
from accounting_api.services import audit as audit_service
from accounting_api.services import auth, lockout
from accounting_api.services import security as security_service
from accounting_api.services.audit import records
from accounting_api.services.ports import Transactions, Unit

log = logging.getLogger("accounting_api.two_factor")


@dataclass(frozen=True)
class Checks:
    """What checking a code needs besides the request's own transaction."""

    guard: lockout.Guard
    keys: sealing.KeyRing | None
    origin: security.Origin = security.NOWHERE


@dataclass(frozen=True, slots=True)
class Enrolment:
    status: two_factor.Status
    secret: str
    uri: str


@dataclass(frozen=True, slots=True)
class RecoveryCodes:
    status: two_factor.Status
    codes: list[str]


def _ring(keys: sealing.KeyRing | None) -> sealing.KeyRing:
    if keys is None:
        raise errors.TwoFactorKeysMissing(
            "two-factor sign-in is not available: no key to seal its secrets"
            " (WEBHOOK_SECRET_KEYS) is configured"
        )
    return keys


def _open(keys: sealing.KeyRing | None, email: str, sealed: str) -> tuple[str, str | None]:
    """The secret, and the same sealed under the ring's current key when another key
    sealed it (so that a rotated-out key stops being needed once it has been used)."""
    ring, bound = _ring(keys), two_factor.secret_binding(email)
    try:
        secret = ring.open(sealed, bound).decode()
    except sealing.Unreadable as exc:
        log.error("a second factor's secret does not open: %s", exc)
        raise errors.TwoFactorKeysMissing(
            "this second factor's secret cannot be opened with the configured keys"
        ) from None
    current = sealed.partition(":")[0] == ring.current
    return secret, None if current else ring.seal(secret.encode(), bound)


async def _member(conn: Connection, principal: Principal) -> User:
    user = await tenants.get_user(conn, principal.user_id)
    assert user is not None  # the session check found it a moment ago
    return user


async def status(db: Transactions, principal: Principal) -> two_factor.Status:
    """The caller's own second factor (never its secret)."""
    async with db.transaction(principal.organization_id) as conn:
        stored = await factors_db.get(conn, principal.user_id)
    return (
        stored.status(principal.user_id) if stored else two_factor.not_enrolled(principal.user_id)
    )


async def enrol(
    db: Unit, checks: Checks, principal: Principal, answer: two_factor.Answer
) -> Enrolment:
    """A fresh secret and its otpauth:// URI; nothing changes at sign-in until a code of it
    is confirmed. Replacing a confirmed second factor needs a current code of it first."""
    ring = _ring(checks.keys)
    async with db.transaction(principal.organization_id) as conn:
        user = await _member(conn, principal)
        stored = await factors_db.get(conn, user.id)
        if stored is not None and stored.confirmed_at is not None:
            await _prove(db, checks, user, stored, answer)
        secret = two_factor.new_secret()
        sealed = ring.seal(secret.encode(), two_factor.secret_binding(user.email))
        await factors_db.start(conn, user.id, sealed)
        after = await factors_db.get(conn, user.id)
    assert after is not None
    result = after.status(user.id)
    await _changed(db, checks, user, security.Kind.TWO_FACTOR_ENROLMENT_STARTED, result)
    return Enrolment(result, secret, two_factor.uri(secret, user.email))


async def confirm(db: Unit, checks: Checks, principal: Principal, code: str) -> RecoveryCodes:
    """A current code of the enrolment's secret turns two-factor sign-in on (or replaces
    the previous secret): 10 new recovery codes, returned this once."""
    ring = _ring(checks.keys)
    async with db.transaction(principal.organization_id) as conn:
        user = await _member(conn, principal)
        stored = await factors_db.get(conn, user.id)
        if stored is None or stored.pending_sealed is None:
            raise errors.TwoFactorNotStarted(
                "no two-factor enrolment to confirm: start one (POST /v1/users/me/two-factor)"
            )
        await _not_held(checks, user)
        secret, _ = _open(ring, user.email, stored.pending_sealed)
        step = two_factor.matching_step(secret, code, now=time.time(), after=0)
        if step is None:
            wrong = errors.TwoFactorCodeIncorrect("the code is not correct")
            await _refused(db, checks, user, wrong)
        codes = two_factor.new_recovery_codes()
        hashes = [two_factor.recovery_hash(user.email, c) for c in codes]
        if not await factors_db.confirm(conn, user.id, stored.pending_sealed, step, hashes):
            raise errors.TwoFactorNotStarted("the enrolment was replaced meanwhile: start again")
    result = two_factor.Status(user.id, True, None, False, len(codes))
    await _changed(db, checks, user, security.Kind.TWO_FACTOR_ENABLED, result)
    return RecoveryCodes(result, codes)


async def disable(
    db: Unit, checks: Checks, principal: Principal, answer: two_factor.Answer
) -> two_factor.Status:
    """Turn two-factor sign-in off (a current code or a recovery code first); an
    enrolment not yet confirmed is dropped without one."""
    async with db.transaction(principal.organization_id) as conn:
        user = await _member(conn, principal)
        stored = await factors_db.get(conn, user.id)
        if stored is None:
            raise errors.TwoFactorNotEnabled("two-factor sign-in is not enabled")
        if stored.confirmed_at is not None:
            await _prove(db, checks, user, stored, answer)
        await factors_db.remove(conn, user.id)
    result = two_factor.not_enrolled(user.id)
    await _changed(db, checks, user, security.Kind.TWO_FACTOR_DISABLED, result)
    return result


async def regenerate(
    db: Unit, checks: Checks, principal: Principal, answer: two_factor.Answer
) -> RecoveryCodes:
    """10 new recovery codes (a current code or a recovery code first); the old ones end."""
    async with db.transaction(principal.organization_id) as conn:
        user = await _member(conn, principal)
        stored = await factors_db.get(conn, user.id)
        if stored is None or stored.confirmed_at is None:
            raise errors.TwoFactorNotEnabled("two-factor sign-in is not enabled")
        await _prove(db, checks, user, stored, answer)
        codes = two_factor.new_recovery_codes()
        await factors_db.set_recovery(
            conn, user.id, [two_factor.recovery_hash(user.email, c) for c in codes]
        )
    result = two_factor.Status(user.id, True, stored.confirmed_at, False, len(codes))
    await _changed(db, checks, user, security.Kind.RECOVERY_CODES_REGENERATED, result)
    return RecoveryCodes(result, codes)


async def _changed(
    db: Unit, checks: Checks, user: User, kind: security.Kind, state: two_factor.Status
) -> None:
    """The change's security event and audit event, in its unit of work."""
    event = security.NewEvent(kind, user.organization_id, user.id, checks.origin)
    await security_service.record(db, event)
    db.changed(audit.changed("user", kind.value.split(".")[1], state))


async def _not_held(checks: Checks, user: User) -> None:
    """Refuse a code while the account is locked or the caller's address blocked for it."""
    held = await checks.guard.held(user.email, checks.origin.client_ip or "unknown")
    if held.reason is not None:
        left = max(math.ceil(max(held.blocked, held.locked)), 1)
        raise errors.RateLimited(
            f"too many failed sign-ins or codes for this account; retry in {left} s",
            retry_after=left,
        )


async def _prove(
    db: Unit, checks: Checks, user: User, stored: two_factor.Stored, answer: two_factor.Answer
) -> None:
    """A change to a confirmed second factor needs a current code or a recovery code."""
    if not answer.given:
        raise errors.TwoFactorCodeMissing(
            "give a current code (otp) or a recovery code (recovery_code) first", param="otp"
        )
    await _not_held(checks, user)
    async with db.transaction(user.organization_id) as conn:
        used = await _use(conn, checks, user, stored, answer)
    if not used:
        wrong = errors.TwoFactorCodeIncorrect(
            "the code is not correct, or was used already",
            param="otp" if answer.otp is not None else "recovery_code",
        )
        await _refused(db, checks, user, wrong)
    if answer.recovery_code is not None:
        db.changed(await _recovery_used(db, checks, user))


async def _use(
    conn: Connection,
    checks: Checks,
    user: User,
    stored: two_factor.Stored,
    answer: two_factor.Answer,
) -> bool:
    """Use the answer's code once: a TOTP code of a step later than the last used, or an
    unused recovery code. False: wrong, or used already."""
    if answer.otp is not None:
        assert stored.secret_sealed is not None
        secret, resealed = _open(checks.keys, user.email, stored.secret_sealed)
        step = two_factor.matching_step(secret, answer.otp, now=time.time(), after=stored.last_step)
        return step is not None and await factors_db.use_step(conn, user.id, step, resealed)
    assert answer.recovery_code is not None
    code_hash = two_factor.recovery_hash(user.email, answer.recovery_code)
    return await factors_db.use_recovery(conn, user.id, code_hash) is not None


async def _recovery_used(db: Unit, checks: Checks, user: User) -> audit.Change:
    """The recovery code's security event; its audit change is the caller's to record."""
    kind = security.Kind.RECOVERY_CODE_USED
    await security_service.record(
        db, security.NewEvent(kind, user.organization_id, user.id, checks.origin)
    )
    return audit.changed("user", "recovery_code_used", user)


async def _refused(
    db: Unit,
    checks: Checks,
    user: User,
    error: errors.AccountingError,
    kind: security.Kind = security.Kind.TWO_FACTOR_FAILED,
) -> NoReturn:
    """Count a wrong code as a failed sign-in, keep its records (security and audit
    events) past the request's rollback, and raise `error`."""
    await auth.count_failure(
        db,
        checks.guard,
        user.email,
        org=user.organization_id,
        user=user,
        origin=checks.origin,
        reason=error.code,
        kind=kind,
    )
    refused = audit.changed("user", "two_factor_code_refused", user)
    db.keep(lambda kept: _audited(kept, checks, user, refused))
    raise error


async def _audited(db: Unit, checks: Checks, user: User, change: audit.Change) -> None:
    """An audit event of the user, acting on their own account."""
    await db.use_tenant(user.organization_id)
    await audit_service.record(
        db,
        organization_id=user.organization_id,
        actor_user_id=user.id,
        request_id=checks.origin.request_id,
        changes=[change],
    )


def second_step(db: Unit, checks: Checks, answer: two_factor.Answer) -> auth.SecondFactor:
    """The token endpoint's second step, after a correct password (auth.authenticate):
    nothing for a person without a confirmed second factor (but a token restricted to
    enrolment when the organization requires one of their role); otherwise a code or a
    recovery code, used once, or 401 two_factor_required / two_factor_code_invalid. `db`
    runs short transactions of its own (db.own_transactions): a code is used up at once."""

    async def check(found: tenants.Credentials) -> bool:
        user = found.user
        async with db.transaction(user.organization_id) as conn:
            stored = await factors_db.get(conn, user.id)
            required = await factors_db.requirement(conn)
            if stored is None or stored.confirmed_at is None:
                return required.applies_to(user.role)
            if not answer.given:
                raise errors.TwoFactorRequired(
                    "this account has two-factor sign-in: send `otp` (the 6-digit code of"
                    " your authenticator app) or a `recovery_code` with the password"
                )
            used = await _use(conn, checks, user, stored, answer)
        if not used:
            invalid = errors.TwoFactorCodeInvalid(
                "the two-factor code is not correct, or was used already"
            )
            await _refused(db, checks, user, invalid, security.Kind.SIGN_IN_FAILED)
        if answer.recovery_code is not None:
            change = await _recovery_used(db, checks, user)
            db.keep(lambda kept: _audited(kept, checks, user, change))
        return False

    return check


async def coverage(db: Transactions, principal: Principal) -> list[factors_db.Covered]:
    """Each active member and whether they have a confirmed second factor (admin)."""
    principal.require(Role.ADMIN)
    async with db.transaction(principal.organization_id) as conn:
        return await factors_db.coverage(conn)


@records("organization", "updated")
async def require_for(
    db: Unit, checks: Checks, principal: Principal, requirement: two_factor.Requirement
) -> Profile:
    """Set who must have a second factor (admin or owner; the caller must have one before
    requiring it). Tokens already issued keep working until they expire."""
    principal.require(Role.ADMIN)
    async with db.transaction(principal.organization_id) as conn:
        previous = await factors_db.requirement(conn)
        if previous is requirement:
            return await tenants.profile(conn)
        stored = await factors_db.get(conn, principal.user_id)
        own = stored is not None and stored.confirmed_at is not None
        if requirement.applies_to(principal.role) and not own:
            raise errors.TwoFactorNotEnabled(
                "enable two-factor sign-in for yourself before requiring it of owners and admins",
                param="two_factor_required_for",
            )
        await factors_db.set_requirement(conn, requirement)
        profile = await tenants.profile(conn)
    detail = {"required_for": requirement.value, "previous": previous.value}
    kind = security.Kind.TWO_FACTOR_REQUIREMENT_CHANGED
    event = security.NewEvent(
        kind, principal.organization_id, principal.user_id, checks.origin, detail
    )
    await security_service.record(db, event)
    return profile
