"""Backup names, retention, choosing a backup to restore, and the checks of a restore test."""

from __future__ import annotations

import datetime

import pytest

from accounting_api.domain import backups
from accounting_api.domain.backups import Books, ChainHead, Listed, Totals

NOW = datetime.datetime(2026, 12, 3, 6, 0, tzinfo=datetime.UTC)


def _id(days_ago: float) -> str:
    return backups.new_id(NOW - datetime.timedelta(days=days_ago))


def test_ids_sort_by_the_time_the_backup_started() -> None:
    moments = [
        NOW - datetime.timedelta(hours=h, milliseconds=ms) for h, ms in ((30, 0), (2, 5), (2, 4))
    ]
    ids = [backups.new_id(m) for m in moments]
    assert sorted(ids) == [ids[0], ids[1], ids[2]]
    assert [backups.started_at(i) for i in ids] == moments


def test_only_dumps_with_a_manifest_are_backups() -> None:
    done, died = _id(1), _id(0.5)
    objects = [
        (f"books/{done}.dump", 100),
        (f"books/{done}.manifest.json", 5),
        (f"books/{done}.verified.json", 5),
        (f"books/{died}.dump", 70),
        ("books/notes.txt", 1),
        (f"other/{done}.dump", 9),
    ]
    assert backups.listed("books", objects) == [Listed(done, 100, True)]


def test_a_failed_restore_test_is_listed_as_failed() -> None:
    bad = _id(1)
    objects = [
        (f"p/{bad}.dump", 1),
        (f"p/{bad}.manifest.json", 1),
        (f"p/{bad}.verify-failed.json", 1),
    ]
    assert backups.listed("/p/", objects)[0].verification == "failed"


@pytest.mark.parametrize(
    ("ages", "verified", "days", "deleted"),
    [
        # Within the window nothing goes.
        ([3, 2, 1], [True, True, None], 30, []),
        # Older than the window goes, except the newest backup.
        ([40, 35, 31], [None, None, None], 30, [0, 1]),
        # Every backup too old and none verified: the newest survives.
        ([50, 45], [None, None], 30, [0]),
        # The newest failed its test: the newest verified one survives too.
        ([50, 45, 40], [True, True, False], 30, [0]),
        # A backup that failed its test is never counted as good.
        ([50, 40, 1], [False, False, None], 30, [0, 1]),
    ],
)
def test_retention(
    ages: list[float], verified: list[bool | None], days: int, deleted: list[int]
) -> None:
    listed = [Listed(_id(a), 10, v) for a, v in zip(ages, verified, strict=True)]
    assert backups.to_delete(listed, NOW, days) == sorted(listed[i].id for i in deleted)


def test_dumps_no_manifest_completed_are_removed_once_past_the_window() -> None:
    old, young = _id(40), _id(1)
    objects = [(f"p/{old}.dump", 1), (f"p/{young}.dump", 1)]
    assert backups.orphans("p", objects, NOW, 30) == [f"p/{old}.dump"]


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [("latest", 2), ("latest-verified", 1), (None, 0)],
)
def test_choosing_the_backup_to_restore(wanted: str | None, expected: int) -> None:
    listed = [Listed(_id(3), 1, True), Listed(_id(2), 1, True), Listed(_id(1), 1, None)]
    name = wanted or f"books/{listed[0].id}.dump"
    assert backups.choose(listed, name) == listed[expected]


def test_choosing_a_backup_that_does_not_exist_says_so() -> None:
    with pytest.raises(backups.NoSuchBackup, match="latest-verified"):
        backups.choose([Listed(_id(1), 1, False)], "latest-verified")


def _books(**changes: object) -> Books:
    base: dict[str, object] = {
        "schema_version": 17,
        "tables": {"postings": 4, "organizations": 2},
        "trial_balances": {"org_a": {"USD": Totals(500, 500)}, "org_b": {}},
        "audit_heads": {"org_a": ChainHead(3, "a" * 64), "org_b": None},
    }
    return Books(**(base | changes))  # type: ignore[arg-type]


def test_identical_books_pass() -> None:
    assert backups.check_books(_books(), _books()) == []


def test_a_lost_posting_fails_the_trial_balance_and_names_the_organization() -> None:
    restored = _books(
        tables={"postings": 3, "organizations": 2},
        trial_balances={"org_a": {"USD": Totals(500, 300)}, "org_b": {}},
    )
    failures = backups.check_books(_books(), restored)
    assert [f.check for f in failures] == ["row_counts", "trial_balance", "trial_balance"]
    assert failures[1].organization == "org_a"
    assert "USD debits 500 != credits 300" in str(failures[1])


def test_another_schema_version_fails() -> None:
    failures = backups.check_books(_books(), _books(schema_version=16))
    assert [f.check for f in failures] == ["schema_version"]


def test_a_chain_that_ends_elsewhere_fails() -> None:
    failure = backups.check_chain_head("org_a", ChainHead(3, "a" * 64), ChainHead(2, "b" * 64))
    assert failure is not None
    assert failure.organization == "org_a"
    assert "seq 2" in failure.message
    assert backups.check_chain_head("org_b", None, None) is None


def test_a_changed_byte_fails_the_checksum_and_names_the_key() -> None:
    failure = backups.check_checksum("p/x.dump", "a" * 64, "b" * 64)
    assert failure is not None
    assert "p/x.dump" in str(failure)


def test_the_manifest_reads_back_as_written() -> None:
    manifest = backups.Manifest(
        id=_id(0),
        key=f"p/{_id(0)}.dump",
        books=_books(),
        dump_bytes=1234,
        sha256="c" * 64,
        started_at=NOW,
        finished_at=NOW + datetime.timedelta(seconds=3),
        timings={"dump_seconds": 3.0},
        versions={"server": "15.18"},
    )
    assert backups.Manifest.from_wire(manifest.wire()) == manifest


def test_a_manifest_of_another_format_is_refused() -> None:
    with pytest.raises(backups.BackupError, match="unknown manifest format"):
        backups.Manifest.from_wire({"format": "something-else/9"})
