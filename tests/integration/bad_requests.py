"""Shared by the bad-request tables of payments and credit notes: two tenants and a
viewer with named objects (`Shop`), a case (`Bad`), and the check every case makes:
the precise problem, and nothing written in either tenant."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx

from tests.integration.billing import assert_problem
from tests.integration.helpers import Tenant
from tests.integration.payments import counts

Ids = dict[str, str]
Build = Callable[[Ids], dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class Shop:
    tenant: Tenant
    other: Tenant
    viewer: dict[str, str]
    ids: Ids


@dataclasses.dataclass(frozen=True)
class Bad:
    id: str
    path: str
    body: Build
    status: int
    code: str
    param: str | None
    who: str = "owner"


def resolved(ids: Ids, fields: dict[str, Any]) -> dict[str, Any]:
    """The fields, with every "@name" value replaced by the shop's object of that name."""
    return {
        k: (ids[v[1:]] if isinstance(v, str) and v[:1] == "@" else v) for k, v in fields.items()
    }


async def both(conn: asyncpg.Connection, shop: Shop) -> list[dict[str, Any]]:
    return [await counts(conn, t.org_id) for t in (shop.tenant, shop.other)]


async def assert_refused(
    client: httpx.AsyncClient, conn: asyncpg.Connection, shop: Shop, case: Bad
) -> None:
    """POST the case: answered with its problem, and nothing written in either tenant."""
    before = await both(conn, shop)
    headers = shop.viewer if case.who == "viewer" else shop.tenant.auth
    path = case.path.format(**shop.ids)
    response = await client.post(path, json=case.body(shop.ids), headers=headers)
    assert_problem(response, case.status, case.code, case.param)
    assert await both(conn, shop) == before
