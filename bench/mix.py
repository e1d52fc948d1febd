"""The soak's mixed load (bench/soak.py): what one arrival of each kind sends, in which
proportions, and the books it works on.

One organization with a few customers. Kinds, per cycle of 20 arrivals (shuffled once,
the same every run): 6 journal entries, 3 invoices (create + finalize: two requests),
3 payments, 2 trial balances, 1 balance sheet, 1 AR aging, 2 lists of journal entries,
2 lists of invoices (100 each).

A payment pays, in full, the oldest finalized invoice no other payment took (a queue, so
no two payments race for one invoice): no non-2xx answer is expected of any kind. When
the queue is empty (invoices are behind), it is a payment on account of a customer without
invoices instead, counted apart. The setup finalizes SEED invoices first, so that payments
seldom find the queue empty.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from bench import api_bench, billing_bench, open_loop

WEIGHTS = {
    "entry": 6,
    "invoice": 3,
    "payment": 3,
    "trial_balance": 2,
    "balance_sheet": 1,
    "ar_aging": 1,
    "list_entries": 2,
    "list_invoices": 2,
}
EXPECTED_NON_2XX: dict[str, frozenset[int]] = {kind: frozenset() for kind in WEIGHTS}
"""Per kind, the non-2xx statuses that are part of the load: none."""
CUSTOMERS = 16
SEED = 40
READS = {
    "trial_balance": "/v1/reports/trial-balance",
    "balance_sheet": "/v1/reports/balance-sheet",
    "ar_aging": "/v1/reports/ar-aging",
    "list_entries": "/v1/journal-entries?limit=100",
    "list_invoices": "/v1/invoices?limit=100",
}


@dataclass(frozen=True, slots=True)
class Unpaid:
    invoice: str
    customer: str
    total: int


@dataclass
class Books:
    """The organization the load works on, and the invoices finalized and not yet taken
    by a payment (oldest first)."""

    organization: str
    token: str
    debit: str
    credit: str
    customers: list[str]
    on_account: str
    """A customer without invoices: payments that find no invoice to pay go there."""
    unpaid: collections.deque[Unpaid] = field(default_factory=collections.deque)
    invoices: int = 0
    payments_on_account: int = 0

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}


def cycle() -> list[str]:
    kinds = [kind for kind, weight in WEIGHTS.items() for _ in range(weight)]
    random.Random(13).shuffle(kinds)
    return kinds


async def post(conn: open_loop.Connection, path: str, body: object) -> tuple[int, Any]:
    status, answer = await conn.post(path, json.dumps(body).encode())
    return status, json.loads(answer) if 200 <= status < 300 else None


async def entry(books: Books, conn: open_loop.Connection) -> list[int]:
    body = {
        "date": datetime.datetime.now(datetime.UTC).date().isoformat(),
        "description": "soak",
        "postings": [
            {"account_id": books.debit, "side": "debit", "amount": 1234},
            {"account_id": books.credit, "side": "credit", "amount": 1234},
        ],
    }
    return [(await post(conn, "/v1/journal-entries", body))[0]]


async def invoice(books: Books, conn: open_loop.Connection) -> list[int]:
    """A draft with billing_bench's two lines, finalized; queued for a payment."""
    customer = books.customers[books.invoices % len(books.customers)]
    books.invoices += 1
    body = {"customer": customer, "lines": billing_bench.LINES}
    status, draft = await post(conn, "/v1/invoices", body)
    if draft is None:
        return [status]
    final, done = await post(conn, f"/v1/invoices/{draft['id']}/finalize", {})
    if done is not None:
        books.unpaid.append(Unpaid(done["id"], customer, done["total"]))
    return [status, final]


async def payment(books: Books, conn: open_loop.Connection) -> list[int]:
    if not books.unpaid:
        books.payments_on_account += 1
        body: dict[str, object] = {"customer": books.on_account, "amount": 100, "method": "card"}
        return [(await post(conn, "/v1/payments", body))[0]]
    unpaid = books.unpaid.popleft()
    applied = [{"invoice": unpaid.invoice, "amount": unpaid.total}]
    body = {"customer": unpaid.customer, "amount": unpaid.total, "method": "card"}
    return [(await post(conn, "/v1/payments", body | {"applied_to": applied}))[0]]


def arrivals(books: Books) -> open_loop.Arrivals:
    kinds = cycle()

    def operation(kind: str) -> open_loop.Operation:
        if kind in READS:

            async def read(conn: open_loop.Connection) -> list[int]:
                return [(await conn.get(READS[kind]))[0]]

            return read
        write = {"entry": entry, "invoice": invoice, "payment": payment}[kind]
        return lambda conn: write(books, conn)

    operations = {kind: operation(kind) for kind in WEIGHTS}
    return lambda i: (kinds[i % len(kinds)], operations[kinds[i % len(kinds)]])


async def connections(books: Books, count: int) -> list[open_loop.Connection]:
    return [
        await open_loop.Connection.open("127.0.0.1", api_bench.PORT, books.headers)
        for _ in range(count)
    ]


async def books(client: httpx.AsyncClient) -> Books:
    """A new organization (api_bench's sign-up), its customers and SEED unpaid invoices."""
    organization, token, accounts = await api_bench.tenant(client)
    headers = {"Authorization": f"Bearer {token}"}
    made = []
    for n in range(CUSTOMERS + 1):
        answer = await client.post("/v1/customers", json={"name": f"Soak {n}"}, headers=headers)
        answer.raise_for_status()
        made.append(answer.json()["id"])
    found = Books(organization, token, accounts["1000"], accounts["4000"], made[:-1], made[-1])
    [conn] = await connections(found, 1)
    try:
        for _ in range(SEED):
            statuses = await invoice(found, conn)
            if statuses != [201, 200] and statuses != [200, 200]:
                raise RuntimeError(f"seeding an invoice answered {statuses}")
    finally:
        conn.close()
    return found


async def closed_loop(books: Books, seconds: float, clients: int) -> float:
    """Arrivals per second with `clients` connections each sending its next arrival as
    soon as the last one finished: what the machine sustains for this mix."""
    pool = await connections(books, clients)
    next_arrival = arrivals(books)
    started = time.perf_counter()
    deadline = started + seconds
    issued = 0

    async def client(conn: open_loop.Connection) -> None:
        nonlocal issued
        while time.perf_counter() < deadline:
            issued += 1
            await next_arrival(issued - 1)[1](conn)

    try:
        await asyncio.gather(*(client(conn) for conn in pool))
    finally:
        for conn in pool:
            conn.close()
    return issued / (time.perf_counter() - started)
