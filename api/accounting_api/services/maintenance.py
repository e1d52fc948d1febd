"""Background upkeep run by `accounting-api worker`; each pass runs every job once.

Several workers may run at once (the operator deploys two): every job here is safe
to run concurrently (a purge deletes what another purge already deleted, or nothing).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from accounting_api.db import idempotency
from accounting_api.db.connection import Database

log = logging.getLogger("accounting_api.worker")


async def purge_expired_keys(db: Database, older_than_seconds: int) -> int:
    """Delete stored Idempotency-Key responses older than their retention."""
    async with db.transaction(None) as conn:
        return await idempotency.purge(conn, older_than_seconds)


@dataclass(frozen=True)
class Worker:
    db: Database
    interval_seconds: float
    idempotency_ttl_seconds: int

    async def run_once(self) -> dict[str, int]:
        purged = await purge_expired_keys(self.db, self.idempotency_ttl_seconds)
        result = {"idempotency_keys_purged": purged}
        log.info("worker pass", extra=result)
        return result

    async def run(self, stop: asyncio.Event) -> None:
        """Run passes until stop is set; a failed pass is logged and retried next time."""
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:  # one bad pass must not end the worker
                log.exception("worker pass failed")
            try:
                await asyncio.wait_for(stop.wait(), self.interval_seconds)
            except TimeoutError:
                continue
