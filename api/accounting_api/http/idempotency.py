"""Idempotency-Key on POST: the first response is stored with the effect and replayed.

The stored response is written in the same database transaction as the use case
(which runs as a savepoint inside it), so a retry after a crash either finds both
or neither. A concurrent request with the same key gets 409; the same key with a
different body gets 422.
"""

from __future__ import annotations

import hashlib
import json

import asyncpg
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accounting_api.db import idempotency as store
from accounting_api.db.connection import Connection, Database
from accounting_api.domain import errors
from accounting_api.http import problems
from accounting_api.http.context import state

MAX_KEY_LENGTH = 255
NOT_STORED = frozenset({"/v1/auth/token"})
"""Never stored: a token response holds a secret, and asking again is already safe."""


def request_hash(scope: Scope, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (scope["method"].encode(), scope["path"].encode(), body):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def _stored(status: int, body: bytes, scope: Scope) -> bool:
    if status >= 500:
        return False
    if status < 400:
        return True
    return state(scope).get("error_code") not in problems.SHAPE_CODES


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, *, db: Database, ttl_seconds: int) -> None:
        self.app = app
        self.db = db
        self.ttl_seconds = ttl_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = Headers(scope=scope).get("idempotency-key") if scope["type"] == "http" else None
        if key is None or scope["method"] != "POST" or scope["path"] in NOT_STORED:
            await self.app(scope, receive, send)
            return
        try:
            await self._handle(scope, receive, send, key)
        except errors.AccountingError as exc:
            await problems.response(scope, exc)(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, key: str) -> None:
        _check_key(key)
        st = state(scope)
        principal = st.get("principal")
        org = principal.organization_id if principal else None
        owner = org or f"ip:{st['client_ip']}"
        digest = request_hash(scope, st.get("body", b""))
        messages: list[Message] = []

        async def capture(message: Message) -> None:
            messages.append(message)

        async with self.db.bound_transaction(org) as unit:
            conn = unit.conn
            found = await self._earlier(conn, owner, key, digest)
            if found is not None:
                await _replay(found["status_code"], found["response_body"], send)
                return
            await self.app(scope, receive, capture)
            status, body = _response_of(messages)
            if _stored(status, body, scope):
                await unit.use_tenant(org)
                await store.store(
                    conn,
                    scope=owner,
                    key=key,
                    organization_id=org,
                    request_hash=digest,
                    status_code=status,
                    body=body,
                )
        for message in messages:
            await send(message)

    async def _earlier(
        self, conn: Connection, owner: str, key: str, digest: str
    ) -> asyncpg.Record | None:
        """The stored response for this key, once no other request holds the key."""
        if not await store.try_lock(conn, owner, key):
            raise errors.IdempotencyInProgress(
                "a request with this Idempotency-Key is still being processed; retry later",
                param="Idempotency-Key",
            )
        found = await store.find(conn, owner, key, self.ttl_seconds)
        if found is not None and found["request_hash"] != digest:
            raise errors.IdempotencyMismatch(
                "this Idempotency-Key was used with a different request",
                param="Idempotency-Key",
            )
        return found


def _check_key(key: str) -> None:
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise errors.InvalidRequest(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters",
            param="Idempotency-Key",
        )


def _response_of(messages: list[Message]) -> tuple[int, bytes]:
    status = next(m["status"] for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return status, body


async def _replay(status: int, body: bytes, send: Send) -> None:
    media = problems.MEDIA_TYPE if status >= 400 else "application/json"
    try:
        json.loads(body)
    except ValueError:
        media = "application/octet-stream"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"idempotent-replayed", b"true"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
