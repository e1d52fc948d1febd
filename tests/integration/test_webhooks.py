"""Webhooks: endpoints, signed deliveries from the outbox, retries, and worker crashes."""

from __future__ import annotations

import asyncio
import contextlib
import json

import asyncpg
import httpx

from tests.integration import conftest
from tests.integration.billing import add_user, assert_problem, customer, finalized
from tests.integration.helpers import sign_up
from tests.integration.payments import paid
from tests.integration.receivers import (
    Receiver,
    delivery,
    endpoint,
    receiving,
    run_worker,
    verified,
)


async def test_endpoints_are_admin_only_and_list_without_their_secret(
    client: httpx.AsyncClient,
) -> None:
    t = await sign_up(client)
    made = await endpoint(client, t, "https://hooks.example.com/ua")
    assert made["object"] == "webhook_endpoint"
    assert made["secret"].startswith("whsec_")
    listing = (await client.get("/v1/webhook-endpoints", headers=t.auth)).json()
    assert [e["id"] for e in listing["data"]] == [made["id"]]
    assert "secret" not in listing["data"][0]
    accountant = await add_user(client, t, "accountant")
    body = {"url": "https://hooks.example.com/other"}
    refused = await client.post("/v1/webhook-endpoints", json=body, headers=accountant)
    assert_problem(refused, 403, "forbidden", None)
    bad = await client.post("/v1/webhook-endpoints", json={"url": "ftp://x"}, headers=t.auth)
    assert bad.status_code == 422, bad.text


async def test_invoice_and_payment_events_are_signed_and_delivered_once_by_two_workers(
    client: httpx.AsyncClient, database: conftest.TestDatabase
) -> None:
    t = await sign_up(client)
    async with receiving(Receiver()) as receiver:
        secret = (await endpoint(client, t, receiver.url))["secret"]
        cus = await customer(client, t)
        invoice = await finalized(client, t, cus["id"])
        await paid(client, t, cus["id"], invoice["total"])
        await asyncio.gather(run_worker(database), run_worker(database))
    assert sorted(receiver.events()) == ["invoice.finalized", "invoice.paid", "payment.succeeded"]
    assert all(verified(secret, headers, body) for headers, body in receiver.received)
    sent = {event["type"]: event for event in (json.loads(b) for _, b in receiver.received)}
    assert sent["invoice.paid"]["data"]["object"]["id"] == invoice["id"]
    assert sent["invoice.paid"]["data"]["object"]["status"] == "paid"
    assert sent["payment.succeeded"]["data"]["object"]["amount"] == invoice["total"]
    assert all(not verified("whsec_wrong", h, b) for h, b in receiver.received)
    # An invoice event says what the API's invoice says about the money.
    now = (await client.get(f"/v1/invoices/{invoice['id']}", headers=t.auth)).json()
    money = ("total", "amount_paid", "amount_credited", "amount_credit_applied", "amount_remaining")
    assert {k: sent["invoice.paid"]["data"]["object"][k] for k in money} == {
        k: now[k] for k in money
    }
    assert sent["invoice.finalized"]["data"]["object"]["amount_remaining"] == invoice["total"]


async def test_a_failing_receiver_is_retried_with_growing_delays_until_it_accepts(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, database: conftest.TestDatabase
) -> None:
    t = await sign_up(client)
    async with receiving(Receiver(status=500)) as receiver:
        await endpoint(client, t, receiver.url)
        await finalized(client, t, (await customer(client, t))["id"])
        waits = []
        for _ in range(3):
            await run_worker(database, retry_base_seconds=100)
            row = await delivery(owner_conn, t.org_id)
            waits.append(row["wait"].total_seconds())
            await owner_conn.execute(  # time passes: the retry is due
                "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE id = $1", row["id"]
            )
        assert (row["status"], row["attempts"]) == ("pending", 3)
        assert "HTTP 500" in row["last_error"]
        assert [round(w, -1) for w in waits] == [100, 200, 400]
        receiver.status = 204
        await run_worker(database, retry_base_seconds=100)
    assert (await delivery(owner_conn, t.org_id))["status"] == "delivered"
    assert len(receiver.received) == 4


async def test_a_worker_killed_mid_delivery_leaves_it_to_a_later_worker(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, database: conftest.TestDatabase
) -> None:
    t = await sign_up(client)
    async with receiving(Receiver(hanging=True)) as receiver:
        await endpoint(client, t, receiver.url)
        await finalized(client, t, (await customer(client, t))["id"])
        killed = asyncio.create_task(run_worker(database, lease_seconds=1.0, timeout_seconds=60))
        await asyncio.wait_for(receiver.arrived.wait(), 30)
        killed.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await killed
        receiver.hanging = False
        await run_worker(database, lease_seconds=1.0)  # still leased: left alone
        assert len(receiver.received) == 1
        assert (await delivery(owner_conn, t.org_id))["status"] == "pending"
        await asyncio.sleep(1.1)  # the lease ends
        await run_worker(database, lease_seconds=1.0)
    assert len(receiver.received) == 2
    assert receiver.received[0][1] == receiver.received[1][1]
    assert (await delivery(owner_conn, t.org_id))["status"] == "delivered"
