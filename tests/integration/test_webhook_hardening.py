"""Webhook hardening: dead letters and their retry, disabled and deleted endpoints,
the invoice and refund events, and refusal of internal addresses (SSRF)."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import asyncpg
import httpx
from starlette.applications import Starlette

from tests.integration import conftest
from tests.integration.billing import act, assert_problem, customer, finalized
from tests.integration.helpers import sign_up
from tests.integration.payments import paid, refund
from tests.integration.receivers import (
    Receiver,
    deliveries,
    endpoint,
    receiving,
    run_worker,
    time_passes,
)


async def test_a_delivery_is_failed_after_its_last_attempt_and_a_retry_delivers_it(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, database: conftest.TestDatabase
) -> None:
    t = await sign_up(client)
    async with receiving(Receiver(status=500)) as receiver:
        hook = await endpoint(client, t, receiver.url)
        await finalized(client, t, (await customer(client, t))["id"])
        for _ in range(4):  # the fourth pass finds nothing left to try
            await run_worker(database, max_attempts=3)
            await time_passes(owner_conn, t.org_id)
        assert len(receiver.received) == 3
        [dead] = await deliveries(client, t, hook["id"], status="failed")
        assert dead["event_type"] == "invoice.finalized"
        assert (dead["attempts"], dead["next_attempt_at"], dead["delivered_at"]) == (3, None, None)
        assert dead["last_error"] == "receiver answered HTTP 500"
        assert await deliveries(client, t, hook["id"], status="pending") == []
        receiver.status = 200
        retried = await client.post(f"/v1/webhook-deliveries/{dead['id']}/retry", headers=t.auth)
        assert retried.status_code == 200, retried.text
        assert retried.json()["status"] == "pending"
        await run_worker(database, max_attempts=3)
    [done] = await deliveries(client, t, hook["id"])
    assert (done["id"], done["status"], done["attempts"]) == (dead["id"], "delivered", 4)
    assert done["delivered_at"] is not None
    assert len(receiver.received) == 4
    again = await client.post(f"/v1/webhook-deliveries/{dead['id']}/retry", headers=t.auth)
    assert_problem(again, 409, "webhook_delivery_not_failed", None)


async def test_a_disabled_endpoint_gets_nothing_until_enabled_and_a_deleted_one_never(
    client: httpx.AsyncClient, database: conftest.TestDatabase
) -> None:
    t = await sign_up(client)
    cus = (await customer(client, t))["id"]
    async with receiving(Receiver()) as receiver, receiving(Receiver()) as other:
        hook, kept = await endpoint(client, t, receiver.url), await endpoint(client, t, other.url)
        await finalized(client, t, cus)  # queued for both, before the disable
        disabled = await client.post(f"/v1/webhook-endpoints/{hook['id']}/disable", headers=t.auth)
        assert disabled.json()["status"] == "disabled", disabled.text
        await finalized(client, t, cus)  # while disabled: nothing queued for it
        await run_worker(database)
        assert (receiver.connections, len(other.received)) == (0, 2)
        assert [d["status"] for d in await deliveries(client, t, hook["id"])] == ["pending"]
        enabled = await client.post(f"/v1/webhook-endpoints/{hook['id']}/enable", headers=t.auth)
        assert enabled.json()["status"] == "enabled", enabled.text
        await run_worker(database)
        assert receiver.events() == ["invoice.finalized"]
        gone = await client.delete(f"/v1/webhook-endpoints/{kept['id']}", headers=t.auth)
        assert gone.json() == {"object": "webhook_endpoint", "id": kept["id"], "deleted": True}
        await finalized(client, t, cus)
        await run_worker(database)
    assert (len(receiver.received), len(other.received)) == (2, 2)
    listing = (await client.get("/v1/webhook-endpoints", headers=t.auth)).json()["data"]
    assert [e["id"] for e in listing] == [hook["id"]]
    missing = await client.get(f"/v1/webhook-endpoints/{kept['id']}", headers=t.auth)
    assert_problem(missing, 404, "not_found", "id")


async def test_a_deleted_endpoint_fails_what_it_still_had_to_receive(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    hook = await endpoint(client, t, "https://hooks.example.com/ua")
    await finalized(client, t, (await customer(client, t))["id"])
    before = await deliveries(client, t, hook["id"])
    await client.delete(f"/v1/webhook-endpoints/{hook['id']}", headers=t.auth)
    row = await owner_conn.fetchrow(
        "SELECT status, last_error FROM webhook_deliveries WHERE public_id = $1", before[0]["id"]
    )
    assert row is not None
    assert tuple(row) == ("failed", "the webhook endpoint was deleted")
    retried = await client.post(f"/v1/webhook-deliveries/{before[0]['id']}/retry", headers=t.auth)
    assert_problem(retried, 404, "not_found", "id")


async def test_void_uncollectible_overdue_and_refund_events_are_delivered(
    client: httpx.AsyncClient, database: conftest.TestDatabase
) -> None:
    t = await sign_up(client)
    cus = (await customer(client, t))["id"]
    voided, written_off, late = [await finalized(client, t, cus) for _ in range(3)]
    async with receiving(Receiver()) as receiver:
        await endpoint(client, t, receiver.url)
        assert (await act(client, t, voided["id"], "void")).status_code == 200
        assert (await act(client, t, written_off["id"], "mark-uncollectible")).status_code == 200
        payment = await paid(client, t, cus, 5_000)
        assert (await refund(client, t, payment["id"], 2_000)).status_code == 201
        later = datetime.date.fromisoformat(late["due_date"]) + datetime.timedelta(days=1)
        assert (await run_worker(database, today=later))["invoices_marked_overdue"] >= 1
    sent = receiver.bodies()
    assert sorted(sent) == [
        "invoice.marked_uncollectible",
        "invoice.overdue",
        "invoice.voided",
        "payment.succeeded",
        "refund.created",
    ]
    assert sent["invoice.voided"]["data"]["object"]["id"] == voided["id"]
    assert sent["invoice.marked_uncollectible"]["data"]["object"]["status"] == "uncollectible"
    assert sent["invoice.overdue"]["data"]["object"]["id"] == late["id"]
    assert sent["refund.created"]["data"]["object"]["payment"] == payment["id"]
    assert sent["refund.created"]["data"]["object"]["amount"] == 2_000


async def test_the_worker_refuses_a_name_resolving_to_loopback_without_connecting(
    make_app: Callable[..., Starlette], database: conftest.TestDatabase
) -> None:
    # Creation refuses `localhost` itself (unit tests); an endpoint made while insecure
    # URLs were allowed, delivered by a worker without that setting, is refused when the
    # name resolves, before any connection.
    async with (
        conftest.serve(make_app(webhook_allow_insecure=True)) as api,
        receiving(Receiver()) as receiver,
    ):
        t = await sign_up(api)
        port = receiver.url.split(":")[2].split("/")[0]
        hook = await endpoint(api, t, f"https://localhost:{port}/hooks")
        await finalized(api, t, (await customer(api, t))["id"])
        await run_worker(database, allow_insecure=False)
        [refused] = await deliveries(api, t, hook["id"])
    assert receiver.connections == 0
    assert refused["status"] == "pending"
    assert refused["last_error"].startswith("Refused: localhost resolves to ")
    assert refused["last_error"].endswith("a loopback address")


async def test_the_worker_refuses_plain_http_when_insecure_urls_are_off(
    client: httpx.AsyncClient, database: conftest.TestDatabase
) -> None:
    t = await sign_up(client)
    async with receiving(Receiver()) as receiver:
        hook = await endpoint(client, t, receiver.url)  # accepted: the API allows insecure
        await finalized(client, t, (await customer(client, t))["id"])
        await run_worker(database, allow_insecure=False)
    [refused] = await deliveries(client, t, hook["id"])
    assert receiver.connections == 0
    assert refused["last_error"] == "Refused: plain http is not allowed, the URL must be https"


async def test_deliveries_are_paged_with_a_cursor(client: httpx.AsyncClient) -> None:
    t = await sign_up(client)
    hook = await endpoint(client, t, "https://hooks.example.com/ua")
    cus = (await customer(client, t))["id"]
    invoices = [await finalized(client, t, cus) for _ in range(3)]
    path = f"/v1/webhook-endpoints/{hook['id']}/deliveries"
    first = (await client.get(path, params={"limit": 2}, headers=t.auth)).json()
    assert first["has_more"] is True
    cursor = {"limit": 2, "starting_after": first["data"][-1]["id"]}
    second = (await client.get(path, params=cursor, headers=t.auth)).json()
    assert second["has_more"] is False
    listed = first["data"] + second["data"]
    assert len({d["id"] for d in listed}) == len(invoices) == 3
    assert {d["event_type"] for d in listed} == {"invoice.finalized"}
    assert all(d["status"] == "pending" and d["attempts"] == 0 for d in listed)


async def test_an_endpoint_no_request_can_be_made_to_holds_up_no_one_else(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, database: conftest.TestDatabase
) -> None:
    # Stored before creation refused such URLs (or behind the API's back): a port out of
    # range makes the request itself fail to build.
    broken, fine = await sign_up(client), await sign_up(client)
    async with receiving(Receiver()) as receiver:
        bad = await endpoint(client, broken, receiver.url)
        await owner_conn.execute(
            "UPDATE webhook_endpoints SET url = 'http://127.0.0.1:99999/x' WHERE id = $1",
            bad["id"],
        )
        good = await endpoint(client, fine, receiver.url)
        for tenant in (broken, fine):
            await finalized(client, tenant, (await customer(client, tenant))["id"])
        await run_worker(database)
    [delivered] = await deliveries(client, fine, good["id"])
    assert delivered["status"] == "delivered"
    [stuck] = await deliveries(client, broken, bad["id"])
    assert (stuck["status"], stuck["attempts"]) == ("pending", 1)
    assert stuck["last_error"].startswith("ValueError")
    assert len(receiver.received) == 1
