"""A steady write load for the outage and crash drills, and what the books must say after.

Several clients, each with an organization of its own, post journal entries and now and
then an invoice that they finalize and pay, every request with an Idempotency-Key. A
request that gets no answer (the API died, the connection was cut) or a 503 is sent again
with the same key, as a client is told to (docs/api.md, errors and retries), until it is
answered. Every attempt's status is kept; each object carries its key as its description,
so the books can be asked how many times each request took effect.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
from collections import Counter
from typing import Any

import asyncpg
import httpx

from tests import drill_support
from tests.integration.helpers import Tenant, entry, sign_up

NO_ANSWER = 0
"""The status recorded for an attempt that got no answer."""
RETRY_PAUSE_SECONDS = 0.2
"""At most this long between attempts (a drill's clients wait less than Retry-After)."""
GIVE_UP_SECONDS = 60.0


@dataclasses.dataclass
class Sent:
    """One request, sent until answered: every attempt's status, the final answer."""

    path: str
    key: str
    statuses: list[int] = dataclasses.field(default_factory=list)
    answer: dict[str, Any] = dataclasses.field(default_factory=dict)
    replayed: bool = False
    retry_after_missing: int = 0
    """503 answers without a Retry-After header."""

    @property
    def status(self) -> int:
        return self.statuses[-1] if self.statuses else NO_ANSWER

    @property
    def cut_off(self) -> bool:
        """Some attempt got no answer or a 503 before the one that counted."""
        return any(s in (NO_ANSWER, 503) for s in self.statuses[:-1])


@dataclasses.dataclass
class Client:
    tenant: Tenant
    customer: str


class WriteLoad:
    """`clients` organizations writing through `http` until `stop` is set; the request
    each has in flight then is still sent until answered."""

    def __init__(self, http: httpx.AsyncClient, clients: int = 4) -> None:
        self.http = http
        self.clients_wanted = clients
        self.clients: list[Client] = []
        self.sent: list[Sent] = []
        self.stop = asyncio.Event()
        self.acknowledged = 0
        """Requests answered 2xx so far."""
        self._answered = asyncio.Condition()

    async def __aenter__(self) -> WriteLoad:
        for _ in range(self.clients_wanted):
            tenant = await sign_up(self.http)
            body = {"name": "Drill customer", "email": "ap@drill.example.com"}
            made = await self.http.post("/v1/customers", json=body, headers=tenant.auth)
            assert made.status_code == 201, made.text
            self.clients.append(Client(tenant, made.json()["id"]))
        self._tasks = [asyncio.create_task(self._write(c)) for c in self.clients]
        return self

    async def __aexit__(self, *_: object) -> None:
        self.stop.set()
        await asyncio.gather(*self._tasks)

    def statuses(self) -> Counter[int]:
        """How many attempts got each status (NO_ANSWER: none)."""
        return Counter(s for sent in self.sent for s in sent.statuses)

    def summary(self, drill: str) -> dict[str, Any]:
        """What the drill did, printed for the record (pytest -s shows it)."""
        cut_off = [s for s in self.sent if s.cut_off]
        found = {
            "drill": drill,
            "requests": len(self.sent),
            "attempts": sum(len(s.statuses) for s in self.sent),
            "statuses": {str(k): v for k, v in sorted(self.statuses().items())},
            "cut_off": len(cut_off),
            "cut_off_replayed": sum(1 for s in cut_off if s.replayed),
        }
        print(json.dumps(found))
        return found

    async def answered_since(self, count: int) -> None:
        """Wait until `count` more requests have been answered 2xx (a bound, not a
        measure: a service that never serves again fails the drill instead of hanging it)."""
        target = self.acknowledged + count
        async with asyncio.timeout(GIVE_UP_SECONDS), self._answered:
            await self._answered.wait_for(lambda: self.acknowledged >= target)

    async def _write(self, client: Client) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            await self._entry(client, n)
            if n % 4 == 0:
                await self._invoice_paid(client, n)

    async def _entry(self, client: Client, n: int) -> None:
        accounts = client.tenant.accounts
        body = entry(accounts["1000"], accounts["3000"], 100 + n, description="")
        await self.send(client, "/v1/journal-entries", body)

    async def _invoice_paid(self, client: Client, n: int) -> None:
        amount = 5_000 + n
        line = {"description": "Drill work", "unit_amount": amount}
        body = {"customer": client.customer, "lines": [line], "days_until_due": 30}
        invoice = await self.send(client, "/v1/invoices", body)
        if invoice.status != 201:
            return
        path = f"/v1/invoices/{invoice.answer['id']}/finalize"
        finalized = await self.send(client, path, {"issue_date": "2026-01-15"}, describe=False)
        if finalized.status != 200:
            return
        application = {"invoice": invoice.answer["id"], "amount": amount}
        body = {"customer": client.customer, "amount": amount, "method": "bank_transfer"}
        await self.send(client, "/v1/payments", body | {"applied_to": [application]})

    async def send(
        self, client: Client, path: str, body: dict[str, Any], *, describe: bool = True
    ) -> Sent:
        """POST until answered (not by a 503 or a key still in use); `body` gets the key
        as its description (unless `describe` is False)."""
        sent = Sent(path, f"drill-{secrets.token_hex(8)}")
        self.sent.append(sent)
        if describe:
            body = body | {"description": sent.key}
        headers = client.tenant.auth | {"Idempotency-Key": sent.key}
        deadline = asyncio.get_running_loop().time() + GIVE_UP_SECONDS
        while asyncio.get_running_loop().time() < deadline:
            pause = await self._attempt(sent, path, body, headers)
            if pause is None:
                break
            await asyncio.sleep(pause)
        return sent

    async def _attempt(
        self, sent: Sent, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> float | None:
        """One attempt; how long to wait before the next, or None when answered."""
        try:
            response = await self.http.post(path, json=body, headers=headers)
        except httpx.TransportError:
            sent.statuses.append(NO_ANSWER)
            return RETRY_PAUSE_SECONDS
        sent.statuses.append(response.status_code)
        retry = response.status_code == 503 or (
            response.status_code == 409 and response.json().get("code") == "idempotency_key_in_use"
        )
        if not retry:
            sent.answer = response.json()
            sent.replayed = response.headers.get("idempotent-replayed") == "true"
            await self._acknowledge(response.status_code)
            return None
        if response.status_code == 503 and "retry-after" not in response.headers:
            sent.retry_after_missing += 1
        return min(float(response.headers.get("retry-after", 1)), RETRY_PAUSE_SECONDS)

    async def _acknowledge(self, status: int) -> None:
        if 200 <= status < 300:
            async with self._answered:
                self.acknowledged += 1
                self._answered.notify_all()


# --- what the books say afterwards ---------------------------------------------------------

_EFFECTS = {
    "/v1/journal-entries": "SELECT description, array_agg(id) FROM journal_entries"
    " WHERE description = ANY($1::text[]) GROUP BY description",
    "/v1/invoices": "SELECT description, array_agg(id) FROM invoices"
    " WHERE description = ANY($1::text[]) GROUP BY description",
    "/v1/payments": "SELECT description, array_agg(id) FROM payments"
    " WHERE description = ANY($1::text[]) GROUP BY description",
}
_PARTIAL = """
SELECT e.id FROM journal_entries e LEFT JOIN postings p ON p.journal_entry_id = e.id
 WHERE e.organization_id = ANY($1::text[])
 GROUP BY e.id, p.currency HAVING count(p.id) < 2 OR coalesce(sum(p.amount), 0) <> 0
"""


def answers_problems(load: WriteLoad) -> list[str]:
    """Requests not answered 2xx in the end (a 409 here would be a second effect refused),
    and 503s without Retry-After."""
    problems = [f"{s.path} {s.key}: {s.statuses}" for s in load.sent if not 200 <= s.status < 300]
    problems += [f"{s.path}: a 503 without Retry-After" for s in load.sent if s.retry_after_missing]
    return problems


async def effects_problems(conn: asyncpg.Connection, load: WriteLoad) -> list[str]:
    """Requests that took effect other than once, answers naming what the books lack,
    entries missing postings or unbalanced, trial balances and audit chains broken."""
    problems = []
    for path, query in _EFFECTS.items():
        keyed = {s.key: s for s in load.sent if s.path == path}
        found = {r[0]: r[1] for r in await conn.fetch(query, list(keyed))}
        for key, sent in keyed.items():
            if found.get(key) != [sent.answer.get("id")]:
                problems.append(f"{path} {key} {sent.statuses}: in the books {found.get(key)}")
    orgs = [c.tenant.org_id for c in load.clients]
    problems += [f"partial entry {r['id']}" for r in await conn.fetch(_PARTIAL, orgs)]
    problems += await drill_support.books_problems(conn, orgs)
    return problems


async def problems(http: httpx.AsyncClient, owner_url: str, load: WriteLoad) -> list[str]:
    """Everything the drills check afterwards: the answers, the books (read as `owner_url`)
    and the audit chains as the API verifies them."""
    conn = await asyncpg.connect(owner_url)
    try:
        found = answers_problems(load) + await effects_problems(conn, load)
    finally:
        await conn.close()
    return found + await audit_problems(http, load)


async def audit_problems(http: httpx.AsyncClient, load: WriteLoad) -> list[str]:
    """Each organization's audit chain as the API verifies it."""
    problems = []
    for client in load.clients:
        verified = await http.get("/v1/audit-events/verify", headers=client.tenant.auth)
        if verified.status_code != 200 or not verified.json()["valid"]:
            problems.append(f"{client.tenant.org_id}: {verified.text}")
    return problems
