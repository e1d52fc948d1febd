"""Report responses cached in Redis under the organization's ledger version.

A report is a pure function of the organization's books, and the books carry a
version that PostgreSQL bumps in the transaction of every change a report can see
(migration 0009). The version is part of the key, so a committed posting makes every
older entry unreachable at once: nothing is deleted, no invalidation can be lost or
race a reader, and old entries simply expire after the TTL.

Redis is an accelerator, never a dependency: when it cannot be reached the report is
computed from the database (a miss and a backend failure in the metrics), and a failed
read skips the write so one request waits for at most one Redis timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from accounting_api import __version__, metrics, redis_connection

log = logging.getLogger("accounting_api.report_cache")

KEY_PREFIX = f"report:{__version__}:1"
"""Changes with the release (or the `:1` by hand) whenever a response body changes shape,
so replicas of two releases never serve each other's bodies."""


def key(organization_id: str, report: str, version: int, params: Mapping[str, str]) -> str:
    """e.g. report:0.1.0:1:org_x:trial_balance:42:as_of=2026-11-30"""
    query = "&".join(f"{name}={value}" for name, value in sorted(params.items()))
    return f"{KEY_PREFIX}:{organization_id}:{report}:{version}:{query}"


@dataclass(frozen=True, slots=True)
class ReportCache:
    client: redis_connection.Client
    ttl_seconds: int
    """0 disables the cache."""

    @property
    def enabled(self) -> bool:
        return self.ttl_seconds > 0

    async def get_or_render(
        self, report: str, cache_key: str, render: Callable[[], Awaitable[bytes]]
    ) -> bytes:
        """The cached body, else render() stored for the TTL (best effort)."""
        try:
            cached = await self.client.get(cache_key)
        except redis_connection.FAILURES as exc:
            self._failed(report, "read", exc)
            metrics.REPORT_CACHE_MISSES.labels(report).inc()
            return await render()
        if cached is not None:
            metrics.REPORT_CACHE_HITS.labels(report).inc()
            return cached if isinstance(cached, bytes) else str(cached).encode()
        metrics.REPORT_CACHE_MISSES.labels(report).inc()
        body = await render()
        try:
            await self.client.set(cache_key, body, ex=self.ttl_seconds)
        except redis_connection.FAILURES as exc:
            self._failed(report, "write", exc)
        return body

    @staticmethod
    def _failed(report: str, what: str, exc: BaseException) -> None:
        metrics.REPORT_CACHE_FAILURES.labels(report).inc()
        metrics.error(metrics.ErrorType.REDIS, metrics.Severity.WARNING)
        log.warning("report cache %s failed: %s", what, type(exc).__name__)
