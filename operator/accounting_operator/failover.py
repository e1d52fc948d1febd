"""Failover decided without I/O: what the servers answered in, what to do out.

The watchdog (`watchdog.py`) probes the servers and carries out what this module
decides; every rule of the failover is here, so each is tested without a server:

- a primary is failed after `failureThreshold` checks in a row that could not connect,
  or found it in recovery;
- a replica that still streams from that primary proves the operator is the one cut
  off: no failover;
- the candidate is the reachable replica with the most WAL received (ties: spec order),
  and only if it lacks at most `maxReplicationLagBytes` of what the primary was last
  seen to have: availability is never bought with acknowledged money;
- the decision is recorded in the status (`database.pending`) before the promotion,
  so a restarted or second operator resumes it instead of promoting another server.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from accounting_operator.status import (
    DatabaseStatus,
    FailoverEvent,
    FailoverKind,
    FencedServer,
    PendingPromotion,
)
from accounting_operator.topology import Server, Topology

DATABASE_AVAILABLE = "DatabaseAvailable"
SWITCHOVER_ANNOTATION = "accounting.universalaccounting.com/switchover-to"
HISTORY = 20
"""Failovers kept in status.failoverHistory."""
REJOIN = (
    "it may have taken writes the new primary does not have: rewind it (pg_rewind) or "
    "re-clone it (pg_basebackup) as a replica of {primary}; the operator lets it rejoin "
    "once it streams from {primary}"
)


@dataclass(frozen=True, slots=True)
class Probe:
    """What one server answered."""

    server: Server
    reachable: bool
    in_recovery: bool = False
    lsn: int | None = None
    """Primary: pg_current_wal_lsn(); replica: the WAL it has (received or replayed)."""
    upstream: Server | None = None
    """Replica: the server its WAL receiver streams from, when it streams."""
    timeline: int | None = None
    """Primary: the timeline it writes; replica: the timeline it streams."""
    error: str = ""

    @property
    def writable(self) -> bool:
        return self.reachable and not self.in_recovery


@dataclass(frozen=True, slots=True)
class Promote:
    candidate: Server
    lag_bytes: int
    reason: str


@dataclass(frozen=True, slots=True)
class Refuse:
    """No promotion; `reason` is the DatabaseAvailable condition's reason."""

    reason: str
    message: str


Verdict = Promote | Refuse


def primary_failed(probe: Probe) -> str | None:
    """Why a check of the primary failed, or None when it passed."""
    if not probe.reachable:
        return f"does not answer ({probe.error})" if probe.error else "does not answer"
    if probe.in_recovery:
        return "is in recovery (read-only)"
    return None


def judge(
    topology: Topology, replicas: list[Probe], last_lsn: int | None, max_lag: int, why: str
) -> Verdict:
    """Whether, and which, replica to promote once the primary has failed its checks."""
    primary = topology.primary
    witnesses = [r for r in replicas if r.in_recovery and r.upstream == primary]
    if witnesses:
        names = ", ".join(str(r.server) for r in witnesses)
        return Refuse(
            "OperatorCutOff",
            f"the operator cannot reach primary {primary} ({why}), but replica {names} still "
            "streams from it: the operator is the one cut off, so it does not fail over",
        )
    order = {server: i for i, server in enumerate(topology.replicas)}
    candidates = [r for r in replicas if r.reachable and r.in_recovery and r.lsn is not None]
    if not candidates:
        return Refuse(
            "NoFailoverCandidate",
            f"primary {primary} {why}, and no replica answers as a replica: nothing to promote",
        )
    best = max(candidates, key=lambda r: (r.lsn or 0, -order.get(r.server, len(order))))
    if last_lsn is None:
        return Refuse(
            "NoFailoverCandidate",
            f"primary {primary} {why}, and its WAL position was never seen by the operator: "
            "no replica can be shown to hold every acknowledged write",
        )
    lag = max(0, last_lsn - (best.lsn or 0))
    if lag > max_lag:
        return Refuse(
            "ReplicaTooFarBehind",
            f"primary {primary} {why}; the most advanced replica, {best.server}, lacks {lag} "
            f"bytes of WAL the primary had (maxReplicationLagBytes: {max_lag}): not promoted",
        )
    return Promote(best.server, lag, f"primary {primary} {why}")


def rejoins(probe: Probe, topology: Topology) -> bool:
    """Whether a fenced former primary follows the primary again: it streams from it, on
    the primary's timeline (one not rewound streams the old timeline, then stops)."""
    if not (probe.in_recovery and probe.upstream == topology.primary):
        return False
    return topology.timeline is None or (probe.timeline or 0) >= topology.timeline


def switchover_target(annotation: str | None, topology: Topology) -> Server | Refuse | None:
    """The replica a `switchover-to` annotation names, or why it cannot be used."""
    if not annotation:
        return None
    try:
        target = Server.parse(annotation.strip())
    except ValueError:
        return Refuse("SwitchoverRefused", f"switchover-to {annotation!r} is not host:port")
    if target == topology.primary:
        return None  # done, or asked for the server that already is the primary
    if target not in topology.replicas:
        known = ", ".join(str(s) for s in topology.replicas) or "none"
        return Refuse(
            "SwitchoverRefused",
            f"switchover-to {target} is not a replica that follows the primary (those: {known})",
        )
    return target


# --- status transitions ----------------------------------------------------------------


def decided(
    database: DatabaseStatus,
    topology: Topology,
    *,
    kind: FailoverKind,
    verdict: Promote,
    detect_seconds: float,
    now: datetime,
) -> DatabaseStatus:
    """The status that records a decision before it is carried out."""
    pending = PendingPromotion.model_validate(
        {
            "kind": kind,
            "from": str(topology.primary),
            "to": str(verdict.candidate),
            "reason": verdict.reason[:1024],
            "decidedAt": now,
            "detectSeconds": round(detect_seconds, 3),
            "lagBytes": verdict.lag_bytes,
        }
    )
    return established(database, topology).model_copy(update={"pending": pending})


def established(database: DatabaseStatus, topology: Topology) -> DatabaseStatus:
    """The status naming the topology explicitly (the spec's, before any failover)."""
    if database.active_primary is not None:
        return database
    return database.model_copy(
        update={
            "active_primary": str(topology.primary),
            "replicas": [str(s) for s in topology.replicas],
        }
    )


def promoted(
    database: DatabaseStatus,
    topology: Topology,
    timeline: int,
    now: datetime,
) -> tuple[DatabaseStatus, FailoverEvent]:
    """The topology once the pending promotion took its first write, and its history entry."""
    pending = database.pending
    assert pending is not None
    old, new = Server.parse(pending.from_server), Server.parse(pending.to_server)
    fenced = [f for f in database.fenced if f.server != str(old)]
    message = REJOIN.format(primary=new)
    fenced.append(FencedServer(server=str(old), since=now, message=message))
    replicas = [str(s) for s in topology.replicas if s not in (old, new)]
    state = database.model_copy(
        update={
            "active_primary": str(new),
            "replicas": replicas,
            "fenced": fenced[-10:],
            "timeline": timeline,
            "pending": None,
            "last_primary_lsn": None,
        }
    )
    event = FailoverEvent.model_validate(
        {
            "time": now,
            "kind": pending.kind,
            "from": str(old),
            "to": str(new),
            "reason": pending.reason,
            "detectSeconds": pending.detect_seconds,
            "promoteSeconds": round(max(0.0, (now - pending.decided_at).total_seconds()), 3),
            "lagBytes": pending.lag_bytes,
        }
    )
    return state, event


def fenced(database: DatabaseStatus, server: Server) -> DatabaseStatus:
    """The status once the platform's logins on a former primary are revoked."""
    out = [
        f.model_copy(update={"fenced": True}) if f.server == str(server) else f
        for f in database.fenced
    ]
    return database.model_copy(update={"fenced": out})


def rejoined(database: DatabaseStatus, server: Server) -> DatabaseStatus:
    """A former primary that streams from the primary again is a replica again."""
    return database.model_copy(
        update={
            "fenced": [f for f in database.fenced if f.server != str(server)],
            "replicas": [*database.replicas, str(server)],
        }
    )


def history(previous: list[FailoverEvent], event: FailoverEvent) -> list[FailoverEvent]:
    return [*previous, event][-HISTORY:]


# --- synchronous replication ----------------------------------------------------------


def synchronous_names(followers: list[str], mode: str) -> str:
    """synchronous_standby_names for a primary whose streaming replicas have the
    application names `followers`: any one of them confirms a commit. With none, strict
    waits for whichever replica comes (`*`: commits block until one follows), preferred
    lets the primary commit alone."""
    if not followers:
        return "*" if mode == "strict" else ""
    quoted = ", ".join('"' + n.replace('"', '""') + '"' for n in sorted(set(followers)))
    return f"ANY 1 ({quoted})"
