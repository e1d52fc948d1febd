"""Exports of the books: the journal as hledger text, a page of entries at a time.

The chart of accounts is read first, to declare every account and currency at the
top (what `hledger check --strict` asks for); an account created during the export
is declared before the page that first uses it.

Each page is read in its own short transaction, so a large book is never loaded at
once and no connection is held while the client reads. Entries are immutable, so
pages agree with one another; an entry committed during the export appears if it
sorts after the page being read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from accounting_api.db import exports as exports_db
from accounting_api.domain import journal_export
from accounting_api.domain.roles import Principal, Role
from accounting_api.services.ports import Transactions

PAGE_SIZE = 500


def journal(
    db: Transactions, principal: Principal, *, page_size: int = PAGE_SIZE
) -> AsyncIterator[str]:
    """The organization's journal, checked for access now and read as it is consumed."""
    principal.require(Role.VIEWER)
    return _journal(db, principal.organization_id, page_size)


async def _journal(db: Transactions, organization_id: str, page_size: int) -> AsyncIterator[str]:
    declared = journal_export.Declarations()
    async with db.transaction(organization_id) as conn:
        accounts = await exports_db.accounts(conn)
    yield journal_export.HEADER + declared.new(accounts)
    after = None
    while True:
        async with db.transaction(organization_id) as conn:
            page = await exports_db.journal_page(conn, after=after, limit=page_size)
        if page:
            used = (line.account for entry in page for line in entry.lines)
            yield declared.new(used) + "".join(journal_export.transaction(e) for e in page)
        if len(page) < page_size:
            return
        after = (page[-1].date, page[-1].id)
