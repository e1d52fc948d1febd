"""Fixed-window rate limits in Redis, shared by every replica.

Ordinary traffic fails open when Redis cannot be reached (and /health says so);
the token endpoint falls back to an in-process limit, so password guessing stays
limited whatever happens to Redis.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accounting_api import metrics, redis_connection
from accounting_api.domain import errors, responses
from accounting_api.http import problems
from accounting_api.http.context import state

log = logging.getLogger("accounting_api.ratelimit")

AUTH_PATHS = frozenset({"/v1/auth/token"})
EXEMPT_PATHS = frozenset({"/health", "/health/live", "/ready", "/metrics"})


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


# One round trip for every window a request counts against: INCR each key and set
# its expiry when the window is new. KEYS are the window keys, ARGV their TTLs.
_HIT_SCRIPT = """
local counts = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('EXPIRE', key, ARGV[i]) end
  counts[i] = n
end
return counts
"""


class RateLimiter:
    def __init__(self, client: redis_connection.Client) -> None:
        self.client = client
        self.cluster = redis_connection.is_cluster(client)
        self.local = LocalWindow()
        self._hit = client.register_script(_HIT_SCRIPT)

    async def hit(self, checks: list[tuple[str, Limit]], now: float) -> list[Verdict]:
        starts = [window_start(now, limit.window) for _, limit in checks]
        keys = [
            f"rl:{limit.name}:{key}:{start}"
            for (key, limit), start in zip(checks, starts, strict=True)
        ]
        ttls = [limit.window + 1 for _, limit in checks]
        if self.cluster:
            # A Cluster refuses a script over keys in different slots (CROSSSLOT): one
            # call per key, in parallel.
            calls = (self._hit(keys=[k], args=[t]) for k, t in zip(keys, ttls, strict=True))
            counts = [found[0] for found in await asyncio.gather(*calls)]
        else:
            counts = await self._hit(keys=keys, args=ttls)
        return [
            Verdict(limit, int(count), start + limit.window - int(now))
            for (_, limit), start, count in zip(checks, starts, counts, strict=True)
        ]


def _headers(verdict: Verdict) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-limit", str(verdict.limit.maximum).encode()),
        (b"ratelimit-remaining", str(verdict.remaining).encode()),
        (b"ratelimit-reset", str(max(verdict.reset, 0)).encode()),
        (b"ratelimit-policy", f"{verdict.limit.maximum};w={verdict.limit.window}".encode()),
    ]


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: RateLimiter,
        general: Limit,
        auth: Limit,
        halved: Callable[[], bool] = lambda: False,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.general = general
        self.auth = auth
        self.halved = halved
        """Whether the token endpoint's limit is halved now (http/responses.py)."""
        self.auth_halved = Limit(auth.name, responses.halved(auth.maximum), auth.window)

    def _checks(self, scope: Scope) -> tuple[list[tuple[str, Limit]], bool]:
        st = state(scope)
        checks = [(f"ip:{st['client_ip']}", self.general)]
        principal = st.get("principal")
        if principal is not None:
            checks.insert(0, (f"org:{principal.organization_id}", self.general))
        is_auth = scope["path"] in AUTH_PATHS
        if is_auth:
            auth = self.auth_halved if self.halved() else self.auth
            checks.append((f"ip:{st['client_ip']}", auth))
        return checks, is_auth

    async def _verdicts(self, checks: list[tuple[str, Limit]], is_auth: bool) -> list[Verdict]:
        now = time.time()
        try:
            return await self.limiter.hit(checks, now)
        except (RedisError, OSError, TimeoutError) as exc:
            metrics.RATE_LIMIT_BACKEND_FAILURES.inc()
            log.warning("rate limit backend unavailable: %s", type(exc).__name__)
            if not is_auth:
                return []
            return [
                self.limiter.local.hit(key, limit, now)
                for key, limit in checks
                if limit.name == self.auth.name
            ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        checks, is_auth = self._checks(scope)
        verdicts = await self._verdicts(checks, is_auth)
        refused = [v for v in verdicts if not v.allowed]
        if refused:
            worst = max(refused, key=lambda v: v.reset)
            metrics.RATE_LIMITED.labels(worst.limit.name).inc()
            exc = errors.RateLimited(
                f"too many requests: {worst.limit.maximum} per {worst.limit.window} s; "
                f"retry in {max(worst.reset, 1)} s",
                retry_after=max(math.ceil(worst.reset), 1),
            )
            response = problems.response(scope, exc)
            response.headers.update({k.decode(): v.decode() for k, v in _headers(worst)})
            await response(scope, receive, send)
            return
        tightest = min(verdicts, key=lambda v: v.remaining, default=None)

        async def send_with_headers(message: Message) -> None:
            if tightest is not None and message["type"] == "http.response.start":
                message.setdefault("headers", []).extend(_headers(tightest))
            await send(message)

        await self.app(scope, receive, send_with_headers)
