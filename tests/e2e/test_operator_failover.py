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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e import drill, helpers
from tests.e2e import operating as op
from tests.e2e.helpers import Cluster, Manifest

AVAILABLE = "DatabaseAvailable"


@pytest.fixture
def replicas() -> drill.ReplicaSet:
    found = drill.ReplicaSet.from_env()
    found.reset()
    return found


def endpoint(server: str) -> dict[str, Any]:
    host, _, port = server.rpartition(":")
    return {"host": host, "port": int(port)}


def create_platform(
    cluster: Cluster, namespace: str, replicas: drill.ReplicaSet, **failover: Any
) -> None:
    """Platform books on the replica set, failover checked every second (3 failures)."""
    user, password = replicas.failover_login
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "books-db-failover"},
        "type": "kubernetes.io/basic-auth",
        "stringData": {"username": user, "password": password},
    }
    platform = yaml.safe_load((op.EXAMPLES / "minimal.yaml").read_text())
    platform["spec"]["database"] |= {
        "primary": endpoint(replicas.servers[0]),
        "replicas": [endpoint(s) for s in replicas.servers[1:]],
        "sslMode": "disable",
    }
    platform["spec"]["failover"] = {
        "enabled": True,
        "checkIntervalSeconds": 1,
        "failureThreshold": 3,
        "credentialsSecretRef": {"name": "books-db-failover"},
        **failover,
    }
    op.kubectl(cluster, "apply", "-n", namespace, "-f", str(op.EXAMPLES / "secrets.example.yaml"))
    documents = [secret, platform]
    op.kubectl(
        cluster,
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": documents}),
    )


def condition(found: Manifest, kind: str) -> dict[str, Any]:
    conditions = (found.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == kind), {})


def wait_condition(
    cluster: Cluster, namespace: str, status: str, reason: str, timeout: float = 60
) -> Manifest:
    def check() -> Manifest | None:
        found = op.platform(cluster, namespace)
        got = condition(found, AVAILABLE)
        return found if (got.get("status"), got.get("reason")) == (status, reason) else None

    return helpers.wait_for(f"{AVAILABLE}={status} ({reason})", check, timeout=timeout)


def database(cluster: Cluster, namespace: str) -> dict[str, Any]:
    return dict((op.platform(cluster, namespace).get("status") or {}).get("database") or {})


def config(cluster: Cluster, namespace: str) -> dict[str, str]:
    found = cluster.core.read_namespaced_config_map("books-config", namespace)
    return dict(helpers.wire(found)["data"])


def in_recovery(replicas: drill.ReplicaSet, server: str) -> bool:
    return bool(asyncio.run(replicas.fetchval(server, "SELECT pg_is_in_recovery()")))


def streams_from(replicas: drill.ReplicaSet, primary: str) -> list[str]:
    query = "SELECT array_agg(application_name ORDER BY 1) FROM pg_stat_replication"
    return list(asyncio.run(replicas.fetchval(primary, query)) or [])  # type: ignore[call-overload]


def entries_since(replicas: drill.ReplicaSet, server: str, since: object) -> int:
    query = "SELECT count(*) FROM journal_entries WHERE created_at >= $1"
    return int(asyncio.run(replicas.fetchval(server, query, since)))  # type: ignore[call-overload]


@pytest.fixture
def ready(
    cluster: Cluster, restricted: str, operator: op.Operator, replicas: drill.ReplicaSet
) -> Iterator[str]:
    create_platform(cluster, restricted, replicas)
    op.wait_ready(cluster, restricted)
    wait_condition(cluster, restricted, "True", "PrimaryAvailable")
    yield restricted


def test_kill_9_of_the_primary_under_load_loses_no_acknowledged_write(
    cluster: Cluster, ready: str, replicas: drill.ReplicaSet, tmp_path: Path
) -> None:
    primary, first, second = replicas.servers
    with drill.api(replicas.database_url, tmp_path / "api.log") as base, drill.Load(base) as load:
        time.sleep(2)
        killed = replicas.kill(primary)
        killed_at = asyncio.run(replicas.fetchval(first, "SELECT now()"))
        found = wait_condition(cluster, ready, "True", "FailedOver", timeout=60)
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
    helpers.wait_for("the other replica streaming from the new primary",
                     lambda: streams_from(replicas, promoted))  # fmt: skip

    state = database(cluster, ready)
    assert state["replicas"] == [follower]
    assert [f["server"] for f in state["fenced"]] == [primary]
    assert state["timeline"] == 2
    (history,) = op.platform(cluster, ready)["status"]["failoverHistory"]
    assert (history["from"], history["to"], history["kind"]) == (primary, promoted, "Failover")
    assert history["lagBytes"] == 0
    settings = helpers.wait_for(
        "the rendered DATABASE_URL to follow the failover",
        lambda: (
            (c := config(cluster, ready))["DATABASE_URL"].startswith(f"postgresql://{promoted}")
            and c
        ),
    )
    assert primary not in settings["DATABASE_URL"]
    assert settings["DATABASE_MIN_TIMELINE"] == "2"
    reasons = op.events(cluster, ready)
    assert {"FailoverStarted", "FailedOver", "Fenced"} <= set(reasons)
