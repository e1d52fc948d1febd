"""What `kubectl acp backup|switchover|pause|resume` write: the annotations and the field
the operator already acts on, never a second way of asking. Pure: the platform in, the
merge patch (or the reason it would not be acted on) out.

- backup: the `backup-now` annotation (reconcile.backup_now): a new token starts one Job.
- switchover: the `switchover-to` annotation (promotion.switchover), checked first with
  the operator's own rule (failover.switchover_target) so a refusal is said at once.
- pause / resume: `spec.paused`, as `kubectl patch acp NAME --type merge` would set it.
- rotate: the `rotate` annotation (ROTATE_ANNOTATION): a new value rolls
  the API and worker pods, which read their Secrets again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pydantic

from accounting_operator import conditions, failover, render, topology
from accounting_operator.render import backup
from accounting_operator.render.platform import MAX_ROTATION_LENGTH, ROTATE_ANNOTATION
from accounting_operator.spec import AccountingPlatformSpec

Manifest = dict[str, Any]


class RefusedError(Exception):
    """The request would be refused or ignored by the operator; nothing was written."""


@dataclass(frozen=True, slots=True)
class Change:
    """A merge patch for the platform, and what to tell the user once it is written."""

    patch: Manifest
    done: str


def _spec(platform: Manifest) -> AccountingPlatformSpec:
    try:
        return AccountingPlatformSpec.model_validate(platform.get("spec") or {})
    except pydantic.ValidationError as error:
        raise RefusedError(f"the platform's spec does not parse: {error}") from None


def _annotate(name: str, value: str) -> Manifest:
    return {"metadata": {"annotations": {name: value}}}


def _paused_note(spec: AccountingPlatformSpec) -> str:
    return (
        " (the platform is paused: the operator acts on it after `resume`)" if spec.paused else ""
    )


def backup_token(now: datetime) -> str:
    """A new request's token: the time asked, so each call is a new request."""
    return now.strftime("%Y%m%dT%H%M%S%fZ")


def backup_now(platform: Manifest, token: str) -> Change:
    spec, meta = _spec(platform), platform["metadata"]
    rendered = render.Platform(meta["name"], meta.get("namespace", ""), meta.get("uid", ""), spec)
    if not backup.enabled(rendered):
        raise RefusedError(
            "backups are off (spec.backup.enabled, s3 and credentialsSecretRef): "
            "there is no backup to take"
        )
    handled = (platform.get("status") or {}).get("backup", {}).get("backupNow") or {}
    if handled.get("token") == token:
        raise RefusedError(f"backup request {token!r} was already handled: {handled}")
    done = (
        f"backup requested (token {token}); the operator starts Job "
        f"{platform['metadata']['name']}-backup-now-... and records it in "
        f"status.backup.backupNow{_paused_note(spec)}"
    )
    return Change(_annotate(backup.TOKEN_ANNOTATION, token), done)


def rotate(platform: Manifest, token: str) -> Change:
    spec, name = _spec(platform), platform["metadata"]["name"]
    token = token[:MAX_ROTATION_LENGTH]
    annotations = platform["metadata"].get("annotations") or {}
    if annotations.get(ROTATE_ANNOTATION) == token:
        raise RefusedError(f"rotation {token!r} was already asked for: use a new token")
    done = (
        f"rotation requested (token {token}); the operator rolls Deployments {name}-api and "
        f"{name}-worker, whose new pods read the Secrets again{_paused_note(spec)}"
    )
    return Change(_annotate(ROTATE_ANNOTATION, token), done)


def switchover(platform: Manifest, to: str) -> Change:
    spec = _spec(platform)
    if not spec.failover.enabled:
        raise RefusedError(
            "spec.failover.enabled is false: the operator does not manage the database's "
            "primary, so no switchover would happen"
        )
    status = conditions.previous_status(platform.get("status"))
    layout = topology.of(spec.database, status.database)
    target = failover.switchover_target(to, layout)
    if target is None:
        raise RefusedError(f"{to} is already the primary: nothing to switch over")
    if isinstance(target, failover.Refuse):
        raise RefusedError(target.message)
    done = (
        f"switchover to {target} requested; the operator fences {layout.primary}, waits "
        f"until {target} has its last write, then promotes it (kubectl acp status "
        f"{platform['metadata']['name']} follows it){_paused_note(spec)}"
    )
    return Change(_annotate(failover.SWITCHOVER_ANNOTATION, str(target)), done)


def paused(platform: Manifest, pause: bool) -> Change | None:
    """None: already so."""
    if bool((platform.get("spec") or {}).get("paused", False)) == pause:
        return None
    if pause:
        done = "paused: the operator makes no change to the platform's objects until resume"
    else:
        done = "resumed: the operator reconciles the platform again"
    return Change({"spec": {"paused": pause}}, done)
