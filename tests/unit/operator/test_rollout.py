"""Migration gating: which version the Deployments run while a migration is pending."""

from __future__ import annotations

from typing import Any

import pytest

from accounting_operator import render, rollout
from tests.unit.operator import helpers


def job(*conditions: str) -> dict[str, Any]:
    return {"status": {"conditions": [{"type": c, "status": "True"} for c in conditions]}}


@pytest.mark.parametrize(
    ("live", "phase"),
    [
        (None, "Pending"),
        (job(), "Running"),
        (job("SuccessCriteriaMet", "Complete"), "Succeeded"),
        (job("FailureTarget"), "Failed"),
        (job("Failed"), "Failed"),
    ],
)
def test_job_phase(live: dict[str, Any] | None, phase: str) -> None:
    assert rollout.job_phase(live) == phase


def images(manifests: list[dict[str, Any]]) -> dict[str, str]:
    return {
        m["metadata"]["name"]: m["spec"]["template"]["spec"]["containers"][0]["image"]
        for m in manifests
        if m["kind"] == "Deployment"
    }


def gated(last_good: str | None, live_api: dict[str, Any] | None, live_job: Any) -> Any:
    platform = helpers.platform({"version": "2.0"})
    decided = rollout.decide(platform, last_good, live_api, live_job)
    return decided, rollout.gate(platform, render.render(platform), decided)


def test_first_install_withholds_workloads() -> None:
    decided, manifests = gated(None, None, job())
    assert decided.deploy is None
    assert not {"Deployment", "HorizontalPodAutoscaler"} & {m["kind"] for m in manifests}
    assert "Job" in {m["kind"] for m in manifests}


def test_upgrade_holds_the_running_version() -> None:
    decided, manifests = gated("1.0", None, job())
    assert (decided.deploy, decided.held) == ("1.0", True)
    assert set(images(manifests).values()) == {"universal-accounting/accounting-api:1.0"}
    job_manifest = next(m for m in manifests if m["kind"] == "Job")
    assert job_manifest["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":2.0")


def test_running_version_from_the_live_deployment_without_status() -> None:
    live_api = {"metadata": {"labels": {"app.kubernetes.io/version": "1.0"}}}
    decided, _ = gated(None, live_api, None)
    assert decided.deploy == "1.0"


def test_succeeded_migration_releases_the_new_version() -> None:
    decided, manifests = gated("1.0", None, job("Complete"))
    assert not decided.held
    assert set(images(manifests).values()) == {"universal-accounting/accounting-api:2.0"}


def test_failed_migration_keeps_the_old_version() -> None:
    decided, manifests = gated("1.0", None, job("Failed"))
    assert decided.deploy == "1.0"
    assert set(images(manifests).values()) == {"universal-accounting/accounting-api:1.0"}


def test_same_version_is_not_held_while_its_job_reruns() -> None:
    decided, _ = gated("2.0", None, job())
    assert not decided.held
