"""The request path's floor: a bare Starlette app on the same uvicorn, posting the same
entry with the API's own three round trips (BEGIN with the tenant and the session check,
the entry and its postings, the audit event with COMMIT) and nothing else: no middleware,
no authentication, rate limit, access log, metrics or pydantic. bench/api_floor.py serves
it (`uvicorn --factory bench.floor_app:create`) next to the API to show what the API's own
layers cost per request."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from accounting_api.db import audit as audit_db
from accounting_api.db import posting, unit_of_work
from accounting_api.domain import ids

INSERT = f"WITH {posting.entries()} SELECT 1"


def create() -> Starlette:
    """The floor app for FLOOR_ORG's user FLOOR_USER (a tenant the API created)."""
    org, user = os.environ["FLOOR_ORG"], os.environ["FLOOR_USER"]
    pool: list[asyncpg.Pool[asyncpg.Record]] = []
    begin = unit_of_work.begin_sql("BEGIN", org, None) + f"; SELECT app_check_session('{user}', 0)"

    async def post_entry(request: Request) -> Response:
        body = json.loads(await request.body())
        entry_id, day = ids.new_id("je"), datetime.date.fromisoformat(body["date"])
        debit, credit = body["postings"]
        async with pool[0].acquire() as conn:
            await conn.execute(begin)
            await conn.execute(
                INSERT,
                *(org, user, "req_floor", [entry_id], [day], [body["description"]], [None]),
                *([entry_id, entry_id], [0, 1], [debit["account_id"], credit["account_id"]]),
                *(["USD", "USD"], [debit["amount"], -credit["amount"]], [day, day]),
            )
            event = (
                *(org, user, "req_floor", datetime.datetime.now(datetime.UTC)),
                *([ids.new_id("aud")], ["journal_entry.created"], ["journal_entry"]),
                *([entry_id], [None], [hashlib.sha256(entry_id.encode()).hexdigest()]),
            )
            await conn.execute(f"{audit_db.record_literal(event)}; COMMIT")
        body["id"] = entry_id
        return Response(json.dumps(body), 201, media_type="application/json")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool.append(await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=4))
        yield
        await pool[0].close()

    return Starlette(
        routes=[Route("/v1/journal-entries", post_entry, methods=["POST"])], lifespan=lifespan
    )
