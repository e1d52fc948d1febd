"""The compliance report's rules: each control's status from the evidence read for it.

A control is PASS, FAIL or NOT_APPLICABLE (with the reason), never assumed: every status
here is decided from facts read at the time of the report (services.compliance), grouped
as the deployment guide groups its checks (SOC 2's access controls, backups, incident
response, change management and monitoring; the audit trail; encryption; PCI; GDPR).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from collections.abc import Sequence
from typing import Any


class Status(enum.StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    NOT_APPLICABLE = "NOT_APPLICABLE"


class Group(enum.StrEnum):
    ACCESS_CONTROLS = "access_controls"
    BACKUPS = "backups"
    INCIDENT_RESPONSE = "incident_response"
    CHANGE_MANAGEMENT = "change_management"
    MONITORING = "monitoring"
    AUDIT_TRAIL = "audit_trail"
    ENCRYPTION = "encryption"
    PCI = "pci"
    GDPR = "gdpr"


FRAMEWORK = {
    Group.ACCESS_CONTROLS: "SOC 2",
    Group.BACKUPS: "SOC 2",
    Group.INCIDENT_RESPONSE: "SOC 2",
    Group.CHANGE_MANAGEMENT: "SOC 2",
    Group.MONITORING: "SOC 2",
    Group.AUDIT_TRAIL: "audit trail",
    Group.ENCRYPTION: "encryption",
    Group.PCI: "PCI DSS",
    Group.GDPR: "GDPR",
}

DORMANT_AFTER = datetime.timedelta(days=90)
"""An active user who has not signed in for this long (or never) is a finding."""
BACKUP_MAX_AGE = datetime.timedelta(hours=24)
"""The newest backup whose restore test passed must be at most this old."""
ALERT_WINDOW = datetime.timedelta(hours=24)
"""Security events of warning or critical severity within this window are findings."""
CLOSE_WITHIN = datetime.timedelta(days=10)
"""A month with postings is closed on time if closed within this long after its end."""
UNLINKED_MAX_AGE = datetime.timedelta(minutes=10)
"""The worker links audit events every pass: one still unlinked after this long means the
background jobs are not running."""


@dataclasses.dataclass(frozen=True, slots=True)
class Control:
    id: str
    group: Group
    title: str
    status: Status
    evidence: str
    """What was found, in a sentence (the reason, for NOT_APPLICABLE)."""
    checked_at: datetime.datetime
    details: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class Report:
    organization_id: str
    generated_at: datetime.datetime
    controls: tuple[Control, ...]

    @property
    def compliant(self) -> bool:
        return all(c.status is not Status.FAIL for c in self.controls)

    def counts(self) -> dict[str, int]:
        return {s.value.lower(): sum(c.status is s for c in self.controls) for s in Status}

    def group(self, group: Group) -> tuple[Control, ...]:
        return tuple(c for c in self.controls if c.group is group)


def group_status(controls: Sequence[Control]) -> Status:
    """FAIL if any control fails; NOT_APPLICABLE if none applies; PASS otherwise."""
    if any(c.status is Status.FAIL for c in controls):
        return Status.FAIL
    if all(c.status is Status.NOT_APPLICABLE for c in controls):
        return Status.NOT_APPLICABLE
    return Status.PASS


@dataclasses.dataclass(frozen=True, slots=True)
class Member:
    user_id: str
    email: str
    role: str
    created_at: datetime.datetime
    last_sign_in: datetime.datetime | None


def dormant_users(
    members: Sequence[Member], now: datetime.datetime
) -> tuple[Status, str, dict[str, Any]]:
    """Active users who never signed in, or not within DORMANT_AFTER."""
    found = [m for m in members if m.last_sign_in is None or now - m.last_sign_in > DORMANT_AFTER]
    details = {
        "active_users": len(members),
        "dormant": [
            {"user": m.user_id, "email": m.email, "role": m.role,
             "last_sign_in": m.last_sign_in.isoformat() if m.last_sign_in else None}
            for m in found
        ],
    }  # fmt: skip
    if not found:
        return Status.PASS, f"all {len(members)} active users signed in within 90 days", details
    return (
        Status.FAIL,
        f"{len(found)} of {len(members)} active users never signed in or not within 90 days"
        " (deactivate or remove them)",
        details,
    )


def two_factor_coverage(
    staff: Sequence[tuple[str, str, bool]], required_for: str
) -> tuple[Status, str, dict[str, Any]]:
    """Active owners and admins (user id, role, has a confirmed second factor): each must
    sign in with a second factor (docs/two-factor.md)."""
    without = [{"user": user, "role": role} for user, role, enabled in staff if not enabled]
    details = {
        "owners_and_admins": len(staff),
        "with_two_factor": len(staff) - len(without),
        "without_two_factor": without,
        "two_factor_required_for": required_for,
    }
    if not without:
        return (
            Status.PASS,
            f"all {len(staff)} active owners and admins use two-factor sign-in",
            details,
        )
    advice = (
        "they get a token good only for enrolling until they do"
        if required_for == "owners_and_admins"
        else "require it: PATCH /v1/organization two_factor_required_for=owners_and_admins"
    )
    return (
        Status.FAIL,
        f"{len(without)} of {len(staff)} active owners and admins have no second factor ({advice})",
        details,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Protection:
    """The brute-force and rate-limit thresholds in force, with the guide's values."""

    in_force: dict[str, int]
    guide: dict[str, int]


def protection(p: Protection) -> tuple[Status, str, dict[str, Any]]:
    weaker = {k: v for k, v in p.in_force.items() if k in p.guide and v > p.guide[k]}
    details = {"in_force": p.in_force, "guide": p.guide}
    if not weaker:
        return (
            Status.PASS,
            "rate limits and brute-force thresholds at the guide's or stricter",
            details,
        )
    names = ", ".join(f"{k}={v} (guide: {p.guide[k]})" for k, v in sorted(weaker.items()))
    return Status.FAIL, f"weaker than the guide: {names}", details


@dataclasses.dataclass(frozen=True, slots=True)
class Backup:
    key: str
    finished_at: datetime.datetime
    verification: str | None
    verified_at: datetime.datetime | None
    detail: str | None


def newest_verified_backup(
    backups_recorded: int, newest_passed: Backup | None, now: datetime.datetime
) -> tuple[Status, str, dict[str, Any]]:
    if backups_recorded == 0:
        return (
            Status.NOT_APPLICABLE,
            "no backup has been recorded on this platform: backups are not configured"
            " (spec.backup.enabled with an object store)",
            {},
        )
    if newest_passed is None:
        return Status.FAIL, "no backup has passed a restore test", {"backups": backups_recorded}
    age = now - newest_passed.finished_at
    details = {"key": newest_passed.key, "finished_at": newest_passed.finished_at.isoformat(),
               "age_seconds": int(age.total_seconds())}  # fmt: skip
    hours = age.total_seconds() / 3600
    if age > BACKUP_MAX_AGE:
        return Status.FAIL, f"the newest verified backup is {hours:.1f} h old (limit 24 h)", details
    return Status.PASS, f"the newest verified backup is {hours:.1f} h old", details


def restore_test(newest: Backup | None) -> tuple[Status, str, dict[str, Any]]:
    if newest is None:
        return Status.NOT_APPLICABLE, "no backup has been recorded on this platform", {}
    verified = newest.verified_at.isoformat() if newest.verified_at else None
    details = {"key": newest.key, "verification": newest.verification, "verified_at": verified}
    if newest.verification == "passed":
        return Status.PASS, "the newest backup's restore test passed", details
    if newest.verification == "failed":
        return Status.FAIL, f"the newest backup's restore test failed: {newest.detail}", details
    return Status.FAIL, "the newest backup has not been restore-tested yet", details


def security_alerts(counts: dict[str, int]) -> tuple[Status, str, dict[str, Any]]:
    """Warning or critical security events of the organization within ALERT_WINDOW."""
    total = sum(counts.values())
    if total == 0:
        return Status.PASS, "no warning or critical security event in the last 24 hours", {}
    listed = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    return (
        Status.FAIL,
        f"security events to review in the last 24 hours: {listed}",
        {"events": counts},
    )


def month_close(
    month: datetime.date, has_postings: bool, closed_at: datetime.datetime | None,
    now: datetime.datetime,
) -> tuple[Status, str, dict[str, Any]]:  # fmt: skip
    """The month before `now`'s: closed within CLOSE_WITHIN after its end, if it had postings."""
    label = month.strftime("%Y-%m")
    if not has_postings:
        return Status.NOT_APPLICABLE, f"{label} has no postings to close", {"period": label}
    end = _month_end(month)
    due = end + CLOSE_WITHIN
    details = {"period": label, "due": due.isoformat(),
               "closed_at": closed_at.isoformat() if closed_at else None}  # fmt: skip
    if closed_at is not None:
        on_time = closed_at.date() <= due
        status = Status.PASS if on_time else Status.FAIL
        return status, f"{label} closed on {closed_at.date()} (due {due})", details
    if now.date() <= due:
        return Status.PASS, f"{label} is open and due to close by {due}", details
    return Status.FAIL, f"{label} is still open; it was due to close by {due}", details


def _month_end(month: datetime.date) -> datetime.date:
    following = (month.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    return following - datetime.timedelta(days=1)


def previous_month(now: datetime.datetime) -> datetime.date:
    return (now.date().replace(day=1) - datetime.timedelta(days=1)).replace(day=1)
