"""The failover's decisions: who is promoted, when nobody is, and what status records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from accounting_operator import failover, pg, topology
from accounting_operator.failover import Probe, Promote, Refuse
from accounting_operator.stateful import DatabaseSpec
from accounting_operator.status import DatabaseStatus, FencedServer
from accounting_operator.topology import Server, Topology

P, R1, R2 = Server("10.0.0.1", 5432), Server("10.0.0.2", 5432), Server("10.0.0.2", 5433)
LAYOUT = Topology(P, (R1, R2))
MB = 1024 * 1024
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def replica(server: Server, lsn: int | None, upstream: Server | None = None) -> Probe:
    return Probe(server, reachable=True, in_recovery=True, lsn=lsn, upstream=upstream)


def down(server: Server) -> Probe:
    return Probe(server, reachable=False, error="connection refused")


@pytest.mark.parametrize(
    ("replicas", "last_lsn", "expected"),
    [
        ([replica(R1, 100), replica(R2, 90)], 100, Promote(R1, 0, "")),
        ([replica(R1, 90), replica(R2, 100)], 100, Promote(R2, 0, "")),
        ([replica(R1, 100), replica(R2, 100)], 100, Promote(R1, 0, "")),
        ([down(R1), replica(R2, 100 - MB)], 100, Promote(R2, MB - 100 + 100, "")),
        ([replica(R1, 10), replica(R2, 20)], 20 + 16 * MB, Promote(R2, 16 * MB, "")),
        ([replica(R1, 10), replica(R2, 20)], 21 + 16 * MB, Refuse("ReplicaTooFarBehind", "")),
        ([down(R1), down(R2)], 100, Refuse("NoFailoverCandidate", "")),
        ([replica(R1, 100), replica(R2, 100, upstream=P)], 100, Refuse("OperatorCutOff", "")),
        ([replica(R1, 100), replica(R2, 90)], None, Refuse("NoFailoverCandidate", "")),
        (
            [Probe(R1, reachable=True, in_recovery=False, lsn=200)],
            100,
            Refuse("NoFailoverCandidate", ""),
        ),
    ],
    ids=[
        "most-wal-wins",
        "order-does-not-beat-wal",
        "tie-goes-to-spec-order",
        "unreachable-replica-skipped",
        "lag-at-the-limit-is-promoted",
        "lag-over-the-limit-is-not",
        "no-replica-answers",
        "a-replica-still-streams-from-the-primary",
        "primary-position-never-seen",
        "a-primary-is-no-candidate",
    ],
)
def test_judge(replicas: list[Probe], last_lsn: int | None, expected: failover.Verdict) -> None:
    verdict = failover.judge(LAYOUT, replicas, last_lsn, 16 * MB, "does not answer")
    assert type(verdict) is type(expected)
    if isinstance(expected, Promote):
        assert isinstance(verdict, Promote)
        assert (verdict.candidate, verdict.lag_bytes) == (expected.candidate, expected.lag_bytes)
        assert str(P) in verdict.reason
    else:
        assert isinstance(verdict, Refuse)
        assert verdict.reason == expected.reason


def test_a_cut_off_operator_names_the_witness() -> None:
    verdict = failover.judge(LAYOUT, [replica(R2, 5, upstream=P)], 5, 0, "timed out")
    assert isinstance(verdict, Refuse)
    assert "10.0.0.2:5433 still streams from it" in verdict.message


@pytest.mark.parametrize(
    ("probe", "why"),
    [
        (Probe(P, reachable=True, lsn=1), None),
        (down(P), "does not answer (connection refused)"),
        (Probe(P, reachable=True, in_recovery=True), "is in recovery (read-only)"),
    ],
)
def test_primary_failed(probe: Probe, why: str | None) -> None:
    assert failover.primary_failed(probe) == why


def test_a_decision_is_recorded_then_promoted_into_a_new_topology() -> None:
    verdict = Promote(R2, 42, "primary 10.0.0.1:5432 does not answer")
    pending = failover.decided(
        DatabaseStatus(), LAYOUT, kind="Failover", verdict=verdict, detect_seconds=3.2, now=NOW
    )
    assert pending.active_primary == "10.0.0.1:5432"
    assert pending.pending is not None
    assert (pending.pending.from_server, pending.pending.to_server) == (
        "10.0.0.1:5432",
        "10.0.0.2:5433",
    )
    state, event = failover.promoted(pending, LAYOUT, 2, NOW + timedelta(seconds=1))
    assert state.active_primary == "10.0.0.2:5433"
    assert state.replicas == ["10.0.0.2:5432"]
    assert [f.server for f in state.fenced] == ["10.0.0.1:5432"]
    assert not state.fenced[0].fenced
    assert "pg_rewind" in state.fenced[0].message
    assert (state.timeline, state.pending) == (2, None)
    assert (event.detect_seconds, event.promote_seconds, event.lag_bytes) == (3.2, 1.0, 42)
    assert event.wire()["from"] == "10.0.0.1:5432"
    after = topology.of(_spec(), state)
    assert after == Topology(R2, (R1,), (P,), 2)


def _spec() -> DatabaseSpec:
    return DatabaseSpec.model_validate(
        {
            "primary": {"host": "10.0.0.1"},
            "replicas": [{"host": "10.0.0.2"}, {"host": "10.0.0.2", "port": 5433}],
            "credentialsSecretRef": {"name": "db"},
        }
    )


def test_fenced_then_rejoined() -> None:
    state = DatabaseStatus(
        active_primary="10.0.0.2:5433",
        replicas=["10.0.0.2:5432"],
        fenced=[FencedServer(server="10.0.0.1:5432", since=NOW)],
        timeline=2,
    )
    assert failover.fenced(state, P).fenced[0].fenced
    back = failover.rejoined(state, P)
    assert back.fenced == []
    assert topology.of(_spec(), back) == Topology(R2, (R1, P), (), 2)


def test_history_keeps_the_newest() -> None:
    _, event = failover.promoted(
        failover.decided(
            DatabaseStatus(),
            LAYOUT,
            kind="Failover",
            verdict=Promote(R1, 0, "x"),
            detect_seconds=0,
            now=NOW,
        ),
        LAYOUT,
        2,
        NOW,
    )
    kept = failover.history([event] * failover.HISTORY, event)
    assert len(kept) == failover.HISTORY


@pytest.mark.parametrize(
    ("followers", "mode", "names"),
    [
        (["ua_r2"], "preferred", 'ANY 1 ("ua_r2")'),
        (["b", "a"], "strict", 'ANY 1 ("a", "b")'),
        ([], "preferred", ""),
        ([], "strict", "*"),
        (['we"ird'], "preferred", 'ANY 1 ("we""ird")'),
    ],
)
def test_synchronous_names(followers: list[str], mode: str, names: str) -> None:
    assert failover.synchronous_names(followers, mode) == names


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (None, None),
        ("10.0.0.1:5432", None),
        ("10.0.0.2:5433", R2),
        ("10.0.0.9:5432", "SwitchoverRefused"),
        ("10.0.0.2:notaport", "SwitchoverRefused"),
    ],
)
def test_switchover_target(annotation: str | None, expected: object) -> None:
    target = failover.switchover_target(annotation, LAYOUT)
    if isinstance(expected, str):
        assert isinstance(target, Refuse)
        assert target.reason == expected
    else:
        assert target == expected


def test_primary_conninfo_is_repointed_keeping_everything_else() -> None:
    conninfo = (
        "user=replicator password='s3cr\\'t pass' channel_binding=prefer host=127.0.0.1 "
        "port=55440 application_name=ua_r2 sslmode=prefer hostaddr=127.0.0.1"
    )
    moved = pg.parse_conninfo(pg.follow(conninfo, Server("127.0.0.1", 55441)))
    assert moved == {
        "user": "replicator",
        "password": "s3cr't pass",
        "channel_binding": "prefer",
        "host": "127.0.0.1",
        "port": "55441",
        "application_name": "ua_r2",
        "sslmode": "prefer",
    }


def test_login_repr_hides_the_password() -> None:
    login = pg.Login("ua_failover", "hunter2", "accounting", "disable", 1.0)
    assert "hunter2" not in repr(login)
    assert "hunter2" not in str(login)


@pytest.mark.parametrize(
    ("probe", "rejoins"),
    [
        (Probe(P, reachable=True, in_recovery=True, upstream=R2, timeline=2), True),
        (Probe(P, reachable=True, in_recovery=True, upstream=R2, timeline=1), False),
        (Probe(P, reachable=True, in_recovery=True, upstream=None, timeline=2), False),
        (Probe(P, reachable=True, in_recovery=False, timeline=1), False),
    ],
    ids=["rewound-streams-the-new-timeline", "not-rewound-streams-the-old-one", "not-streaming",
         "read-write"],
)  # fmt: skip
def test_a_former_primary_rejoins_only_on_the_new_timeline(probe: Probe, rejoins: bool) -> None:
    assert failover.rejoins(probe, Topology(R2, (R1,), (P,), 2)) is rejoins
