"""`kubectl acp status`: the screen an admin reads, rendered from a platform's status as
the operator writes it (every field shown as stored, with its age), and `-o json`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from accounting_operator.kubectl import screen
from tests.unit.operator import helpers

NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)

FAILED_OVER: dict[str, Any] = {
    "phase": "Ready",
    "observedGeneration": 4,
    "ready": "3/3",
    "lastGoodVersion": "1.4.1",
    "components": {
        "api": {"replicas": 3, "readyReplicas": 3, "updatedReplicas": 3},
        "worker": {"replicas": 2, "readyReplicas": 1, "updatedReplicas": 2},
        "migration": {"version": "1.4.2", "phase": "Succeeded"},
    },
    "database": {
        "activePrimary": "pg-1.db.internal:5432",
        "replicas": ["pg-2.db.internal:5432"],
        "fenced": [
            {
                "server": "pg-0.db.internal:5433",
                "since": "2026-12-03T11:50:00Z",
                "fenced": True,
                "message": "rewind it before it rejoins",
            }
        ],
        "timeline": 2,
        "lastPrimaryLsn": 0x1_0000_0060,
    },
    "backup": {
        "lastSuccessful": "2026-12-03T11:00:00Z",
        "lastVerified": "2026-12-03T09:00:00Z",
        "lastFailure": {
            "job": "books-backup-29000000",
            "operation": "Backup",
            "time": "2026-12-03T10:00:00Z",
            "reason": "BackoffLimitExceeded",
            "message": "S3 refused",
        },
        "backupNow": {"token": "before-upgrade", "job": "books-backup-now-1", "message": "ok"},
    },
    "failoverHistory": [
        {
            "time": "2026-12-03T11:50:02Z",
            "kind": "Failover",
            "from": "pg-0.db.internal:5433",
            "to": "pg-1.db.internal:5432",
            "reason": "primary unreachable",
            "detectSeconds": 2.05,
            "promoteSeconds": 0.23,
            "lagBytes": 0,
        }
    ],
    "conditions": [
        {
            "type": "Ready",
            "status": "True",
            "reason": "AllReady",
            "message": "every component is ready",
            "lastTransitionTime": "2026-12-03T11:55:00Z",
        },
        {
            "type": "DatabaseAvailable",
            "status": "True",
            "reason": "FailedOver",
            "message": "pg-1.db.internal:5432 took over",
            "lastTransitionTime": "2026-12-03T11:50:02Z",
        },
    ],
}


def platform(status: dict[str, Any] | None, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "accounting.universalaccounting.com/v1alpha1",
        "kind": "AccountingPlatform",
        "metadata": {"name": "books", "namespace": "acct", "generation": 4},
        "spec": helpers.merged(helpers.FULL, spec or {}),
        **({"status": status} if status is not None else {}),
    }


def event(reason: str, at: str, message: str = "", kind: str = "Normal") -> dict[str, Any]:
    return {"type": kind, "reason": reason, "message": message, "lastTimestamp": at}


def test_a_failed_over_platform_shows_every_fact_the_operator_wrote() -> None:
    text = screen.render(platform(FAILED_OVER), [], NOW)
    expected = [
        "Phase:           Ready",
        "Version:         1.4.2 (last good: 1.4.1)",
        "Generation:      4 (observed 4)",
        "API pods ready:  3/3",
        "Pods:            api 3/3 ready, 3 updated; worker 1/2 ready, 2 updated",
        "Migration:       1.4.2 Succeeded",
        "Primary:               pg-1.db.internal:5432 (timeline 2)",
        "Replicas:              pg-2.db.internal:5432",
        "Fenced:                pg-0.db.internal:5433 since 2026-12-03T11:50:00Z (10m ago), "
        "fenced. rewind it before it rejoins",
        "Primary WAL position:  1/60",
        "Last backup:        2026-12-03T11:00:00Z (60m ago)",
        "Last restore test:  2026-12-03T09:00:00Z (3h ago)",
        "Last failure:       Backup Job books-backup-29000000, 2026-12-03T10:00:00Z (2h ago): "
        "BackoffLimitExceeded S3 refused",
        "Backup now:         request 'before-upgrade': ok",
    ]
    for line in expected:
        assert line in text, f"{line!r} not in\n{text}"


def test_failover_history_is_a_table_with_times_and_lag() -> None:
    text = screen.render(platform(FAILED_OVER), [], NOW)
    history = text.split("Failover history (newest last)\n")[1].split("\n\n")[0].splitlines()
    assert history[0].split() == [
        "TIME", "KIND", "FROM", "TO", "DETECT", "PROMOTE", "LAG", "REASON",
    ]  # fmt: skip
    assert history[1].split() == [
        "2026-12-03T11:50:02Z", "(9m", "ago)", "Failover", "pg-0.db.internal:5433",
        "pg-1.db.internal:5432", "2.05s", "0.23s", "0", "B", "primary", "unreachable",
    ]  # fmt: skip


def test_conditions_are_listed_by_type_with_their_age() -> None:
    text = screen.render(platform(FAILED_OVER), [], NOW)
    rows = text.split("\nConditions\n")[1].split("\n\n")[0].splitlines()
    assert [r.split()[:4] for r in rows] == [
        ["TYPE", "STATUS", "REASON", "AGE"],
        ["DatabaseAvailable", "True", "FailedOver", "9m"],
        ["Ready", "True", "AllReady", "5m"],
    ]


def test_before_any_failover_the_servers_come_from_the_spec_and_say_so() -> None:
    text = screen.render(platform({"phase": "Progressing"}), [], NOW)
    assert "Primary:   pg-0.db.internal:5433 (from the spec: no failover yet)" in text
    assert "Replicas:  pg-1.db.internal:5432, pg-2.db.internal:5432" in text
    assert "Failover history\n  none" in text
    assert "Last backup" not in text
    assert "none reported" in text


def test_a_platform_never_reconciled_says_so() -> None:
    text = screen.render(platform(None), [], NOW)
    assert "Phase:           (not reconciled yet)" in text
    assert "Version:         1.4.2 (last good: none yet)" in text
    assert "Conditions\n  none" in text
    assert "Events\n  none" in text


@pytest.mark.parametrize(
    ("status", "line"),
    [
        (
            {
                "database": {
                    "pending": {
                        "kind": "Switchover",
                        "from": "pg-0:5432",
                        "to": "pg-1:5432",
                        "reason": "switchover-to pg-1:5432 asked for",
                        "decidedAt": "2026-12-03T11:59:30Z",
                        "lagBytes": 20971520,
                    }
                }
            },
            "Pending:   Switchover pg-0:5432 -> pg-1:5432, decided 2026-12-03T11:59:30Z "
            "(30s ago), lag 20.0 MiB: switchover-to pg-1:5432 asked for",
        ),
        (
            {
                "rollback": {
                    "version": "1.5.0",
                    "toVersion": "1.4.2",
                    "reason": "MigrationFailed",
                    "message": "Job books-migrate-1-5-0 failed",
                    "time": "2026-12-03T11:00:00Z",
                }
            },
            "Rolled back:     1.5.0 -> 1.4.2 (MigrationFailed): Job books-migrate-1-5-0 failed",
        ),
        (
            {"bootstrap": {"phase": "Failed", "backup": "latest-verified", "message": "no roles"}},
            "Bootstrap:       Failed from latest-verified no roles",
        ),
    ],
)
def test_optional_status_parts_appear_when_written(status: dict[str, Any], line: str) -> None:
    assert line in screen.render(platform(status), [], NOW)


def test_paused_is_read_from_the_spec() -> None:
    assert "Paused:          yes" in screen.render(platform({}, {"paused": True}), [], NOW)


def test_the_latest_ten_events_are_shown_oldest_first() -> None:
    events = [event(f"Step{i:02}", f"2026-12-03T11:{i:02}:00Z") for i in range(12)]
    events.reverse()  # the API server's order is not the screen's
    text = screen.render(platform(FAILED_OVER), events, NOW)
    rows = text.split("Events (latest 10 of 12)\n")[1].splitlines()
    assert [r.split()[2] for r in rows[1:]] == [f"Step{i:02}" for i in range(2, 12)]
    assert rows[-1].split()[:2] == ["49m", "Normal"]


def test_an_event_message_spanning_lines_stays_on_one() -> None:
    text = screen.render(platform({}), [event("Failed", "2026-12-03T11:59:00Z", "a\n  b")], NOW)
    assert "Failed   a b" in text


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0s"),
        (59, "59s"),
        (60, "1m"),
        (119, "1m"),
        (7199, "119m"),
        (7200, "2h"),
        (172800, "2d"),
    ],
)
def test_ages_read_like_kubectl(seconds: int, shown: str) -> None:
    then = datetime.fromtimestamp(NOW.timestamp() - seconds, UTC)
    assert screen.age(then, NOW) == shown


def test_json_carries_the_status_exactly_as_stored() -> None:
    events = [event("Ready", "2026-12-03T11:55:00Z"), event("Created", "2026-12-03T11:00:00Z")]
    found = json.loads(json.dumps(screen.document(platform(FAILED_OVER), events)))
    assert found["status"] == FAILED_OVER
    assert (found["name"], found["namespace"], found["version"]) == ("books", "acct", "1.4.2")
    assert found["paused"] is False
    assert [e["reason"] for e in found["events"]] == ["Created", "Ready"]
