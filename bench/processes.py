"""The processes of the operator benchmark: the operator it starts (its /metrics), and
what it measures of every process from /proc and /metrics: CPU time, memory, the load
average, and the local cluster's components (their pids from hack/k8s,
kube-controller-manager's client-side throttling)."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import urllib3
import yaml
from prometheus_client.parser import text_string_to_metric_families

CLUSTER = "ua-bench"


# --- the operator process -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Operator:
    process: subprocess.Popen[bytes]
    metrics_port: int
    health_port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def get(self, port: int, path: str) -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                return str(r.read().decode())
        except OSError:
            return None

    def metrics(self) -> dict[str, float]:
        """Sums of the operator's counters, by name and verb/result label."""
        out: dict[str, float] = {}
        for family in text_string_to_metric_families(self.get(self.metrics_port, "/metrics") or ""):
            for sample in family.samples:
                if sample.name.startswith("accounting_operator_") and sample.name.endswith(
                    ("_total", "_sum", "_count")
                ):
                    label = sample.labels.get("verb") or sample.labels.get("result") or ""
                    name = f"{sample.name}{'.' + label if label else ''}"
                    out[name] = out.get(name, 0.0) + sample.value
        return out


@contextlib.contextmanager
def operator(kubeconfig: str, log_dir: Path) -> Iterator[Operator]:
    metrics_port, health_port = free_port(), free_port()
    env = os.environ | {
        "KUBECONFIG": kubeconfig,
        "ACCOUNTING_OPERATOR_METRICS_ADDRESS": "127.0.0.1",
        "ACCOUNTING_OPERATOR_METRICS_PORT": str(metrics_port),
        "ACCOUNTING_OPERATOR_LIVENESS_ENDPOINT": f"http://127.0.0.1:{health_port}/healthz",
    }
    log_path = log_dir / "operator.log"
    command = [str(Path(sys.executable).parent / "accounting-operator"), "run", "--all-namespaces"]
    with log_path.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    running = Operator(process, metrics_port, health_port, log_path)
    try:
        deadline = time.monotonic() + 60
        while running.get(health_port, "/healthz") is None:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the operator did not start")
            time.sleep(0.1)
        yield running
    except BaseException:
        sys.stderr.write(f"--- operator log ---\n{log_path.read_text()[-6000:]}\n")
        raise
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc); 0 once it is gone."""
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in kB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in {"VmRSS", "VmHWM"}:
            out[name] = int(value.split()[0])
    return out


@contextlib.contextmanager
def profiled(pid: int) -> Iterator[None]:
    """With BENCH_PROFILE=FILE: py-spy samples the operator meanwhile (collapsed stacks)."""
    out = os.environ.get("BENCH_PROFILE")
    if not out:
        yield
        return
    spy_bin = Path(sys.executable).parent / "py-spy"
    command = [str(spy_bin if spy_bin.exists() else "py-spy"), "record", "--pid", str(pid)]
    command += ["--rate", "100", "--nonblocking", "--format", "raw", "--output", out]
    spy = subprocess.Popen(command)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)


class Sampler:
    """Polls the load average and, once `pid` is set, the operator's VmRSS, in a thread."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.max_rss_kb = 0
        self.loads: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            if self.pid is not None:
                with contextlib.suppress(FileNotFoundError, KeyError):
                    self.max_rss_kb = max(self.max_rss_kb, memory_kb(self.pid)["VmRSS"])
            self.loads.append(loadavg())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def steady_rss_mb(pid: int, seconds: float = 3.0) -> float:
    """Median VmRSS over a few seconds."""
    samples = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        samples.append(memory_kb(pid)["VmRSS"])
        time.sleep(0.2)
    return statistics.median(samples) / 1024


# --- the cluster's processes ------------------------------------------------------------


def cluster_dir() -> Path:
    """Where hack/k8s keeps the bench cluster's pids and kwok config."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    workdir = os.environ.get("UA_K8S_WORKDIR") or str(cache / "universal-accounting" / "kwok")
    return Path(workdir) / "clusters" / CLUSTER


def cluster_pids() -> dict[str, int]:
    return {f.stem: int(f.read_text()) for f in (cluster_dir() / "pids").glob("*.pid")}


def cluster_cpu(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def controller_manager_metrics() -> dict[str, float]:
    """kube-controller-manager's API calls so far and the time they spent waiting in its
    client-side rate limiters (--kube-api-qps, 20 per controller by default)."""
    address = ""
    for doc in yaml.safe_load_all((cluster_dir() / "kwok.yaml").read_text()):
        for component in (doc or {}).get("components") or []:
            if component.get("name") == "kube-controller-manager":
                address = component["metric"]["host"]
    if not address:
        return {}
    pool = urllib3.PoolManager(cert_reqs="CERT_NONE")
    with warnings_silenced():
        text = pool.request("GET", f"https://{address}/metrics", timeout=10).data.decode()
    out = {"requests": 0.0, "rate_limited_s": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "rest_client_rate_limiter_duration_seconds_sum":
                out["rate_limited_s"] += sample.value
            elif sample.name == "rest_client_rate_limiter_duration_seconds_count":
                out["requests"] += sample.value
    return out


@contextlib.contextmanager
def warnings_silenced() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        yield


def deltas(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: round(v - before.get(k, 0.0), 2) for k, v in after.items()}
