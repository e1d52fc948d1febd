"""A write request's one transaction (UnitOfWork), and the SQL that opens a transaction
for a tenant and checks the caller's session."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

from accounting_api import metrics
from accounting_api.db import availability, failures
from accounting_api.domain import audit, ids
from accounting_api.domain.roles import Session

if TYPE_CHECKING:
    from accounting_api.db.connection import Connection

log = logging.getLogger("accounting_api.db")

Kept: TypeAlias = "Callable[[UnitOfWork], Awaitable[None]]"
"""A record kept whatever the request answers (UnitOfWork.keep)."""


def lost(kept: Sequence[Kept], reason: str, cause: BaseException | None = None) -> None:
    """Kept records that could not be written: each named in the log (never its
    values) with the cause's type, counted in accounting_kept_records_lost_total{reason}
    and errors_total."""
    why = f"{reason}: {type(cause).__name__}" if cause is not None else reason
    for record in kept:
        name = getattr(record, "__qualname__", type(record).__name__)
        log.error("a kept record was lost (%s): %s", why, name)
    metrics.KEPT_RECORDS_LOST.labels(reason).inc(len(kept))
    metrics.error(metrics.ErrorType.DATABASE)


class RollBack(Exception):
    """Leaves a unit of work through its rollback path without an error to report."""


@dataclass
class UnitOfWork:
    """A request's one transaction, handed explicitly to the use cases it runs."""

    conn: Connection
    tenant: str | None
    """The tenant the connection is set to now."""
    actor: str | None = None
    """The user the request acts as (its principal; sign-up: the owner it creates)."""
    failed: bool = False
    changes: list[audit.Change] = field(default_factory=list)
    """What the use cases say they changed, recorded as audit events at the end."""
    seen_by: availability.Availability | None = None
    """Told when the unit finds the database unavailable (its Database's)."""
    kept: list[Kept] = field(default_factory=list)
    """Records that outlive the unit's rollback (see `keep`)."""
    last: list[str] = field(default_factory=list)
    """Statements sent in COMMIT's round trip (see `at_commit`)."""

    def keep(self, record: Kept) -> None:
        """Write `record` whatever the request answers: after the unit's transaction ends
        (committed, or rolled back by a refusal), in a transaction of its own on the same
        connection, before the connection goes back to the pool. For the trace a refusal
        leaves (a failed attempt's security event): no second connection is waited for
        while the request holds one. `record` gets that transaction as a unit of work
        whose tenant is not set yet (its own `transaction(org)` sets it)."""
        self.kept.append(record)

    def changed(self, *changes: audit.Change) -> None:
        self.changes.extend(changes)

    def at_commit(self, statement: str) -> None:
        """Run `statement` (SQL text, no parameters: every value in it checked to need
        no quoting) last in the unit's transaction, in the same round trip as its COMMIT;
        should it fail, nothing of the unit is committed. Sent only if the unit commits."""
        self.last.append(statement)

    def fail(self) -> None:
        """Roll the whole unit of work back when it ends."""
        self.failed = True

    async def use_tenant(self, organization_id: str | None) -> None:
        """Set the connection's tenant (a round trip only when it changes)."""
        if self.tenant != organization_id:
            await set_tenant(self.conn, organization_id)
            self.tenant = organization_id

    @asynccontextmanager
    async def transaction(self, organization_id: str | None) -> AsyncIterator[Connection]:
        """A use case's part of the unit of work: the same transaction, its tenant set.
        A failure inside fails the whole unit (unless a savepoint around it undoes it)."""
        await self.use_tenant(organization_id)
        with failures.translated_errors(self.seen_by):
            try:
                yield self.conn
            except BaseException:
                self.fail()
                raise

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """What runs inside is undone alone if it raises, and the unit goes on (the
        Idempotency-Key path then stores the error answer in the same transaction)."""
        previous, failed = self.tenant, self.failed
        await self.conn.execute("SAVEPOINT use_case")
        try:
            yield
            # Deferred constraints are checked now, inside the savepoint, so that a
            # violation undoes just what ran in it.
            with failures.translated_errors(self.seen_by):
                await self.conn.execute(
                    "SET CONSTRAINTS ALL IMMEDIATE; SET CONSTRAINTS ALL DEFERRED;"
                    " RELEASE SAVEPOINT use_case"
                )
        except BaseException:
            with suppress(Exception):
                await self.conn.execute(
                    "ROLLBACK TO SAVEPOINT use_case; RELEASE SAVEPOINT use_case"
                )
            self.tenant, self.failed = previous, failed  # set_config is undone with it
            raise


def begin_sql(begin: str, organization_id: str | None, session: Session | None) -> str:
    """`begin` (BEGIN, BEGIN READ ONLY), the tenant, and the caller's session check when
    this is the request's first transaction in its organization: one round trip."""
    sql = f"{begin}; {tenant_sql(organization_id)}"
    if session is None or session.checked or organization_id != session.organization_id:
        return sql
    if not ids.has_prefix(session.user_id, "user"):
        raise ValueError(f"not a user id: {session.user_id!r}")
    return f"{sql}; SELECT app_check_session('{session.user_id}', {int(session.token_version)})"


def began(organization_id: str | None, session: Session | None) -> None:
    """After begin_sql's statement succeeded: the session is checked for the request."""
    if session is not None and organization_id == session.organization_id:
        session.checked = True


def tenant_sql(organization_id: str | None) -> str:
    if organization_id is not None and not ids.has_prefix(organization_id, "org"):
        raise ValueError(f"not an organization id: {organization_id!r}")
    return f"SELECT set_config('app.organization_id', '{organization_id or ''}', true)"


async def set_tenant(conn: Connection, organization_id: str | None) -> None:
    await conn.execute("SELECT set_config('app.organization_id', $1, true)", organization_id or "")
