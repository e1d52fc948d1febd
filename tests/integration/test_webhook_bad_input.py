"""Bad webhook requests, with insecure URLs off as in production: each gets a precise
problem+json, and nothing is written, in either tenant."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from accounting_api.app import create_app
from accounting_api.settings import Settings
from tests.integration.billing import add_user, assert_problem, customer, finalized
from tests.integration.conftest import serve
from tests.integration.helpers import Tenant, sign_up
from tests.integration.receivers import deliveries, endpoint

V, NOT_PUBLIC, INSECURE = "validation_error", "webhook_url_not_public", "webhook_url_insecure"
MALFORMED = "webhook_url_malformed"
NOT_FAILED, DISABLED = "webhook_delivery_not_failed", "webhook_endpoint_disabled"
Ids = dict[str, str]


@dataclasses.dataclass(frozen=True)
class Hooks:
    tenant: Tenant
    other: Tenant
    ids: Ids
    """Names used in case paths -> ids (live, off, pending, failed, ...)."""
    roles: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
async def secure(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API as deployed: https webhook URLs to public addresses only."""
    app = create_app(dataclasses.replace(settings, webhook_allow_insecure=False))
    async with serve(app) as http:
        yield http


async def _failed(conn: asyncpg.Connection, delivery_id: str) -> None:
    await conn.execute(
        "UPDATE webhook_deliveries SET status = 'failed', last_error = 'gave up'"
        " WHERE public_id = $1",
        delivery_id,
    )


@pytest.fixture(scope="module")
async def hooks(secure: httpx.AsyncClient, owner_conn: asyncpg.Connection) -> Hooks:
    t, other = await sign_up(secure), await sign_up(secure)
    live = (await endpoint(secure, t, "https://hooks.example.com/live"))["id"]
    off = (await endpoint(secure, t, "https://hooks.example.com/off"))["id"]
    theirs = (await endpoint(secure, other, "https://hooks.example.com/theirs"))["id"]
    await finalized(secure, t, (await customer(secure, t))["id"])
    await finalized(secure, other, (await customer(secure, other))["id"])
    ids = {"live": live, "off": off, "their_endpoint": theirs}
    ids["pending"] = (await deliveries(secure, t, live))[0]["id"]
    ids["failed_off"] = (await deliveries(secure, t, off))[0]["id"]
    ids["theirs"] = (await deliveries(secure, other, theirs))[0]["id"]
    for name in ("failed_off", "theirs"):
        await _failed(owner_conn, ids[name])
    await secure.post(f"/v1/webhook-endpoints/{off}/disable", headers=t.auth)
    roles = {"owner": t.auth}
    for role in ("viewer", "accountant"):
        roles[role] = await add_user(secure, t, role)
    return Hooks(t, other, ids, roles)


@dataclasses.dataclass(frozen=True)
class Bad:
    id: str
    method: str
    path: str
    status: int
    code: str
    param: str | None
    body: dict[str, Any] | None = None
    query: dict[str, str] | None = None
    who: str = "owner"


def C(id: str, url: Any, code: str, param: str | None = "url", **body: Any) -> Bad:
    """POST /v1/webhook-endpoints with this url, answered 422."""
    return Bad(id, "POST", "/v1/webhook-endpoints", 422, code, param, {"url": url} | body)


def L(id: str, param: str, **query: str) -> Bad:
    """GET the live endpoint's deliveries with a bad query."""
    return Bad(id, "GET", "/v1/webhook-endpoints/{live}/deliveries", 422, V, param, query=query)


def R(id: str, delivery: str, status: int, code: str, param: str | None = None) -> Bad:
    """POST a retry of the delivery named `delivery` (or of this literal id)."""
    return Bad(id, "POST", f"/v1/webhook-deliveries/{delivery}/retry", status, code, param)


ONE = "/v1/webhook-endpoints/{%s}"
NOPE = "we_00000000000000000000000000"
CASES = [
    # --- where webhooks may go ---
    C("http", "http://hooks.example.com/ua", INSECURE),
    C("loopback", "https://127.0.0.1/ua", NOT_PUBLIC),
    C("loopback-v6", "https://[::1]:8443/ua", NOT_PUBLIC),
    C("mapped-v6", "https://[::ffff:10.0.0.1]/ua", NOT_PUBLIC),
    C("private", "https://192.168.1.10/ua", NOT_PUBLIC),
    C("metadata", "https://169.254.169.254/latest/meta-data", NOT_PUBLIC),
    C("unspecified", "https://0.0.0.0/ua", NOT_PUBLIC),
    C("multicast", "https://224.0.0.1/ua", NOT_PUBLIC),
    C("unique-local-v6", "https://[fd12::1]/ua", NOT_PUBLIC),
    C("shared-cgnat", "https://100.64.0.1/ua", NOT_PUBLIC),
    C("port-out-of-range", "https://hooks.example.com:99999/ua", MALFORMED),
    C("credentials", "https://user:secret@hooks.example.com/ua", MALFORMED),
    C("unencoded-path", "https://hooks.example.com/\u65e5\u672c", MALFORMED),
    C("empty-label", "https://hooks..example.com/ua", MALFORMED),
    C("unclosed-ipv6-bracket", "https://[x", MALFORMED),
    C("stray-ipv6-bracket", "https://example.com]", MALFORMED),
    C("ftp", "ftp://hooks.example.com/ua", V),
    C("no-host", "https://", V),
    C("not-a-string", 42, V),
    C("too-long", "https://hooks.example.com/" + "a" * 2000, V),
    C("unknown-field", "https://hooks.example.com/ua", V, "events", events=["*"]),
    C("long-description", "https://hooks.example.com/ua", V, "description", description="d" * 501),
    Bad("no-url", "POST", "/v1/webhook-endpoints", 422, V, "url", {}),
    # --- endpoints that are not there ---
    Bad("disable-unknown", "POST", f"/v1/webhook-endpoints/{NOPE}/disable", 404, "not_found", "id"),
    Bad("enable-malformed", "POST", "/v1/webhook-endpoints/we_x/enable", 404, "not_found", "id"),
    Bad("delete-theirs", "DELETE", ONE % "their_endpoint", 404, "not_found", "id"),
    Bad("get-theirs", "GET", ONE % "their_endpoint", 404, "not_found", "id"),
    Bad("list-theirs", "GET", ONE % "their_endpoint" + "/deliveries", 404, "not_found", "id"),
    # --- listing deliveries ---
    L("bad-status", "status", status="lost"),
    L("limit-zero", "limit", limit="0"),
    L("limit-too-big", "limit", limit="101"),
    L("bad-cursor", "starting_after", starting_after="evt_123"),
    L("unknown-filter", "event_type", event_type="invoice.paid"),
    # --- retrying ---
    R("retry-pending", "{pending}", 409, NOT_FAILED),
    R("retry-disabled-endpoint", "{failed_off}", 409, DISABLED),
    R("retry-theirs", "{theirs}", 404, "not_found", "id"),
    R("retry-unknown", "whd_" + "0" * 32, 404, "not_found", "id"),
    R("retry-malformed", "whd_nope", 404, "not_found", "id"),
    # --- admins and owners only ---
    dataclasses.replace(
        C("viewer-creates", "https://x.example.com", "forbidden", None), status=403, who="viewer"
    ),
    Bad(
        "accountant-lists",
        "GET",
        ONE % "live" + "/deliveries",
        403,
        "forbidden",
        None,
        who="accountant",
    ),
    Bad("viewer-disables", "POST", ONE % "live" + "/disable", 403, "forbidden", None, who="viewer"),
    Bad("viewer-deletes", "DELETE", ONE % "live", 403, "forbidden", None, who="viewer"),
    dataclasses.replace(
        R("accountant-retries", "{failed_off}", 403, "forbidden"), who="accountant"
    ),
]


async def state(conn: asyncpg.Connection) -> list[tuple[Any, ...]]:
    """Every endpoint and delivery of every tenant, as stored."""
    endpoints = await conn.fetch(
        "SELECT id, url, disabled_at, deleted_at FROM webhook_endpoints ORDER BY id"
    )
    sent = await conn.fetch(
        "SELECT public_id, status, attempts, next_attempt_at FROM webhook_deliveries ORDER BY id"
    )
    return [tuple(row) for row in [*endpoints, *sent]]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_a_bad_webhook_request_gets_a_precise_problem_and_writes_nothing(
    secure: httpx.AsyncClient, owner_conn: asyncpg.Connection, hooks: Hooks, case: Bad
) -> None:
    before = await state(owner_conn)
    response = await secure.request(
        case.method,
        case.path.format(**hooks.ids),
        json=case.body,
        params=case.query,
        headers=hooks.roles[case.who],
    )
    assert_problem(response, case.status, case.code, case.param)
    assert await state(owner_conn) == before
