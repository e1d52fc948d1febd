"""Idempotency-Key on POST, the HTTP side: which requests store their answer, the key's
shape, the request's fingerprint and the replayed answer. The unit of work that claims
the key and stores the answer with the effect is routes/work.py (services/idempotency.py
holds the rules)."""

from __future__ import annotations

import hashlib
import json

from starlette.responses import Response
from starlette.types import Scope

from accounting_api.domain import errors
from accounting_api.http import problems
from accounting_api.http.context import state

MAX_KEY_LENGTH = 255


def key_of(scope: Scope) -> str | None:
    """The request's Idempotency-Key, when its answer is to be stored (a POST of an
    endpoint that takes one: routes/openapi.Endpoint.idempotent)."""
    if scope["method"] != "POST":
        return None
    for name, value in scope["headers"]:
        if name == b"idempotency-key":
            key: str = value.decode("latin-1")
            if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
                raise errors.InvalidRequest(
                    f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters",
                    param="Idempotency-Key",
                )
            return key
    return None


def request_hash(scope: Scope, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (scope["method"].encode(), scope["path"].encode(), body):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def stored(status: int, scope: Scope) -> bool:
    """Whether an answer is kept for replay: not a server error, and not an error about
    the request's shape (the client fixes it and may retry with the same key)."""
    if status >= 500:
        return False
    if status < 400:
        return True
    return state(scope).get("error_code") not in problems.SHAPE_CODES


def replay(status: int, body: bytes) -> Response:
    media = problems.MEDIA_TYPE if status >= 400 else "application/json"
    try:
        json.loads(body)
    except ValueError:
        media = "application/octet-stream"
    return Response(
        body, status_code=status, media_type=media, headers={"Idempotent-Replayed": "true"}
    )
