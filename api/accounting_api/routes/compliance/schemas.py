"""Response body of the compliance report."""

from __future__ import annotations

import datetime
from typing import Any, Literal

from pydantic import Field

from accounting_api.domain import compliance
from accounting_api.domain.compliance import Group, Status
from accounting_api.routes.schemas import Out


class ControlOut(Out):
    id: str = Field(description="e.g. backups.newest_verified, audit.chain.")
    title: str
    status: Status
    evidence: str = Field(description="What was found; for NOT_APPLICABLE, the reason.")
    checked_at: datetime.datetime
    details: dict[str, Any] = Field(description="The facts the status was decided from.")


class GroupOut(Out):
    group: Group
    framework: str = Field(description="SOC 2, audit trail, encryption, PCI DSS or GDPR.")
    status: Status = Field(description="FAIL if a control fails; PASS if none does.")
    controls: list[ControlOut]


class Summary(Out):
    passed: int
    failed: int
    not_applicable: int


class ComplianceReportOut(Out):
    object: Literal["compliance_report"] = "compliance_report"
    organization: str
    generated_at: datetime.datetime
    compliant: bool = Field(description="No control fails.")
    summary: Summary
    groups: list[GroupOut]


def report_out(report: compliance.Report) -> ComplianceReportOut:
    groups = []
    for group in Group:
        controls = report.group(group)
        if not controls:
            continue
        groups.append(
            GroupOut(
                group=group,
                framework=compliance.FRAMEWORK[group],
                status=compliance.group_status(controls),
                controls=[
                    ControlOut(
                        id=c.id,
                        title=c.title,
                        status=c.status,
                        evidence=c.evidence,
                        checked_at=c.checked_at,
                        details=c.details,
                    )
                    for c in controls
                ],
            )
        )
    counts = report.counts()
    return ComplianceReportOut(
        organization=report.organization_id,
        generated_at=report.generated_at,
        compliant=report.compliant,
        summary=Summary(
            passed=counts["pass"], failed=counts["fail"], not_applicable=counts["not_applicable"]
        ),
        groups=groups,
    )


def markdown(report: ComplianceReportOut) -> str:
    """The report as Markdown: a verdict, then a table per group."""
    verdict = "compliant" if report.compliant else "NOT compliant"
    s = report.summary
    lines = [
        f"# Compliance report: {report.organization}",
        "",
        f"Generated {report.generated_at.isoformat()}: **{verdict}** "
        f"({s.passed} pass, {s.failed} fail, {s.not_applicable} not applicable).",
    ]
    for group in report.groups:
        lines += [
            "",
            f"## {group.group.value.replace('_', ' ').capitalize()} ({group.framework}):"
            f" {group.status.value}",
            "",
            "| control | status | evidence |",
            "|---|---|---|",
        ]
        for c in group.controls:
            evidence = c.evidence.replace("|", "\\|")
            lines.append(f"| {c.title} (`{c.id}`) | {c.status.value} | {evidence} |")
    return "\n".join(lines) + "\n"
