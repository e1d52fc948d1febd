"""Fixed-window rate limits in Redis, shared by every replica, read in one round trip
per request with the client address's block (http/blocking.py) and the organization's
calls per minute (services/responses.py): one script on one server; on a Redis Cluster
one call per slot, in parallel.

Ordinary traffic fails open when Redis cannot be reached (and /health says so);
the token endpoint falls back to an in-process limit, and the block and the
organization's calls to in-process counts, so they hold whatever happens to Redis.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accounting_api import metrics, redis_connection
from accounting_api.domain import errors, lockout, responses, security
from accounting_api.http import problems
from accounting_api.http.context import state
from accounting_api.services import lockout as lockout_service
from accounting_api.services import responses as responses_service
from accounting_api.services.ports import Store

log = logging.getLogger("accounting_api.ratelimit")

AUTH_PATHS = frozenset({"/v1/auth/token"})
EXEMPT_PATHS = frozenset({"/health", "/health/live", "/ready", "/metrics"})
ADDRESS_CHECKED = "address_checked"
"""The seconds left of the address's block (0.0: none), in the request state once the
rate limiter has read it in its round trip: http/blocking.py then neither reads it again
nor counts the block's own answer as a failed request."""
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    maximum: int
    window: int


@dataclass(frozen=True, slots=True)
class Verdict:
    limit: Limit
    count: int
    reset: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit.maximum - self.count)

    @property
    def allowed(self) -> bool:
        return self.count <= self.limit.maximum


def window_start(now: float, window: int) -> int:
    return int(now // window) * window


class LocalWindow:
    """An in-process fixed-window counter: the fallback when Redis is unreachable."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}

    def hit(self, key: str, limit: Limit, now: float) -> Verdict:
        start = window_start(now, limit.window)
        if len(self._counts) > 100_000:
            self._counts = {k: v for k, v in self._counts.items() if k[1] >= start}
        count = self._counts.get((key, start), 0) + 1
        self._counts[(key, start)] = count
        return Verdict(limit, count, start + limit.window - int(now))


# One round trip per request for everything it is checked against: the address's block
# (PTTL), the organization's calls per minute (a sliding log), then each fixed window
# (INCR, its expiry set when the window is new). A request refused by the block or the
# organization's limit counts against nothing else.
_GATE_SCRIPT = (
    responses_service.CALLS_FUNCTION
    + """
local n = tonumber(ARGV[1])
local k, out = n + 1, {-2, 0, 0, 0}
if ARGV[2] == '1' then
  out[1] = redis.call('PTTL', KEYS[k])
  k = k + 1
  if out[1] > 0 then return out end
end
if ARGV[3] == '1' then
  local a = n + 4
  local org = calls(KEYS[k], KEYS[k + 1], tonumber(ARGV[a]), tonumber(ARGV[a + 1]),
                    tonumber(ARGV[a + 2]), ARGV[a + 3])
  out[2], out[3], out[4] = org[1], org[2], org[3]
  if org[2] > 0 then return out end
end
for i = 1, n do
  local c = redis.call('INCR', KEYS[i])
  if c == 1 then redis.call('EXPIRE', KEYS[i], ARGV[i + 3]) end
  out[i + 4] = c
end
return out
"""
)
_HIT_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {n}
"""


@dataclass(frozen=True, slots=True)
class Passage:
    """What a request's checks found: seconds left of its address's block, its
    organization's call (None: not counted) and each window's verdict (none if refused)."""

    blocked: float = 0.0
    calls: responses.Calls | None = None
    verdicts: tuple[Verdict, ...] = ()


@dataclass(frozen=True, slots=True)
class Extra:
    """What a request is checked against besides the windows: its address's block key,
    the keys and arguments of its organization's call (services/responses.py)."""

    block: str | None = None
    org: tuple[list[str], list[int | str]] | None = None


class RateLimiter:
    def __init__(self, client: redis_connection.Client) -> None:
        self.client = client
        self.cluster = redis_connection.is_cluster(client)
        self.local = LocalWindow()
        self._gate = client.register_script(_GATE_SCRIPT)
        self._hit = client.register_script(_HIT_SCRIPT)
        self._calls = client.register_script(responses_service.CALLS_SCRIPT)

    async def hit(
        self, checks: list[tuple[str, Limit]], now: float, extra: Extra = Extra()
    ) -> Passage:
        starts = [window_start(now, limit.window) for _, limit in checks]
        keys = [
            f"rl:{limit.name}:{key}:{start}"
            for (key, limit), start in zip(checks, starts, strict=True)
        ]
        ttls: list[int | str] = [limit.window + 1 for _, limit in checks]
        if self.cluster:
            found = await self._on_cluster(keys, ttls, extra)
        else:
            org_keys, org_args = extra.org or ([], [])
            flags = [len(keys), int(extra.block is not None), int(extra.org is not None)]
            block = [extra.block] if extra.block is not None else []
            found = await self._gate(
                keys=[*keys, *block, *org_keys], args=[*flags, *ttls, *org_args]
            )
        calls = responses_service.counted_calls(found[1:4]) if extra.org else None
        verdicts = tuple(
            Verdict(limit, int(count), start + limit.window - int(now))
            for (_, limit), start, count in zip(checks, starts, found[4:], strict=False)
        )
        return Passage(max(int(found[0]), 0) / 1000, calls, verdicts)

    async def _on_cluster(self, keys: list[str], ttls: list[int | str], extra: Extra) -> list[int]:
        """The gate's answer from a Cluster, which refuses a script over keys in different
        slots (CROSSSLOT): one call per key (the organization's two share a slot), in
        parallel; a blocked or throttled request is then counted in the windows too."""
        block = self.client.pttl(extra.block) if extra.block is not None else _const(-2)
        org = self._calls(keys=extra.org[0], args=extra.org[1]) if extra.org else _const([0, 0, 0])
        hits = (self._hit(keys=[k], args=[t]) for k, t in zip(keys, ttls, strict=True))
        left, calls, *counts = await asyncio.gather(block, org, *hits)
        return [int(left), *calls, *(found[0] for found in counts)]


async def _const(value: T) -> T:
    return value


def blocked(scope: Scope, left: float) -> Response:
    """The answer to a request from a blocked address (http/blocking.py)."""
    metrics.RATE_LIMITED.labels("address_blocked").inc()
    retry = max(math.ceil(left), 1)
    refused = errors.RateLimited(
        f"too many failed requests from this address; retry in {retry} s", retry_after=retry
    )
    return problems.response(scope, refused)


def _headers(verdict: Verdict) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-limit", str(verdict.limit.maximum).encode()),
        (b"ratelimit-remaining", str(verdict.remaining).encode()),
        (b"ratelimit-reset", str(max(verdict.reset, 0)).encode()),
        (b"ratelimit-policy", f"{verdict.limit.maximum};w={verdict.limit.window}".encode()),
    ]


class RateLimitMiddleware:
    """The request's rate limits, and in the same round trip its address's block
    (http/blocking.py) and its organization's calls per minute (http/responses.py)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: RateLimiter,
        general: Limit,
        auth: Limit,
        guard: lockout_service.Guard,
        watch: responses_service.Watch,
        db: Store,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.general = general
        self.auth = auth
        self.auth_halved = Limit(auth.name, responses.halved(auth.maximum), auth.window)
        self.guard = guard
        self.watch = watch
        self.db = db

    def _checks(self, scope: Scope) -> tuple[list[tuple[str, Limit]], bool]:
        st = state(scope)
        checks = [(f"ip:{st['client_ip']}", self.general)]
        principal = st.get("principal")
        if principal is not None:
            checks.insert(0, (f"org:{principal.organization_id}", self.general))
        is_auth = scope["path"] in AUTH_PATHS
        if is_auth:
            auth = self.auth_halved if self.watch.halved else self.auth
            checks.append((f"ip:{st['client_ip']}", auth))
        return checks, is_auth

    def _extra(self, st: dict[str, Any], now: float) -> Extra:
        principal = st.get("principal")
        block = None
        if self.guard.rules.address_failures:  # SUSPICIOUS_IP_REQUESTS=0: off
            block = lockout.address_keys(st["client_ip"]).block
        if principal is None or not self.watch.thresholds.org_calls:
            return Extra(block)
        return Extra(block, self.watch.call_args(principal.organization_id, now))

    async def _passage(self, scope: Scope, is_auth: bool) -> Passage:
        st, now = state(scope), time.time()
        checks, extra = self._checks(scope)[0], self._extra(state(scope), now)
        try:
            return await self.limiter.hit(checks, now, extra)
        except redis_connection.FAILURES as exc:
            metrics.RATE_LIMIT_BACKEND_FAILURES.inc()
            metrics.error(metrics.ErrorType.REDIS, metrics.Severity.WARNING)
            log.warning("rate limit backend unavailable: %s", type(exc).__name__)
        # Without Redis: the block and the organization's calls from this process's
        # memory; ordinary windows fail open, the token endpoint's is kept in memory.
        blocked_for = await self.guard.address_held(st["client_ip"]) if extra.block else 0.0
        calls = await self.watch.call(st["principal"].organization_id) if extra.org else None
        if blocked_for > 0 or (calls is not None and not calls.allowed) or not is_auth:
            return Passage(blocked_for, calls)
        local = (
            self.limiter.local.hit(k, limit, now) for k, limit in checks if limit.name == "auth"
        )
        return Passage(blocked_for, calls, tuple(local))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        is_auth = scope["path"] in AUTH_PATHS
        passage = await self._passage(scope, is_auth)
        if self.guard.rules.address_failures:
            state(scope)[ADDRESS_CHECKED] = passage.blocked
        if passage.blocked > 0:
            await blocked(scope, passage.blocked)(scope, receive, send)
            return
        if passage.calls is not None and not passage.calls.allowed:
            await self._throttled(scope, passage.calls)(scope, receive, send)
            if passage.calls.first:
                await self._record_throttle(state(scope))
            return
        refused = [v for v in passage.verdicts if not v.allowed]
        if refused:
            await _refused(scope, max(refused, key=lambda v: v.reset))(scope, receive, send)
            return
        tightest = min(passage.verdicts, key=lambda v: v.remaining, default=None)

        async def send_with_headers(message: Message) -> None:
            if tightest is not None and message["type"] == "http.response.start":
                message.setdefault("headers", []).extend(_headers(tightest))
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _throttled(self, scope: Scope, calls: responses.Calls) -> Response:
        metrics.RATE_LIMITED.labels("organization").inc()
        retry = max(math.ceil(calls.retry_after), 1)
        refused = errors.OrganizationRateLimited(
            f"this organization made more than {self.watch.thresholds.org_calls} requests in"
            f" the last minute; retry in {retry} s",
            retry_after=retry,
        )
        return problems.response(scope, refused)

    async def _record_throttle(self, st: dict[str, Any]) -> None:
        """The organization's one security (and audit) event of the minute."""
        t, principal = self.watch.thresholds, st["principal"]
        detail = {"threshold": t.org_calls, "window_seconds": round(t.org_window)}
        origin = security.Origin(st.get("client_ip"), st.get("request_id"))
        org, user = principal.organization_id, principal.user_id
        event = security.NewEvent(security.Kind.THROTTLED, org, user, origin, detail)
        await responses_service.record(self.db, event, "throttled")


def _refused(scope: Scope, worst: Verdict) -> Response:
    metrics.RATE_LIMITED.labels(worst.limit.name).inc()
    exc = errors.RateLimited(
        f"too many requests: {worst.limit.maximum} per {worst.limit.window} s; "
        f"retry in {max(worst.reset, 1)} s",
        retry_after=max(math.ceil(worst.reset), 1),
    )
    response = problems.response(scope, exc)
    response.headers.update({k.decode(): v.decode() for k, v in _headers(worst)})
    return response
