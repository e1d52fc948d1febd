"""What routes hand to use cases: where a use case runs its SQL.

A write request runs as one unit of work (routes/work.py opens it: the transaction with
the tenant set, the Idempotency-Key claim, the use case, the audit events, the stored
response, the commit) and passes it to the use case as its `Transactions`; a read passes
the pool itself. Either way a use case writes `async with db.transaction(org) as conn`,
and never learns which one it got: inside a unit of work that is the unit's own
transaction, never a second one and never a hidden savepoint.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from accounting_api.db.connection import Connection
from accounting_api.domain import audit
from accounting_api.domain.roles import Session


class Transactions(Protocol):
    """A transaction with the tenant set inside it (a unit of work's, or a new one)."""

    def transaction(
        self, organization_id: str | None
    ) -> AbstractAsyncContextManager[Connection]: ...


class Unit(Transactions, Protocol):
    """A write request's one transaction (db.unit_of_work.UnitOfWork)."""

    @property
    def conn(self) -> Connection: ...

    @property
    def tenant(self) -> str | None: ...

    actor: str | None
    """The user the request acts as (sign-up sets the owner it creates)."""

    @property
    def changes(self) -> list[audit.Change]: ...

    def changed(self, *changes: audit.Change) -> None:
        """Say what the use case changed: each becomes an audit event of the request."""

    def fail(self) -> None:
        """Roll the whole unit of work back when it ends."""

    def at_commit(self, statement: str) -> None:
        """Run `statement` (SQL text whose values need no quoting) last, in COMMIT's
        round trip; sent only if the unit commits."""

    def keep(self, record: Callable[[Unit], Awaitable[None]]) -> None:
        """Write `record` whatever the request answers, after its transaction ends (a
        refusal's trace, which the rollback must not undo): on the same connection."""

    async def use_tenant(self, organization_id: str | None) -> None: ...

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """What runs inside is undone alone if it raises."""
        ...


class Store(Transactions, Protocol):
    """The database as the app holds it: transactions, and units of work for writes; for
    a request, each checks the caller's session first (domain.roles.Session)."""

    def unit_of_work(
        self, organization_id: str | None = None, *, session: Session | None = None
    ) -> AbstractAsyncContextManager[Unit]: ...

    def own_transactions(self) -> AbstractAsyncContextManager[Unit]:
        """Short transactions of their own, for a request that must hold no connection
        while it waits (the token endpoint); what is kept is written at the end."""
        ...

    def checking(self, session: Session | None) -> Transactions:
        """The transactions of one request: each checks `session` until one has."""
        ...

    async def check(self, session: Session) -> None:
        """Check `session` on its own: Unauthenticated if it has ended."""
