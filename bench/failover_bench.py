"""Failover drills, timed as a client of the API sees them.

On its own local control plane (`ua-bench-failover`, started and deleted here) the operator
runs as a process with `checkIntervalSeconds: 1` and `failureThreshold: 3`, watching the
local replica set (hack/services.sh replset-*: a primary and two synchronous streaming
replicas). A real API process (multi-host DSN, `target_session_attrs=read-write`) takes
journal entries from four workers all the time. Each run starts from a fresh replica set:

1. BENCH_RUNS (5) kill -9 drills: `kill -9` of the primary's postmaster, then the
   operator detects, promotes, repoints. `rto_s` runs from the kill to the first
   acknowledged entry whose request was sent after the kill; `detect_s` and `promote_s`
   are the operator's own (status.failoverHistory).
2. the limit, the same failure handled the most direct way: BENCH_DIRECT_RUNS (3) kills
   followed at once by `pg_promote` of a replica (no detection, no operator): `direct_rto_s`
   is what the API's reconnect alone costs.
3. one planned switchover (`switchover-to` annotation): `switchover_rto_s` is the longest
   time between two acknowledged entries around it (the clients' write outage).

After each run every acknowledged entry is looked for on the new primary
(`lost_acknowledged`), and its books are checked (balanced, audit chains intact).
Prints one JSON object on the last line and writes it to bench/results/failover.json.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.e2e import drill, helpers
from tests.e2e import operating as op

from accounting_operator import pg
from accounting_operator.topology import Server

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = "ua-bench-failover"
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
DIRECT_RUNS = int(os.environ.get("BENCH_DIRECT_RUNS", "3"))
NAMESPACE = "bench-failover"
RTO_TARGET_S = 5.0


def log(message: str) -> None:
    print(f"failover_bench: {message}", file=sys.stderr, flush=True)


def hack(script: str, *args: str) -> str:
    env = {**os.environ, "UA_K8S_CLUSTER": CLUSTER}
    done = subprocess.run(
        [str(ROOT / "hack" / "k8s" / script), *args], env=env, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def fresh_platform(cluster: helpers.Cluster, replicas: drill.ReplicaSet) -> None:
    op.kubectl(cluster, "delete", "accountingplatform", "books", "-n", NAMESPACE,
               "--ignore-not-found", "--wait=true")  # fmt: skip
    replicas.reset()
    drill.apply_platform(cluster, NAMESPACE, replicas)
    drill.wait_condition(cluster, NAMESPACE, "True", "PrimaryAvailable")


def checked(replicas: drill.ReplicaSet, server: str, outcome: drill.Outcome) -> int:
    problems = asyncio.run(drill.books_problems(replicas, server))
    if problems:
        raise RuntimeError(f"the books on {server} are wrong: {problems[:3]}")
    return len(asyncio.run(drill.lost(replicas, server, outcome)))


def kill_drill(cluster: helpers.Cluster, replicas: drill.ReplicaSet, logs: Path) -> dict[str, Any]:
    fresh_platform(cluster, replicas)
    with drill.api(replicas.database_url, logs / "api.log") as base, drill.Load(base) as load:
        time.sleep(2)
        killed = replicas.kill(replicas.servers[0])
        found = drill.wait_condition(cluster, NAMESPACE, "True", "FailedOver", timeout=120)
        recovered = helpers.wait_for(
            "an acknowledged entry after the kill",
            lambda: load.outcome.first_ack_sent_after(killed),
        )
        time.sleep(1)
        outcome = load.stop()
    history = found["status"]["failoverHistory"][-1]
    promoted = found["status"]["database"]["activePrimary"]
    return {
        "detect_s": history["detectSeconds"],
        "promote_s": history["promoteSeconds"],
        "rto_s": round(recovered - killed, 3),
        "acknowledged": len(outcome.acknowledged),
        "lost_acknowledged": checked(replicas, promoted, outcome),
        "errors_during_failover": outcome.errors_between(killed, recovered),
    }


def direct_drill(replicas: drill.ReplicaSet, logs: Path) -> dict[str, Any]:
    """The limit: the kill answered at once by pg_promote, with no operator."""
    replicas.reset()
    user, password = replicas.failover_login
    login = pg.Login(user, password, pg.MAINTENANCE_DATABASE, "disable", 5.0)
    first = replicas.servers[1]
    with drill.api(replicas.database_url, logs / "api.log") as base, drill.Load(base) as load:
        time.sleep(2)
        killed = replicas.kill(replicas.servers[0])
        asyncio.run(pg.promote(Server.parse(first), login, ""))
        recovered = helpers.wait_for(
            "an acknowledged entry after the kill",
            lambda: load.outcome.first_ack_sent_after(killed),
        )
        time.sleep(1)
        outcome = load.stop()
    return {
        "rto_s": round(recovered - killed, 3),
        "lost_acknowledged": checked(replicas, first, outcome),
    }


def longest_gap(outcome: drill.Outcome) -> float:
    answered = sorted(done for _, _, done in outcome.acknowledged)
    return max((b - a for a, b in itertools.pairwise(answered)), default=0.0)


def switchover(cluster: helpers.Cluster, replicas: drill.ReplicaSet, logs: Path) -> dict[str, Any]:
    fresh_platform(cluster, replicas)
    target = replicas.servers[1]
    with drill.api(replicas.database_url, logs / "api.log") as base, drill.Load(base) as load:
        time.sleep(2)
        asked = time.monotonic()
        op.kubectl(cluster, "annotate", "accountingplatform", "books", "-n", NAMESPACE,
                   f"accounting.universalaccounting.com/switchover-to={target}")  # fmt: skip
        drill.wait_condition(cluster, NAMESPACE, "True", "FailedOver", timeout=120)
        helpers.wait_for(
            "an acknowledged entry after the switchover",
            lambda: load.outcome.first_ack_sent_after(time.monotonic() - 0.5),
        )
        done = time.monotonic()
        time.sleep(1)
        outcome = load.stop()
    return {
        "switchover_rto_s": round(longest_gap(outcome), 3),
        "switchover_s": round(done - asked, 3),
        "acknowledged": len(outcome.acknowledged),
        "lost_acknowledged": checked(replicas, target, outcome),
    }


def summary(
    kills: list[dict[str, Any]], direct: list[dict[str, Any]], switch: dict[str, Any]
) -> dict[str, Any]:
    def p50(key: str, runs: list[dict[str, Any]]) -> float:
        return round(float(statistics.median(r[key] for r in runs)), 3)

    rto_max = max(r["rto_s"] for r in kills)
    return {
        "runs": len(kills),
        "detect_s_p50": p50("detect_s", kills),
        "promote_s_p50": p50("promote_s", kills),
        "rto_s_p50": p50("rto_s", kills),
        "rto_s_max": rto_max,
        "direct_rto_s_p50": p50("rto_s", direct),
        "operator_overhead_s_p50": round(p50("rto_s", kills) - p50("rto_s", direct), 3),
        "acknowledged": sum(r["acknowledged"] for r in kills) + switch["acknowledged"],
        "lost_acknowledged": sum(r["lost_acknowledged"] for r in (*kills, *direct, switch)),
        "errors_during_failover": sum(r["errors_during_failover"] for r in kills),
        "switchover_rto_s": switch["switchover_rto_s"],
        "switchover_s": switch["switchover_s"],
        "rto_target_s": RTO_TARGET_S,
        "rto_target_met": rto_max <= RTO_TARGET_S,
        "kills": kills,
        "direct": direct,
    }


def main() -> dict[str, Any]:
    replicas = drill.ReplicaSet.from_env()
    logs = Path(tempfile.mkdtemp(prefix="failover-bench-"))
    hack("cluster-down.sh")
    kubeconfig = hack("cluster-up.sh")
    try:
        with helpers.connect(kubeconfig) as cluster:
            op.install_crd(cluster)
            op.kubectl(cluster, "create", "namespace", NAMESPACE)
            with op.operator(kubeconfig, "--namespace", NAMESPACE, log_dir=logs):
                kills = []
                for run in range(RUNS):
                    kills.append(kill_drill(cluster, replicas, logs))
                    log(f"kill -9 drill {run + 1}/{RUNS}: {kills[-1]}")
                switch = switchover(cluster, replicas, logs)
                log(f"switchover: {switch}")
            direct = []
            for run in range(DIRECT_RUNS):
                direct.append(direct_drill(replicas, logs))
                log(f"direct promotion {run + 1}/{DIRECT_RUNS}: {direct[-1]}")
    finally:
        hack("cluster-down.sh")
        replicas.reset()
    return summary(kills, direct, switch)


if __name__ == "__main__":
    result = main()
    out = ROOT / "bench" / "results" / "failover.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in {"kills", "direct"}}))
