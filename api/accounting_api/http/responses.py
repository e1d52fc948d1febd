"""Automatic security responses on the token endpoint: its failed sign-ins (answered 401)
are counted across the platform, and past a threshold its rate limit is halved
(http/ratelimit.py reads `Watch.halved`, which this layer keeps current: at each failure,
and at most once a second from the shared count). The organization's calls per minute are
checked in the rate limiter's round trip (http/ratelimit.py).

A failed sign-in is counted after its answer is sent, so a known and an unknown e-mail
are answered alike and as fast."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accounting_api.domain import security
from accounting_api.http import ratelimit
from accounting_api.http.context import state
from accounting_api.services import responses as responses_service
from accounting_api.services.ports import Store


class FailedSignInMiddleware:
    def __init__(self, app: ASGIApp, *, watch: responses_service.Watch, db: Store) -> None:
        self.app = app
        self.watch = watch
        self.db = db
        self.thresholds = watch.thresholds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watched = self.thresholds.platform_failed_signins > 0
        if scope["type"] != "http" or scope["path"] not in ratelimit.AUTH_PATHS or not watched:
            await self.app(scope, receive, send)
            return
        origin = _origin(state(scope))
        await self._platform(await self.watch.refresh(), origin)
        status = 0

        async def send_seen(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, send_seen)
        if status == 401:
            await self._platform(await self.watch.sign_in_failed(), origin)

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
        event = security.NewEvent(kind, None, None, origin, detail)
        await responses_service.record(self.db, event, verb)


def _origin(st: dict[str, Any]) -> security.Origin:
    return security.Origin(st.get("client_ip"), st.get("request_id"))
