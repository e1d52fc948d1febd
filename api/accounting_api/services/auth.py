"""Passwords (argon2) and access tokens (HS256 JWT with iss, aud, exp, iat checked)."""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass, field
from typing import NoReturn

import argon2
import jwt

from accounting_api.db import tenants
from accounting_api.domain import errors, ids, security
from accounting_api.domain.roles import Principal, Role, UserStatus
from accounting_api.services import security as security_service
from accounting_api.services.ports import Transactions

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


@dataclass(frozen=True)
class TokenCodec:
    secret: str
    issuer: str
    audience: str
    ttl_seconds: int
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

    def _decode(self, token: str) -> tuple[Principal, int]:
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "org", "role"]},
            )
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
        try:
            principal = Principal(
                str(claims["sub"]), str(claims["org"]), Role(claims["role"]), version
            )
        except ValueError:
            raise errors.Unauthenticated("the access token names an unknown role") from None
        if not ids.has_prefix(principal.organization_id, "org"):
            raise errors.Unauthenticated("the access token names no organization")
        return principal, int(claims["exp"])


async def authenticate(
    db: Transactions, email: str, password: str, origin: security.Origin = security.NOWHERE
) -> Principal:
    """The principal whose email and password these are, or Unauthenticated; either way
    a security event (a failure names its reason, never the password)."""
    async with db.transaction(None) as conn:
        login = await tenants.find_login(conn, email.lower())
    if login is None:
        await verify_password(_dummy_hash(), password)
        await _failed(db, None, None, origin, "unknown_email")
    org, user_id = login["organization_id"], login["user_id"]
    async with db.transaction(org) as conn:
        found = await tenants.get_credentials(conn, user_id)
    # A deactivated user gets the answer a wrong password gets, after the same work.
    if found is None or not await verify_password(found.password_hash, password):
        await _failed(db, org, user_id, origin, "wrong_password")
    if found.user.status is not UserStatus.ACTIVE:
        await _failed(db, org, user_id, origin, found.user.status.value)
    event = security.NewEvent(security.Kind.SIGN_IN_SUCCEEDED, org, user_id, origin)
    await security_service.record(db, event)
    user = found.user
    return Principal(user.id, user.organization_id, user.role, found.token_version)


async def _failed(
    db: Transactions, org: str | None, user_id: str | None, origin: security.Origin, reason: str
) -> NoReturn:
    event = security.NewEvent(
        security.Kind.SIGN_IN_FAILED, org, user_id, origin, {"reason": reason}
    )
    await security_service.record(db, event)
    raise errors.Unauthenticated("invalid email or password")
