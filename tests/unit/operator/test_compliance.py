"""The Compliant condition: the platform's side of the compliance report, from the spec, the
rendered objects and the backups observed; each failing control named."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from accounting_operator import compliance, render
from accounting_operator.status import BackupStatus
from tests.unit.operator import fakes, helpers
from tests.unit.operator.fakes import Server

NOW = fakes.NOW
VERIFIED = BackupStatus(last_successful=NOW, last_verified=NOW - timedelta(hours=2))


def found(patch: dict[str, Any], backups: BackupStatus | None = VERIFIED) -> list[str]:
    platform = helpers.platform(helpers.merged(helpers.FULL, patch))
    return compliance.findings(platform, render.render(platform), backups, NOW)


def test_a_platform_as_production_needs_it_is_compliant() -> None:
    assert found({}) == []
    assert compliance.verdict([]) == ("True", "AllControlsPass", compliance.PASSING)


def test_each_failing_control_is_named() -> None:
    assert found({"database": {"sslMode": "require"}}) == [
        "database.sslMode is require (verify-full checks the server's certificate and name)"
    ]
    assert found({"networkPolicy": {"enabled": False}}) == [
        "networkPolicy.enabled is false (any pod may reach the API)"
    ]
    assert found({"podDisruptionBudget": {"enabled": False}}) == [
        "podDisruptionBudget.enabled is false (a node drain may stop every API pod)"
    ]
    assert found({"backup": {"enabled": False}}) == [
        "backup.enabled is false (no backup, no restore test)"
    ]


def test_backups_must_have_been_verified_within_a_day() -> None:
    assert found({}, None) == ["no backup has passed a restore test yet"]
    old = BackupStatus(last_successful=NOW, last_verified=NOW - timedelta(hours=30))
    assert found({}, old) == ["the newest verified backup is 30 h old (limit 24 h)"]


def test_a_pod_outside_the_restricted_profile_is_named_with_what_it_lacks() -> None:
    platform = helpers.platform(helpers.FULL)
    desired = render.render(platform)
    api = next(m for m in desired if m["kind"] == "Deployment")
    pod = api["spec"]["template"]["spec"]
    pod["securityContext"].pop("runAsNonRoot")
    pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    name = f"Deployment/{api['metadata']['name']}"
    assert compliance.findings(platform, desired, VERIFIED, NOW) == [
        f"{name} is not restricted: runAsNonRoot is not true, container"
        f" {pod['containers'][0]['name']} may escalate privileges"
    ]


def test_the_operator_sets_the_condition_with_every_failure_listed() -> None:
    server = Server()
    status = fakes.converge(server, helpers.MINIMAL)
    condition = next(c for c in status["conditions"] if c["type"] == "Compliant")
    assert (condition["status"], condition["reason"]) == ("False", "ControlsFailing")
    assert condition["message"].startswith("database.sslMode is require")
    assert "backup.enabled is false" in condition["message"]
