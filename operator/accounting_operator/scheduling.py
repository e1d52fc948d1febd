"""Reconciles requested from anywhere, run one at a time per platform, a few at a time
overall, with retries; and the periodic drift check that requests them all.

kopf runs the handlers of one AccountingPlatform one after the other, but reconciles
are also requested by its children's changes (a Job finished, a Deployment became
available) and by the drift check, which kopf knows nothing about. Every reconcile of a
platform holds that platform's lock; requests that arrive while one runs collapse into a
single re-run afterwards. Pure asyncio: no kopf, no Kubernetes client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

Key = tuple[str, str]
"""(namespace, name) of an AccountingPlatform."""

Run = Callable[[Key], Awaitable[None]]
RetryDelay = Callable[[BaseException], float | None]
"""Seconds to wait before retrying after this error; None: do not retry."""

logger = logging.getLogger(__name__)

MAX_RETRY_DELAY = 60.0


class Scheduler:
    """Coalescing, per-platform serialized, bounded reconcile runner."""

    def __init__(
        self, run: Run, retry_delay: RetryDelay, *, concurrency: int, debounce: float
    ) -> None:
        self._run = run
        self._retry_delay = retry_delay
        self._concurrency = concurrency
        self._debounce = debounce
        self._slots: asyncio.Semaphore | None = None
        self._locks: dict[Key, asyncio.Lock] = {}
        self._pending: set[Key] = set()
        self._tasks: dict[Key, asyncio.Task[None]] = {}
        self._failures: dict[Key, int] = {}
        self._known: set[Key] = set()

    # --- which platforms exist ---------------------------------------------------------

    def track(self, key: Key) -> None:
        self._known.add(key)

    def forget(self, key: Key) -> None:
        """The platform is gone: drop its state and any queued reconcile."""
        self._known.discard(key)
        self._pending.discard(key)
        self._failures.pop(key, None)
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()
        lock = self._locks.get(key)
        if lock is not None and not lock.locked():
            del self._locks[key]

    def known(self) -> list[Key]:
        return sorted(self._known)

    def __contains__(self, key: Key) -> bool:
        return key in self._known

    # --- running -----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def slot(self, key: Key) -> AsyncIterator[None]:
        """Hold the platform's lock and one of the concurrency slots."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._concurrency)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock, self._slots:
            yield

    def request(self, key: Key, delay: float | None = None) -> None:
        """Reconcile `key` soon; requests while one is queued or running coalesce."""
        self._pending.add(key)
        if key not in self._tasks:
            wait = self._debounce if delay is None else delay
            self._tasks[key] = asyncio.create_task(self._drain(key, wait), name=f"reconcile {key}")

    async def drained(self) -> None:
        """Wait until no reconcile is queued or running (retries included)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def _drain(self, key: Key, wait: float) -> None:
        retry: float | None = None
        try:
            await asyncio.sleep(wait)
            while key in self._pending and retry is None:
                self._pending.discard(key)
                retry = await self._once(key)
        finally:
            self._tasks.pop(key, None)
        if retry is not None and key in self._known:
            self.request(key, delay=retry)

    async def _once(self, key: Key) -> float | None:
        """One reconcile; the delay before a retry if it failed and may be retried."""
        async with self.slot(key):
            try:
                await self._run(key)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                delay = self._retry_delay(error)
                if delay is None:
                    self._failures.pop(key, None)
                    return None
                failures = self._failures[key] = self._failures.get(key, 0) + 1
                return min(delay * (1 << min(failures - 1, 10)), MAX_RETRY_DELAY)
        self._failures.pop(key, None)
        return None

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def resync(scheduler: Scheduler, interval: float) -> None:
    """Request a reconcile of every known platform every `interval` seconds (forever).

    This is the drift check: a child deleted or edited by hand is restored by the next
    one, whether or not its change was seen."""
    while True:
        await asyncio.sleep(interval)
        for key in scheduler.known():
            scheduler.request(key)
