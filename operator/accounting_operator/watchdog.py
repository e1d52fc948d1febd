"""The failover watchdog: one loop per platform with `spec.failover.enabled`.

Every `checkIntervalSeconds` it probes the primary (`pg`), and acts on what `failover`
decides:

    healthy ──> remember its WAL position; keep replicas following it, former primaries
                fenced (or let them rejoin), synchronous_standby_names current; a
                switchover-to annotation starts a planned switchover
    failed  ──> after failureThreshold checks: judge the replicas ──> refuse (condition,
                Event) or record the decision in status ──> promote ──> new topology in
                status (the reconcile re-renders DATABASE_URL, the pods roll) ──> repoint
                the other replicas ──> fence the old primary when it answers

Every status write is conditional on the platform's resourceVersion, so two operators
(or an operator and a reconcile) never overwrite each other: the decision to promote is
taken once. The loop outlives any error; it stops when failover is disabled or the
platform is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pydantic

from accounting_operator import conditions as cond
from accounting_operator import diff, failover, metrics, pg, topology
from accounting_operator.k8s import Client, errors, resources
from accounting_operator.spec import AccountingPlatformSpec
from accounting_operator.status import (
    AccountingPlatformStatus,
    DatabaseStatus,
    FailoverKind,
    put_condition,
)
from accounting_operator.topology import Server, Topology

logger = logging.getLogger(__name__)

Key = tuple[str, str]
Manifest = dict[str, Any]
Change = Callable[[AccountingPlatformStatus], AccountingPlatformStatus | None]

LSN_SAVE_INTERVAL = 30.0
"""Seconds between writes of the primary's WAL position to status (for a restarted
operator, which has not seen the primary yet when it must judge a replica's lag)."""
REFENCE_INTERVAL = 60.0
"""Seconds between two fences of a former primary that is fenced already and still up."""
LOGIN_TTL = 30.0
"""Seconds the failover Secret's values are kept before it is read again."""
CATCH_UP_POLL = 0.05


def now() -> datetime:
    """Condition times in whole seconds, as Kubernetes writes them."""
    return datetime.now(UTC).replace(microsecond=0)


def precisely() -> datetime:
    """A decision's and a promotion's times keep their microseconds: the seconds to
    promote (status.failoverHistory) are usually well under one."""
    return datetime.now(UTC)


def enabled(body: Manifest) -> bool:
    return bool(((body.get("spec") or {}).get("failover") or {}).get("enabled"))


@dataclass
class Memory:
    """What one loop remembers between checks (lost on restart, by design)."""

    failures: int = 0
    first_failure: float | None = None
    last_lsn: int | None = None
    lsn_saved_at: float = float("-inf")
    login: tuple[float, pg.Login] | None = None
    fenced_at: dict[Server, float] = field(default_factory=dict)


class Watchdog:
    """The failover loop of one platform."""

    def __init__(self, client: Client, body: Manifest, reconcile: Callable[[Key], None]) -> None:
        self.client = client
        self.body = body
        self.reconcile = reconcile
        self.memory = Memory()

    @property
    def key(self) -> Key:
        return str(self.body["metadata"]["namespace"]), str(self.body["metadata"]["name"])

    def spec(self) -> AccountingPlatformSpec | None:
        try:
            return AccountingPlatformSpec.model_validate(self.body.get("spec") or {})
        except pydantic.ValidationError:
            return None  # the reconcile reports it

    def status(self) -> AccountingPlatformStatus:
        return cond.previous_status(self.body.get("status"))

    # --- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must outlive any one failure
                logger.exception("failover check of %s/%s failed", *self.key)
            spec = self.spec()
            interval = spec.failover.check_interval_seconds if spec else 10
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))

    async def tick(self) -> None:
        spec = self.spec()
        if spec is None or not spec.failover.enabled or spec.paused:
            return
        login = await self.login(spec)
        if login is None:
            return
        database = self.status().database or DatabaseStatus()
        if database.pending is not None:
            await self.carry_out(spec, login)
            return
        layout = topology.of(spec.database, database)
        probe = await pg.probe(layout.primary, login)
        why = failover.primary_failed(probe)
        if why is None:
            await self.healthy(spec, login, layout, probe)
        else:
            await self.failed(spec, login, layout, why)

    async def login(self, spec: AccountingPlatformSpec) -> pg.Login | None:
        cached = self.memory.login
        if cached and time.monotonic() - cached[0] < LOGIN_TTL:
            return cached[1]
        ref = spec.failover.credentials_secret_ref
        assert ref is not None
        values = await self.client.secret(self.key[0], ref.name)
        user = (values or {}).get(ref.username_key)
        password = (values or {}).get(ref.password_key)
        if not user or password is None:
            message = (
                f"Secret {ref.name} (failover.credentialsSecretRef) is missing or lacks keys "
                f"{ref.username_key} and {ref.password_key}: the primary is not checked"
            )
            await self.report(("Unknown", "FailoverCredentialsMissing", message), "Warning")
            return None
        timeout = float(min(5, spec.failover.check_interval_seconds))
        login = pg.Login(user, password, pg.MAINTENANCE_DATABASE, spec.database.ssl_mode, timeout)
        self.memory.login = (time.monotonic(), login)
        return login

    # --- a healthy primary ----------------------------------------------------------------

    async def healthy(
        self, spec: AccountingPlatformSpec, login: pg.Login, layout: Topology, probe: failover.Probe
    ) -> None:
        memory = self.memory
        memory.failures, memory.first_failure, memory.last_lsn = 0, None, probe.lsn
        namespace, name = self.key
        metrics.PRIMARY_UP.labels(namespace, name).set(1)
        probes = await pg.probe_all((*layout.replicas, *layout.fenced), login)
        replicas = probes[: len(layout.replicas)]
        for replica in replicas:
            if replica.reachable and replica.lsn is not None and probe.lsn is not None:
                lag = max(0, probe.lsn - replica.lsn)
                metrics.REPLICA_LAG.labels(namespace, name, str(replica.server)).set(lag)
            # Only after a failover: before one, the DBA's replication (cascading, say) stands.
            lost = replica.in_recovery and replica.upstream != layout.primary
            if replica.reachable and lost and layout.timeline is not None:
                await self.attempt(pg.repoint(replica.server, layout.primary, login))
        metrics.forget_lag(namespace, name, frozenset(str(s) for s in layout.replicas))
        for former in probes[len(layout.replicas) :]:
            await self.former_primary(former, layout, login)
        verdict = await self.synchronous(spec, login, layout)
        await self.report(verdict, "Normal")
        await self.save_lsn(probe.lsn)
        await self.switchover(spec, login, layout)

    async def attempt(self, action: Any) -> Any:
        """Run a database action whose failure is retried at the next check."""
        try:
            return await action
        except pg.DatabaseActionError as error:
            logger.warning("%s/%s: %s", *self.key, error)
            return None

    async def former_primary(
        self, probe: failover.Probe, layout: Topology, login: pg.Login
    ) -> None:
        """Fence a former primary that answers read-write; let one that streams from the
        primary again (rewound or re-cloned) rejoin as a replica."""
        if probe.reachable and failover.rejoins(probe, layout):
            await self.write(lambda s: _database(s, failover.rejoined(_db(s), probe.server)))
            await self.event(
                "Normal",
                "Rejoined",
                f"{probe.server} streams from {layout.primary} again: it is a replica again",
            )
            return
        entry = next((f for f in _db(self.status()).fenced if f.server == str(probe.server)), None)
        if not probe.writable or entry is None:
            return
        # Fenced already: checked again now and then (someone may have turned a login on).
        last = self.memory.fenced_at.get(probe.server, float("-inf"))
        if entry.fenced and time.monotonic() - last < REFENCE_INTERVAL:
            return
        roles = await self.attempt(pg.fence(probe.server, login))
        if roles is None:
            return
        self.memory.fenced_at[probe.server] = time.monotonic()
        if not entry.fenced:
            await self.write(lambda s: _database(s, failover.fenced(_db(s), probe.server)))
            await self.event(
                "Warning",
                "Fenced",
                f"former primary {probe.server} answers again: logins of {', '.join(roles)} "
                f"revoked there and their sessions ended; {entry.message}",
            )

    async def synchronous(
        self, spec: AccountingPlatformSpec, login: pg.Login, layout: Topology
    ) -> tuple[str, str, str]:
        """Keep synchronous_standby_names naming the replicas that follow (only once the
        operator has promoted a server: before that the DBA's setting stands)."""
        primary = layout.primary
        if layout.timeline is None:
            return "True", "PrimaryAvailable", f"primary {primary} answers"
        found = await self.attempt(pg.followers(primary, login))
        if found is None:
            return "True", "PrimaryAvailable", f"primary {primary} answers"
        names, current = found
        mode = spec.failover.synchronous_mode
        wanted = failover.synchronous_names(names, mode)
        if wanted != current:
            await self.attempt(pg.set_synchronous(primary, login, wanted))
        if names:
            return (
                "True",
                "PrimaryAvailable",
                (f"primary {primary} answers; synchronous replicas: {', '.join(names)}"),
            )
        if mode == "strict":
            return (
                "False",
                "NoSynchronousReplica",
                (
                    f"no replica follows primary {primary}: commits wait until one does "
                    "(synchronousMode strict)"
                ),
            )
        return (
            "True",
            "Asynchronous",
            (
                f"primary {primary} answers, but no replica follows it: commits are not "
                "confirmed by a replica until one does (synchronousMode preferred)"
            ),
        )

    async def save_lsn(self, lsn: int | None) -> None:
        memory = self.memory
        if lsn is None or time.monotonic() - memory.lsn_saved_at < LSN_SAVE_INTERVAL:
            return
        memory.lsn_saved_at = time.monotonic()
        update = {"last_primary_lsn": lsn}
        await self.write(lambda s: _database(s, _db(s).model_copy(update=update)))

    # --- a failed primary ------------------------------------------------------------------

    async def failed(
        self, spec: AccountingPlatformSpec, login: pg.Login, layout: Topology, why: str
    ) -> None:
        memory = self.memory
        namespace, name = self.key
        metrics.FAILED_CHECKS.labels(namespace, name).inc()
        metrics.PRIMARY_UP.labels(namespace, name).set(0)
        memory.failures += 1
        if memory.first_failure is None:
            memory.first_failure = time.monotonic()
        if memory.failures < spec.failover.failure_threshold:
            return
        replicas = await pg.probe_all(layout.replicas, login)
        last = memory.last_lsn
        if last is None:
            last = _db(self.status()).last_primary_lsn
        verdict = failover.judge(
            layout, replicas, last, spec.failover.max_replication_lag_bytes, why
        )
        if isinstance(verdict, failover.Refuse):
            await self.report(("False", verdict.reason, verdict.message), "Warning")
            return
        detect = time.monotonic() - memory.first_failure
        if await self.decide(layout, "Failover", verdict, detect):
            await self.carry_out(spec, login)

    async def decide(
        self,
        layout: Topology,
        kind: FailoverKind,
        verdict: failover.Promote,
        detect: float,
        target_lsn: int | None = None,
    ) -> bool:
        """Record the decision, unless the status moved on meanwhile (another operator)."""
        at = precisely()

        def change(status: AccountingPlatformStatus) -> AccountingPlatformStatus | None:
            database = _db(status)
            if (
                database.pending is not None
                or topology.of(self.spec_or_fail().database, database).primary != layout.primary
            ):
                return None
            recorded = failover.decided(
                database, layout, kind=kind, verdict=verdict, detect_seconds=detect, now=at
            )
            pending = recorded.pending.model_copy(update={"target_lsn": target_lsn})  # type: ignore[union-attr]
            message = f"{verdict.reason}: promoting {verdict.candidate}"
            return _condition(
                _database(status, recorded.model_copy(update={"pending": pending})),
                ("False", "FailingOver" if kind == "Failover" else "SwitchingOver", message),
                at,
            )

        written = await self.write(change)
        if written is None:
            return False
        await self.event(
            "Warning" if kind == "Failover" else "Normal",
            f"{kind}Started",
            f"{verdict.reason}: promoting {verdict.candidate} "
            f"(lacking {verdict.lag_bytes} bytes of WAL)",
        )
        return True

    def spec_or_fail(self) -> AccountingPlatformSpec:
        spec = self.spec()
        if spec is None:
            raise ValueError("the spec no longer parses")
        return spec

    async def carry_out(self, spec: AccountingPlatformSpec, login: pg.Login) -> None:
        """Promote the recorded candidate (again after a restart: promotion is idempotent),
        then publish the new topology, repoint the other replicas, fence the old primary."""
        database = _db(self.status())
        pending = database.pending
        assert pending is not None
        candidate = Server.parse(pending.to_server)
        if pending.target_lsn is not None and not await self.caught_up(
            candidate, pending.target_lsn, login
        ):
            return
        names = failover.synchronous_names([], spec.failover.synchronous_mode)
        try:
            timeline = await pg.promote(candidate, login, names)
        except pg.DatabaseActionError as error:
            await self.report(("False", "PromotionFailed", str(error)), "Warning")
            return
        layout = topology.of(spec.database, database)
        at = precisely()

        def change(status: AccountingPlatformStatus) -> AccountingPlatformStatus | None:
            current = _db(status)
            if current.pending is None or current.pending.to_server != pending.to_server:
                return None
            state, entry = failover.promoted(current, layout, timeline, at)
            if pending.kind == "Switchover":  # its writes were stopped by a fence already
                state = failover.fenced(state, Server.parse(pending.from_server))
            message = f"{entry.kind.lower()} from {entry.from_host} to {entry.to_host} done"
            out = _database(status, state).model_copy(
                update={"failover_history": failover.history(status.failover_history, entry)}
            )
            return _condition(out, ("True", "FailedOver", message), at)

        written = await self.write(change)
        if written is None:
            return
        entry = written.failover_history[-1]
        metrics.FAILOVERS.labels(*self.key, entry.kind).inc()
        self.memory = Memory(login=self.memory.login)
        self.reconcile(self.key)
        await self.event(
            "Warning" if entry.kind == "Failover" else "Normal",
            "FailedOver" if entry.kind == "Failover" else "SwitchedOver",
            f"{entry.to_host} is the primary (timeline {timeline}), replacing {entry.from_host}: "
            f"{entry.reason}; detected in {entry.detect_seconds} s, promoted in "
            f"{entry.promote_seconds} s, {entry.lag_bytes} bytes of WAL lacking",
        )
        followers = topology.of(spec.database, _db(written)).replicas
        for replica in followers:
            await self.attempt(pg.repoint(replica, candidate, login))
        # Its first checkpoint: until then pg_rewind of the former primary finds nothing.
        await self.attempt(pg.checkpoint(candidate, login))

    async def caught_up(self, candidate: Server, target: int, login: pg.Login) -> bool:
        """Switchover: wait (up to a minute) until the replica has the stopped primary's WAL."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            probe = await pg.probe(candidate, login)
            if probe.lsn is not None and probe.lsn >= target:
                return True
            await asyncio.sleep(CATCH_UP_POLL)
        await self.report(
            (
                "False",
                "SwitchoverWaiting",
                f"{candidate} has not received WAL up to {target} "
                "yet; the primary's writes stay stopped until it has",
            ),
            "Warning",
        )
        return False

    # --- planned switchover ------------------------------------------------------------------

    async def switchover(
        self, spec: AccountingPlatformSpec, login: pg.Login, layout: Topology
    ) -> None:
        annotations = self.body.get("metadata", {}).get("annotations") or {}
        target = failover.switchover_target(annotations.get(failover.SWITCHOVER_ANNOTATION), layout)
        if target is None:
            return
        if isinstance(target, failover.Refuse):
            await self.report(("True", target.reason, target.message), "Warning")
            return
        probe = await pg.probe(target, login)
        if not (probe.in_recovery and probe.upstream == layout.primary):
            message = f"switchover-to {target}: it does not stream from {layout.primary} now"
            await self.report(("True", "SwitchoverRefused", message), "Warning")
            return
        final = await self.attempt(pg.stop_writes(layout.primary, login))
        if final is None:
            return
        verdict = failover.Promote(target, 0, f"switchover-to {target} asked for")
        if await self.decide(layout, "Switchover", verdict, 0.0, target_lsn=final):
            await self.carry_out(spec, login)

    # --- status, conditions, Events -----------------------------------------------------------

    async def write(self, change: Change) -> AccountingPlatformStatus | None:
        """Apply `change` to the status, conditional on the resourceVersion it was read at;
        on a conflict re-read and re-apply. None: `change` declined."""
        namespace, name = self.key
        for _ in range(10):
            before = self.status()
            after = change(before)
            if after is None:
                return None
            if after.wire() == before.wire():
                return after
            version = self.body["metadata"].get("resourceVersion")
            patch = diff.merge_patch(before.wire(), after.wire())  # null clears a field
            try:
                self.body = await self.client.patch_status(namespace, name, patch, version)
                return after
            except errors.ConflictError:
                fresh = await self.client.get(resources.PLATFORM, namespace, name)
                if fresh is None:
                    return None
                self.body = fresh
        raise errors.ConflictError(f"writing the status of {namespace}/{name}", 409, "too busy")

    async def report(self, verdict: tuple[str, str, str], kind: str) -> None:
        """Set DatabaseAvailable; an Event when its status or reason changes."""
        before = next(
            (c for c in self.status().conditions if c.type == failover.DATABASE_AVAILABLE), None
        )
        if before is not None and (before.status, before.reason, before.message) == verdict:
            return
        await self.write(lambda s: _condition(s, verdict, now()))
        if before is None or (before.status, before.reason) != verdict[:2]:
            await self.event(kind, verdict[1], verdict[2])

    async def event(self, kind: str, reason: str, message: str) -> None:
        try:
            await self.client.post_event(self.body, kind, reason, message, "Failover")
        except errors.KubeError as error:
            logger.warning("could not post event %s: %s", reason, error)


def _db(status: AccountingPlatformStatus) -> DatabaseStatus:
    return status.database or DatabaseStatus()


def _database(
    status: AccountingPlatformStatus, database: DatabaseStatus
) -> AccountingPlatformStatus:
    return status.model_copy(update={"database": database})


def _condition(
    status: AccountingPlatformStatus, verdict: tuple[str, str, str], at: datetime
) -> AccountingPlatformStatus:
    conditions = put_condition(
        status.conditions,
        failover.DATABASE_AVAILABLE,
        verdict,
        status.observed_generation,
        at.replace(microsecond=0),
    )
    return status.model_copy(update={"conditions": conditions})


class Watchdogs:
    """One watchdog task per platform that has failover enabled."""

    def __init__(self, client: Client, reconcile: Callable[[Key], None]) -> None:
        self._client = client
        self._reconcile = reconcile
        self._running: dict[Key, tuple[Watchdog, asyncio.Task[None]]] = {}

    def observe(self, body: Manifest) -> None:
        """The platform as last seen: start, update or stop its watchdog."""
        metadata = body["metadata"]
        key = (str(metadata["namespace"]), str(metadata["name"]))
        running = self._running.get(key)
        if not enabled(body) or metadata.get("deletionTimestamp"):
            self.forget(key)
        elif running is None:
            dog = Watchdog(self._client, body, self._reconcile)
            task = asyncio.create_task(dog.run(), name=f"failover watchdog {key[0]}/{key[1]}")
            self._running[key] = (dog, task)
        elif _newer(body, running[0].body):
            running[0].body = body

    def forget(self, key: Key) -> None:
        running = self._running.pop(key, None)
        if running is not None:
            running[1].cancel()

    async def close(self) -> None:
        tasks = [task for _, task in self._running.values()]
        self._running.clear()
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)


def _newer(seen: Manifest, held: Manifest) -> bool:
    """Whether a watched body is at least as new as the one the watchdog holds (it may
    hold a fresher one from its own status write)."""
    try:
        return int(seen["metadata"]["resourceVersion"]) >= int(held["metadata"]["resourceVersion"])
    except (KeyError, ValueError, TypeError):
        return True
