"""SQL for the compliance report's evidence: facts of the caller's organization (row-level
security applies to every table read here but backups, which are the platform's) and of
the API's own database connection."""

from __future__ import annotations

import datetime

import asyncpg

from accounting_api.db.connection import Connection
from accounting_api.domain import compliance

_MEMBERS = """
SELECT u.id, u.email, u.role, u.created_at,
       (SELECT max(e.occurred_at) FROM security_events e
         WHERE e.organization_id = app_current_org() AND e.user_id = u.id
           AND e.event = 'auth.sign_in_succeeded') AS last_sign_in
  FROM users u
 WHERE u.organization_id = app_current_org()
   AND u.deactivated_at IS NULL AND u.removed_at IS NULL
 ORDER BY u.created_at, u.id
"""


async def active_members(conn: Connection) -> list[compliance.Member]:
    """Active users, each with their latest successful sign-in (None: never)."""
    return [
        compliance.Member(r["id"], r["email"], r["role"], r["created_at"], r["last_sign_in"])
        for r in await conn.fetch(_MEMBERS)
    ]


_BACKUP_COLUMNS = "key, finished_at, verification, verified_at, verification_detail"


def _backup(row: asyncpg.Record | None) -> compliance.Backup | None:
    if row is None:
        return None
    return compliance.Backup(
        row["key"], row["finished_at"], row["verification"], row["verified_at"],
        row["verification_detail"],
    )  # fmt: skip


async def backups(
    conn: Connection,
) -> tuple[int, compliance.Backup | None, compliance.Backup | None]:
    """How many backups are recorded, the newest whose restore test passed (and that
    retention has not deleted), and the newest of all."""
    recorded = int(await conn.fetchval("SELECT count(*) FROM backups"))
    passed = await conn.fetchrow(
        f"SELECT {_BACKUP_COLUMNS} FROM backups WHERE verification = 'passed'"
        " AND deleted_at IS NULL ORDER BY finished_at DESC LIMIT 1"
    )
    newest = await conn.fetchrow(
        f"SELECT {_BACKUP_COLUMNS} FROM backups WHERE deleted_at IS NULL"
        " ORDER BY finished_at DESC LIMIT 1"
    )
    return recorded, _backup(passed), _backup(newest)


async def security_alerts(conn: Connection, since: datetime.datetime) -> dict[str, int]:
    """Per event, the organization's warning and critical security events since `since`."""
    rows = await conn.fetch(
        "SELECT event, count(*) AS n FROM security_events"
        " WHERE organization_id = app_current_org() AND occurred_at > $1"
        " AND severity IN ('warning', 'critical') GROUP BY event",
        since,
    )
    return {r["event"]: int(r["n"]) for r in rows}


async def month_activity(
    conn: Connection, month: datetime.date
) -> tuple[bool, datetime.datetime | None]:
    """Whether the month has postings (from daily_balances), and when it was closed."""
    has_postings = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM daily_balances WHERE organization_id = app_current_org()"
        " AND entry_date BETWEEN $1 AND ($1 + interval '1 month' - interval '1 day')::date)",
        month,
    )
    closed_at = await conn.fetchval(
        "SELECT closed_at FROM accounting_periods"
        " WHERE organization_id = app_current_org() AND period = $1",
        month,
    )
    return bool(has_postings), closed_at


async def oldest_unlinked_audit_event(conn: Connection) -> datetime.datetime | None:
    value: datetime.datetime | None = await conn.fetchval(
        "SELECT min(occurred_at) FROM audit_events"
        " WHERE organization_id = app_current_org() AND seq IS NULL"
    )
    return value


async def connection_encryption(conn: Connection) -> dict[str, object]:
    """This connection's TLS state as PostgreSQL sees it (pg_stat_ssl)."""
    row = await conn.fetchrow(
        "SELECT ssl, version, cipher, bits FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
    )
    return dict(row) if row is not None else {"ssl": False}


async def webhook_secrets_in_clear(conn: Connection) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM webhook_endpoints WHERE organization_id = app_current_org()"
            " AND secret IS NOT NULL AND deleted_at IS NULL"
        )
    )


async def applied_migrations(conn: Connection) -> dict[int, str]:
    rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
    return {r["version"]: r["checksum"] for r in rows}


_CARD_COLUMNS = """
SELECT table_name || '.' || column_name AS name FROM information_schema.columns
 WHERE table_schema = 'public' AND column_name ~* '(^|_)(card|pan|cvv|cvc)(_|$)'
 ORDER BY 1
"""


async def card_columns(conn: Connection) -> list[str]:
    """`table.column` of every column whose name says it holds card data."""
    return [r["name"] for r in await conn.fetch(_CARD_COLUMNS)]


# Contact details, addresses, client addresses and credentials; and the names held next to
# an e-mail address (a person's or a customer's, not an account's or a line's).
_PERSONAL_COLUMNS = """
SELECT c.table_name || '.' || c.column_name AS name FROM information_schema.columns c
 WHERE c.table_schema = 'public'
   AND (c.column_name IN ('email', 'phone', 'billing_address', 'client_ip', 'password_hash')
        OR (c.column_name = 'name' AND EXISTS (
              SELECT 1 FROM information_schema.columns e
               WHERE e.table_schema = 'public' AND e.table_name = c.table_name
                 AND e.column_name = 'email')))
 ORDER BY 1
"""


async def personal_data_columns(conn: Connection) -> list[str]:
    return [r["name"] for r in await conn.fetch(_PERSONAL_COLUMNS)]
