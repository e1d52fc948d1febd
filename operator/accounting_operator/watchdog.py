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

The promotion itself is `promotion`; status, conditions and Events go through
`publishing.Publisher`, whose writes are conditional on the platform's resourceVersion, so
the decision to promote is taken once. The loop outlives any error; it stops when failover
is disabled or the platform is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from accounting_operator import failover, metrics, pg, promotion, topology
from accounting_operator.k8s import Client
from accounting_operator.promotion import attempt
from accounting_operator.publishing import Publisher, Verdict, database, with_database
from accounting_operator.spec import AccountingPlatformSpec
from accounting_operator.topology import Server, Topology

logger = logging.getLogger(__name__)

Key = tuple[str, str]
Manifest = dict[str, Any]

LSN_SAVE_INTERVAL = 30.0
"""Seconds between writes of the primary's WAL position to status (for a restarted
operator, which has not seen the primary yet when it must judge a replica's lag)."""
REFENCE_INTERVAL = 60.0
"""Seconds between two fences of a former primary that is fenced already and still up."""
LOGIN_TTL = 30.0
"""Seconds the failover Secret's values are kept before it is read again."""


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
        self.out = Publisher(client, body)
        self.reconcile = reconcile
        self.memory = Memory()

    def promoted(self) -> None:
        """A promotion is in status: forget the old primary, re-render the platform."""
        self.memory = Memory(login=self.memory.login)
        self.reconcile(self.out.key)

    # --- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must outlive any one failure
                logger.exception("failover check of %s/%s failed", *self.out.key)
            spec = self.out.spec()
            interval = spec.failover.check_interval_seconds if spec else 10
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))

    async def tick(self) -> None:
        spec = self.out.spec()
        if spec is None or not spec.failover.enabled or spec.paused:
            return
        login = await self.login(spec)
        if login is None:
            return
        state = database(self.out.status())
        if state.pending is not None:
            await promotion.carry_out(self.out, spec, login, self.promoted)
            return
        layout = topology.of(spec.database, state)
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
        values = await self.out.client.secret(self.out.key[0], ref.name)
        user = (values or {}).get(ref.username_key)
        password = (values or {}).get(ref.password_key)
        if not user or password is None:
            message = (
                f"Secret {ref.name} (failover.credentialsSecretRef) is missing or lacks keys "
                f"{ref.username_key} and {ref.password_key}: the primary is not checked"
            )
            await self.out.report(("Unknown", "FailoverCredentialsMissing", message), "Warning")
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
        namespace, name = self.out.key
        metrics.PRIMARY_UP.labels(namespace, name).set(1)
        metrics.watching(namespace, name)
        probes = await pg.probe_all((*layout.replicas, *layout.fenced), login)
        replicas = probes[: len(layout.replicas)]
        for replica in replicas:
            if replica.reachable and replica.lsn is not None and probe.lsn is not None:
                lag = max(0, probe.lsn - replica.lsn)
                metrics.REPLICA_LAG.labels(namespace, name, str(replica.server)).set(lag)
            # Only after a failover: before one, the DBA's replication (cascading, say) stands.
            lost = replica.in_recovery and replica.upstream != layout.primary
            if replica.reachable and lost and layout.timeline is not None:
                await attempt(self.out, pg.repoint(replica.server, layout.primary, login))
        metrics.forget_lag(namespace, name, frozenset(str(s) for s in layout.replicas))
        for former in probes[len(layout.replicas) :]:
            await self.former_primary(former, layout, login)
        verdict = await self.synchronous(spec, login, layout)
        await self.out.report(verdict, "Normal")
        await self.save_lsn(probe.lsn)
        await promotion.switchover(self.out, spec, login, layout, self.promoted)

    async def former_primary(
        self, probe: failover.Probe, layout: Topology, login: pg.Login
    ) -> None:
        """Fence a former primary that answers read-write; let one that streams from the
        primary again (rewound or re-cloned) rejoin as a replica."""
        if probe.reachable and failover.rejoins(probe, layout):
            await self.out.write(
                lambda s: with_database(s, failover.rejoined(database(s), probe.server))
            )
            await self.out.event(
                "Normal",
                "Rejoined",
                f"{probe.server} streams from {layout.primary} again: it is a replica again",
            )
            return
        entry = next(
            (f for f in database(self.out.status()).fenced if f.server == str(probe.server)), None
        )
        if not probe.writable or entry is None:
            return
        # Fenced already: checked again now and then (someone may have turned a login on).
        last = self.memory.fenced_at.get(probe.server, float("-inf"))
        if entry.fenced and time.monotonic() - last < REFENCE_INTERVAL:
            return
        roles = await attempt(self.out, pg.fence(probe.server, login))
        if roles is None:
            return
        self.memory.fenced_at[probe.server] = time.monotonic()
        if not entry.fenced:
            await self.out.write(
                lambda s: with_database(s, failover.fenced(database(s), probe.server))
            )
            await self.out.event(
                "Warning",
                "Fenced",
                f"former primary {probe.server} answers again: logins of {', '.join(roles)} "
                f"revoked there and their sessions ended; {entry.message}",
            )

    async def synchronous(
        self, spec: AccountingPlatformSpec, login: pg.Login, layout: Topology
    ) -> Verdict:
        """Keep synchronous_standby_names naming the replicas that follow (only once the
        operator has promoted a server: before that the DBA's setting stands)."""
        primary = layout.primary
        if layout.timeline is None:
            return "True", "PrimaryAvailable", f"primary {primary} answers"
        found = await attempt(self.out, pg.followers(primary, login))
        if found is None:
            return "True", "PrimaryAvailable", f"primary {primary} answers"
        names, current = found
        mode = spec.failover.synchronous_mode
        wanted = failover.synchronous_names(names, mode)
        if wanted != current:
            await attempt(self.out, pg.set_synchronous(primary, login, wanted))
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
        await self.out.write(lambda s: with_database(s, database(s).model_copy(update=update)))

    # --- a failed primary ------------------------------------------------------------------

    async def failed(
        self, spec: AccountingPlatformSpec, login: pg.Login, layout: Topology, why: str
    ) -> None:
        memory = self.memory
        namespace, name = self.out.key
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
            last = database(self.out.status()).last_primary_lsn
        lag = spec.failover.max_replication_lag_bytes
        verdict = failover.judge(layout, replicas, last, lag, why)
        if isinstance(verdict, failover.Refuse):
            await self.out.report(("False", verdict.reason, verdict.message), "Warning")
            return
        detect = time.monotonic() - memory.first_failure
        decided = await promotion.decide(self.out, spec, layout, "Failover", verdict, detect=detect)
        if decided:
            await promotion.carry_out(self.out, spec, login, self.promoted)


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
        elif _newer(body, running[0].out.body):
            running[0].out.body = body

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
