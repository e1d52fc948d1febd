"""A write request's one unit of work, opened and closed by the route table.

In this order: the caller's role checked against the endpoint's (before anything is
read or replayed), the endpoint's `prepare` (work that must hold no connection), then in
one transaction: BEGIN with the tenant set, the Idempotency-Key claimed (an answer stored
under it for this caller is replayed), the use case, its audit events, the answer stored
under the key, COMMIT. The use case gets the unit of work as its `Transactions`
(support.db) and runs in that one transaction: no second transaction, no hidden
savepoint. An error answer rolls everything back; with an
Idempotency-Key the use case runs in the one explicit savepoint, so that its error answer
is stored (and replayed) while its effects are undone. What a refusal must leave behind
(a failed attempt's security event) the use case keeps (Unit.keep): written once the
transaction has ended, committed or rolled back, in one of its own on the same
connection. A request holds one pool connection, never waits for a second.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from accounting_api.domain import errors
from accounting_api.domain.roles import Role
from accounting_api.http import idempotency, problems
from accounting_api.routes import support
from accounting_api.routes.openapi import Endpoint
from accounting_api.routes.support import Handler
from accounting_api.services import audit as audit_service
from accounting_api.services import idempotency as idempotency_service
from accounting_api.services.ports import Unit

WRITES = frozenset({"POST", "PATCH", "DELETE"})


def handler(endpoint: Endpoint) -> Handler:
    """The endpoint's handler, in a unit of work if it writes (and does not run its own
    transactions), after its role check."""
    in_unit = endpoint.method in WRITES and not endpoint.own_transactions
    if endpoint.prepare is not None and not in_unit:
        raise ValueError(
            f"{endpoint.method} {endpoint.path}: `prepare` runs before a unit of work,"
            " and this endpoint has none"
        )
    handle = _in_unit_of_work(endpoint) if in_unit else endpoint.handler
    if endpoint.role is not None:
        handle = _authorized(endpoint.role, handle)
    if endpoint.auth and not endpoint.enrolment:
        handle = _full_token(handle)
    return support.authenticated(handle) if endpoint.auth else handle


def _full_token(handle: Handler) -> Handler:
    """Refuse a token restricted to two-factor enrolment (its owner or admin must enrol
    first: docs/two-factor.md) before anything is read, run or replayed."""

    async def full_token(request: Request) -> Response:
        if support.principal(request).enrolment_only:
            raise errors.TwoFactorEnrolmentRequired(
                "your organization requires two-factor sign-in of owners and admins: enrol"
                " (POST /v1/users/me/two-factor), confirm, then sign in again"
            )
        return await handle(request)

    full_token.__name__ = handle.__name__
    full_token.__doc__ = handle.__doc__
    return full_token


def _authorized(role: Role, handle: Handler) -> Handler:
    """Refuse a caller below `role` before anything is read, run or replayed."""

    async def authorized(request: Request) -> Response:
        support.principal(request).require(role)
        return await handle(request)

    authorized.__name__ = handle.__name__
    authorized.__doc__ = handle.__doc__
    return authorized


class _Refused(Exception):
    """A handler's non-2xx answer, leaving the savepoint so that its effects are undone."""

    def __init__(self, response: Response) -> None:
        self.response = response


def _in_unit_of_work(endpoint: Endpoint) -> Handler:
    async def in_unit_of_work(request: Request) -> Response:
        caller = request.scope.get("state", {}).get("principal")
        key = idempotency.key_of(request.scope) if endpoint.idempotent else None
        org = caller.organization_id if caller else None
        session = support.session(request)
        if endpoint.prepare is not None:
            await endpoint.prepare(request)
        async with support.deps(request).db.unit_of_work(org, session=session) as unit:
            unit.actor = caller.user_id if caller else None
            with support.bound(request, unit):
                if key is None:
                    response = await endpoint.handler(request)
                    if not 200 <= response.status_code < 300:
                        unit.fail()  # an error answer never leaves part of its work behind
                    else:
                        await _record_audit(request, unit)
                else:
                    response = await _idempotent(request, endpoint, unit, key)
        return response

    in_unit_of_work.__name__ = endpoint.handler.__name__
    in_unit_of_work.__doc__ = endpoint.handler.__doc__
    return in_unit_of_work


async def _idempotent(request: Request, endpoint: Endpoint, unit: Unit, key: str) -> Response:
    caller = request.scope.get("state", {}).get("principal")
    scope = caller.user_id if caller else f"ip:{request.scope['state']['client_ip']}"
    digest = idempotency.request_hash(request.scope, await request.body())
    deps = support.deps(request)
    ttl = deps.settings.idempotency_ttl_seconds
    found = await idempotency_service.claim(
        unit, scope=scope, key=key, request_hash=digest, ttl_seconds=ttl, keys=deps.keys
    )
    if found is not None:
        return idempotency.replay(found.status_code, found.body)
    try:
        async with unit.savepoint():
            response = await endpoint.handler(request)
            if not 200 <= response.status_code < 300:
                raise _Refused(response)
    except errors.AccountingError as exc:
        response = problems.response(request.scope, exc, **exc.extra)
    except _Refused as refused:
        response = refused.response
    if 200 <= response.status_code < 300:
        await _record_audit(request, unit)
    if idempotency.stored(response.status_code, request.scope):
        # An answer holding a secret says so by its type; its stored copy is sealed.
        public = response.public if isinstance(response, support.SecretAnswer) else None
        answer = idempotency_service.Stored(response.status_code, bytes(response.body), public)
        await idempotency_service.store(
            unit,
            scope=scope,
            key=key,
            organization_id=caller.organization_id if caller else None,
            request_hash=digest,
            answer=answer,
            keys=deps.keys,
        )
    return response


async def _record_audit(request: Request, unit: Unit) -> None:
    """Record what the use cases said they changed as audit events, last in the unit of
    work of a write that answered 2xx (in COMMIT's round trip: services.audit.record)."""
    principal = request.scope.get("state", {}).get("principal")
    org = principal.organization_id if principal is not None else unit.tenant
    if not unit.changes or org is None:
        return
    await audit_service.record(
        unit,
        organization_id=org,
        actor_user_id=unit.actor,
        request_id=support.request_id(request),
        changes=unit.changes,
        at_commit=True,
    )
