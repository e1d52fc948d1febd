"""The benchmark's limit: the operator's work for many platforms, done by a plain client.

For each platform, exactly what the operator makes (its own pure renderers, the same
field managers, the create-only migration Job, the replicas handover to the HPA), in the
order its migration gate imposes, and nothing else: no LIST, no cache, no diff against
the cluster, no retries. Watches drive it, as fast as the cluster allows:

1. apply the AccountingPlatform, then every child but the Deployments (the Job among
   them), for every platform on a thread pool;
2. the moment a platform's Job has succeeded (seen on the watch), apply its Deployments;
3. the moment both Deployments are rolled out, patch the Ready status the operator's own
   status code computes for them.

`raw_s` ends when the last platform is Ready at its generation, the same end state the
operator's `operator_s` is measured to.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bench.kube import Key, Kube, Manifest, Watcher, resource_path

from accounting_operator import FIELD_MANAGER, diff, render, rollout
from accounting_operator import conditions as cond
from accounting_operator.reconcile import Parent, parse
from accounting_operator.render import migration
from accounting_operator.status import AccountingPlatformStatus

MERGE = "application/merge-patch+json"


@dataclass
class Platform:
    """One platform's writes, split by the migration gate, and its final status."""

    key: Key
    gated: list[diff.Write]
    status: Manifest
    status_path: str
    job: Key
    pending: set[Key]
    """Deployments not rolled out yet."""


def plan(applied: Manifest) -> tuple[Platform, list[diff.Write]]:
    """What to write for a platform just applied: the gated Platform, and the writes that
    may go at once."""
    parent = Parent.of(applied)
    platform = parse(parent, service_monitor_crd=False)
    desired = [diff.annotated(m) for m in render.render(platform)]
    writes = diff.plan(desired, {}, parent.uid).writes
    gated = [w for w in writes if w.manifest["kind"] == "Deployment"]
    floors = diff.replica_floors(desired)
    version = platform.spec.version

    def settled(name: str) -> cond.Workload:
        deployment = next(m for m in desired if m["metadata"]["name"] == name)
        n = int(deployment["spec"].get("replicas") or floors[name])
        return cond.Workload(n, n, n, n, n, version, current=True, stuck=None)

    observation = cond.Observation(
        generation=parent.generation,
        paused=False,
        rollout=rollout.Rollout(version, None, migration.job_name(platform), "Succeeded"),
        api=settled(platform.child("api")),
        worker=settled(platform.child("worker")),
    )
    now = datetime.now(UTC).replace(microsecond=0)
    status = cond.status(AccountingPlatformStatus(), observation, now).wire()
    namespace = parent.namespace
    return Platform(
        key=(namespace, parent.name),
        gated=gated,
        status=status,
        status_path=resource_path(applied) + "/status",
        job=(namespace, migration.job_name(platform)),
        pending={(namespace, w.manifest["metadata"]["name"]) for w in gated},
    ), [w for w in writes if w.manifest["kind"] != "Deployment"]


@dataclass
class RawPath:
    """The three steps above, for many platforms at once."""

    kube: Kube
    pool: ThreadPoolExecutor
    platform_body: Callable[[Key], Manifest]
    manager: str
    writes: int = 0
    by_job: dict[Key, Platform] = field(default_factory=dict)
    by_deployment: dict[Key, Platform] = field(default_factory=dict)
    futures: list[Future[None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def write(self, write: diff.Write) -> None:
        manifest = write.manifest
        if write.verb == "create":
            query = [("fieldManager", FIELD_MANAGER)]
            self.kube.call("POST", resource_path(manifest, collection=True), query, manifest)
        else:
            self.kube.apply(resource_path(manifest), manifest, write.field_manager)
        with self._lock:
            self.writes += 1

    def start(self, key: Key) -> None:
        """Step 1."""
        body = self.platform_body(key)
        applied = self.kube.apply(resource_path(body), body, self.manager)
        platform, now = plan(applied)
        with self._lock:
            self.writes += 1
            self.by_job[platform.job] = platform
            for deployment in platform.pending:
                self.by_deployment[deployment] = platform
        for write in now:
            self.write(write)

    def job_done(self, job: Key) -> None:
        """Step 2 (a watch listener: hands the work to the pool)."""
        platform = self.by_job.get(job)
        if platform is not None:
            self.submit(lambda: self.release(platform))

    def release(self, platform: Platform) -> None:
        for write in platform.gated:
            self.write(write)

    def deployment_done(self, deployment: Key) -> None:
        """Step 3 (a watch listener)."""
        with self._lock:
            platform = self.by_deployment.pop(deployment, None)
            if platform is None:
                return
            platform.pending.discard(deployment)
            if platform.pending:
                return
        self.submit(lambda: self.ready(platform))

    def ready(self, platform: Platform) -> None:
        body = {"status": platform.status}
        self.kube.call("PATCH", platform.status_path, body=body, content_type=MERGE)
        with self._lock:
            self.writes += 1

    def submit(self, work: Callable[[], None]) -> None:
        future = self.pool.submit(work)
        with self._lock:
            self.futures.append(future)

    def check(self) -> None:
        """Raise the first failure of any step."""
        with self._lock:
            futures = list(self.futures)
        for future in futures:
            future.result()


def run(
    kube: Kube,
    watches: tuple[Watcher, Watcher, Watcher],
    keys: list[Key],
    *,
    threads: int,
    timeout: float,
    platform_body: Callable[[Key], Manifest],
    manager: str,
) -> dict[str, float]:
    """Every platform through the raw path; seconds to the first writes and to Ready."""
    platforms, deployments, jobs = watches
    with ThreadPoolExecutor(threads, thread_name_prefix="raw") as pool:
        path = RawPath(kube, pool, platform_body, manager)
        jobs.listeners.append(path.job_done)
        deployments.listeners.append(path.deployment_done)
        try:
            started = time.perf_counter()
            for future in [pool.submit(path.start, key) for key in keys]:
                future.result()
            first_writes = time.perf_counter() - started
            ready = platforms.wait(set(keys), timeout)
            path.check()
        finally:
            jobs.listeners.remove(path.job_done)
            deployments.listeners.remove(path.deployment_done)
    return {
        "started": started,
        "first_writes_s": first_writes,
        "raw_s": max(ready.values()) - started,
        "writes": path.writes,
    }
