"""promtool, Prometheus's own rule checker and rule unit-test runner, on rule files the
tests write. `hack/promtool.sh` unpacks it from Debian's prometheus package (`make test`
and `make test-unit` run it first, through `make k8s-tools`); without it these tests fail
and say so.

Unit tests (`promtool test rules`) compare an alert's labels and its annotations; the
annotations are templates of the value, so the rules under unit test have them removed
(`bare`) and the full rules pass `promtool check rules`, which parses the templates.
"""

from __future__ import annotations

import copy
import functools
import glob
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

Rule = dict[str, Any]


@functools.cache
def binary() -> str | None:
    pattern = str(Path.home() / ".cache/universal-accounting/prometheus-*/usr/bin/promtool")
    cached = sorted(glob.glob(pattern))
    return shutil.which("promtool") or (cached[-1] if cached else None)


def run(*args: str, cwd: Path) -> str:
    found = binary()
    if found is None:
        pytest.fail("promtool is missing: run `make k8s-tools` (hack/promtool.sh)", pytrace=False)
    done = subprocess.run([found, *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def write_rules(directory: Path, name: str, groups: list[Rule]) -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def check_rules(directory: Path, groups: list[Rule]) -> str:
    """`promtool check rules` on the groups; its report."""
    path = write_rules(directory, "checked.yaml", groups)
    return run("check", "rules", path.name, cwd=directory)


def bare(groups: list[Rule]) -> list[Rule]:
    """The groups without annotations (see the module's docstring)."""
    out = copy.deepcopy(groups)
    for group in out:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    return out


@dataclass(frozen=True)
class Case:
    """Series given to Prometheus, and what one alert does at `at`: fire with exactly
    these label sets (rule labels included), or (none) stay quiet."""

    alert: str
    series: dict[str, str]
    at: str
    fires: list[dict[str, str]] = field(default_factory=list)

    def test(self) -> Rule:
        return {
            "interval": "1m",
            "input_series": [{"series": s, "values": v} for s, v in self.series.items()],
            "alert_rule_test": [
                {
                    "eval_time": self.at,
                    "alertname": self.alert,
                    "exp_alerts": [{"exp_labels": labels} for labels in self.fires],
                }
            ],
        }


def unit_tests(directory: Path, groups: list[Rule], cases: list[Case]) -> str:
    """`promtool test rules`: every case against the groups (annotations removed)."""
    write_rules(directory, "rules.yaml", bare(groups))
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [case.test() for case in cases],
    }
    (directory / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    return run("test", "rules", "tests.yaml", cwd=directory)


def alert_names(groups: list[Rule]) -> set[str]:
    return {r["alert"] for g in groups for r in g["rules"] if "alert" in r}


def uncovered(groups: list[Rule], cases: list[Case]) -> dict[str, set[str]]:
    """Alerts without a case where they fire, and without one where they stay quiet."""
    names = alert_names(groups)
    return {
        "never fired": names - {c.alert for c in cases if c.fires},
        "never quiet": names - {c.alert for c in cases if not c.fires},
    }
