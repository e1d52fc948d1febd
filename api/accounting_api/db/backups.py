"""SQL of backups: the books a manifest records and a restore test checks, the snapshot
a dump shares with its manifest, and the record of backups in the platform's database.

The same reads serve a role that bypasses row-level security (the backup role, the
throwaway server's superuser) and one that does not (the schema owner restoring a
backup, whose tables FORCE row-level security): each organization is read with the
tenant set, and rows are counted per tenant where a policy would hide them.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from accounting_api.db.connection import Connection
from accounting_api.domain import audit
from accounting_api.domain.backups import Books, ChainHead, Failure, Totals

_SET_TENANT = "SELECT set_config('app.organization_id', coalesce($1, ''), true)"


async def export_snapshot(conn: Connection) -> str:
    """The snapshot of the caller's repeatable-read transaction, for pg_dump --snapshot;
    the transaction must stay open until pg_dump has started."""
    return str(await conn.fetchval("SELECT pg_export_snapshot()"))


async def bypasses_row_security(conn: Connection) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
    )


async def organizations(conn: Connection) -> list[str]:
    """Every organization; needs a role that bypasses row-level security."""
    return [r["id"] for r in await conn.fetch("SELECT id FROM organizations ORDER BY id")]


async def schema_version(conn: Connection) -> int:
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations"))


async def is_empty(conn: Connection) -> bool:
    """No table, view, sequence or function of ours in the public schema."""
    found = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public') OR EXISTS (SELECT 1 FROM pg_proc p"
        " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public')"
    )
    return not found


async def missing_roles(conn: Connection, roles: Sequence[str]) -> list[str]:
    rows = await conn.fetch("SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[])", roles)
    have = {r["rolname"] for r in rows}
    return [r for r in roles if r not in have]


async def _tables(conn: Connection) -> list[tuple[str, bool]]:
    rows = await conn.fetch(
        "SELECT c.relname, c.relrowsecurity FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.relname"
    )
    return [(r["relname"], r["relrowsecurity"]) for r in rows]


async def _count(conn: Connection, table: str, tenant: str | None) -> int:
    async with conn.transaction():
        await conn.execute(_SET_TENANT, tenant)
        return int(await conn.fetchval(f'SELECT count(*) FROM "{table}"'))


async def row_counts(conn: Connection, orgs: Sequence[str]) -> dict[str, int]:
    """Rows per table. Without the right to bypass row-level security, a table under a
    policy is counted once per tenant (and once with none, for rows of no tenant)."""
    bypass = await bypasses_row_security(conn)
    counts = {}
    for table, secured in await _tables(conn):
        tenants: Sequence[str | None] = [None, *orgs] if secured and not bypass else [None]
        counts[table] = sum([await _count(conn, table, t) for t in tenants])
    return counts


async def trial_balance(conn: Connection, org: str) -> dict[str, Totals]:
    async with conn.transaction():
        await conn.execute(_SET_TENANT, org)
        rows = await conn.fetch(
            "SELECT currency, coalesce(sum(amount) FILTER (WHERE amount > 0), 0) AS debits,"
            " coalesce(-sum(amount) FILTER (WHERE amount < 0), 0) AS credits"
            " FROM postings WHERE organization_id = $1 GROUP BY currency",
            org,
        )
    return {r["currency"]: Totals(int(r["debits"]), int(r["credits"])) for r in rows}


async def audit_head(conn: Connection, org: str) -> ChainHead | None:
    async with conn.transaction():
        await conn.execute(_SET_TENANT, org)
        row = await conn.fetchrow(
            "SELECT seq, hash FROM audit_events WHERE organization_id = $1 AND seq IS NOT NULL"
            " ORDER BY seq DESC LIMIT 1",
            org,
        )
    return ChainHead(int(row["seq"]), str(row["hash"])) if row else None


async def _all_trial_balances(conn: Connection) -> dict[str, dict[str, Totals]]:
    rows = await conn.fetch(
        "SELECT organization_id, currency,"
        " coalesce(sum(amount) FILTER (WHERE amount > 0), 0) AS debits,"
        " coalesce(-sum(amount) FILTER (WHERE amount < 0), 0) AS credits"
        " FROM postings GROUP BY organization_id, currency"
    )
    found: dict[str, dict[str, Totals]] = {}
    for r in rows:
        found.setdefault(r["organization_id"], {})[r["currency"]] = Totals(
            int(r["debits"]), int(r["credits"])
        )
    return found


async def _all_audit_heads(conn: Connection) -> dict[str, ChainHead]:
    rows = await conn.fetch(
        "SELECT DISTINCT ON (organization_id) organization_id, seq, hash FROM audit_events"
        " WHERE seq IS NOT NULL ORDER BY organization_id, seq DESC"
    )
    return {r["organization_id"]: ChainHead(int(r["seq"]), str(r["hash"])) for r in rows}


async def books(conn: Connection, orgs: Sequence[str]) -> Books:
    """The books of orgs as the checks compare them (inside the caller's snapshot when it
    holds one: every read here is a subtransaction of it). A role that bypasses row-level
    security reads every organization in one pass (the backup, the throwaway server);
    one that does not, one organization at a time with the tenant set (a restore)."""
    if await bypasses_row_security(conn):
        balances, heads = await _all_trial_balances(conn), await _all_audit_heads(conn)
        trial_balances = {org: balances.get(org, {}) for org in orgs}
        audit_heads = {org: heads.get(org) for org in orgs}
    else:
        trial_balances = {org: await trial_balance(conn, org) for org in orgs}
        audit_heads = {org: await audit_head(conn, org) for org in orgs}
    return Books(
        schema_version=await schema_version(conn),
        tables=await row_counts(conn, orgs),
        trial_balances=trial_balances,
        audit_heads=audit_heads,
    )


# The chain recomputed by the verifier's own SQL from built-ins only (never a function
# of the restored database, which the dump could have changed): each event's content as
# json_build_object's text with sorted keys (domain.audit's canonical form), its link
# hash over the previous event's stored hash. The first event that breaks is returned.
_BROKEN_LINK = """
WITH chain AS (
  SELECT id, seq, prev_hash, hash, row_number() OVER w AS expected_seq,
         coalesce(lag(hash) OVER w, $2) AS expected_prev,
         encode(sha256(convert_to(coalesce(lag(hash) OVER w, $2) || encode(sha256(convert_to(
           json_build_object(
             'action', action, 'actor_user_id', actor_user_id, 'after_sha256', after_sha256,
             'before_sha256', before_sha256, 'id', id, 'object_id', object_id,
             'object_type', object_type,
             'occurred_at', to_char(occurred_at AT TIME ZONE 'UTC',
                                    'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
             'organization_id', organization_id, 'request_id', request_id,
             'target_id', target_id)::text, 'UTF8')), 'hex'), 'UTF8')), 'hex') AS expected_hash
    FROM audit_events WHERE organization_id = $1 AND seq IS NOT NULL
  WINDOW w AS (ORDER BY seq))
SELECT id, seq, expected_seq, prev_hash IS NOT DISTINCT FROM expected_prev AS prev_ok
  FROM chain
 WHERE seq <> expected_seq OR prev_hash IS DISTINCT FROM expected_prev
    OR hash IS DISTINCT FROM expected_hash
 ORDER BY seq LIMIT 1
"""


async def verify_chain(conn: Connection, org: str) -> Failure | None:
    """Recompute the organization's audit chain from its first linked event, in the
    database (one set-based pass); the first broken link, or None."""
    async with conn.transaction():
        await conn.execute(_SET_TENANT, org)
        row = await conn.fetchrow(_BROKEN_LINK, org, audit.GENESIS)
    if row is None:
        return None
    if row["seq"] != row["expected_seq"]:
        reason = f"sequence gap: expected seq {row['expected_seq']}, found {row['seq']}"
    elif not row["prev_ok"]:
        reason = "previous hash does not match the preceding event's hash"
    else:
        reason = "hash does not match the event's content"
    return Failure("audit_chain", f"event {row['id']}: {reason}", org)


BACKUP_DEFAULT_PRIVILEGES = (
    "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO accounting_backup",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON SEQUENCES TO accounting_backup",
)
"""As 0017 grants them: the tables later migrations create can be dumped too."""


async def grant_backup_defaults(conn: Connection) -> None:
    """Give the role of conn (the new schema owner after a restore) the default
    privileges the old owner had: a dump carries them under the old owner's name."""
    for statement in BACKUP_DEFAULT_PRIVILEGES:
        await conn.execute(statement)


async def server_version(conn: Connection) -> str:
    return str(await conn.fetchval("SHOW server_version"))


async def record_backup(
    conn: Connection,
    *,
    key: str,
    bucket: str,
    started_at: datetime.datetime,
    finished_at: datetime.datetime,
    size_bytes: int,
    sha256: str,
    schema_version: int,
) -> None:
    await conn.execute(
        "INSERT INTO backups (key, bucket, started_at, finished_at, size_bytes, sha256,"
        " schema_version) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key) DO NOTHING",
        key,
        bucket,
        started_at,
        finished_at,
        size_bytes,
        sha256,
        schema_version,
    )


async def record_verification(
    conn: Connection, *, key: str, verified_at: datetime.datetime, passed: bool, detail: str
) -> None:
    await conn.execute(
        "UPDATE backups SET verified_at = $2, verification = $3, verification_detail = $4"
        " WHERE key = $1",
        key,
        verified_at,
        "passed" if passed else "failed",
        detail[:2000],
    )


async def record_deleted(conn: Connection, keys: Sequence[str], at: datetime.datetime) -> None:
    await conn.execute(
        "UPDATE backups SET deleted_at = $2 WHERE key = ANY($1::text[]) AND deleted_at IS NULL",
        list(keys),
        at,
    )
