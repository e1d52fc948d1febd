"""The Compliant condition: the platform's side of the compliance report (the API's
`GET /v1/compliance-report` has the books' side), decided from the spec, the objects the
operator renders and the backups it observed. True when every control holds; False naming
each one that does not. Pure: no clock, no I/O.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from accounting_operator.render import backup
from accounting_operator.render.platform import Manifest, Platform
from accounting_operator.status import BackupStatus, Condition, put_condition

COMPLIANT = "Compliant"
VERIFIED_WITHIN = timedelta(hours=24)
"""The newest backup proven by a restore test must be at most this old."""

PASSING = (
    "database.sslMode verify-full, a NetworkPolicy, pods that meet the restricted Pod Security"
    " profile, a PodDisruptionBudget, and a backup verified by a restore test within 24 h"
)

Verdict = tuple[str, str, str]


def _pod_spec(manifest: Manifest) -> dict[str, object] | None:
    spec = manifest.get("spec") or {}
    if manifest.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    template = spec.get("template") if isinstance(spec, dict) else None
    pod = template.get("spec") if isinstance(template, dict) else None
    return pod if isinstance(pod, dict) else None


def not_restricted(pod: dict[str, object]) -> list[str]:
    """What keeps a pod from the restricted profile (empty: nothing)."""
    found = []
    context = pod.get("securityContext") or {}
    assert isinstance(context, dict)
    if context.get("runAsNonRoot") is not True:
        found.append("runAsNonRoot is not true")
    if (context.get("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"):
        found.append("no RuntimeDefault seccomp profile")
    if any(pod.get(host) for host in ("hostNetwork", "hostPID", "hostIPC")):
        found.append("shares a host namespace")
    containers = [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]  # type: ignore[misc]
    for container in containers:
        security = container.get("securityContext") or {}
        name = container.get("name", "?")
        if security.get("allowPrivilegeEscalation") is not False:
            found.append(f"container {name} may escalate privileges")
        if security.get("privileged"):
            found.append(f"container {name} is privileged")
        if "ALL" not in ((security.get("capabilities") or {}).get("drop") or []):
            found.append(f"container {name} does not drop ALL capabilities")
    return found


def findings(
    platform: Platform, desired: list[Manifest], backups: BackupStatus | None, now: datetime
) -> list[str]:
    """Every control of the platform's side that does not hold, as a sentence."""
    spec = platform.spec
    found = []
    if spec.database.ssl_mode != "verify-full":
        found.append(
            f"database.sslMode is {spec.database.ssl_mode} (verify-full checks the server's"
            " certificate and name)"
        )
    if not spec.network_policy.enabled:
        found.append("networkPolicy.enabled is false (any pod may reach the API)")
    if not spec.pod_disruption_budget.enabled:
        found.append("podDisruptionBudget.enabled is false (a node drain may stop every API pod)")
    for manifest in desired:
        pod = _pod_spec(manifest)
        gaps = not_restricted(pod) if pod is not None else []
        if gaps:
            name = f"{manifest['kind']}/{manifest['metadata']['name']}"
            found.append(f"{name} is not restricted: {', '.join(gaps)}")
    if not backup.enabled(platform):
        found.append("backup.enabled is false (no backup, no restore test)")
    else:
        verified = backups.last_verified if backups else None
        if verified is None:
            found.append("no backup has passed a restore test yet")
        elif now - verified > VERIFIED_WITHIN:
            hours = (now - verified).total_seconds() / 3600
            found.append(f"the newest verified backup is {hours:.0f} h old (limit 24 h)")
    return found


def verdict(found: list[str]) -> Verdict:
    if not found:
        return "True", "AllControlsPass", PASSING
    return "False", "ControlsFailing", "; ".join(found)


def condition(
    previous: list[Condition], found: list[str], generation: int, now: datetime
) -> list[Condition]:
    """The conditions with Compliant set."""
    return put_condition(previous, COMPLIANT, verdict(found), generation, now)
