"""SQL parts that write journal entries, their postings and their receivable moves inside a
larger statement, so that a use case's whole write is one round trip.

A statement built with `entries()` takes, first, the parameters `entry_args` gives:
$1 the organization, $2 created_by, $3 request_id, $4-$7 the entries (ids, dates,
descriptions, the entries they reverse), $8-$13 their postings (the layout of
db/ledger's insert_entries); the statement's own parameters follow, from $14. Foreign
keys are checked at the end of the statement, so its other parts may refer to the
entries it writes; the deferred checks (balanced entries, receivable moves matching the
postings) run at commit as always.
"""

from __future__ import annotations

from collections.abc import Sequence

from accounting_api.domain import ledger, receivables


def entries(description: str = "e.description", source: str = "") -> str:
    """The CTEs `entries` and `postings` (to follow WITH). `description` may compute each
    entry's description from `e.description` and the tables joined in by `source`
    (e.g. ", invoice i")."""
    return f"""entries AS (
  INSERT INTO journal_entries (organization_id, created_by, request_id, id, entry_date,
                               description, reverses_entry_id)
  SELECT $1, $2, $3, e.id, e.entry_date, {description}, e.reverses_entry_id
    FROM unnest($4::text[], $5::date[], $6::text[], $7::text[])
         AS e(id, entry_date, description, reverses_entry_id){source}
), postings AS (
  INSERT INTO postings (organization_id, journal_entry_id, line, account_id, currency, amount,
                        entry_date)
  SELECT $1, * FROM unnest($8::text[], $9::int2[], $10::text[], $11::text[], $12::int8[],
                           $13::date[])
)"""


def entry_args(
    organization_id: str,
    posted: Sequence[ledger.NewEntry],
    *,
    created_by: str | None,
    request_id: str | None,
) -> list[object]:
    lines = [(e, i, p) for e in posted for i, p in enumerate(e.postings)]
    return [
        organization_id,
        created_by,
        request_id,
        [e.id for e in posted],
        [e.entry_date for e in posted],
        [e.description for e in posted],
        [e.reverses_entry_id for e in posted],
        [e.id for e, _, _ in lines],
        [i for _, i, _ in lines],
        [p.account_id for _, _, p in lines],
        [p.currency for _, _, p in lines],
        [p.signed for _, _, p in lines],
        [e.entry_date for e, _, _ in lines],
    ]


def moves(first: int) -> str:
    """The CTE `moves`, its six parameters (`move_args`) from ${first}."""
    n = [f"${first + i}" for i in range(6)]
    return f"""moves AS (
  INSERT INTO receivable_entries (organization_id, invoice_id, journal_entry_id, entry_date,
                                  account_id, currency, amount)
  SELECT $1, * FROM unnest({n[0]}::text[], {n[1]}::text[], {n[2]}::date[], {n[3]}::text[],
                           {n[4]}::text[], {n[5]}::int8[])
)"""


def move_args(moved: Sequence[receivables.Entry]) -> list[object]:
    rows = [(entry, move) for entry in moved for move in entry.moves]
    return [
        [m.invoice_id for _, m in rows],
        [e.journal_entry_id for e, _ in rows],
        [e.entry_date for e, _ in rows],
        [e.account_id for e, _ in rows],
        [e.currency for e, _ in rows],
        [m.amount for _, m in rows],
    ]
