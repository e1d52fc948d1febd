"""The compliance report (GET /v1/compliance-report, `accounting-api compliance-report`):
every control computed now, from the organization's live state, the platform's backup
records and the API's own database connection; nothing assumed (domain/compliance.py)."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Collection
from typing import Any

from accounting_api.db import compliance as compliance_db
from accounting_api.db import migrations
from accounting_api.db import two_factor as two_factor_db
from accounting_api.domain import compliance
from accounting_api.domain.compliance import Group, Status
from accounting_api.domain.roles import Principal, Role
from accounting_api.services import audit
from accounting_api.services.ports import Transactions
from accounting_api.settings import Settings

CUSTOMER_EXPORT = ("GET /v1/customers/{id}", "GET /v1/invoices", "GET /v1/payments")
"""The routes a customer's data is exported through (the lists filter by customer)."""

Finding = tuple[Status, str, dict[str, Any]]

PROTECTION = (
    "rate_limit_max",
    "auth_rate_limit_max",
    "auth_failures_per_account_address",
    "auth_failures_per_account",
    "suspicious_ip_requests",
)
"""The thresholds the brute-force control compares with the guide's (their defaults)."""


def protection(in_force: Settings) -> compliance.Protection:
    """The thresholds in force, beside the guide's (the settings' defaults)."""
    fields = {f.name: f.default for f in dataclasses.fields(Settings)}
    return compliance.Protection(
        {name.upper(): int(getattr(in_force, name)) for name in PROTECTION},
        {name.upper(): int(fields[name]) for name in PROTECTION},  # type: ignore[arg-type]
    )


async def report(
    db: Transactions,
    principal: Principal,
    protection: compliance.Protection,
    routes: Collection[str],
    now: datetime.datetime | None = None,
) -> compliance.Report:
    """Every control, for the caller's organization (owners and admins)."""
    principal.require(Role.ADMIN)
    now = now or datetime.datetime.now(datetime.UTC)
    found: list[tuple[str, Group, str, Finding]] = []

    def add(control: str, group: Group, title: str, finding: Finding) -> None:
        found.append((control, group, title, finding))

    chain = await audit.verify(db, principal)
    async with db.transaction(principal.organization_id) as conn:
        members = await compliance_db.active_members(conn)
        covered = await two_factor_db.coverage(conn)
        required_for = await two_factor_db.requirement(conn)
        recorded, passed, newest = await compliance_db.backups(conn)
        alerts = await compliance_db.security_alerts(conn, now - compliance.ALERT_WINDOW)
        month = compliance.previous_month(now)
        has_postings, closed_at = await compliance_db.month_activity(conn, month)
        unlinked = await compliance_db.oldest_unlinked_audit_event(conn)
        tls = await compliance_db.connection_encryption(conn)
        clear = await compliance_db.webhook_secrets_in_clear(conn)
        applied = await compliance_db.applied_migrations(conn)
        cards = await compliance_db.card_columns(conn)
        personal = await compliance_db.personal_data_columns(conn)

    add("access.dormant_users", Group.ACCESS_CONTROLS, "Users who no longer sign in",
        compliance.dormant_users(members, now))  # fmt: skip
    staff = [(c.user_id, c.role, c.enabled) for c in covered if Role(c.role).allows(Role.ADMIN)]
    add("access.two_factor", Group.ACCESS_CONTROLS,
        "Owners and admins sign in with a second factor",
        compliance.two_factor_coverage(staff, required_for.value))  # fmt: skip
    add("access.brute_force_protection", Group.ACCESS_CONTROLS,
        "Rate limits and brute-force protection", compliance.protection(protection))  # fmt: skip
    add("backups.newest_verified", Group.BACKUPS, "Newest backup proven by a restore test",
        compliance.newest_verified_backup(recorded, passed, now))  # fmt: skip
    add("backups.restore_test", Group.BACKUPS, "The newest backup's restore test",
        compliance.restore_test(newest))  # fmt: skip
    add("incident.security_alerts", Group.INCIDENT_RESPONSE,
        "Security alerts in the last 24 hours", compliance.security_alerts(alerts))  # fmt: skip
    add("change.migrations", Group.CHANGE_MANAGEMENT, "Database schema as released",
        _migrations(applied))  # fmt: skip
    add("monitoring.background_jobs", Group.MONITORING, "Background jobs running",
        _background_jobs(unlinked, now))  # fmt: skip
    add("monitoring.month_close", Group.MONITORING, "Last month closed on time",
        compliance.month_close(month, has_postings, closed_at, now))  # fmt: skip
    add("audit.chain", Group.AUDIT_TRAIL, "The audit chain verifies", _chain(chain))
    add("encryption.database_connection", Group.ENCRYPTION,
        "The API's database connection is encrypted", _tls(tls))  # fmt: skip
    add("encryption.webhook_secrets", Group.ENCRYPTION, "Webhook signing secrets sealed at rest",
        _sealed(clear))  # fmt: skip
    add("pci.card_data", Group.PCI, "Cardholder data", _cards(cards))
    add("gdpr.personal_data", Group.GDPR, "Where personal data lives", _personal(personal))
    add("gdpr.customer_export", Group.GDPR, "A customer's data can be exported",
        _export(routes))  # fmt: skip
    controls = tuple(
        compliance.Control(cid, group, title, status, evidence, now, dict(details))
        for cid, group, title, (status, evidence, details) in found
    )
    return compliance.Report(principal.organization_id, now, controls)


def _migrations(applied: dict[int, str]) -> Finding:
    released = {m.version: m.checksum for m in migrations.load()}
    pending = sorted(set(released) - set(applied))
    changed = sorted(v for v in applied if v in released and applied[v] != released[v])
    unknown = sorted(set(applied) - set(released))
    details = {"applied": len(applied), "latest": max(applied, default=0), "pending": pending,
               "changed": changed, "unknown": unknown}  # fmt: skip
    if pending or changed or unknown:
        return Status.FAIL, "the database schema differs from this release's migrations", details
    return Status.PASS, f"all {len(applied)} migrations applied, unchanged", details


def _background_jobs(unlinked: datetime.datetime | None, now: datetime.datetime) -> Finding:
    if unlinked is None or now - unlinked <= compliance.UNLINKED_MAX_AGE:
        return Status.PASS, "the worker links audit events as they are recorded", {}
    minutes = (now - unlinked).total_seconds() / 60
    return (
        Status.FAIL,
        f"an audit event has waited {minutes:.0f} min for the worker to link it: the worker"
        " (accounting-api worker) is not running",
        {"oldest_unlinked": unlinked.isoformat()},
    )


def _chain(chain: audit.Verification) -> Finding:
    details: dict[str, Any] = {"events_checked": chain.events_checked}
    if chain.valid:
        return Status.PASS, f"{chain.events_checked} audit events verified", details
    broken = chain.first_broken
    assert broken is not None
    details["first_broken"] = {"id": broken.id, "reason": broken.reason}
    return Status.FAIL, f"the audit chain is broken at {broken.id}: {broken.reason}", details


def _tls(tls: dict[str, object]) -> Finding:
    if tls.get("ssl"):
        return Status.PASS, f"TLS ({tls.get('version')}, {tls.get('cipher')})", dict(tls)
    return (
        Status.FAIL,
        "the API's connection to PostgreSQL is not encrypted (use sslmode=verify-full)",
        dict(tls),
    )


def _sealed(clear: int) -> Finding:
    if clear == 0:
        return Status.PASS, "no webhook signing secret is stored in the clear", {}
    return (
        Status.FAIL,
        f"{clear} webhook signing secrets are stored in the clear (run the worker, or"
        " `accounting-api webhooks rekey`, with WEBHOOK_SECRET_KEYS)",
        {"in_clear": clear},
    )


def _cards(columns: list[str]) -> Finding:
    if not columns:
        return (
            Status.NOT_APPLICABLE,
            "no column stores card data: payments record a method, an amount and a reference"
            " only. PCI DSS would apply once card numbers are stored, processed or"
            " transmitted by this platform",
            {"card_columns": []},
        )
    return (
        Status.FAIL,
        f"columns that may hold card data: {', '.join(columns)}; PCI DSS controls are not"
        " assessed by this report",
        {"card_columns": columns},
    )


def _personal(columns: list[str]) -> Finding:
    return (
        Status.PASS,
        f"personal data is held in {len(columns)} columns: {', '.join(columns)}",
        {"columns": columns},
    )


def _export(routes: Collection[str]) -> Finding:
    missing = [r for r in CUSTOMER_EXPORT if r not in routes]
    details = {"routes": list(CUSTOMER_EXPORT), "missing": missing}
    if missing:
        return Status.FAIL, f"no route to export: {', '.join(missing)}", details
    return (
        Status.PASS,
        "a customer's record, invoices and payments are exported as JSON by "
        + ", ".join(CUSTOMER_EXPORT),
        details,
    )
