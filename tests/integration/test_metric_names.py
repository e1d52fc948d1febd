"""The metrics table of docs/metrics.md is the reference for metric names: every metric a rule or
the dashboard reads (the operator's PrometheusRule and dashboard, the chart's alerts on the
operator) is in it, and every row it says the API, the worker or the operator exposes is
on the real /metrics of that process, which exposes nothing the table leaves out. Rows of
other components (kube-state-metrics, Prometheus) are the explicit exceptions.

The operator's /metrics is served by the module `accounting-operator run` serves it from
(`metrics.serve`), in a process of its own: it needs no cluster to show its names."""

from __future__ import annotations

import asyncio
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from accounting_operator.render import alerts, dashboard
from tests import drill_support
from tests.integration import conftest, exposition
from tests.integration.test_worker import worker_metrics
from tests.unit.operator import helpers
from tests.unit.operator.test_chart_alerts import rules as chart_rules

METRICS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
PROCESSES = {"API", "worker", "operator"}
OTHERS = {"kube-state-metrics", "Prometheus"}
"""Components whose metrics the rules read without this project exposing them."""
_ROW = re.compile(r"^\| `([a-z_:]+)` \| (counter|gauge|histogram) \|[^|]*\| ([^|]+) \|")
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{")
_RUNTIME = ("process_", "python_")
"""prometheus_client's own metrics of the process."""


@dataclass(frozen=True)
class Row:
    name: str
    kind: str
    sources: frozenset[str]

    def series(self) -> set[str]:
        if self.kind == "histogram":
            return {self.name + s for s in ("_bucket", "_count", "_sum")}
        return {self.name}


def documented() -> list[Row]:
    rows = []
    for line in METRICS.read_text().splitlines():
        if match := _ROW.match(line):
            sources = frozenset(s.strip() for s in match.group(3).split(","))
            rows.append(Row(match.group(1), match.group(2), sources))
    return rows


def used() -> set[str]:
    """Every series name in the rules and the dashboard (selectors always have braces)."""
    platform = helpers.platform(helpers.FULL, prometheus_rule_crd=True)
    manifest = alerts.prometheus_rule(platform)
    assert manifest is not None
    groups = manifest["spec"]["groups"] + chart_rules()
    queries = [r["expr"] for g in groups for r in g["rules"]] + dashboard.queries(platform)
    return {name for query in queries for name in _SELECTOR.findall(query)}


async def api_metrics(database: conftest.TestDatabase, tmp_path: Path) -> str:
    env = drill_support.api_settings(database.app_url)
    api = drill_support.ApiProcess(env, tmp_path / "api.log")
    async with drill_support.running(api) as http:
        return (await http.get("/metrics")).text


async def operator_metrics() -> str:
    port = drill_support.free_port()
    code = (
        "import sys, time; from accounting_operator import metrics; "
        f"metrics.serve('127.0.0.1', {port}); sys.stdout.write('up\\n'); sys.stdout.flush(); "
        "time.sleep(60)"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        await asyncio.wait_for(process.stdout.readline(), 30)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            return (await http.get("/metrics")).text
    finally:
        process.kill()
        await process.wait()


def own(names: set[str]) -> set[str]:
    return {n for n in names if not n.startswith(_RUNTIME) and not n.endswith("_created")}


async def test_rules_and_the_dashboard_read_only_documented_metrics_that_exist(
    database: conftest.TestDatabase, tmp_path: Path
) -> None:
    rows = documented()
    assert all(r.sources <= PROCESSES | OTHERS for r in rows), rows
    served = {
        "API": exposition.names(await api_metrics(database, tmp_path)),
        "worker": exposition.names(await worker_metrics(database)),
        "operator": exposition.names(await operator_metrics()),
    }
    missing = {
        (source, name)
        for r in rows
        for source in r.sources & PROCESSES
        for name in r.series()
        if name not in served[source]
    }
    assert missing == set()
    table = {name for r in rows for name in r.series()}
    assert used() - table == set()
    undocumented = own(served["API"] | served["worker"] | served["operator"]) - table
    assert undocumented == set()
