"""Blocked client addresses: past SUSPICIOUS_IP_REQUESTS failed requests (401, 403, 429)
within the window, every request from the address gets 429 with Retry-After for a while,
but the operations endpoints (a load balancer's probes behind one address go on).

The block is read in the rate limiter's round trip (http/ratelimit.py: one Redis call per
request); an answer given before that (a token refused at once) reads it here instead.

429 rather than 403, as Stripe and Cloudflare's rate limiting answer: the block is about
how the address behaved and ends by itself; Retry-After says when, and a client that
honours it stops. A blocked request is not counted again (the block would never end)."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accounting_api.domain import errors, lockout, security
from accounting_api.http import ratelimit
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
        watched = self.guard.rules.address_failures > 0  # SUSPICIOUS_IP_REQUESTS=0: off
        if scope["type"] != "http" or scope["path"] in ratelimit.EXEMPT_PATHS or not watched:
            await self.app(scope, receive, send)
            return
        st = state(scope)
        status, refused = 0, False

        async def send_seen(message: Message) -> None:
            """Pass the answer on; but an answer given before the rate limiter read the
            block (a token refused at once) is replaced by the block's."""
            nonlocal status, refused
            if refused:
                return
            checked = st.get(ratelimit.ADDRESS_CHECKED)
            if message["type"] == "http.response.start" and checked is None:
                left = await self.guard.address_held(st["client_ip"])
                if left > 0:
                    refused = True
                    await ratelimit.blocked(scope, left)(scope, receive, send)
                    return
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, send_seen)
        failed = lockout.failed_request(status, st.get("error_code"))
        if failed and not st.get(ratelimit.ADDRESS_CHECKED):
            await self._failed(st["client_ip"], st.get("request_id"))

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
