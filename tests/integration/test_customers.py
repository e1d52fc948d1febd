"""Customers through the API and in PostgreSQL: defaults, archiving, roles, tenants."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration import conftest
from tests.integration.billing import add_user, assert_problem, counts, customer, draft
from tests.integration.helpers import Tenant, sign_up

ADDRESS = {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}


@dataclasses.dataclass(frozen=True)
class Org:
    tenant: Tenant
    viewer: dict[str, str]
    other: Tenant


@pytest.fixture(scope="module")
async def org(client: httpx.AsyncClient) -> Org:
    tenant = await sign_up(client)
    return Org(tenant, await add_user(client, tenant, "viewer"), await sign_up(client, "EUR"))


async def test_a_customer_gets_the_base_currency_and_standard_tier_by_default(
    client: httpx.AsyncClient, org: Org
) -> None:
    made = await customer(client, org.tenant, billing_address=ADDRESS)
    assert made["id"].startswith("cus_")
    assert (made["currency"], made["tier"], made["archived"]) == ("USD", "standard", False)
    assert made["billing_address"] == ADDRESS | {"line2": None, "state": None}
    fetched = await client.get(f"/v1/customers/{made['id']}", headers=org.viewer)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json() == made


async def test_a_customer_may_be_billed_in_another_currency(
    client: httpx.AsyncClient, org: Org
) -> None:
    made = await customer(client, org.tenant, currency="JPY", tier="enterprise")
    assert (made["currency"], made["tier"], made["email"]) == (
        "JPY",
        "enterprise",
        "ap@globex.example.com",
    )


async def test_archiving_keeps_the_customer_and_its_invoices_but_stops_new_ones(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, org: Org
) -> None:
    made = await customer(client, org.tenant)
    invoice = await draft(client, org.tenant, made["id"])
    url = f"/v1/customers/{made['id']}/archive"
    archived = await client.post(url, headers=org.tenant.auth)
    assert archived.status_code == 200, archived.text
    assert archived.json()["archived"] is True
    assert archived.json()["archived_at"] is not None
    before = await counts(owner_conn, org.tenant.org_id)
    again = await client.post(url, headers=org.tenant.auth)
    assert_problem(again, 409, "customer_archived", "id")
    body = {"customer": made["id"], "lines": [{"description": "x", "unit_amount": 1}]}
    refused = await client.post("/v1/invoices", json=body, headers=org.tenant.auth)
    assert_problem(refused, 409, "customer_archived", "customer")
    finalize = await client.post(f"/v1/invoices/{invoice['id']}/finalize", headers=org.tenant.auth)
    assert_problem(finalize, 409, "customer_archived", "customer")
    assert await counts(owner_conn, org.tenant.org_id) == before
    kept = await client.get(f"/v1/invoices/{invoice['id']}", headers=org.tenant.auth)
    assert kept.json()["status"] == "draft"


async def test_customers_page_newest_first_and_filter_by_archived(
    client: httpx.AsyncClient,
) -> None:
    t = await sign_up(client)
    made = [(await customer(client, t, name=f"C{i}"))["id"] for i in range(5)]
    await client.post(f"/v1/customers/{made[1]}/archive", headers=t.auth)
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = (await client.get("/v1/customers", params=params, headers=t.auth)).json()
        seen += [c["id"] for c in page["data"]]
        if not page["has_more"]:
            break
        params["starting_after"] = page["data"][-1]["id"]
    assert seen == list(reversed(made))
    archived = await client.get("/v1/customers", params={"archived": "true"}, headers=t.auth)
    active = await client.get("/v1/customers", params={"archived": "false"}, headers=t.auth)
    assert [c["id"] for c in archived.json()["data"]] == [made[1]]
    assert len(active.json()["data"]) == 4


BAD_CUSTOMERS: list[tuple[str, dict[str, Any], str, str]] = [
    ("currency-unknown", {"currency": "ZZZ"}, "validation_error", "currency"),
    ("currency-without-minor-unit", {"currency": "XAU"}, "validation_error", "currency"),
    ("currency-lowercase", {"currency": "usd"}, "validation_error", "currency"),
    ("name-empty", {"name": ""}, "validation_error", "name"),
    ("name-nul", {"name": "a\x00b"}, "validation_error", "name"),
    ("email-invalid", {"email": "not-an-email"}, "validation_error", "email"),
    ("tier-unknown", {"tier": "gold"}, "validation_error", "tier"),
    (
        "country-lowercase",
        {"billing_address": {"country": "us"}},
        "validation_error",
        "billing_address.country",
    ),
    (
        "address-extra-key",
        {"billing_address": {"planet": "Mars"}},
        "validation_error",
        "billing_address.planet",
    ),
    ("extra-key", {"vip": True}, "validation_error", "vip"),
]


@pytest.mark.parametrize(
    ("fields", "code", "param"),
    [case[1:] for case in BAD_CUSTOMERS],
    ids=[case[0] for case in BAD_CUSTOMERS],
)
async def test_a_bad_customer_is_refused_and_nothing_is_written(
    client: httpx.AsyncClient,
    owner_conn: asyncpg.Connection,
    org: Org,
    fields: dict[str, Any],
    code: str,
    param: str,
) -> None:
    before = await counts(owner_conn, org.tenant.org_id)
    body = {"name": "Initech"} | fields
    response = await client.post("/v1/customers", json=body, headers=org.tenant.auth)
    assert_problem(response, 422, code, param)
    assert await counts(owner_conn, org.tenant.org_id) == before


async def test_a_viewer_reads_customers_but_never_writes(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, org: Org
) -> None:
    made = await customer(client, org.tenant)
    before = await counts(owner_conn, org.tenant.org_id)
    create = await client.post("/v1/customers", json={"name": "V"}, headers=org.viewer)
    archive = await client.post(f"/v1/customers/{made['id']}/archive", headers=org.viewer)
    assert_problem(create, 403, "forbidden", None)
    assert_problem(archive, 403, "forbidden", None)
    assert (await client.get("/v1/customers", headers=org.viewer)).status_code == 200
    assert await counts(owner_conn, org.tenant.org_id) == before


async def test_another_tenants_customer_does_not_exist(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, org: Org
) -> None:
    made = await customer(client, org.tenant)
    url = f"/v1/customers/{made['id']}"
    assert_problem(await client.get(url, headers=org.other.auth), 404, "not_found", "id")
    archive = await client.post(f"{url}/archive", headers=org.other.auth)
    assert_problem(archive, 404, "not_found", "id")
    listed = await client.get("/v1/customers", params={"limit": 100}, headers=org.other.auth)
    assert made["id"] not in {c["id"] for c in listed.json()["data"]}
    cursor = await client.get(
        "/v1/customers", params={"starting_after": made["id"]}, headers=org.other.auth
    )
    assert all(c["currency"] == "EUR" for c in cursor.json()["data"])
    assert (await client.get(url, headers=org.tenant.auth)).json()["archived"] is False


@pytest.mark.parametrize("path", ["/v1/customers/cus_nope", "/v1/customers/acct_x/archive"])
async def test_an_unknown_or_malformed_customer_id_is_not_found(
    client: httpx.AsyncClient, org: Org, path: str
) -> None:
    method = "POST" if path.endswith("archive") else "GET"
    response = await client.request(method, path, headers=org.tenant.auth)
    assert_problem(response, 404, "not_found", "id")


# --- in the database ----------------------------------------------------------------------


@pytest.fixture
async def app_conn(database: conftest.TestDatabase) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database.app_url)
    yield conn
    await conn.close()


APP_REFUSED = [
    "UPDATE customers SET name = 'renamed' WHERE id = $1",
    "UPDATE customers SET currency = 'EUR' WHERE id = $1",
    "DELETE FROM customers WHERE id = $1",
]


@pytest.mark.parametrize("statement", APP_REFUSED, ids=["rename", "recurrency", "delete"])
async def test_the_app_role_may_only_archive_customers(
    app_conn: asyncpg.Connection, client: httpx.AsyncClient, org: Org, statement: str
) -> None:
    made = await customer(client, org.tenant)
    await app_conn.execute("SELECT set_config('app.organization_id', $1, false)", org.tenant.org_id)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        await app_conn.execute(statement, made["id"])


async def test_even_the_owner_cannot_delete_or_unarchive_a_customer(
    owner_conn: asyncpg.Connection, client: httpx.AsyncClient, org: Org
) -> None:
    made = await customer(client, org.tenant)
    with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError, match="never deleted"):
        await owner_conn.execute("DELETE FROM customers WHERE id = $1", made["id"])
    await client.post(f"/v1/customers/{made['id']}/archive", headers=org.tenant.auth)
    with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError, match="archived"):
        await owner_conn.execute(
            "UPDATE customers SET archived_at = NULL WHERE id = $1", made["id"]
        )


BILLING_TABLES = [
    "customers",
    "invoices",
    "invoice_lines",
    "invoice_number_counters",
    "invoice_entries",
]


async def test_every_billing_table_forces_row_level_security(
    owner_conn: asyncpg.Connection,
) -> None:
    rows = await owner_conn.fetch(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
        " (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies"
        " FROM pg_class c WHERE relname = ANY($1::text[]) AND relkind = 'r' ORDER BY relname",
        BILLING_TABLES,
    )
    assert [tuple(r) for r in rows] == [(t, True, True, 1) for t in sorted(BILLING_TABLES)]


async def test_the_app_role_cannot_plant_a_customer_in_another_tenant(
    app_conn: asyncpg.Connection, owner_conn: asyncpg.Connection, org: Org
) -> None:
    await app_conn.execute("SELECT set_config('app.organization_id', $1, false)", org.tenant.org_id)
    before = await counts(owner_conn, org.other.org_id)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        await app_conn.execute(
            "INSERT INTO customers (id, organization_id, name, currency, tier)"
            " VALUES ('cus_planted', $1, 'Planted', 'EUR', 'standard')",
            org.other.org_id,
        )
    assert await counts(owner_conn, org.other.org_id) == before
