"""The operator on its own local control plane: one platform's time to Ready, 200 at once
against a plain client applying the same manifests, and the operator's memory.

Starts the local cluster `ua-bench` (hack/k8s, kwok nodes) and deletes it at the end,
whatever the outcome. In order:

1. raw limit (bench/operator_raw.py): the operator's work for 200 AccountingPlatforms,
   done by a thread pool of the plain `kubernetes` client driven by watches: each
   platform and its rendered children (the operator's own renderers, field managers,
   create-only Job, replicas handover), its Deployments the moment its migration Job
   has succeeded, and the Ready status the moment they are rolled out. `raw_s` ends when
   the last one is Ready at its generation; `raw_first_writes_s` when the writes that
   need no waiting are done.
2. `accounting-operator run --all-namespaces` as a subprocess (its settings from the
   ACCOUNTING_OPERATOR_* variables, defaults otherwise); its RSS with no platform
   (`idle_rss_mb`).
3. one platform (examples/minimal.yaml and its Secrets, `kubectl apply` into its own
   namespace), timed to Ready=True at the current generation; the namespace is deleted
   between runs; after one warm-up run, `ready_p50_s` over BENCH_RUNS runs.
4. 200 platforms server-side applied at once; `operator_s` until every one is Ready at
   its current generation. `peak_rss_mb` is the operator's VmHWM at the end;
   `marginal_kb_per_platform` its steady RSS with the 200 less the idle RSS, per platform.

`ratio` = operator_s / raw_s: both end at the same state (every platform Ready: its
migration run, its pods created, scheduled and available), so the ratio is what the
operator's reading, deciding and status reporting add to the cluster's own work.
Simulated nodes are sized from the rendered CPU requests.

Watches on platforms, Deployments and Jobs time each step of every platform (operator
work vs the cluster's controllers), and /proc gives each process's CPU time. Prints one
JSON object on the last line and writes it to bench/results/operator.json.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import Any

import yaml
from bench import operator_raw, processes
from bench.kube import (
    STOPPING,
    Key,
    Kube,
    KubeError,
    Manifest,
    Watcher,
    deployment_available,
    job_succeeded,
    log,
    platform_converged,
    resource_path,
)
from bench.processes import (
    Operator,
    Sampler,
    cluster_cpu,
    cluster_pids,
    controller_manager_metrics,
    cpu_seconds,
    deltas,
    loadavg,
    memory_kb,
    operator,
    percentile,
    profiled,
    steady_rss_mb,
)

from accounting_operator import (
    API_VERSION,
    GROUP,
    KIND,
    PLURAL,
    diff,
    render,
)
from accounting_operator.reconcile import Parent, parse
from accounting_operator.render import migration
from accounting_operator.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
HACK = ROOT / "hack" / "k8s"
EXAMPLES = ROOT / "examples"
CRD = ROOT / "crds" / "accountingplatforms.yaml"
CLUSTER = processes.CLUSTER
PLATFORMS = int(os.environ.get("BENCH_PLATFORMS", "200"))
RUNS = int(os.environ.get("BENCH_RUNS", "10"))
NAMESPACES = int(os.environ.get("BENCH_NAMESPACES", "4"))
THREADS = int(os.environ.get("BENCH_THREADS", "16"))
TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "900"))
WARM_UP = 8
"""Platforms the raw path applies before it is timed (first applies of every kind)."""
NODE_CPU, NODE_PODS = 16, 110
"""Allocatable CPU and pods of each kwok node that hack/k8s/cluster-up.sh registers."""
BENCH_MANAGER = "bench"
MERGE = "application/merge-patch+json"
PLATFORM_PATH = f"/apis/{API_VERSION}"
RECONCILES = "accounting_operator_reconciles_total"


def hack(script: str, *, nodes: int = 3) -> str:
    """Run a hack/k8s script for the bench cluster; its last stdout line."""
    env = os.environ | {"UA_K8S_CLUSTER": CLUSTER, "UA_K8S_NODES": str(nodes)}
    done = subprocess.run(
        [str(HACK / script)], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise RuntimeError(f"hack/k8s/{script} failed (exit {done.returncode})")
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else ""


@dataclass
class Watches:
    platforms: Watcher
    deployments: Watcher
    jobs: Watcher

    @classmethod
    def start(cls, kube: Kube) -> Watches:
        managed = "app.kubernetes.io/managed-by=accounting-operator"
        return cls(
            Watcher(kube, f"{PLATFORM_PATH}/{PLURAL}", platform_converged).start(),
            Watcher(kube, "/apis/apps/v1/deployments", deployment_available, managed).start(),
            Watcher(kube, "/apis/batch/v1/jobs", job_succeeded, managed).start(),
        )

    def steps(self, keys: Iterable[Key], started: dict[Key, float]) -> dict[str, float]:
        """p50 over platforms of each step, operator's and cluster's, in seconds."""
        spans: dict[str, list[float]] = {}
        for ns, name in keys:
            job = (ns, migration.job_name(platform_model(ns, name)))
            workloads = [(ns, f"{name}-api"), (ns, f"{name}-worker")]
            t0 = started[(ns, name)]
            job_created = self.jobs.seen[job]
            job_done = self.jobs.done_at[job]
            deploy_created = min(self.deployments.seen[w] for w in workloads)
            available = max(self.deployments.done_at[w] for w in workloads)
            ready = self.platforms.done_at[(ns, name)]
            for step, span in (
                ("op_to_job_s", job_created - t0),
                ("cluster_job_s", job_done - job_created),
                ("op_job_to_deployments_s", deploy_created - job_done),
                ("cluster_rollout_s", available - deploy_created),
                ("op_available_to_ready_s", ready - available),
            ):
                spans.setdefault(step, []).append(span)
        return {step: round(statistics.median(v), 3) for step, v in spans.items()}


# --- platforms and their namespaces ----------------------------------------------------


EXAMPLE: Manifest = yaml.safe_load((EXAMPLES / "minimal.yaml").read_text())
SECRETS: list[Manifest] = [
    doc for doc in yaml.safe_load_all((EXAMPLES / "secrets.example.yaml").read_text()) if doc
]


def platform_body(namespace: str, name: str) -> Manifest:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": EXAMPLE["spec"],
    }


def platform_model(namespace: str, name: str, uid: str = "0") -> render.Platform:
    body = platform_body(namespace, name)
    body["metadata"] |= {"uid": uid, "generation": 1}
    return parse(Parent.of(body), service_monitor_crd=False)


def nodes_needed() -> int:
    """Simulated nodes for every long-running pod of PLATFORMS + WARM_UP platforms (by the
    rendered CPU requests and replicas), with 15% to spare for uneven spreading."""
    platform = platform_model("default", "books")
    desired = render.render(platform)
    floors = diff.replica_floors(desired)
    cpu, pods = Decimal(0), 0
    for manifest in desired:
        if manifest["kind"] != "Deployment":
            continue
        replicas = manifest["spec"].get("replicas") or floors[manifest["metadata"]["name"]]
        for container in manifest["spec"]["template"]["spec"]["containers"]:
            cpu += replicas * (diff.quantity(container["resources"]["requests"]["cpu"]) or 0)
        pods += replicas
    total = PLATFORMS + WARM_UP
    need = max(total * cpu / NODE_CPU, Decimal(total * pods) / NODE_PODS)
    return max(3, math.ceil(need * Decimal("1.15")) + 1)


def create_namespace(kube: Kube, name: str, secrets: bool) -> None:
    kube.call("POST", "/api/v1/namespaces", body={"metadata": {"name": name}})
    if secrets:
        for secret in SECRETS:
            manifest = {**secret, "metadata": {**secret["metadata"], "namespace": name}}
            kube.apply(resource_path(manifest), manifest, BENCH_MANAGER)
    deadline = time.monotonic() + 60
    while not kube.exists(f"/api/v1/namespaces/{name}/serviceaccounts/default"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no default ServiceAccount in {name}")
        time.sleep(0.1)


def delete_namespaces(kube: Kube, names: list[str], timeout: float = 600) -> float:
    """Delete the namespaces and wait until they are gone; seconds it took."""
    started = time.perf_counter()
    body = {"propagationPolicy": "Background"}
    for name in names:
        with contextlib.suppress(KubeError):
            kube.call("DELETE", f"/api/v1/namespaces/{name}", body=body)
    deadline = time.monotonic() + timeout
    for name in names:
        while kube.exists(f"/api/v1/namespaces/{name}"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"namespace {name} still there after {timeout} s")
            time.sleep(0.5)
    return time.perf_counter() - started


def bulk_keys(prefix: str, count: int = PLATFORMS) -> list[Key]:
    return [(f"{prefix}-{i % NAMESPACES}", f"books-{i:03d}") for i in range(count)]


def apply_platform(kube: Kube, key: Key) -> Manifest:
    body = platform_body(*key)
    return kube.apply(resource_path(body), body, BENCH_MANAGER)


# --- the raw limit: the operator's work, done by a plain client (bench/operator_raw.py)


def run_raw(bench: Bench, keys: list[Key]) -> dict[str, float]:
    w = bench.watches
    return operator_raw.run(
        bench.kube,
        (w.platforms, w.deployments, w.jobs),
        keys,
        threads=THREADS,
        timeout=TIMEOUT,
        platform_body=lambda key: platform_body(*key),
        manager=BENCH_MANAGER,
    )


# --- the phases -------------------------------------------------------------------------


@dataclass
class Bench:
    kube: Kube
    kubeconfig: str
    kubectl: Path
    watches: Watches
    result: dict[str, Any] = field(default_factory=dict)

    def raw_phase(self) -> list[str]:
        """The plain-client limit; returns the namespaces to delete."""
        warm = bulk_keys("bench-warm", WARM_UP)
        namespaces = sorted({ns for ns, _ in warm + bulk_keys("bench-raw")})
        for ns in namespaces:
            create_namespace(self.kube, ns, secrets=True)
        run_raw(self, warm)  # the API server's first server-side applies of each kind
        keys = bulk_keys("bench-raw")
        pids = cluster_pids()
        cpu_before, cpu_client = cluster_cpu(pids), time.process_time()
        kcm_before = controller_manager_metrics()
        log(f"raw: {len(keys)} platforms, {THREADS} threads")
        raw = run_raw(self, keys)
        self.result |= {
            "raw_s": round(raw["raw_s"], 2),
            "raw_first_writes_s": round(raw["first_writes_s"], 2),
            "raw_writes": int(raw["writes"]),
            "raw_steps_p50": self.watches.steps(keys, dict.fromkeys(keys, raw["started"])),
            "raw_client_cpu_s": round(time.process_time() - cpu_client, 2),
            "raw_cluster_cpu_s": deltas(cluster_cpu(pids), cpu_before),
            "raw_kcm": deltas(controller_manager_metrics(), kcm_before),
        }
        log(f"raw: all {len(keys)} Ready in {raw['raw_s']:.1f} s, {int(raw['writes'])} writes")
        return namespaces

    def single(self, namespace: str) -> tuple[float, float, float]:
        """kubectl apply of the minimal example: when it started, how long the command
        took, and how long until the platform was Ready."""
        create_namespace(self.kube, namespace, secrets=False)
        files = ["-f", str(EXAMPLES / "secrets.example.yaml"), "-f", str(EXAMPLES / "minimal.yaml")]
        command = [str(self.kubectl), "--kubeconfig", self.kubeconfig, "apply", "-n", namespace]
        started = time.perf_counter()
        subprocess.run([*command, *files], check=True, capture_output=True)
        applied = time.perf_counter() - started
        ready = self.watches.platforms.wait({(namespace, "books")}, 120)[(namespace, "books")]
        return started, applied, ready - started

    def single_phase(self) -> None:
        applied, ready, started = [], [], {}
        for run in range(RUNS + 1):
            namespace = f"bench-one-{run}"
            started[(namespace, "books")], a, r = self.single(namespace)
            delete_namespaces(self.kube, [namespace])
            log(f"one platform, run {run}{' (warm-up)' if run == 0 else ''}: Ready in {r:.2f} s")
            if run:
                applied.append(a)
                ready.append(r)
        counted = [k for k in started if k[0] != "bench-one-0"]
        self.result |= {
            "ready_p50_s": round(statistics.median(ready), 3),
            "ready_p90_s": round(percentile(ready, 0.9), 3),
            "ready_min_s": round(min(ready), 3),
            "ready_max_s": round(max(ready), 3),
            "ready_runs": len(ready),
            "kubectl_apply_p50_s": round(statistics.median(applied), 3),
            "ready_steps_p50": self.watches.steps(counted, started),
        }

    def operator_phase(self, op: Operator, sampler: Sampler) -> None:
        keys = bulk_keys("bench-op")
        for ns in sorted({ns for ns, _ in keys}):
            create_namespace(self.kube, ns, secrets=True)
        pids = cluster_pids()
        cpu_before, op_cpu = cluster_cpu(pids), cpu_seconds(op.pid)
        kcm_before, metrics_before = controller_manager_metrics(), op.metrics()
        log(f"operator: {len(keys)} platforms")
        with profiled(op.pid):
            started = time.perf_counter()
            with ThreadPoolExecutor(THREADS, thread_name_prefix="apply") as pool:
                list(pool.map(lambda k: apply_platform(self.kube, k), keys))
            submitted = time.perf_counter() - started
            ready = self.watches.platforms.wait(set(keys), TIMEOUT)
        operator_s = max(ready.values()) - started
        op_cpu = cpu_seconds(op.pid) - op_cpu
        cluster_during = deltas(cluster_cpu(pids), cpu_before)
        metrics = deltas(op.metrics(), metrics_before)
        kcm = deltas(controller_manager_metrics(), kcm_before)
        rss_200 = steady_rss_mb(op.pid)
        memory = memory_kb(op.pid)
        offsets = [t - started for t in ready.values()]
        self.result |= {
            "platforms": len(keys),
            "operator_s": round(operator_s, 2),
            "operator_submit_s": round(submitted, 2),
            "operator_first_ready_s": round(min(offsets), 2),
            "operator_p50_s": round(statistics.median(offsets), 2),
            "operator_p90_s": round(percentile(offsets, 0.9), 2),
            "operator_steps_p50": self.watches.steps(keys, dict.fromkeys(keys, started)),
            "operator_cpu_s": round(op_cpu, 2),
            "operator_cluster_cpu_s": cluster_during,
            "operator_kcm": kcm,
            "operator_reconciles": int(
                metrics.get("accounting_operator_reconciles_total.success", 0)
            ),
            "operator_writes": {
                k.rsplit(".", 1)[1]: int(v)
                for k, v in metrics.items()
                if k.startswith("accounting_operator_writes_total.")
            },
            "rss_200_mb": round(rss_200, 1),
            "peak_rss_mb": round(memory["VmHWM"] / 1024, 1),
            "peak_sampled_rss_mb": round(sampler.max_rss_kb / 1024, 1),
        }
        log(f"operator: all {len(keys)} Ready in {operator_s:.1f} s")


def run(bin_dir: Path, log_dir: Path) -> dict[str, Any]:
    nodes = int(os.environ.get("BENCH_NODES") or nodes_needed())
    kubeconfig = hack("cluster-up.sh", nodes=nodes)
    kubectl = bin_dir / "kubectl"

    def run_kubectl(*args: str) -> None:
        command = [str(kubectl), "--kubeconfig", kubeconfig, *args]
        done = subprocess.run(command, check=False, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")

    run_kubectl("apply", "--server-side", "-f", str(CRD))
    # The API server may take a moment to serve a new CRD (`wait` says "not found").
    for attempt in range(5):
        try:
            run_kubectl("wait", "--for=condition=Established", "--timeout=60s",
                        f"crd/{PLURAL}.{GROUP}")  # fmt: skip
            break
        except RuntimeError as error:
            if attempt == 4:
                raise
            log(f"{error}; retrying")
            time.sleep(1)
    kube = Kube(kubeconfig, pool=THREADS + 4)
    bench = Bench(kube, kubeconfig, kubectl, Watches.start(kube))
    load_start, sampler = loadavg(), Sampler()
    raw_namespaces = bench.raw_phase()
    bench.result["raw_cleanup_s"] = round(delete_namespaces(kube, raw_namespaces), 1)
    with operator(kubeconfig, log_dir) as op:
        time.sleep(3)
        idle = steady_rss_mb(op.pid)
        sampler.pid = op.pid
        bench.single_phase()
        bench.operator_phase(op, sampler)
    sampler.stop()
    result = bench.result
    marginal_kb = (result["rss_200_mb"] - idle) * 1024 / result["platforms"]
    return {
        "benchmark": "operator",
        **{k: result[k] for k in ("ready_p50_s", "platforms", "operator_s", "raw_s")},
        "ratio": round(result["operator_s"] / result["raw_s"], 2),
        "peak_rss_mb": result["peak_rss_mb"],
        "idle_rss_mb": round(idle, 1),
        "marginal_kb_per_platform": round(marginal_kb, 1),
        **result,
        "operator_max_workers": Settings.from_env().max_workers,
        "threads": THREADS,
        "namespaces": NAMESPACES,
        "nodes": nodes,
        "load_avg_start": load_start,
        "load_avg_mean": round(statistics.fmean(sampler.loads), 2),
        "load_avg_max": max(sampler.loads),
        "load_avg_end": loadavg(),
        "cpus": os.cpu_count() or 0,
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def main() -> dict[str, Any]:
    # SIGTERM unwinds like Ctrl-C, so the cluster is deleted either way.
    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    built = subprocess.run(
        [str(HACK / "build.sh")], capture_output=True, text=True, check=True
    ).stdout
    bin_dir = Path(built.strip().splitlines()[-1])
    hack("cluster-down.sh")  # what an interrupted run may have left behind
    try:
        with tempfile.TemporaryDirectory(prefix="operator-bench-") as log_dir:
            return run(bin_dir, Path(log_dir))
    finally:
        STOPPING.set()
        hack("cluster-down.sh")


if __name__ == "__main__":
    result = main()
    out = ROOT / "bench/results"
    out.mkdir(exist_ok=True)
    (out / "operator.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
