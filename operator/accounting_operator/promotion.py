"""Promoting a replica: the decision recorded first, then the promotion, the new topology
in status, the other replicas repointed; and the planned switchover that leads to one.

Called by the watchdog (`watchdog.py`) with what it observed; what to do is decided in
`failover`, the SQL is in `pg`, the status writes go through `publishing.Publisher`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from accounting_operator import failover, metrics, pg, topology
from accounting_operator.publishing import (
    Publisher,
    database,
    precisely,
    with_condition,
    with_database,
)
from accounting_operator.spec import AccountingPlatformSpec
from accounting_operator.status import AccountingPlatformStatus, FailoverEvent, FailoverKind
from accounting_operator.topology import Server, Topology

logger = logging.getLogger(__name__)

T = TypeVar("T")

CATCH_UP_SECONDS = 60.0
"""How long a switchover waits for the replica to receive the stopped primary's WAL."""
CATCH_UP_POLL = 0.05


async def attempt(out: Publisher, action: Awaitable[T]) -> T | None:
    """Run a database action whose failure is retried at the next check."""
    try:
        return await action
    except pg.DatabaseActionError as error:
        logger.warning("%s/%s: %s", *out.key, error)
        return None


async def decide(
    out: Publisher,
    spec: AccountingPlatformSpec,
    layout: Topology,
    kind: FailoverKind,
    verdict: failover.Promote,
    *,
    detect: float,
    target_lsn: int | None = None,
) -> bool:
    """Record the decision, unless the status moved on meanwhile (another operator)."""
    at = precisely()

    def change(status: AccountingPlatformStatus) -> AccountingPlatformStatus | None:
        current = database(status)
        if current.pending is not None:
            return None
        if topology.of(spec.database, current).primary != layout.primary:
            return None
        recorded = failover.decided(
            current, layout, kind=kind, verdict=verdict, detect_seconds=detect, now=at
        )
        assert recorded.pending is not None  # decided() always sets it
        pending = recorded.pending.model_copy(update={"target_lsn": target_lsn})
        message = f"{verdict.reason}: promoting {verdict.candidate}"
        reason = "FailingOver" if kind == "Failover" else "SwitchingOver"
        state = with_database(status, recorded.model_copy(update={"pending": pending}))
        return with_condition(state, ("False", reason, message), at)

    if await out.write(change) is None:
        return False
    await out.event(
        "Warning" if kind == "Failover" else "Normal",
        f"{kind}Started",
        f"{verdict.reason}: promoting {verdict.candidate} "
        f"(lacking {verdict.lag_bytes} bytes of WAL)",
    )
    return True


async def carry_out(
    out: Publisher, spec: AccountingPlatformSpec, login: pg.Login, promoted: Callable[[], None]
) -> FailoverEvent | None:
    """Promote the recorded candidate (again after a restart: promotion is idempotent),
    publish the new topology (then `promoted()`), repoint the other replicas."""
    state = database(out.status())
    pending = state.pending
    if pending is None:
        return None
    candidate = Server.parse(pending.to_server)
    if pending.target_lsn is not None and not await caught_up(
        out, candidate, pending.target_lsn, login
    ):
        return None
    names = failover.synchronous_names([], spec.failover.synchronous_mode)
    try:
        timeline = await pg.promote(candidate, login, names)
    except pg.DatabaseActionError as error:
        await out.report(("False", "PromotionFailed", str(error)), "Warning")
        return None
    layout = topology.of(spec.database, state)
    at = precisely()

    def change(status: AccountingPlatformStatus) -> AccountingPlatformStatus | None:
        current = database(status)
        if current.pending is None or current.pending.to_server != pending.to_server:
            return None
        after, entry = failover.promoted(current, layout, timeline, at)
        if pending.kind == "Switchover":  # its writes were stopped by a fence already
            after = failover.fenced(after, Server.parse(pending.from_server))
        message = f"{entry.kind.lower()} from {entry.from_host} to {entry.to_host} done"
        history = failover.history(status.failover_history, entry)
        done = with_database(status, after).model_copy(update={"failover_history": history})
        return with_condition(done, ("True", "FailedOver", message), at)

    written = await out.write(change)
    if written is None:
        return None
    entry = written.failover_history[-1]
    metrics.FAILOVERS.labels(*out.key, entry.kind).inc()
    promoted()
    await out.event(
        "Warning" if entry.kind == "Failover" else "Normal",
        "FailedOver" if entry.kind == "Failover" else "SwitchedOver",
        f"{entry.to_host} is the primary (timeline {timeline}), replacing {entry.from_host}: "
        f"{entry.reason}; detected in {entry.detect_seconds} s, promoted in "
        f"{entry.promote_seconds} s, {entry.lag_bytes} bytes of WAL lacking",
    )
    for replica in topology.of(spec.database, database(written)).replicas:
        await attempt(out, pg.repoint(replica, candidate, login))
    # Its first checkpoint: until then pg_rewind of the former primary finds nothing.
    await attempt(out, pg.checkpoint(candidate, login))
    return entry


async def caught_up(out: Publisher, candidate: Server, target: int, login: pg.Login) -> bool:
    """Switchover: wait until the replica has the stopped primary's WAL."""
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while time.monotonic() < deadline:
        probe = await pg.probe(candidate, login)
        if probe.lsn is not None and probe.lsn >= target:
            return True
        await asyncio.sleep(CATCH_UP_POLL)
    message = (
        f"{candidate} has not received WAL up to {target} yet; the primary's writes stay "
        "stopped until it has"
    )
    await out.report(("False", "SwitchoverWaiting", message), "Warning")
    return False


async def switchover(
    out: Publisher,
    spec: AccountingPlatformSpec,
    login: pg.Login,
    layout: Topology,
    promoted: Callable[[], None],
) -> None:
    """The `switchover-to` annotation: stop the primary's writes (fence it), wait until
    the replica has everything, promote it."""
    target = failover.switchover_target(out.annotation(failover.SWITCHOVER_ANNOTATION), layout)
    if target is None:
        return
    if isinstance(target, failover.Refuse):
        await out.report(("True", target.reason, target.message), "Warning")
        return
    probe = await pg.probe(target, login)
    if not (probe.in_recovery and probe.upstream == layout.primary):
        message = f"switchover-to {target}: it does not stream from {layout.primary} now"
        await out.report(("True", "SwitchoverRefused", message), "Warning")
        return
    final = await attempt(out, pg.stop_writes(layout.primary, login))
    if final is None:
        return
    verdict = failover.Promote(target, 0, f"switchover-to {target} asked for")
    if await decide(out, spec, layout, "Switchover", verdict, detect=0.0, target_lsn=final):
        await carry_out(out, spec, login, promoted)
