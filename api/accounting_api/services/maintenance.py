"""Background upkeep run by `accounting-api worker`; each pass runs every job once.

Several workers may run at once (the operator deploys two): every job here is safe
to run concurrently. A purge deletes what another purge already deleted, or nothing;
the overdue mark, revenue recognition and webhook deliveries claim their rows with
FOR UPDATE SKIP LOCKED in one transaction per organization and batch, so no row is
processed twice (webhooks: at least once, see services.webhooks). Audit linking takes
each organization's chain lock, so two workers link an organization one after the
other and the second finds nothing left. Sealing webhook secrets under the current key
locks the rows it seals (SKIP LOCKED): two workers seal each secret once. Folding the
daily balances takes a lock only one fold holds at a time (the other folds nothing) and
skips the rows a writer holds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging

from accounting_api import metrics
from accounting_api.db import idempotency
from accounting_api.db import recognition as recognition_db
from accounting_api.db import reports as reports_db
from accounting_api.db.connection import Database
from accounting_api.services import (
    audit,
    recognition,
    webhook_secrets,
    webhook_transport,
    webhooks,
)

log = logging.getLogger("accounting_api.worker")


async def purge_expired_keys(db: Database, older_than_seconds: int) -> int:
    """Delete stored Idempotency-Key responses older than their retention."""
    async with db.transaction(None) as conn:
        return await idempotency.purge(conn, older_than_seconds)


OVERDUE_BATCH_SIZE = 500
"""Invoices marked overdue per transaction."""


async def mark_overdue(db: Database, today: datetime.date) -> int:
    """Mark every open invoice due before today as overdue (once); returns how many.
    Each mark emits its invoice.overdue event in the same transaction (a trigger)."""
    async with db.transaction(None) as conn:
        organizations = await recognition_db.organizations_with_overdue(conn, today)
    marked = 0
    for organization_id in organizations:
        while True:
            async with db.transaction(organization_id) as conn:
                batch = await recognition_db.mark_overdue(conn, today, OVERDUE_BATCH_SIZE)
                await recognition_db.forget_settled_due_dates(conn, today)
            marked += len(batch)
            if len(batch) < OVERDUE_BATCH_SIZE:
                break
    return marked


FOLD_BATCH_SIZE = 10_000
"""Rows of daily balances folded per transaction."""


async def fold_daily_balances(db: Database) -> int:
    """Fold the rows each database session added to daily balances (0028) into one per
    account and day, so that reports read a row per account and day; returns how many."""
    folded = 0
    while True:
        async with db.transaction(None) as conn:
            batch = await reports_db.fold_daily_balances(conn, FOLD_BATCH_SIZE)
        folded += batch
        if batch < FOLD_BATCH_SIZE:
            return folded


def _today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


@dataclasses.dataclass(frozen=True)
class Worker:
    db: Database
    interval_seconds: float
    idempotency_ttl_seconds: int
    webhooks: webhooks.DeliverySettings = dataclasses.field(
        default_factory=webhooks.DeliverySettings
    )
    transport: webhook_transport.Transport | None = None
    """How webhooks are sent; by default plain HTTP(S) guarded against internal addresses."""

    async def run_once(self, today: datetime.date | None = None) -> dict[str, int]:
        """Every job once; `today` (UTC by default) decides what is due."""
        today = today or _today()
        purged = await purge_expired_keys(self.db, self.idempotency_ttl_seconds)
        keys = self.webhooks.keys
        # Without a key ring, nothing can be sealed (nor opened: webhooks.signing_secret).
        sealed = factors = webhook_secrets.Rekeyed(0, 0)
        if keys is not None:
            sealed = await webhook_secrets.rekey(self.db, keys)
            factors = await webhook_secrets.rekey_second_factors(self.db, keys)
        result = {
            "webhook_secrets_sealed": sealed.sealed,
            "webhook_secrets_unreadable": sealed.unreadable,
            "second_factors_sealed": factors.sealed,
            "second_factors_unreadable": factors.unreadable,
            "idempotency_keys_purged": purged,
            "invoices_marked_overdue": await mark_overdue(self.db, today),
            "revenue_recognitions_posted": await recognition.recognize_due(self.db, today),
            "webhooks_delivered": await webhooks.deliver_due(
                self.db, self.webhooks, self.transport
            ),
            "audit_events_linked": await audit.link_all(self.db),
            "daily_balances_folded": await fold_daily_balances(self.db),
        }
        log.info("worker pass", extra=result)
        for job, done in result.items():
            metrics.WORKER_ITEMS.labels(job).inc(done)
        metrics.WORKER_PASSES.labels("succeeded").inc()
        metrics.WORKER_LAST_PASS.set_to_current_time()
        return result

    async def run(self, stop: asyncio.Event) -> None:
        """Run passes until stop is set; a failed pass is logged and retried next time."""
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:  # one bad pass must not end the worker
                log.exception("worker pass failed")
                metrics.WORKER_PASSES.labels("failed").inc()
                metrics.error(metrics.ErrorType.WORKER_PASS)
            try:
                await asyncio.wait_for(stop.wait(), self.interval_seconds)
            except TimeoutError:
                continue
