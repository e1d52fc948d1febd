"""Database failover with real servers: the operator (a process, on the local control plane)
watches the local replica set (a PostgreSQL primary and two synchronous streaming
replicas), while a real API process takes journal entries through a multi-host connection
string. The pods are simulated; the failover is not.

Each test starts from a fresh replica set (`drill.ReplicaSet.reset`) and checks, besides
the operator's status, what matters to the books: every entry the API acknowledged is on
the new primary, trial balances are zero, audit chains verify, and a former primary that
comes back takes no write.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import drill, helpers
from tests.e2e import operating as op
from tests.e2e.helpers import Cluster

SWITCHOVER = "accounting.universalaccounting.com/switchover-to"


@pytest.fixture
def replicas() -> drill.ReplicaSet:
    found = drill.ReplicaSet.from_env()
    found.reset()
    return found


def database(cluster: Cluster, namespace: str) -> dict[str, Any]:
    return dict((op.platform(cluster, namespace).get("status") or {}).get("database") or {})


def config(cluster: Cluster, namespace: str) -> dict[str, str]:
    found = cluster.core.read_namespaced_config_map("books-config", namespace)
    return dict(helpers.wire(found)["data"])


def in_recovery(replicas: drill.ReplicaSet, server: str) -> bool:
    return bool(asyncio.run(replicas.fetchval(server, "SELECT pg_is_in_recovery()")))


def streams_from(replicas: drill.ReplicaSet, primary: str) -> list[str]:
    query = "SELECT array_agg(application_name ORDER BY 1) FROM pg_stat_replication"
    return list(asyncio.run(replicas.fetchval(primary, query)) or [])


def entries_since(replicas: drill.ReplicaSet, server: str, since: object) -> int:
    query = "SELECT count(*) FROM journal_entries WHERE created_at >= $1"
    return int(asyncio.run(replicas.fetchval(server, query, since)))


@pytest.fixture
def ready(
    cluster: Cluster, restricted: str, operator: op.Operator, replicas: drill.ReplicaSet
) -> str:
    drill.apply_platform(cluster, restricted, replicas)
    op.wait_ready(cluster, restricted)
    drill.wait_condition(cluster, restricted, "True", "PrimaryAvailable")
    return restricted


def test_kill_9_of_the_primary_under_load_loses_no_acknowledged_write(
    cluster: Cluster, ready: str, replicas: drill.ReplicaSet, tmp_path: Path
) -> None:
    primary, first, second = replicas.servers
    with drill.api(replicas.database_url, tmp_path / "api.log") as base, drill.Load(base) as load:
        time.sleep(2)
        killed = replicas.kill(primary)
        killed_at = asyncio.run(replicas.fetchval(first, "SELECT now()"))
        found = drill.wait_promoted(cluster, ready)
        promoted = found["status"]["database"]["activePrimary"]
        assert promoted in {first, second}
        follower = second if promoted == first else first
        helpers.wait_for("acknowledged writes on the new primary",
                         lambda: load.outcome.first_ack_sent_after(killed))  # fmt: skip
        replicas.start(primary)  # the former primary comes back read-write, on its old timeline
        helpers.wait_for(
            "the former primary fenced",
            lambda: all(f["fenced"] for f in database(cluster, ready).get("fenced") or [{}]),
        )
        time.sleep(2)  # the load goes on against the platform with the old one up
        outcome = load.stop()

    assert outcome.acknowledged, "the load acknowledged nothing"
    assert asyncio.run(drill.lost(replicas, promoted, outcome)) == []
    assert asyncio.run(drill.books_problems(replicas, promoted)) == []
    assert entries_since(replicas, primary, killed_at) == 0, "the former primary took a write"
    assert not in_recovery(replicas, promoted)
    assert in_recovery(replicas, follower)
    name = f"ua_r{replicas.servers.index(follower)}"
    helpers.wait_for("the other replica streaming from the new primary",
                     lambda: streams_from(replicas, promoted) == [name])  # fmt: skip
    confirming = f'ANY 1 ("{name}")'
    helpers.wait_for("the other replica confirming commits",
                     lambda: synchronous_names(replicas, promoted) == confirming)  # fmt: skip

    state = database(cluster, ready)
    assert state["replicas"] == [follower]
    assert [f["server"] for f in state["fenced"]] == [primary]
    assert state["timeline"] == 2
    (history,) = op.platform(cluster, ready)["status"]["failoverHistory"]
    assert (history["from"], history["to"], history["kind"]) == (primary, promoted, "Failover")
    assert history["lagBytes"] == 0

    def repointed() -> dict[str, str] | None:
        found = config(cluster, ready)
        return found if found["DATABASE_URL"].startswith(f"postgresql://{promoted}") else None

    settings = helpers.wait_for("the rendered DATABASE_URL to follow the failover", repointed)
    assert primary not in settings["DATABASE_URL"]
    assert settings["DATABASE_MIN_TIMELINE"] == "2"
    op.await_events(cluster, ready, "FailoverStarted", "FailedOver", "Fenced")

    # Rewound onto the new primary, the former one streams from it: a replica again.
    replicas.rejoin(primary, promoted)
    helpers.wait_for(
        "the rewound former primary to rejoin",
        lambda: database(cluster, ready).get("replicas") == [follower, primary],
    )
    assert not database(cluster, ready).get("fenced")
    op.await_events(cluster, ready, "Rejoined")
    helpers.wait_for("the rejoined server back in DATABASE_URL",
                     lambda: primary in config(cluster, ready)["DATABASE_URL"])  # fmt: skip


def stop(replicas: drill.ReplicaSet, server: str) -> None:
    replicas.pg_ctl(server, "stop", "-m", "fast")


def no_promotion(cluster: Cluster, namespace: str, replicas: drill.ReplicaSet) -> None:
    """For a few more checks: every replica still a replica, no failover recorded."""
    time.sleep(4)
    assert all(in_recovery(replicas, s) for s in replicas.servers[1:])
    status = op.platform(cluster, namespace).get("status") or {}
    assert not status.get("failoverHistory")
    assert not (status.get("database") or {}).get("pending")


def test_a_replica_too_far_behind_is_never_promoted(
    cluster: Cluster, restricted: str, operator: op.Operator, replicas: drill.ReplicaSet
) -> None:
    primary, first, second = replicas.servers
    drill.apply_platform(cluster, restricted, replicas, maxReplicationLagBytes=1024 * 1024)
    op.wait_ready(cluster, restricted)
    drill.wait_condition(cluster, restricted, "True", "PrimaryAvailable")
    for server in (first, second):
        stop(replicas, server)
    # Commits no longer wait for a replica: WAL the replicas will never receive.
    asyncio.run(replicas.fetchval(primary, "ALTER SYSTEM SET synchronous_standby_names = ''"))
    asyncio.run(replicas.fetchval(primary, "SELECT pg_reload_conf()"))
    filler = (
        "CREATE TABLE filler AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 40000) g"
    )
    asyncio.run(replicas.fetchval(primary, filler))
    time.sleep(3)  # the operator sees the primary's new position
    replicas.kill(primary)

    found = drill.wait_condition(cluster, restricted, "False", "NoFailoverCandidate")
    assert "no replica answers" in drill.condition(found, drill.AVAILABLE)["message"]
    for server in (first, second):
        replicas.start(server)
    found = drill.wait_condition(cluster, restricted, "False", "ReplicaTooFarBehind")
    assert "maxReplicationLagBytes: 1048576" in drill.condition(found, drill.AVAILABLE)["message"]
    no_promotion(cluster, restricted, replicas)
    op.await_events(cluster, restricted, "NoFailoverCandidate", "ReplicaTooFarBehind")


def test_an_operator_cut_off_from_the_primary_does_not_fail_over(
    cluster: Cluster, ready: str, replicas: drill.ReplicaSet
) -> None:
    primary = replicas.servers[0]
    user, _ = replicas.failover_login
    # Only the operator loses the primary: its role is refused there, replication is not.
    replicas.refuse_role(primary, user)
    found = drill.wait_condition(cluster, ready, "False", "OperatorCutOff")
    assert "still streams from it" in drill.condition(found, drill.AVAILABLE)["message"]
    no_promotion(cluster, ready, replicas)
    replicas.refuse_role(primary, None)
    drill.wait_condition(cluster, ready, "True", "PrimaryAvailable")
    op.await_events(cluster, ready, "OperatorCutOff")


def test_an_operator_restarted_between_decision_and_promotion_promotes_once(
    cluster: Cluster, restricted: str, replicas: drill.ReplicaSet, tmp_path: Path
) -> None:
    primary, first, second = replicas.servers
    scope = ("--namespace", restricted)
    with op.operator(cluster.kubeconfig, *scope, log_dir=tmp_path):
        drill.apply_platform(cluster, restricted, replicas)
        op.wait_ready(cluster, restricted)
        drill.wait_condition(cluster, restricted, "True", "PrimaryAvailable")
    replicas.kill(primary)
    # What an operator that died right after recording its decision leaves: the second
    # replica (not the one a fresh judgement would pick first) is the one to promote.
    pending = {
        "kind": "Failover",
        "from": primary,
        "to": second,
        "reason": f"primary {primary} does not answer",
        "decidedAt": "2026-12-03T12:00:00Z",
        "lagBytes": 0,
    }
    status = {
        "database": {"activePrimary": primary, "replicas": [first, second], "pending": pending}
    }
    patch = json.dumps({"status": status})
    op.kubectl(cluster, "patch", "accountingplatform", "books", "-n", restricted,
               "--subresource=status", "--type=merge", "-p", patch)  # fmt: skip
    (tmp_path / "again").mkdir()
    with op.operator(cluster.kubeconfig, *scope, log_dir=tmp_path / "again"):
        found = drill.wait_promoted(cluster, restricted)
        time.sleep(3)
    assert found["status"]["database"]["activePrimary"] == second
    assert not in_recovery(replicas, second)
    assert in_recovery(replicas, first), "a second server was promoted"
    (history,) = op.platform(cluster, restricted)["status"]["failoverHistory"]
    assert history["to"] == second


def test_two_operators_promote_one_server(
    cluster: Cluster, restricted: str, replicas: drill.ReplicaSet, tmp_path: Path
) -> None:
    primary, first, second = replicas.servers
    scope = ("--namespace", restricted)
    (tmp_path / "second").mkdir()
    with (
        op.operator(cluster.kubeconfig, *scope, log_dir=tmp_path),
        op.operator(cluster.kubeconfig, *scope, log_dir=tmp_path / "second"),
    ):
        drill.apply_platform(cluster, restricted, replicas)
        op.wait_ready(cluster, restricted)
        drill.wait_condition(cluster, restricted, "True", "PrimaryAvailable")
        replicas.kill(primary)
        found = drill.wait_promoted(cluster, restricted)
        time.sleep(4)
    promoted = found["status"]["database"]["activePrimary"]
    assert [s for s in (first, second) if not in_recovery(replicas, s)] == [promoted]
    assert len(op.platform(cluster, restricted)["status"]["failoverHistory"]) == 1


def test_a_planned_switchover_under_load_loses_no_acknowledged_write(
    cluster: Cluster, ready: str, replicas: drill.ReplicaSet, tmp_path: Path
) -> None:
    primary, first, _ = replicas.servers
    with drill.api(replicas.database_url, tmp_path / "api.log") as base, drill.Load(base) as load:
        time.sleep(2)
        asked = time.monotonic()
        asked_at = asyncio.run(replicas.fetchval(primary, "SELECT now()"))
        op.kubectl(cluster, "annotate", "accountingplatform", "books", "-n", ready,
                   f"{SWITCHOVER}={first}")  # fmt: skip
        found = drill.wait_promoted(cluster, ready)
        helpers.wait_for("acknowledged writes on the new primary",
                         lambda: load.outcome.first_ack_sent_after(asked + 0.5))  # fmt: skip
        time.sleep(2)
        outcome = load.stop()

    assert found["status"]["database"]["activePrimary"] == first
    assert asyncio.run(drill.lost(replicas, first, outcome)) == []
    assert asyncio.run(drill.books_problems(replicas, first)) == []
    (history,) = op.platform(cluster, ready)["status"]["failoverHistory"]
    assert (history["kind"], history["from"], history["to"]) == ("Switchover", primary, first)
    assert database(cluster, ready)["fenced"][0]["fenced"] is True
    # The former primary kept running, fenced: it has nothing the new primary lacks.
    assert asyncio.run(drill.lost_on(replicas, primary, first, asked_at)) == []
    op.await_events(cluster, ready, "SwitchedOver")


def synchronous_names(replicas: drill.ReplicaSet, server: str) -> str:
    return str(asyncio.run(replicas.fetchval(server, "SHOW synchronous_standby_names")))


@pytest.mark.parametrize(
    ("mode", "alone", "reason"),
    [
        ("strict", "*", ("False", "NoSynchronousReplica")),
        ("preferred", "", ("True", "Asynchronous")),
    ],
)
def test_synchronous_replication_follows_the_replicas_after_a_failover(
    cluster: Cluster,
    restricted: str,
    operator: op.Operator,
    replicas: drill.ReplicaSet,
    mode: str,
    alone: str,
    reason: tuple[str, str],
) -> None:
    primary, first, second = replicas.servers
    drill.apply_platform(cluster, restricted, replicas, synchronousMode=mode)
    drill.wait_condition(cluster, restricted, "True", "PrimaryAvailable")
    stop(replicas, second)
    replicas.kill(primary)
    drill.wait_promoted(cluster, restricted)
    # No replica follows the new primary: strict makes commits wait, preferred does not.
    drill.wait_condition(cluster, restricted, *reason)
    assert synchronous_names(replicas, first) == alone
    replicas.start(second)  # it comes back streaming from nobody; the operator repoints it
    drill.wait_condition(cluster, restricted, "True", "PrimaryAvailable")
    helpers.wait_for("the replica to confirm commits",
                     lambda: synchronous_names(replicas, first) == 'ANY 1 ("ua_r2")')  # fmt: skip
    assert streams_from(replicas, first) == ["ua_r2"]
