"""The objects a contract fuzzing run works on: one fresh organization, its owner's token,
and a few real objects of every kind, made through the API itself.

Path ids (`/v1/invoices/{id}`) are drawn from these pools, so that the fuzzer reaches the
use cases behind a lookup rather than only their 404; references in bodies (an
invoice's `customer`, a posting's `account_id`) are swapped for real ids half of the time
(bench/contract_fuzz.py).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx

PASSWORD = "a-long-enough-password"
HOOK_URL = "https://hooks.example.com/fuzz"


@dataclass
class World:
    token: str
    email: str
    """The owner's: a case that ends the owner's tokens (signing out) is followed by a
    fresh sign-in, so that the rest of the run is not answered 401."""
    ids: dict[str, list[str]] = field(default_factory=dict)
    """Collection (the path segment before `{id}`: accounts, invoices, ...) -> ids."""
    lines: list[tuple[str, str]] = field(default_factory=list)
    """(draft invoice, one of its lines), for /v1/invoices/{id}/lines/{line_id}."""

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def add(self, collection: str, object_id: str) -> str:
        self.ids.setdefault(collection, []).append(object_id)
        return object_id


def _made(response: httpx.Response) -> dict[str, Any]:
    if response.status_code not in (200, 201):
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text}")
    body: dict[str, Any] = response.json()
    return body


def sign_up(http: httpx.Client) -> World:
    email = f"fuzz-{secrets.token_hex(6)}@example.com"
    owner = {"email": email, "password": PASSWORD, "name": "Fuzz Owner"}
    _made(http.post("/v1/organizations", json={"name": "Fuzz", "owner": owner}))
    issued = _made(http.post("/v1/auth/token", json={"email": email, "password": PASSWORD}))
    return World(issued["access_token"], email)


def sign_in_again(http: httpx.Client, world: World) -> None:
    issued = _made(http.post("/v1/auth/token", json={"email": world.email, "password": PASSWORD}))
    world.token = issued["access_token"]


def build(http: httpx.Client) -> World:
    """A fresh organization with accounts, entries, customers, invoices in every state,
    a payment, a refund, a credit note, webhook endpoints and their deliveries."""
    world = sign_up(http)
    http.headers.update(world.auth)
    chart = _made(http.get("/v1/accounts", params={"limit": 100}))["data"]
    codes = {a["code"]: a["id"] for a in chart}
    for account in chart[:5]:
        world.add("accounts", account["id"])
    for n in range(3):
        posting = [
            {"account_id": codes["1000"], "side": "debit", "amount": 1_000 + n},
            {"account_id": codes["3000"], "side": "credit", "amount": 1_000 + n},
        ]
        body = {"date": "2026-01-15", "description": f"seed {n}", "postings": posting}
        world.add("journal-entries", _made(http.post("/v1/journal-entries", json=body))["id"])
    _billing(http, world)
    _webhooks(http, world)
    return world


def _billing(http: httpx.Client, world: World) -> None:
    for n in range(3):
        body = {"name": f"Customer {n}", "email": f"c{n}@example.com"}
        world.add("customers", _made(http.post("/v1/customers", json=body))["id"])
    customer = world.ids["customers"][0]
    for n in range(5):
        lines = [
            {"description": "Work", "unit_amount": 10_000},
            {"description": "More", "unit_amount": 500},
        ]
        invoice = _made(http.post("/v1/invoices", json={"customer": customer, "lines": lines}))
        world.add("invoices", invoice["id"])
        world.lines.append((invoice["id"], invoice["lines"][n % 2]["id"]))
    for draft in world.ids["invoices"][:3]:
        _made(http.post(f"/v1/invoices/{draft}/finalize", json={"issue_date": "2026-01-15"}))
    applied = [{"invoice": world.ids["invoices"][0], "amount": 10_500}]
    paid = {"customer": customer, "amount": 10_500, "method": "cash", "applied_to": applied}
    payment = world.add("payments", _made(http.post("/v1/payments", json=paid))["id"])
    refund = _made(http.post("/v1/refunds", json={"payment": payment, "amount": 100}))
    world.add("refunds", refund["id"])
    note = {"invoice": world.ids["invoices"][1], "amount": 1_000, "reason": "duplicate"}
    world.add("credit-notes", _made(http.post("/v1/credit-notes", json=note))["id"])


def _webhooks(http: httpx.Client, world: World) -> None:
    for n in range(2):
        body = {"url": f"{HOOK_URL}/{n}", "description": f"seed {n}"}
        world.add("webhook-endpoints", _made(http.post("/v1/webhook-endpoints", json=body))["id"])
    customer = world.ids["customers"][1]
    lines = [{"description": "Hooked", "unit_amount": 700}]
    invoice = _made(http.post("/v1/invoices", json={"customer": customer, "lines": lines}))
    _made(http.post(f"/v1/invoices/{invoice['id']}/finalize", json={}))
    for endpoint in world.ids["webhook-endpoints"]:
        sent = _made(http.get(f"/v1/webhook-endpoints/{endpoint}/deliveries"))["data"]
        for delivery in sent:
            world.add("webhook-deliveries", delivery["id"])
