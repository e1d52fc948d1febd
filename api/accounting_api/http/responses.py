"""Automatic security responses on the request path: an organization past its calls per
minute gets 429 `organization_rate_limited` (with Retry-After: when its oldest call of
the minute leaves the window), and the token endpoint's failed sign-ins (answered 401) are
counted across the platform, past a threshold halving that endpoint's rate limit
(http/ratelimit.py reads `Watch.halved`).

A failed sign-in is counted after its answer is sent, so a known and an unknown e-mail
are answered alike and as fast. A refused call is not counted again (an organization
that keeps calling is let in again as soon as its minute allows)."""

from __future__ import annotations

import math
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accounting_api import metrics
from accounting_api.domain import errors, responses, security
from accounting_api.domain.roles import Principal
from accounting_api.http import problems, ratelimit
from accounting_api.http.context import state
from accounting_api.services import responses as responses_service
from accounting_api.services.ports import Store


class SecurityResponseMiddleware:
    def __init__(self, app: ASGIApp, *, watch: responses_service.Watch, db: Store) -> None:
        self.app = app
        self.watch = watch
        self.db = db
        self.thresholds = watch.thresholds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in ratelimit.EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        st = state(scope)
        principal = st.get("principal")
        if principal is not None and self.thresholds.org_calls:
            calls = await self.watch.call(principal.organization_id)
            if not calls.allowed:
                await self._throttled(scope, principal, calls)(scope, receive, send)
                if calls.first:
                    await self._record_throttle(principal, _origin(st))
                return
        if scope["path"] not in ratelimit.AUTH_PATHS or not self.thresholds.platform_failed_signins:
            await self.app(scope, receive, send)
            return
        await self._platform(await self.watch.refresh(), _origin(st))
        status = 0

        async def send_seen(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, send_seen)
        if status == 401:
            await self._platform(await self.watch.sign_in_failed(), _origin(st))

    def _throttled(self, scope: Scope, principal: Principal, calls: responses.Calls) -> ASGIApp:
        metrics.RATE_LIMITED.labels("organization").inc()
        retry = max(math.ceil(calls.retry_after), 1)
        refused = errors.OrganizationRateLimited(
            f"this organization made more than {self.thresholds.org_calls} requests in the"
            f" last minute; retry in {retry} s",
            retry_after=retry,
        )
        return problems.response(scope, refused)

    async def _record_throttle(self, principal: Principal, origin: security.Origin) -> None:
        t = self.thresholds
        detail = {"threshold": t.org_calls, "window_seconds": round(t.org_window)}
        event = security.NewEvent(
            security.Kind.THROTTLED, principal.organization_id, principal.user_id, origin, detail
        )
        await self._record(event, "throttled")

    async def _platform(self, change: int, origin: security.Origin) -> None:
        """Record the platform's alarm going off (+1) or ending (-1): one event each."""
        if not change:
            return
        kind, verb = (
            (security.Kind.FAILED_SIGN_INS_HIGH, "halved")
            if change > 0
            else (security.Kind.FAILED_SIGN_INS_NORMAL, "restored")
        )
        t = self.thresholds
        window = round(t.platform_window)
        detail = {"threshold": t.platform_failed_signins, "window_seconds": window}
        await self._record(security.NewEvent(kind, None, None, origin, detail), verb)

    async def _record(self, event: security.NewEvent, verb: str) -> None:
        await responses_service.record(self.db, event, verb)


def _origin(st: dict[str, Any]) -> security.Origin:
    return security.Origin(st.get("client_ip"), st.get("request_id"))
