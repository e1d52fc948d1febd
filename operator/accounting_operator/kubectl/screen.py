"""`kubectl acp status`: one screen from what the operator wrote in the platform's status,
and the same facts as JSON for scripts. Pure: the platform and its Events in, text out.

Nothing is recomputed: every value is a status field as stored (times shown with their
age); only the database servers before any failover come from the spec, by the
operator's own rule (`topology.of`), and say so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import pydantic

from accounting_operator import conditions, topology
from accounting_operator.spec import AccountingPlatformSpec
from accounting_operator.status import (
    AccountingPlatformStatus,
    BackupStatus,
    ComponentStatus,
    DatabaseStatus,
    FailoverEvent,
)

Manifest = dict[str, Any]
EVENTS_SHOWN = 10


def event_time(event: Manifest) -> str:
    """When an Event last happened (RFC 3339 text, which sorts by time)."""
    series = (event.get("series") or {}).get("lastObservedTime")
    return str(
        series
        or event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or (event.get("metadata") or {}).get("creationTimestamp")
        or ""
    )


def oldest_first(events: Iterable[Manifest]) -> list[Manifest]:
    return sorted(events, key=event_time)


def age(then: datetime | str | None, now: datetime) -> str:
    """kubectl's short age: 45s, 12m, 5h, 3d."""
    if then is None or then == "":
        return "-"
    when = datetime.fromisoformat(then.replace("Z", "+00:00")) if isinstance(then, str) else then
    seconds = max(0, int((now - when.astimezone(UTC)).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size or (unit == "m" and seconds >= size):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def when(then: datetime | None, now: datetime) -> str:
    """A time as stored, and how long ago."""
    if then is None:
        return "never"
    return f"{then.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')} ({age(then, now)} ago)"


def lsn(position: int) -> str:
    """A WAL position as PostgreSQL prints it (pg_current_wal_lsn)."""
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


def size(count: int | None) -> str:
    if count is None:
        return "-"
    value, unit = float(count), "B"
    for bigger in ("KiB", "MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """Columns as kubectl prints them, indented under a section title."""
    body = [list(header), *(list(r) for r in rows)]
    widths = [max(len(r[i]) for r in body) for i in range(len(header) - 1)]
    return [
        "  " + "   ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]]).rstrip()
        for r in body
    ]


def _fields(pairs: Iterable[tuple[str, str]], indent: str = "") -> list[str]:
    listed = list(pairs)
    width = max((len(k) for k, _ in listed), default=0) + 1
    return [f"{indent}{(k + ':').ljust(width)}  {v}" for k, v in listed]


def _spec(platform: Manifest) -> AccountingPlatformSpec | None:
    try:
        return AccountingPlatformSpec.model_validate(platform.get("spec") or {})
    except pydantic.ValidationError:
        return None


def _pods(name: str, component: ComponentStatus | None) -> str | None:
    if component is None:
        return None
    ready = f"{component.ready_replicas}/{component.replicas}"
    return f"{name} {ready} ready, {component.updated_replicas} updated"


def overview(platform: Manifest, status: AccountingPlatformStatus) -> list[str]:
    meta, spec = platform["metadata"], platform.get("spec") or {}
    good = status.last_good_version or "none yet"
    observed = "-" if status.observed_generation is None else status.observed_generation
    pairs = [
        ("Name", f"{meta.get('namespace')}/{meta['name']}"),
        ("Phase", status.phase or "(not reconciled yet)"),
        ("Version", f"{spec.get('version', '-')} (last good: {good})"),
        ("Generation", f"{meta.get('generation', '-')} (observed {observed})"),
        ("Paused", "yes" if spec.get("paused") else "no"),
        ("API pods ready", status.ready or "-"),
    ]
    components = status.components
    if components is not None:
        pods = [_pods("api", components.api), _pods("worker", components.worker)]
        pairs.append(("Pods", "; ".join(p for p in pods if p) or "-"))
        if components.migration is not None:
            m = components.migration
            pairs.append(("Migration", f"{m.version or '-'} {m.phase or ''}".strip()))
    if status.rollback is not None:
        r = status.rollback
        pairs.append(("Rolled back", f"{r.version} -> {r.to_version} ({r.reason}): {r.message}"))
    if status.bootstrap is not None:
        b = status.bootstrap
        pairs.append(("Bootstrap", f"{b.phase} from {b.backup or '-'} {b.message}".rstrip()))
    return _fields(pairs)


def database(platform: Manifest, state: DatabaseStatus | None, now: datetime) -> list[str]:
    spec = _spec(platform)
    lines = ["", "Database"]
    if state is not None and state.active_primary:
        primary = f"{state.active_primary}" + (
            f" (timeline {state.timeline})" if state.timeline else ""
        )
        replicas = ", ".join(state.replicas) or "none follow it"
    elif spec is not None:
        layout = topology.of(spec.database, state)
        primary = f"{layout.primary} (from the spec: no failover yet)"
        replicas = ", ".join(str(s) for s in layout.replicas) or "none"
    else:
        primary, replicas = "unknown (the spec does not parse)", "unknown"
    pairs = [("Primary", primary), ("Replicas", replicas)]
    if spec is not None:
        pairs.append(("Failover", "enabled" if spec.failover.enabled else "disabled"))
    state = state or DatabaseStatus()
    for f in state.fenced:
        fence = "fenced" if f.fenced else "NOT fenced yet"
        pairs.append(("Fenced", f"{f.server} since {when(f.since, now)}, {fence}. {f.message}"))
    if state.pending is not None:
        p = state.pending
        pending = f"{p.kind} {p.from_server} -> {p.to_server}, decided {when(p.decided_at, now)}"
        pairs.append(("Pending", f"{pending}, lag {size(p.lag_bytes)}: {p.reason}"))
    if state.last_primary_lsn is not None:
        pairs.append(("Primary WAL position", lsn(state.last_primary_lsn)))
    return [*lines, *_fields(pairs, "  ")]


def backups(state: BackupStatus | None, now: datetime) -> list[str]:
    if state is None:
        return ["", "Backups", "  none reported (spec.backup off, or no backup Job ran yet)"]
    pairs = [
        ("Last backup", when(state.last_successful, now)),
        ("Last restore test", when(state.last_verified, now)),
    ]
    if state.last_failed_verification is not None:
        pairs.append(("Last failed restore test", when(state.last_failed_verification, now)))
    if state.last_failure is not None:
        f = state.last_failure
        failure = f"{f.operation} Job {f.job}, {when(f.time, now)}: {f.reason} {f.message}"
        pairs.append(("Last failure", failure.rstrip()))
    if state.backup_now is not None:
        n = state.backup_now
        pairs.append(("Backup now", f"request {n.token!r}: {n.message or 'handled'}"))
    return ["", "Backups", *_fields(pairs, "  ")]


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def history(events: list[FailoverEvent], now: datetime) -> list[str]:
    if not events:
        return ["", "Failover history", "  none"]
    header = ("TIME", "KIND", "FROM", "TO", "DETECT", "PROMOTE", "LAG", "REASON")
    rows = [
        (
            when(e.time, now),
            e.kind,
            e.from_host,
            e.to_host,
            _seconds(e.detect_seconds),
            _seconds(e.promote_seconds),
            size(e.lag_bytes),
            e.reason,
        )
        for e in events
    ]
    return ["", "Failover history (newest last)", *table(header, rows)]


def condition_rows(status: AccountingPlatformStatus, now: datetime) -> list[str]:
    if not status.conditions:
        return ["", "Conditions", "  none"]
    rows = [
        (c.type, c.status, c.reason, age(c.last_transition_time, now), c.message)
        for c in sorted(status.conditions, key=lambda c: c.type)
    ]
    return ["", "Conditions", *table(("TYPE", "STATUS", "REASON", "AGE", "MESSAGE"), rows)]


def event_rows(events: list[Manifest], now: datetime) -> list[str]:
    if not events:
        return ["", "Events", "  none"]
    latest = oldest_first(events)[-EVENTS_SHOWN:]
    rows = [
        (
            age(event_time(e), now),
            str(e.get("type", "")),
            str(e.get("reason", "")),
            " ".join(str(e.get("message", "")).split()),
        )
        for e in latest
    ]
    title = f"Events (latest {len(latest)} of {len(events)})"
    return ["", title, *table(("AGE", "TYPE", "REASON", "MESSAGE"), rows)]


def render(platform: Manifest, events: list[Manifest], now: datetime) -> str:
    """The status screen."""
    status = conditions.previous_status(platform.get("status"))
    lines = [
        *overview(platform, status),
        *database(platform, status.database, now),
        *backups(status.backup, now),
        *history(status.failover_history, now),
        *condition_rows(status, now),
        *event_rows(events, now),
    ]
    return "\n".join(lines) + "\n"


def document(platform: Manifest, events: list[Manifest]) -> Manifest:
    """`-o json`: the status exactly as stored, with the spec's version and pause flag and
    the platform's Events (oldest first)."""
    meta, spec = platform["metadata"], platform.get("spec") or {}
    return {
        "name": meta["name"],
        "namespace": meta.get("namespace"),
        "generation": meta.get("generation"),
        "version": spec.get("version"),
        "paused": bool(spec.get("paused", False)),
        "status": platform.get("status") or {},
        "events": [
            {
                "time": event_time(e),
                "type": e.get("type"),
                "reason": e.get("reason"),
                "message": e.get("message"),
                "count": e.get("count"),
            }
            for e in oldest_first(events)
        ],
    }
