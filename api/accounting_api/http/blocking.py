"""Blocked client addresses: past SUSPICIOUS_IP_REQUESTS failed requests (401, 403, 429)
within the window, every request from the address gets 429 with Retry-After for a while,
but the operations endpoints (a load balancer's probes behind one address go on).

429 rather than 403, as Stripe and Cloudflare's rate limiting answer: the block is about
how the address behaved and ends by itself; Retry-After says when, and a client that
honours it stops. A blocked request is not counted again (the block would never end)."""

from __future__ import annotations

import logging
import math

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accounting_api import metrics
from accounting_api.domain import errors, lockout, security
from accounting_api.http import problems, ratelimit
from accounting_api.http.context import state
from accounting_api.services import lockout as lockout_service
from accounting_api.services import security as security_service
from accounting_api.services.ports import Store

log = logging.getLogger("accounting_api.lockout")


class AddressBlockMiddleware:
    def __init__(self, app: ASGIApp, *, guard: lockout_service.Guard, db: Store) -> None:
        self.app = app
        self.guard = guard
        self.db = db

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in ratelimit.EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        address = state(scope)["client_ip"]
        left = await self.guard.address_held(address)
        if left > 0:
            metrics.RATE_LIMITED.labels("address_blocked").inc()
            retry = max(math.ceil(left), 1)
            refused = errors.RateLimited(
                f"too many failed requests from this address; retry in {retry} s",
                retry_after=retry,
            )
            await problems.response(scope, refused)(scope, receive, send)
            return
        status = 0

        async def send_seen(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, send_seen)
        if lockout.failed_request(status, state(scope).get("error_code")):
            await self._failed(address, state(scope).get("request_id"))

    async def _failed(self, address: str, request_id: str | None) -> None:
        seconds = await self.guard.address_failed(address)
        if seconds:
            origin = security.Origin(address, request_id)
            threshold = self.guard.rules.address_failures
            detail = {"seconds": round(seconds), "threshold": threshold}
            event = security.NewEvent(security.Kind.ADDRESS_BLOCKED, None, None, origin, detail)
            try:
                await security_service.record(self.db, event)
            except errors.AccountingError as exc:  # answered already; the block holds
                log.warning("address block not recorded: %s", exc.code)
