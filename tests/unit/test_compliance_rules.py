"""The compliance report's rules, decided from evidence (domain/compliance.py)."""

from __future__ import annotations

import datetime

import pytest

from accounting_api.domain import compliance
from accounting_api.domain.compliance import Status

NOW = datetime.datetime(2026, 12, 3, 12, 0, tzinfo=datetime.UTC)
NOV = datetime.date(2026, 11, 1)


def at(days_ago: float) -> datetime.datetime:
    return NOW - datetime.timedelta(days=days_ago)


@pytest.mark.parametrize(
    ("has_postings", "closed_at", "now", "status"),
    [
        (False, None, NOW, Status.NOT_APPLICABLE),
        (True, datetime.datetime(2026, 12, 2, tzinfo=datetime.UTC), NOW, Status.PASS),
        (True, datetime.datetime(2026, 12, 10, 23, tzinfo=datetime.UTC), NOW, Status.PASS),
        (True, datetime.datetime(2026, 12, 11, 1, tzinfo=datetime.UTC), NOW, Status.FAIL),
        (True, None, NOW, Status.PASS),  # open, due by December 10
        (True, None, datetime.datetime(2026, 12, 11, tzinfo=datetime.UTC), Status.FAIL),
    ],
    ids=["no postings", "closed early", "closed on the due day", "closed late", "open, not due",
         "open, overdue"],
)  # fmt: skip
def test_a_month_with_postings_is_closed_within_ten_days_of_its_end(
    has_postings: bool, closed_at: datetime.datetime | None, now: datetime.datetime, status: Status
) -> None:
    assert compliance.month_close(NOV, has_postings, closed_at, now)[0] is status


def test_the_previous_month_of_january_is_december() -> None:
    january = datetime.datetime(2027, 1, 5, tzinfo=datetime.UTC)
    assert compliance.previous_month(january) == datetime.date(2026, 12, 1)


def member(last_sign_in: datetime.datetime | None) -> compliance.Member:
    return compliance.Member("user_1", "a@example.com", "viewer", at(200), last_sign_in)


@pytest.mark.parametrize(
    ("last", "status"),
    [(at(1), Status.PASS), (at(89.9), Status.PASS), (at(90.1), Status.FAIL), (None, Status.FAIL)],
    ids=["yesterday", "89.9 days", "90.1 days", "never"],
)
def test_users_who_have_not_signed_in_for_90_days_are_findings(
    last: datetime.datetime | None, status: Status
) -> None:
    assert compliance.dormant_users([member(last)], NOW)[0] is status


def test_thresholds_weaker_than_the_guides_fail_and_name_the_setting() -> None:
    guide = {"RATE_LIMIT_MAX": 5000, "SUSPICIOUS_IP_REQUESTS": 100}
    assert compliance.protection(compliance.Protection(dict(guide), guide))[0] is Status.PASS
    stricter = compliance.Protection({"RATE_LIMIT_MAX": 100, "SUSPICIOUS_IP_REQUESTS": 10}, guide)
    assert compliance.protection(stricter)[0] is Status.PASS
    weaker = compliance.Protection({"RATE_LIMIT_MAX": 5000, "SUSPICIOUS_IP_REQUESTS": 10**6}, guide)
    status, evidence, _ = compliance.protection(weaker)
    assert status is Status.FAIL
    assert "SUSPICIOUS_IP_REQUESTS=1000000 (guide: 100)" in evidence


def backup(finished: datetime.datetime, verification: str | None) -> compliance.Backup:
    return compliance.Backup("k", finished, verification, finished if verification else None, None)


def test_the_newest_verified_backup_must_be_at_most_a_day_old() -> None:
    rule = compliance.newest_verified_backup
    assert rule(0, None, NOW)[0] is Status.NOT_APPLICABLE
    assert rule(3, None, NOW)[0] is Status.FAIL
    assert rule(3, backup(at(0.9), "passed"), NOW)[0] is Status.PASS
    assert rule(3, backup(at(1.1), "passed"), NOW)[0] is Status.FAIL


def test_the_newest_backups_restore_test_must_have_passed() -> None:
    assert compliance.restore_test(None)[0] is Status.NOT_APPLICABLE
    assert compliance.restore_test(backup(NOW, "passed"))[0] is Status.PASS
    assert compliance.restore_test(backup(NOW, "failed"))[0] is Status.FAIL
    assert compliance.restore_test(backup(NOW, None))[0] is Status.FAIL


def test_a_group_fails_if_one_control_fails_and_is_not_applicable_only_if_none_applies() -> None:
    def c(status: Status) -> compliance.Control:
        return compliance.Control("x", compliance.Group.PCI, "x", status, "e", NOW)

    assert compliance.group_status([c(Status.PASS), c(Status.FAIL)]) is Status.FAIL
    assert compliance.group_status([c(Status.NOT_APPLICABLE)]) is Status.NOT_APPLICABLE
    assert compliance.group_status([c(Status.NOT_APPLICABLE), c(Status.PASS)]) is Status.PASS


def test_every_owner_and_admin_needs_a_second_factor() -> None:
    covered = [("user_a", "owner", True), ("user_b", "admin", True)]
    assert compliance.two_factor_coverage(covered, "none")[0] is Status.PASS
    status, evidence, details = compliance.two_factor_coverage(
        [*covered, ("user_c", "admin", False)], "none"
    )
    assert status is Status.FAIL
    assert "1 of 3" in evidence
    assert "two_factor_required_for" in evidence
    assert details["without_two_factor"] == [{"user": "user_c", "role": "admin"}]
