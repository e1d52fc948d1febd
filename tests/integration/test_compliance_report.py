"""The compliance report: every control computed from live evidence, so a control turns from
PASS to FAIL when its evidence changes, and no organization sees another's facts."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from starlette.applications import Starlette

from tests.integration import conftest
from tests.integration.helpers import PASSWORD, Tenant, entry, post_entry, sign_up, token

CLI = str(Path(sys.executable).with_name("accounting-api"))


async def report(client: httpx.AsyncClient, t: Tenant) -> dict[str, Any]:
    response = await client.get("/v1/compliance-report", headers=t.auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def control(body: dict[str, Any], control_id: str) -> dict[str, Any]:
    return next(c for g in body["groups"] for c in g["controls"] if c["id"] == control_id)


async def add_user(client: httpx.AsyncClient, t: Tenant, role: str) -> tuple[str, str]:
    email = f"{role}-{os.urandom(4).hex()}@example.com"
    body = {"email": email, "password": PASSWORD, "name": role, "role": role}
    made = await client.post("/v1/users", json=body, headers=t.auth)
    assert made.status_code == 201, made.text
    return made.json()["id"], email


async def test_every_group_is_reported_with_a_status_and_evidence_for_each_control(
    client: httpx.AsyncClient,
) -> None:
    t = await sign_up(client)
    body = await report(client, t)
    assert body["object"] == "compliance_report"
    assert body["organization"] == t.org_id
    assert [g["group"] for g in body["groups"]] == [
        "access_controls", "backups", "incident_response", "change_management", "monitoring",
        "audit_trail", "encryption", "pci", "gdpr",
    ]  # fmt: skip
    for group in body["groups"]:
        for c in group["controls"]:
            assert c["status"] in {"PASS", "FAIL", "NOT_APPLICABLE"}
            assert c["evidence"]
    summary = body["summary"]
    total = sum(len(g["controls"]) for g in body["groups"])
    assert summary["passed"] + summary["failed"] + summary["not_applicable"] == total
    assert body["compliant"] is (summary["failed"] == 0)
    assert control(body, "audit.chain")["status"] == "PASS"
    assert control(body, "change.migrations")["status"] == "PASS"
    pci = control(body, "pci.card_data")
    assert pci["status"] == "NOT_APPLICABLE"
    assert "card numbers" in pci["evidence"]
    personal = control(body, "gdpr.personal_data")["details"]["columns"]
    assert {"users.email", "customers.email", "customers.billing_address"} <= set(personal)
    assert "accounts.name" not in personal
    assert control(body, "gdpr.customer_export")["status"] == "PASS"


async def test_a_tampered_audit_chain_turns_its_control_to_fail(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    body = entry(t.accounts["1000"], t.accounts["4000"], 100)
    assert (await post_entry(client, t, body)).status_code == 201
    assert control(await report(client, t), "audit.chain")["status"] == "PASS"
    victim = await owner_conn.fetchval(
        "SELECT id FROM audit_events WHERE organization_id = $1 ORDER BY seq LIMIT 1", t.org_id
    )
    async with owner_conn.transaction():
        await owner_conn.execute("SET LOCAL session_replication_role = replica")
        await owner_conn.execute(
            "UPDATE audit_events SET actor_user_id = 'user_forged' WHERE id = $1", victim
        )
    after = await report(client, t)
    chain = control(after, "audit.chain")
    assert chain["status"] == "FAIL"
    assert chain["details"]["first_broken"]["id"] == victim
    assert after["compliant"] is False


async def test_a_user_who_never_signed_in_fails_access_controls_until_they_sign_in(
    client: httpx.AsyncClient,
) -> None:
    t = await sign_up(client)
    assert control(await report(client, t), "access.dormant_users")["status"] == "PASS"
    user_id, email = await add_user(client, t, "accountant")
    dormant = control(await report(client, t), "access.dormant_users")
    assert dormant["status"] == "FAIL"
    assert [u["user"] for u in dormant["details"]["dormant"]] == [user_id]
    await token(client, email)
    assert control(await report(client, t), "access.dormant_users")["status"] == "PASS"


async def test_a_failed_sign_in_is_a_security_alert_of_the_last_24_hours(
    client: httpx.AsyncClient,
) -> None:
    t = await sign_up(client)
    assert control(await report(client, t), "incident.security_alerts")["status"] == "PASS"
    refused = await client.post(
        "/v1/auth/token", json={"email": t.email, "password": "not-the-password-at-all"}
    )
    assert refused.status_code == 401
    alerts = control(await report(client, t), "incident.security_alerts")
    assert alerts["status"] == "FAIL"
    assert alerts["details"]["events"] == {"auth.sign_in_failed": 1}


async def test_no_organization_sees_another_organizations_facts(
    client: httpx.AsyncClient,
) -> None:
    mine, theirs = await sign_up(client), await sign_up(client)
    their_user, their_email = await add_user(client, theirs, "viewer")
    await client.post("/v1/auth/token", json={"email": theirs.email, "password": "wrong-one-x"})
    text = json.dumps(await report(client, mine))
    for fact in (theirs.org_id, their_user, their_email, theirs.email):
        assert fact not in text
    assert control(await report(client, mine), "incident.security_alerts")["status"] == "PASS"


async def test_only_owners_and_admins_get_the_report(client: httpx.AsyncClient) -> None:
    t = await sign_up(client)
    for role in ("accountant", "viewer"):
        _, email = await add_user(client, t, role)
        headers = {"Authorization": f"Bearer {await token(client, email)}"}
        refused = await client.get("/v1/compliance-report", headers=headers)
        assert refused.status_code == 403, refused.text


async def test_backups_are_not_applicable_until_recorded_then_pass_while_fresh_and_fail_when_old(
    make_app: Callable[..., Starlette],
) -> None:
    # A database of its own: backup records are the platform's, not an organization's.
    db = await conftest.create_database()
    owner = await asyncpg.connect(db.owner_url)
    app = make_app(database_url=db.app_url, migration_database_url=db.owner_url)
    try:
        async with conftest.serve(app) as client:
            t = await sign_up(client)
            before = await report(client, t)
            assert control(before, "backups.newest_verified")["status"] == "NOT_APPLICABLE"
            assert control(before, "backups.restore_test")["status"] == "NOT_APPLICABLE"
            now = datetime.datetime.now(datetime.UTC)
            await owner.execute(
                "INSERT INTO backups (key, bucket, started_at, finished_at, size_bytes, sha256,"
                " schema_version, verified_at, verification)"
                " VALUES ('b/1', 'bucket', $1, $1, 10, repeat('a', 64), 28, $1, 'passed')",
                now - datetime.timedelta(hours=2),
            )
            fresh = await report(client, t)
            assert control(fresh, "backups.newest_verified")["status"] == "PASS"
            assert control(fresh, "backups.restore_test")["status"] == "PASS"
            await owner.execute(
                "UPDATE backups SET started_at = $1, finished_at = $1, verified_at = $1",
                now - datetime.timedelta(hours=30),
            )
            old = control(await report(client, t), "backups.newest_verified")
            assert old["status"] == "FAIL"
            assert "limit 24 h" in old["evidence"]
            await owner.execute(
                "INSERT INTO backups (key, bucket, started_at, finished_at, size_bytes, sha256,"
                " schema_version, verified_at, verification, verification_detail)"
                " VALUES ('b/2', 'bucket', $1, $1, 10, repeat('b', 64), 28, $1, 'failed',"
                " 'trial balance not zero')",
                now,
            )
            failed = control(await report(client, t), "backups.restore_test")
            assert failed["status"] == "FAIL"
            assert "trial balance not zero" in failed["evidence"]
    finally:
        await owner.close()
        await conftest.drop_database(db.name)


async def test_the_cli_prints_the_report_as_markdown_and_exits_1_when_a_control_fails(
    client: httpx.AsyncClient, database: conftest.TestDatabase, settings: Any
) -> None:
    t = await sign_up(client)
    await add_user(client, t, "viewer")  # never signs in: access.dormant_users fails
    env = os.environ | {
        "DATABASE_URL": database.app_url,
        "REDIS_URL": settings.redis_url,
        "JWT_SECRET": "cli-secret-" + "x" * 32,
    }
    process = await asyncio.create_subprocess_exec(
        CLI, "compliance-report", "--organization", t.org_id, "--format", "markdown",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 1, err.decode()
    text = out.decode()
    assert text.startswith(f"# Compliance report: {t.org_id}")
    assert "**NOT compliant**" in text
    assert "| Users who no longer sign in (`access.dormant_users`) | FAIL |" in text


async def test_the_database_connection_passes_over_tls_and_fails_without(
    client: httpx.AsyncClient, make_app: Callable[..., Starlette], database: conftest.TestDatabase
) -> None:
    # hack/services.sh gives the local PostgreSQL a self-signed certificate; the API's
    # default sslmode (prefer) then encrypts, as sslmode=verify-full does in production.
    t = await sign_up(client)
    encrypted = control(await report(client, t), "encryption.database_connection")
    assert encrypted["status"] == "PASS", encrypted
    assert encrypted["details"]["ssl"] is True
    plain = make_app(database_url=f"{database.app_url}?sslmode=disable")
    async with conftest.serve(plain) as plain_client:
        found = control(await report(plain_client, t), "encryption.database_connection")
    assert found["status"] == "FAIL"
    assert "not encrypted" in found["evidence"]
