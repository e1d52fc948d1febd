"""Passwords (argon2) and access tokens (HS256 JWT with iss, aud, exp, iat checked)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import argon2
import jwt

from accounting_api.db import memberships as memberships_db
from accounting_api.db import tenants
from accounting_api.domain import audit, errors, ids, lockout, memberships, security
from accounting_api.domain.roles import Principal, Role, User, UserStatus
from accounting_api.services import audit as audit_service
from accounting_api.services import lockout as lockout_service
from accounting_api.services import memberships as memberships_service
from accounting_api.services import security as security_service
from accounting_api.services.ports import Unit

_hasher = argon2.PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the e-mail is unknown (same time as a known one);
    computed once, on first use: every `accounting-api` command imports this module."""
    return _hasher.hash("not-a-real-password")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    try:
        return await asyncio.to_thread(_hasher.verify, password_hash, password)
    except argon2.exceptions.VerificationError:
        return False
    except argon2.exceptions.InvalidHashError:
        return False


_VERIFIED_CACHE_SIZE = 10_000
ENROLMENT_SCOPE = "two_factor_enrolment"
"""The `scp` claim of a token good only for enrolling in two-factor sign-in."""


@dataclass(frozen=True)
class TokenCodec:
    secret: str = field(repr=False)
    issuer: str
    audience: str
    ttl_seconds: int
    previous_secret: str = field(default="", repr=False)
    """The key before the last rotation: tokens it signed are still accepted until they
    expire; nothing is signed with it (docs/secret-rotation.md)."""
    _verified: dict[str, tuple[Principal, int]] = field(default_factory=dict, repr=False)
    """Tokens whose signature and claims were checked, with their expiry: a client
    sends the same token many times, and re-verifying it costs more than the request."""

    def issue(self, principal: Principal, *, now: float | None = None) -> tuple[str, int]:
        issued = int(time.time() if now is None else now)
        claims = {
            "sub": principal.user_id,
            "org": principal.organization_id,
            "role": principal.role.value,
            "ver": principal.token_version,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": issued,
            "exp": issued + self.ttl_seconds,
        }
        if principal.enrolment_only:
            claims["scp"] = ENROLMENT_SCOPE
        return jwt.encode(claims, self.secret, algorithm="HS256"), self.ttl_seconds

    def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        principal, expires = self._decode(token)
        if len(self._verified) >= _VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (principal, expires)
        return principal

    def _claims(self, token: str, key: str) -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["HS256"],
            audience=self.audience,
            issuer=self.issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "org", "role"]},
        )
        return claims

    def _decode(self, token: str) -> tuple[Principal, int]:
        try:
            try:
                claims = self._claims(token, self.secret)
            except jwt.InvalidSignatureError:
                if not self.previous_secret:
                    raise
                claims = self._claims(token, self.previous_secret)
        except jwt.ExpiredSignatureError:
            raise errors.Unauthenticated("the access token has expired") from None
        except jwt.InvalidAudienceError:
            raise errors.Unauthenticated("the access token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise errors.Unauthenticated("the access token has an unknown issuer") from None
        except jwt.InvalidSignatureError:
            raise errors.Unauthenticated("the access token signature is invalid") from None
        except jwt.PyJWTError as exc:
            raise errors.Unauthenticated(f"the access token is invalid: {exc}") from None
        version = claims.get("ver", 0)  # a token of the previous release: version 0
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise errors.Unauthenticated("the access token has an invalid version")
        scope = claims.get("scp")
        if scope not in (None, ENROLMENT_SCOPE):
            raise errors.Unauthenticated("the access token has an unknown scope")
        try:
            principal = Principal(
                str(claims["sub"]),
                str(claims["org"]),
                Role(claims["role"]),
                version,
                issued_at=int(claims["iat"]),
                enrolment_only=scope == ENROLMENT_SCOPE,
            )
        except ValueError:
            raise errors.Unauthenticated("the access token names an unknown role") from None
        if not ids.has_prefix(principal.organization_id, "org"):
            raise errors.Unauthenticated("the access token names no organization")
        return principal, int(claims["exp"])


SecondFactor = Callable[[tenants.Credentials], Awaitable[bool]]
"""The sign-in's second step, after a correct password (services/two_factor.py): raises
if the second factor is missing or wrong; True when the token may only enrol one."""


async def authenticate(
    db: Unit,
    guard: lockout_service.Guard,
    email: str,
    password: str,
    origin: security.Origin = security.NOWHERE,
    *,
    organization_id: str | None = None,
    second_factor: SecondFactor | None = None,
) -> Principal:
    """The principal whose email and password these are, in the organization chosen (or
    the person's only active one), or Unauthenticated; either way a security event (a
    failure names its reason, never the password). A person active in several
    organizations who chose none gets OrganizationRequired, listing them, once the
    password is verified.

    A blocked pair or a locked account gets the answer a wrong password gets, after the
    same work, and so does an organization the person is no active member of; an unknown
    e-mail is counted, blocked and locked as a known one is: no answer tells a stranger
    whether an account exists. A refusal's records are kept past the request's
    rollback (Unit.keep)."""
    found, person, enrolment_only = await verify_person(
        db, guard, email, password, origin,
        organization_id=organization_id, second_factor=second_factor,
    )  # fmt: skip
    if memberships.needs_choice(person, organization_id):
        raise await memberships_service.organization_required(db, found.user)
    user = found.user
    event = security.NewEvent(
        security.Kind.SIGN_IN_SUCCEEDED, user.organization_id, user.id, origin
    )
    await security_service.record(db, event)
    return Principal(
        user.id, user.organization_id, user.role, found.token_version,
        enrolment_only=enrolment_only,
    )  # fmt: skip


async def verify_person(
    db: Unit,
    guard: lockout_service.Guard,
    email: str,
    password: str,
    origin: security.Origin,
    *,
    organization_id: str | None = None,
    active: bool = True,
    second_factor: SecondFactor | None = None,
) -> tuple[tenants.Credentials, list[memberships.Membership], bool]:
    """The credentials of the membership the sign-in is about (domain.memberships.subject)
    and all the person's live memberships, once the password is verified (and, if
    `active`, the membership is active) and then the second factor, if one is asked
    (before any organization is listed to the caller); else Unauthenticated, counted by
    the brute-force defence and recorded as a failed sign-in. The flag: whether a token
    may only enrol a second factor (the organization requires one the member lacks)."""
    address = origin.client_ip or "unknown"
    held = await guard.held(email, address)
    async with db.transaction(None) as conn:
        person = await memberships_db.find(conn, email.lower())
    subject = memberships.subject(person, organization_id)
    found = None
    if subject is None:
        await verify_password(_dummy_hash(), password)
        reason: str | None = "unknown_email"
    else:
        async with db.transaction(subject.organization_id) as conn:
            found = await tenants.get_credentials(conn, subject.user_id)
        reason = await _refusal(found, password, active=active)
        if reason is None and memberships.not_a_member(subject, organization_id):
            reason = "not_a_member"
    org, user_id = (subject.organization_id, subject.user_id) if subject else (None, None)
    if held.reason is not None:  # not counted again: the block or lock is the answer
        failed = security.NewEvent(
            security.Kind.SIGN_IN_FAILED, org, user_id, origin, {"reason": held.reason}
        )
        db.keep(lambda kept: security_service.record(kept, failed))
        raise _refused()
    if reason is not None:
        user = found.user if found else None
        await count_failure(db, guard, email, org=org, user=user, origin=origin, reason=reason)
        raise _refused()
    assert found is not None
    enrolment_only = await second_factor(found) if second_factor is not None else False
    await guard.succeeded(email, address)
    return found, person, enrolment_only


async def count_failure(
    db: Unit,
    guard: lockout_service.Guard,
    email: str,
    *,
    org: str | None,
    user: User | None,
    origin: security.Origin,
    reason: str,
    kind: security.Kind = security.Kind.SIGN_IN_FAILED,
) -> None:
    """A failed sign-in (or a wrong code of one's second factor) counted against the pair
    and the account now; its security event, and those of the block or lock it sets off,
    kept past the refused request's rollback (Unit.keep)."""
    response = await guard.failed(email, origin.client_ip or "unknown")
    user_id = user.id if user is not None else None
    event = security.NewEvent(kind, org, user_id, origin, {"reason": reason})

    async def record(kept: Unit) -> None:
        await security_service.record(kept, event)
        await _respond(kept, user, origin, response)

    db.keep(record)


async def _refusal(
    found: tenants.Credentials | None, password: str, *, active: bool = True
) -> str | None:
    """Why a known e-mail's sign-in fails (None: it does not). A deactivated user gets
    the answer a wrong password gets, after the same work."""
    if found is None or not await verify_password(found.password_hash, password):
        return "wrong_password"
    if active and found.user.status is not UserStatus.ACTIVE:
        return found.user.status.value
    return None


async def _respond(
    db: Unit, user: User | None, origin: security.Origin, response: lockout.Response
) -> None:
    """The security events of a block and a lock; for a known account also its audit
    events (in the kept records' transaction: the refused request's rolls back)."""
    events = []
    if response.blocked:
        detail = {"seconds": round(response.blocked), "strikes": response.strikes}
        events.append((security.Kind.SIGN_INS_BLOCKED, "sign_ins_blocked", detail))
    if response.locked:
        events.append((security.Kind.LOCKED, "locked", {"seconds": round(response.locked)}))
    for kind, verb, detail in events:
        org, user_id = (user.organization_id, user.id) if user else (None, None)
        event = security.NewEvent(kind, org, user_id, origin, detail)
        await security_service.record(db, event)
        if user is not None:
            await audit_service.record(
                db,
                organization_id=user.organization_id,
                actor_user_id=None,
                request_id=origin.request_id,
                changes=[audit.changed("user", verb, user)],
            )


def _refused() -> errors.Unauthenticated:
    """Every refused sign-in's one answer, whatever the reason."""
    return errors.Unauthenticated("invalid email or password")
