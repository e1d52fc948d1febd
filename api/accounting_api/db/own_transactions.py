"""A request that must not hold a pool connection while it waits on something else: the
token endpoint, and sign-up's step before its unit of work, whose password work (argon2,
a third of a second on a small thread pool) would otherwise keep a connection through a
flood of sign-ins or sign-ups and starve every write (BENCHMARKS.md, "Sign-in flood").
Each transaction is a short one of its own; what the use case keeps (Unit.keep) is written
at the end in a unit of work of its own, as a unit of work writes it after its rollback:
never two connections at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from accounting_api.db import unit_of_work
from accounting_api.domain import audit

if TYPE_CHECKING:
    from accounting_api.db.connection import Connection, Database
    from accounting_api.db.unit_of_work import Kept


@dataclass
class OwnTransactions:
    """The Unit a use case gets outside a unit of work: `transaction` and `keep` only."""

    db: Database
    kept: list[Kept] = field(default_factory=list)
    actor: str | None = None

    def transaction(self, organization_id: str | None) -> AbstractAsyncContextManager[Connection]:
        return self.db.transaction(organization_id)

    def keep(self, record: Callable[[Any], Awaitable[None]]) -> None:
        self.kept.append(record)

    async def write_kept(self) -> None:
        """The kept records, in one unit of work (no connection is held meanwhile)."""
        if not self.kept:
            return
        try:
            async with self.db.unit_of_work(None) as unit:
                for record in self.kept:
                    await record(unit)
        except Exception as exc:
            unit_of_work.lost(self.kept, "write_failed", exc)

    # A unit of work's other parts: a use case run with own transactions needs none.
    @property
    def conn(self) -> Connection:
        raise _outside()

    @property
    def tenant(self) -> str | None:
        raise _outside()

    @property
    def changes(self) -> list[audit.Change]:
        raise _outside()

    def changed(self, *changes: audit.Change) -> None:
        raise _outside()

    def fail(self) -> None:
        raise _outside()

    def at_commit(self, statement: str) -> None:
        raise _outside()

    async def use_tenant(self, organization_id: str | None) -> None:
        raise _outside()

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        raise _outside()


def _outside() -> RuntimeError:
    return RuntimeError("not in a unit of work: this request runs its own transactions")


@asynccontextmanager
async def own_transactions(db: Database) -> AsyncIterator[OwnTransactions]:
    """Short transactions of their own; the kept records written at the end, whatever the
    request answers."""
    own = OwnTransactions(db)
    try:
        yield own
    except Exception:
        await own.write_kept()
        raise
    await own.write_kept()
