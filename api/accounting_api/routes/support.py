"""What every route needs: its dependencies, the principal, parsed input, JSON output."""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pydantic
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from accounting_api import redis_connection
from accounting_api.domain import errors, ids, sealing, security
from accounting_api.domain.roles import Principal, Session
from accounting_api.http import auth, consistency
from accounting_api.services import lockout, responses
from accounting_api.services import security as security_service
from accounting_api.services.auth import TokenCodec
from accounting_api.services.health import Pinger
from accounting_api.services.ports import Store, Transactions, Unit
from accounting_api.settings import Settings

M = TypeVar("M", bound=pydantic.BaseModel)
T = TypeVar("T")
Handler = Callable[[Request], Awaitable[Response]]
Prepare = Callable[[Request], Awaitable[None]]
"""Work an endpoint does before its unit of work takes a pool connection (Endpoint.prepare)."""


@dataclass(frozen=True)
class Deps:
    """Process-wide collaborators, built by the app's lifespan."""

    settings: Settings
    db: Store
    redis: redis_connection.Client
    codec: TokenCodec
    pinger: Pinger
    guard: lockout.Guard
    keys: sealing.KeyRing | None = None
    """Seals secrets at rest (WEBHOOK_SECRET_KEYS); None when not configured."""
    watch: responses.Watch | None = None
    """The automatic security responses' counts (exports per organization)."""
    extra: dict[str, Any] = field(default_factory=dict)


def deps(request: Request) -> Deps:
    result: Deps = request.app.state.deps
    return result


_UNIT = "unit_of_work"


def db(request: Request) -> Transactions:
    """Where this request's use cases run: its unit of work for a write (routes/work.py),
    the pool for a read (checking the caller's session first)."""
    unit: Unit | None = request.scope.get("state", {}).get(_UNIT)
    return unit if unit is not None else deps(request).db.checking(session(request))


def session(request: Request) -> Session | None:
    """The caller's session (http/auth.py), checked by the request's first transaction."""
    found: Session | None = request.scope.get("state", {}).get(auth.SESSION)
    return found


def unit(request: Request) -> Unit:
    """The unit of work of this write request (routes/work.py opens it)."""
    found: Unit | None = request.scope.get("state", {}).get(_UNIT)
    if found is None:
        raise RuntimeError(f"{request.method} {request.url.path} runs in no unit of work")
    return found


@contextmanager
def bound(request: Request, unit: Unit) -> Iterator[None]:
    """Make `unit` the request's unit of work while the handler runs."""
    st = request.scope.setdefault("state", {})
    st[_UNIT] = unit
    try:
        yield
    finally:
        del st[_UNIT]


def reads(request: Request) -> Transactions:
    """The handle a report or list reads through (accounting_api.db.replicas.Reader: the
    `transaction` of `Database`, on a caught-up replica or the primary)."""
    reader: Transactions | None = request.scope.get("state", {}).get(consistency.READER)
    return reader if reader is not None else deps(request).db.checking(session(request))


def principal(request: Request) -> Principal:
    found = request.scope.get("state", {}).get("principal")
    if not isinstance(found, Principal):
        raise errors.Unauthenticated("this endpoint needs an 'Authorization: Bearer' token")
    return found


def path_id(request: Request, prefix: str) -> str:
    """The `{id}` of the path; an id of the wrong shape names nothing that exists."""
    value = str(request.path_params["id"])
    if not ids.has_prefix(value, prefix):
        raise errors.NotFound(f"no object with id {value!r}", param="id")
    return value


def authenticated(handler: Handler) -> Handler:
    """Refuse a request without a principal before its body is even read, and one whose
    session has ended: checked by its first transaction, or here if it ran none."""

    async def guarded(request: Request) -> Response:
        principal(request)
        found = session(request)
        try:
            try:
                response = await handler(request)
            except errors.AccountingError:
                if found is not None and not found.checked:
                    await deps(request).db.check(found)  # an ended session answers 401 first
                raise
            if found is not None and not found.checked:
                await deps(request).db.check(found)
        except errors.SessionEnded:
            assert found is not None
            kind = security.Kind.TOKEN_ENDED
            ended = security.NewEvent(kind, found.organization_id, found.user_id, origin(request))
            await security_service.record(deps(request).db, ended)
            raise
        return response

    guarded.__name__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    return guarded


def request_id(request: Request) -> str | None:
    value = request.scope.get("state", {}).get("request_id")
    return str(value) if value else None


def origin(request: Request) -> security.Origin:
    """Where the request came from, for its security events."""
    address = request.scope.get("state", {}).get("client_ip")
    return security.Origin(str(address) if address else None, request_id(request))


def _param(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _validation_error(exc: pydantic.ValidationError, where: str) -> errors.ValidationFailed:
    problems = [
        {"param": _param(e["loc"]), "message": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]
    first = problems[0]
    detail = f"{first['param'] or where}: {first['message']}"
    if len(problems) > 1:
        detail += f" (and {len(problems) - 1} more)"
    failure = errors.ValidationFailed(detail, param=first["param"] or None)
    failure.extra = {"errors": problems}
    return failure


async def body(request: Request, model: type[M], *, optional: bool = False) -> M:
    raw = request.scope.get("state", {}).get("body")
    if raw is None:
        raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if raw.strip() and content_type != "application/json":
        raise errors.UnsupportedMediaType(
            f"request bodies must be application/json, not {content_type}"
            if content_type
            else "a request body needs Content-Type: application/json"
        )
    if not raw.strip() and optional:
        raw = b"{}"
    try:
        return model.model_validate_json(raw)
    except pydantic.ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise errors.InvalidJson("the request body is not valid JSON") from None
        raise _validation_error(exc, "body") from None


def query(request: Request, model: type[M]) -> M:
    params: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in params:
            raise errors.ValidationFailed(f"query parameter {key} given twice", param=key)
        params[key] = value
    try:
        return model.model_validate(params)
    except pydantic.ValidationError as exc:
        raise _validation_error(exc, "query") from None


def page(found: Sequence[T], limit: int, convert: Callable[[T], pydantic.BaseModel]) -> Response:
    """A list response from `limit + 1` rows fetched: the extra row only says there is more."""
    body = {
        "object": "list",
        "data": [convert(item).model_dump(mode="json") for item in found[:limit]],
        "has_more": len(found) > limit,
    }
    return JSONResponse(body)


def json(model: pydantic.BaseModel, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


class SecretAnswer(Response):
    """A JSON answer holding a secret. Its copy kept for Idempotency-Key replays is sealed
    (routes/work.py); `public` is the same answer without the secret."""

    def __init__(self, model: pydantic.BaseModel, public: pydantic.BaseModel, status: int) -> None:
        super().__init__(model.model_dump_json(), status_code=status, media_type="application/json")
        self.public = public.model_dump_json().encode()


def today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()
