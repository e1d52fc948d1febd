"""Passwords (argon2) and access tokens (HS256 JWT with iss, aud, exp, iat checked)."""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass, field

import argon2
import jwt

from accounting_api.db import tenants
from accounting_api.domain import errors, ids
from accounting_api.domain.roles import Principal, Role
from accounting_api.services.ports import Transactions

_hasher = argon2.PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the e-mail is unknown (same time as a known one);
    computed once, on first use: every `accounting-api` command imports this module."""
    return _hasher.hash("not-a-real-password")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def _verify(password_hash: str, password: str) -> bool:
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
        try:
            principal = Principal(str(claims["sub"]), str(claims["org"]), Role(claims["role"]))
        except ValueError:
            raise errors.Unauthenticated("the access token names an unknown role") from None
        if not ids.has_prefix(principal.organization_id, "org"):
            raise errors.Unauthenticated("the access token names no organization")
        return principal, int(claims["exp"])


async def authenticate(db: Transactions, email: str, password: str) -> Principal:
    """The principal whose email and password these are, or Unauthenticated."""
    async with db.transaction(None) as conn:
        login = await tenants.find_login(conn, email.lower())
    if login is None:
        await _verify(_dummy_hash(), password)
        raise errors.Unauthenticated("invalid email or password")
    async with db.transaction(login["organization_id"]) as conn:
        found = await tenants.get_credentials(conn, login["user_id"])
    if found is None or not await _verify(found[1], password):
        raise errors.Unauthenticated("invalid email or password")
    user = found[0]
    return Principal(user.id, user.organization_id, user.role)
