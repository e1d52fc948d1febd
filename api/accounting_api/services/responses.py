"""Automatic security responses: the platform's failed sign-ins, each organization's calls
per minute and export bytes per hour, counted in sliding windows in Redis (shared by every
replica), with an in-process fallback so the responses hold whatever happens to Redis
(each replica then counts alone).

A count is a sorted set of times (score: milliseconds), trimmed to the window on each
call: exact at the boundaries a fixed window gets wrong. The keys of one check share a
hash tag (domain/responses.py), so each call is one command on a Redis Cluster too. The
mark that makes a response's security event once per window is a key set NX in the same
command, so two replicas never both record it."""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol, TypeVar

from accounting_api import metrics, redis_connection
from accounting_api.domain import audit, errors, responses, security
from accounting_api.domain.roles import Principal
from accounting_api.services import audit as audit_service
from accounting_api.services import security as security_service
from accounting_api.services.ports import Store

log = logging.getLogger("accounting_api.responses")

T = TypeVar("T")


class Backend(Protocol):
    async def calls(
        self, keys: responses.OrgKeys, now: float, window: float, limit: int, member: str
    ) -> responses.Calls:
        """Count a call unless `limit` calls are in the window already (then refuse it)."""

    async def exported(
        self,
        keys: responses.OrgKeys,
        now: float,
        window: float,
        limit: int,
        *,
        size: int,
        member: str,
    ) -> responses.Exported:
        """Add `size` bytes (0: only read) and say the window's total."""

    async def failures(self, now: float, window: float, limit: int, member: str) -> tuple[int, int]:
        """Add a platform failure (member '': only read); the count, and +1 if it has just
        gone past `limit`, -1 if it has just fallen back, 0 otherwise."""


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 1)


CALLS_FUNCTION = """
local function calls(log, mark, now, window, limit, member)
  redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window)
  local n = redis.call('ZCARD', log)
  if n < limit then
    redis.call('ZADD', log, now, member)
    redis.call('PEXPIRE', log, window)
    return {n + 1, 0, 0}
  end
  local oldest = tonumber(redis.call('ZRANGE', log, 0, 0, 'WITHSCORES')[2])
  local first = redis.call('SET', mark, '1', 'NX', 'PX', window) and 1 or 0
  return {n + 1, math.max(oldest + window - now, 1), first}
end
"""
"""An organization's call counted (or refused past `limit`); the rate limiter's script of
each request holds it too (http/ratelimit.py: one round trip per request)."""

CALLS_SCRIPT = (
    CALLS_FUNCTION
    + "return calls(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),"
    " ARGV[4])"
)

_EXPORTED_SCRIPT = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local size = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if size > 0 then
  redis.call('ZADD', KEYS[1], now, ARGV[4] .. ':' .. ARGV[5])
  redis.call('PEXPIRE', KEYS[1], window)
end
local total = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  total = total + tonumber(string.match(member, '^(%d+):'))
end
local first = 0
if size > 0 and total > limit and redis.call('SET', KEYS[2], '1', 'NX', 'PX', window) then
  first = 1
end
return {total, first}
"""

_FAILURES_SCRIPT = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window)
end
local n = redis.call('ZCARD', KEYS[1])
if n > limit then
  if redis.call('SET', KEYS[2], '1', 'NX') then return {n, 1} end
elseif redis.call('DEL', KEYS[2]) == 1 then
  return {n, -1}
end
return {n, 0}
"""


class RedisBackend:
    def __init__(self, client: redis_connection.Client) -> None:
        self._calls = client.register_script(CALLS_SCRIPT)
        self._exported = client.register_script(_EXPORTED_SCRIPT)
        self._failures = client.register_script(_FAILURES_SCRIPT)

    async def calls(
        self, keys: responses.OrgKeys, now: float, window: float, limit: int, member: str
    ) -> responses.Calls:
        args: list[int | str] = [_ms(now), _ms(window), limit, member]
        return counted_calls(await self._calls(keys=[keys.calls, keys.throttled], args=args))

    async def exported(
        self,
        keys: responses.OrgKeys,
        now: float,
        window: float,
        limit: int,
        *,
        size: int,
        member: str,
    ) -> responses.Exported:
        args: list[int | str] = [_ms(now), _ms(window), limit, size, member]
        found = await self._exported(keys=[keys.exports, keys.exfiltration], args=args)
        return responses.Exported(int(found[0]), bool(found[1]))

    async def failures(self, now: float, window: float, limit: int, member: str) -> tuple[int, int]:
        keys = [responses.PLATFORM_FAILURES, responses.PLATFORM_ALARM]
        count, change = await self._failures(keys=keys, args=[_ms(now), _ms(window), limit, member])
        return int(count), int(change)


def counted_calls(found: list[int]) -> responses.Calls:
    """The answer of CALLS_FUNCTION."""
    count, retry_ms, first = found
    return responses.Calls(int(count), int(retry_ms) / 1000, bool(first))


_LOCAL_MAX_KEYS = 100_000


class LocalBackend:
    """The same counts in this process's memory: the fallback while Redis is away."""

    def __init__(self) -> None:
        self._logs: dict[str, list[tuple[float, int]]] = {}
        self._marks: dict[str, float] = {}

    def _log(self, key: str, now: float, window: float) -> list[tuple[float, int]]:
        if len(self._logs) > _LOCAL_MAX_KEYS:
            self._logs = {k: v for k, v in self._logs.items() if v and v[-1][0] > now - window}
        kept = [item for item in self._logs.get(key, []) if item[0] > now - window]
        self._logs[key] = kept
        return kept

    def _mark(self, key: str, now: float, ttl: float) -> bool:
        """Set the mark unless it is set: whether this call set it."""
        if self._marks.get(key, 0.0) > now:
            return False
        self._marks[key] = now + ttl
        return True

    async def calls(
        self, keys: responses.OrgKeys, now: float, window: float, limit: int, member: str
    ) -> responses.Calls:
        log_ = self._log(keys.calls, now, window)
        if len(log_) < limit:
            log_.append((now, 1))
            return responses.Calls(len(log_))
        retry = log_[0][0] + window - now
        return responses.Calls(len(log_) + 1, retry, self._mark(keys.throttled, now, window))

    async def exported(
        self,
        keys: responses.OrgKeys,
        now: float,
        window: float,
        limit: int,
        *,
        size: int,
        member: str,
    ) -> responses.Exported:
        log_ = self._log(keys.exports, now, window)
        if size > 0:
            log_.append((now, size))
        total = sum(size for _, size in log_)
        first = size > 0 and total > limit and self._mark(keys.exfiltration, now, window)
        return responses.Exported(total, first)

    async def failures(self, now: float, window: float, limit: int, member: str) -> tuple[int, int]:
        log_ = self._log(responses.PLATFORM_FAILURES, now, window)
        if member:
            log_.append((now, 1))
        over, was = len(log_) > limit, responses.PLATFORM_ALARM in self._marks
        if over != was:
            if over:
                self._marks[responses.PLATFORM_ALARM] = float("inf")
            else:
                del self._marks[responses.PLATFORM_ALARM]
            return len(log_), 1 if over else -1
        return len(log_), 0


_REFRESH_SECONDS = 1.0
"""How often a process reads the platform's count when it sees no failure itself: another
replica's failures halve (or restore) this one's token limit within this long."""


class Watch:
    """The counts of the automatic responses, in Redis or, for each call Redis does not
    answer, in this process's memory."""

    def __init__(
        self, remote: Backend, thresholds: responses.Thresholds, local: Backend | None = None
    ) -> None:
        self.remote = remote
        self.local = local or LocalBackend()
        self.thresholds = thresholds
        self.halved = False
        """Whether the token endpoint's limit is halved (the platform count, last seen)."""
        self._checked = 0.0
        self._members = itertools.count()
        self._prefix = secrets.token_hex(6)

    def _member(self, now: float) -> str:
        return f"{_ms(now)}:{self._prefix}:{next(self._members)}"

    async def _run(self, call: Callable[[Backend], Awaitable[T]]) -> T:
        try:
            return await call(self.remote)
        except redis_connection.FAILURES as exc:
            metrics.RATE_LIMIT_BACKEND_FAILURES.inc()
            log.warning("security response counts fall back to memory: %s", type(exc).__name__)
            return await call(self.local)

    async def call(self, organization_id: str) -> responses.Calls:
        """Count one call of the organization (ORG_API_CALLS_PER_MINUTE)."""
        t, now = self.thresholds, time.time()
        keys, member = responses.org_keys(organization_id), self._member(now)
        return await self._run(lambda b: b.calls(keys, now, t.org_window, t.org_calls, member))

    def call_args(self, organization_id: str, now: float) -> tuple[list[str], list[int | str]]:
        """The keys and arguments of CALLS_FUNCTION for one call of the organization."""
        keys, t = responses.org_keys(organization_id), self.thresholds
        member = self._member(now)
        return [keys.calls, keys.throttled], [_ms(now), _ms(t.org_window), t.org_calls, member]

    async def exported(self, organization_id: str, size: int) -> responses.Exported:
        """Add `size` bytes to the organization's exports of the hour (0: only read them)."""
        t, now = self.thresholds, time.time()
        keys, member = responses.org_keys(organization_id), self._member(now)
        return await self._run(
            lambda b: b.exported(
                keys, now, t.export_window, t.export_bytes, size=size, member=member
            )
        )

    async def sign_in_failed(self) -> int:
        """Count a failed sign-in of the platform: +1 if it set the alarm off, else 0."""
        return await self._platform(self._member(time.time()))

    async def refresh(self) -> int:
        """Read the platform's count at most once a second: +1 alarm set off, -1 ended."""
        if time.monotonic() - self._checked < _REFRESH_SECONDS:
            return 0
        return await self._platform("")

    async def _platform(self, member: str) -> int:
        t, now = self.thresholds, time.time()
        self._checked = time.monotonic()
        count, change = await self._run(
            lambda b: b.failures(now, t.platform_window, t.platform_failed_signins, member)
        )
        self.halved = count > t.platform_failed_signins
        metrics.PLATFORM_FAILED_SIGN_INS.set(count)
        metrics.PLATFORM_FAILED_SIGN_INS_ALARM.set(1 if self.halved else 0)
        return change


async def record(db: Store, event: security.NewEvent, verb: str) -> None:
    """A response's security event and, for an organization's, its audit event (object
    `organization`, action `organization.<verb>`), in one transaction of their own; a
    failure to record is logged, and the response holds."""
    metrics.SECURITY_RESPONSES.labels(event.kind.value).inc()
    try:
        await _record(db, event, verb)
    except errors.AccountingError as exc:  # the response holds, recorded or not
        log.warning("security response not recorded: %s", exc.code)


async def _record(db: Store, event: security.NewEvent, verb: str) -> None:
    if event.organization_id is None:
        await security_service.record(db, event)
        return
    async with db.unit_of_work(event.organization_id) as unit:
        await security_service.record(unit, event)
        state = {"id": event.organization_id, **event.detail}
        change = audit.changed("organization", verb, state, object_id=event.organization_id)
        await audit_service.record(
            unit,
            organization_id=event.organization_id,
            actor_user_id=event.user_id,
            request_id=event.origin.request_id,
            changes=[change],
        )


_FLUSH_BYTES = 1_000_000
"""An export's bytes are counted each megabyte and at its end: a client that stops reading
midway has still counted what it was sent."""


async def export(
    watch: Watch,
    db: Store,
    principal: Principal,
    chunks: AsyncIterator[str],
    origin: security.Origin,
) -> AsyncIterator[str]:
    """An export's chunks, counted towards the organization's bytes of the hour; refused
    (ReauthenticationRequired) past the threshold unless the caller's token is recent."""
    t = watch.thresholds
    if not t.export_bytes:
        return chunks
    total = (await watch.exported(principal.organization_id, 0)).total
    responses.check_step_up(t, total, principal.issued_at, time.time())
    return _counted(watch, db, principal, chunks, origin)


async def _counted(
    watch: Watch,
    db: Store,
    principal: Principal,
    chunks: AsyncIterator[str],
    origin: security.Origin,
) -> AsyncIterator[str]:
    pending = 0
    async for chunk in chunks:
        yield chunk
        pending += len(chunk.encode())
        if pending >= _FLUSH_BYTES:
            await _exported(watch, db, principal, pending, origin)
            pending = 0
    if pending:
        await _exported(watch, db, principal, pending, origin)


async def _exported(
    watch: Watch, db: Store, principal: Principal, size: int, origin: security.Origin
) -> None:
    found = await watch.exported(principal.organization_id, size)
    if not found.first:
        return
    t = watch.thresholds
    detail = {
        "bytes": found.total,
        "threshold": t.export_bytes,
        "window_seconds": round(t.export_window),
    }
    kind = security.Kind.DATA_EXFILTRATION
    await record(
        db,
        security.NewEvent(kind, principal.organization_id, principal.user_id, origin, detail),
        "data_exfiltration",
    )
