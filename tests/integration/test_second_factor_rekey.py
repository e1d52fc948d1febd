"""Second factors move to the key ring's current key with `accounting-api webhooks rekey`
(and each worker pass), so that an old key can leave the ring without locking anyone out:
a factor confirmed and one pending under the old key are resealed, a sign-in with a code
then works with the new key alone; before the rekey, dropping the old key is reported."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
from starlette.applications import Starlette

from accounting_api.db import two_factor as factors_db
from accounting_api.db.connection import Database
from tests.integration import conftest
from tests.integration.helpers import sign_up
from tests.integration.test_two_factor import ME, enrol, sign_in
from tests.integration.test_webhook_secret_rollout import NEW, OLD, own_database, rekey

__all__ = ["own_database"]


async def keys_of(owner: asyncpg.Connection) -> list[tuple[str | None, str | None]]:
    rows = await owner.fetch(
        "SELECT split_part(secret_sealed, ':', 1) AS s, split_part(pending_sealed, ':', 1) AS p"
        " FROM second_factors ORDER BY email"
    )
    return [(r["s"] or None, r["p"] or None) for r in rows]


async def test_a_rekey_reseals_second_factors_and_the_old_key_can_go(
    make_app: Callable[..., Starlette], own_database: conftest.TestDatabase
) -> None:
    db = own_database
    urls = {"database_url": db.app_url, "migration_database_url": db.owner_url}
    owner = await asyncpg.connect(db.owner_url)
    try:
        async with conftest.serve(make_app(**urls, webhook_secret_keys=OLD)) as api:
            confirmed = await enrol(api, await sign_up(api))
            pending = await sign_up(api)
            assert (await api.post(ME, headers=pending.auth)).status_code == 201
        assert sorted(await keys_of(owner), key=str) == sorted(
            [("old", None), (None, "old")], key=str
        )
        # The new key alone: the old factors do not open, and the rekey says so (exit 1).
        assert await rekey(db, NEW) == (
            1,
            {
                "key": "new",
                "sealed": 0,
                "unreadable": 2,
                "second_factors_sealed": 0,
                "second_factors_unreadable": 2,
            },
        )
        ring = f"{NEW},{OLD}"
        assert (await rekey(db, ring))[1]["second_factors_sealed"] == 2
        assert (await rekey(db, ring))[1] == {
            "key": "new",
            "sealed": 0,
            "unreadable": 0,
            "second_factors_sealed": 0,
            "second_factors_unreadable": 0,
        }
        assert sorted(await keys_of(owner), key=str) == sorted(
            [("new", None), (None, "new")], key=str
        )
        # The old key gone: the confirmed factor still signs in with a code.
        async with conftest.serve(make_app(**urls, webhook_secret_keys=NEW)) as api:
            signed = await sign_in(api, confirmed.tenant.email, otp=confirmed.next_code())
            assert signed.status_code == 200, signed.text
    finally:
        await owner.close()


async def test_a_factor_changed_while_it_is_resealed_keeps_the_change(
    make_app: Callable[..., Starlette], own_database: conftest.TestDatabase
) -> None:
    """The reseal stores only if the factor is still as it was read: a sign-in, a new
    enrolment or a removal in between wins, and the next pass looks again."""
    db = own_database
    urls = {"database_url": db.app_url, "migration_database_url": db.owner_url}
    async with conftest.serve(make_app(**urls, webhook_secret_keys=OLD)) as api:
        await enrol(api, await sign_up(api))
    pool = Database(db.app_url, min_size=1, max_size=1)
    await pool.open()
    owner = await asyncpg.connect(db.owner_url)
    try:
        async with pool.transaction(None) as conn:
            (read,) = await factors_db.to_reseal(conn, "new", "", 10)
        await owner.execute(
            "UPDATE second_factors SET pending_sealed = 'old:x', pending_since = now()"
        )
        async with pool.transaction(None) as conn:
            assert await factors_db.reseal(conn, read, "new:y", None) is False
        assert await keys_of(owner) == [("old", "old")]
    finally:
        await owner.close()
        await pool.close()
