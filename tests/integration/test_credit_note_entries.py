"""A credit note lists the entries that took back revenue already recognized
(`recognition_entry_ids`, table credit_note_entries of 0032): a credit note dated before
pieces of a schedule the worker has already posted reverses each of them at its own date,
and an auditor follows the link from the credit note instead of matching descriptions.
Reversals posted before 0032 are linked by its backfill."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
from starlette.applications import Starlette

from accounting_api.db import migrations
from tests.integration import conftest
from tests.integration.billing import customer, finalized
from tests.integration.helpers import Tenant, sign_up
from tests.integration.payments import assert_books_agree, credited
from tests.integration.test_recognition import SUPPORT, run_worker, schedule

CREDITED_ON = "2026-04-15"


async def back_dated_credit(
    client: httpx.AsyncClient, database: conftest.TestDatabase
) -> tuple[Tenant, dict[str, Any], dict[str, Any]]:
    """A year of support invoiced, recognized through June, then credited in full as of
    mid-April: the pieces of April, May and June were posted and are taken back."""
    t = await sign_up(client)
    inv = await finalized(client, t, (await customer(client, t))["id"], SUPPORT)
    await run_worker(database, datetime.date(2026, 6, 30))
    note = await credited(client, t, inv["id"], amount=120_000, date=CREDITED_ON)
    return t, inv, note


async def reversals(conn: asyncpg.Connection, org_id: str, note: dict[str, Any]) -> list[str]:
    """The organization's entries whose description says they take back revenue for the
    credit note (how they could be found before 0032)."""
    own = await conn.fetchval(
        "SELECT description FROM journal_entries WHERE id = $1", note["journal_entry_id"]
    )
    rows = await conn.fetch(
        "SELECT id FROM journal_entries WHERE organization_id = $1"
        " AND starts_with(description, $2) ORDER BY id",
        org_id,
        f"{own}: takes back ",
    )
    return [r["id"] for r in rows]


async def test_a_back_dated_credit_note_lists_the_reversals_it_posted(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, database: conftest.TestDatabase
) -> None:
    t, inv, note = await back_dated_credit(client, database)
    pieces = await schedule(owner_conn, inv["id"])
    taken_back = [
        p
        for p in pieces
        if p["journal_entry_id"] and p["recognize_on"] > datetime.date.fromisoformat(CREDITED_ON)
    ]
    assert len(taken_back) == 3  # April, May, June
    listed = note["recognition_entry_ids"]
    assert listed == await reversals(owner_conn, t.org_id, note)
    assert len(listed) == 3
    dates = []
    for entry_id in listed:
        entry = (await client.get(f"/v1/journal-entries/{entry_id}", headers=t.auth)).json()
        dates.append(entry["date"])
    assert sorted(dates) == sorted(p["recognize_on"].isoformat() for p in taken_back)
    got = (await client.get(f"/v1/credit-notes/{note['id']}", headers=t.auth)).json()
    page = await client.get("/v1/credit-notes", params={"invoice": inv["id"]}, headers=t.auth)
    assert got["recognition_entry_ids"] == listed
    assert page.json()["data"][0]["recognition_entry_ids"] == listed
    await assert_books_agree(owner_conn, t.org_id)


async def test_a_credit_note_dated_after_what_was_posted_lists_no_reversal(
    client: httpx.AsyncClient, database: conftest.TestDatabase
) -> None:
    t = await sign_up(client)
    inv = await finalized(client, t, (await customer(client, t))["id"], SUPPORT)
    await run_worker(database, datetime.date(2026, 3, 31))
    note = await credited(client, t, inv["id"], amount=30_000, date="2026-04-01")
    assert note["recognition_entry_ids"] == []


async def test_reversals_posted_before_0032_are_linked_by_its_backfill(
    make_app: Callable[..., Starlette],
) -> None:
    db = await conftest.create_database()
    owner = await asyncpg.connect(db.owner_url)
    try:
        async with conftest.serve(make_app(database_url=db.app_url)) as http:
            t, _, note = await back_dated_credit(http, db)
        # The books as the previous version left them: reversals, and no link.
        await owner.execute("DROP TABLE credit_note_entries")
        await owner.execute("DELETE FROM schema_migrations WHERE version = 32")
        applied = await migrations.apply(owner)
        linked = await owner.fetch(
            "SELECT credit_note_id, journal_entry_id FROM credit_note_entries"
            " ORDER BY journal_entry_id"
        )
        expected = await reversals(owner, t.org_id, note)
    finally:
        await owner.close()
        await conftest.drop_database(db.name)
    assert [m.version for m in applied] == [32]
    assert [r["journal_entry_id"] for r in linked] == expected == note["recognition_entry_ids"]
    assert {r["credit_note_id"] for r in linked} == {note["id"]}
