"""Brute-force defence: sliding-window failure counts, blocks and locks, in Redis (shared
by every replica) with an in-process fallback, so guessing stays limited whatever
happens to Redis (each replica then counts alone).

A count is a sorted set of failure times (score: milliseconds), trimmed to the window
on each failure: a sliding-window log, exact at the boundaries a fixed window gets
wrong. A block or lock is a key whose time to live is what is left of it. The keys of
one check share a hash tag (domain/lockout.py), so each call is one command on a Redis
Cluster too."""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from accounting_api import metrics, redis_connection
from accounting_api.domain import errors, lockout

log = logging.getLogger("accounting_api.lockout")

T = TypeVar("T")


class Backend(Protocol):
    async def count(self, keys: list[str], now: float, window: float) -> list[int]:
        """Add a failure at `now` to each log and say how many each holds in the window."""

    async def strike(self, key: str, now: float, ttl: float) -> int:
        """One more block of a pair within `ttl` seconds of its last: how many now."""

    async def hold(self, key: str, now: float, seconds: float, forget: str) -> None:
        """Block or lock for `seconds`, and forget the failure log `forget` at once: the
        count starts again from zero once the block ends."""

    async def left(self, keys: list[str], now: float) -> list[float]:
        """Seconds left of each block or lock (0 if none)."""

    async def clear(self, keys: list[str]) -> None: ...


_COUNT_SCRIPT = """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local counts = {}
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  redis.call('PEXPIRE', key, window)
  counts[i] = redis.call('ZCARD', key)
end
return counts
"""

_STRIKE_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return n
"""

_HOLD_SCRIPT = """
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
redis.call('DEL', KEYS[2])
"""

_LEFT_SCRIPT = """
local left = {}
for i, key in ipairs(KEYS) do left[i] = redis.call('PTTL', key) end
return left
"""


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 1)


class RedisBackend:
    def __init__(self, client: redis_connection.Client) -> None:
        self.client = client
        self._count = client.register_script(_COUNT_SCRIPT)
        self._strike = client.register_script(_STRIKE_SCRIPT)
        self._hold = client.register_script(_HOLD_SCRIPT)
        self._left = client.register_script(_LEFT_SCRIPT)

    async def count(self, keys: list[str], now: float, window: float) -> list[int]:
        member = f"{_ms(now)}:{secrets.token_hex(6)}"
        found = await self._count(keys=keys, args=[_ms(now), _ms(window), member])
        return [int(n) for n in found]

    async def strike(self, key: str, now: float, ttl: float) -> int:
        return int(await self._strike(keys=[key], args=[_ms(ttl)]))

    async def hold(self, key: str, now: float, seconds: float, forget: str) -> None:
        await self._hold(keys=[key, forget], args=[_ms(seconds)])

    async def left(self, keys: list[str], now: float) -> list[float]:
        found = await self._left(keys=keys, args=[])
        return [max(int(ms), 0) / 1000 for ms in found]

    async def clear(self, keys: list[str]) -> None:
        await self.client.delete(*keys)


_LOCAL_MAX_KEYS = 100_000


class LocalBackend:
    """The same counts in this process's memory: the fallback while Redis is away."""

    def __init__(self) -> None:
        self._logs: dict[str, list[float]] = {}
        self._until: dict[str, float] = {}
        self._strikes: dict[str, tuple[int, float]] = {}

    async def count(self, keys: list[str], now: float, window: float) -> list[int]:
        if len(self._logs) > _LOCAL_MAX_KEYS:
            self._logs = {k: v for k, v in self._logs.items() if v and v[-1] > now - window}
        counts = []
        for key in keys:
            kept = [t for t in self._logs.get(key, []) if t > now - window] + [now]
            self._logs[key] = kept
            counts.append(len(kept))
        return counts

    async def strike(self, key: str, now: float, ttl: float) -> int:
        strikes, until = self._strikes.get(key, (0, now))
        count = strikes + 1 if until > now else 1
        self._strikes[key] = (count, now + ttl)
        return count

    async def hold(self, key: str, now: float, seconds: float, forget: str) -> None:
        if len(self._until) > _LOCAL_MAX_KEYS:
            self._until = {k: v for k, v in self._until.items() if v > now}
        self._until[key] = now + seconds
        self._logs.pop(forget, None)

    async def left(self, keys: list[str], now: float) -> list[float]:
        return [max(self._until.get(key, now) - now, 0.0) for key in keys]

    async def clear(self, keys: list[str]) -> None:
        for key in keys:
            self._logs.pop(key, None)
            self._until.pop(key, None)


class Counts:
    """Redis, or this process's memory for each call Redis does not answer."""

    def __init__(self, remote: Backend, local: Backend | None = None) -> None:
        self.remote = remote
        self.local = local or LocalBackend()

    async def run(self, call: Callable[[Backend], Awaitable[T]]) -> T:
        try:
            return await call(self.remote)
        except redis_connection.FAILURES as exc:
            metrics.RATE_LIMIT_BACKEND_FAILURES.inc()
            metrics.error(metrics.ErrorType.REDIS, metrics.Severity.WARNING)
            log.warning("brute-force counts fall back to memory: %s", type(exc).__name__)
            return await call(self.local)


class Guard:
    """The brute-force rules applied to sign-ins and to failed requests of an address."""

    def __init__(self, counts: Counts, rules: lockout.Rules) -> None:
        self.counts = counts
        self.rules = rules

    async def held(self, email: str, client_ip: str) -> lockout.Held:
        keys = lockout.account_keys(email, client_ip)
        now = time.time()
        blocked, locked = await self.counts.run(lambda b: b.left([keys.pair_block, keys.lock], now))
        return lockout.Held(blocked, locked)

    async def failed(self, email: str, client_ip: str) -> lockout.Response:
        """Count a failed sign-in; block the pair or lock the account past a threshold."""
        keys, rules, now = lockout.account_keys(email, client_ip), self.rules, time.time()
        logs = [keys.pair_failures, keys.account_failures]
        pair, account = await self.counts.run(lambda b: b.count(logs, now, rules.window))
        block, lock = lockout.failure_counts_past(rules, pair, account)
        response = lockout.Response()
        if block:
            strikes = await self.counts.run(lambda b: b.strike(keys.strikes, now, rules.recidive))
            seconds = lockout.block_seconds(rules, strikes)
            await self.counts.run(
                lambda b: b.hold(keys.pair_block, now, seconds, keys.pair_failures)
            )
            response = lockout.Response(seconds, strikes)
        if lock:
            await self.counts.run(
                lambda b: b.hold(keys.lock, now, rules.lock, keys.account_failures)
            )
            response = lockout.Response(response.blocked, response.strikes, rules.lock)
        return response

    async def succeeded(self, email: str, client_ip: str) -> None:
        """Forget this address's failures for the account, and only those: the failures
        of other addresses (an attacker's) still count towards a block and the lock."""
        keys = lockout.account_keys(email, client_ip)
        await self.counts.run(lambda b: b.clear([keys.pair_failures]))

    async def locked(self, email: str) -> float:
        """Seconds left of the account's lock (0 if it is not locked)."""
        key, now = lockout.account_keys(email, "").lock, time.time()
        (left,) = await self.counts.run(lambda b: b.left([key], now))
        return left

    async def unlock(self, email: str) -> None:
        await self.counts.run(lambda b: b.clear(lockout.lock_keys(email)))

    async def address_held(self, client_ip: str) -> float:
        """Seconds left of the address's block (0 if none)."""
        key = lockout.address_keys(client_ip).block
        now = time.time()
        (left,) = await self.counts.run(lambda b: b.left([key], now))
        return left

    async def address_failed(self, client_ip: str) -> float:
        """Count a failed request of the address: the seconds of the block it set off."""
        keys, rules, now = lockout.address_keys(client_ip), self.rules, time.time()
        (count,) = await self.counts.run(
            lambda b: b.count([keys.failures], now, rules.address_window)
        )
        if count <= rules.address_failures:
            return 0.0
        await self.counts.run(lambda b: b.hold(keys.block, now, rules.address_block, keys.failures))
        return rules.address_block

    async def sign_up_attempted(self, email: str, client_ip: str) -> None:
        """Count a sign-up attempt of the e-mail and of the address; past either limit,
        RateLimited, with the seconds after which a retry is sure to be allowed (every
        attempt counts, refused ones too: enumerating e-mail addresses costs time)."""
        rules, now = self.rules, time.time()
        by_email, by_address = lockout.sign_up_keys(email, client_ip)
        limits = ((by_email, rules.sign_ups_per_email), (by_address, rules.sign_ups_per_address))
        for key, maximum in limits:
            if await self._attempt(key, now) > maximum:
                raise errors.RateLimited(
                    f"too many sign-up attempts: {maximum} per {round(rules.sign_up_window)} s;"
                    f" retry in {math.ceil(rules.sign_up_window)} s",
                    retry_after=math.ceil(rules.sign_up_window),
                )

    async def _attempt(self, key: str, now: float) -> int:
        window = self.rules.sign_up_window
        (count,) = await self.counts.run(lambda b: b.count([key], now, window))
        return count
