"""Carries out one reconcile: read, decide (`reconcile`, pure), write, report.

    parent ──> parse spec ──> list children ──> decide ──> apply / create / prune
           ──> status (only if it changed) ──> Events

Level-based: nothing here depends on what triggered the reconcile (a spec change, a
child's change, the drift check, an operator restart), so the same function serves
every trigger, and running it on an unchanged platform writes nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from accounting_operator import cache, diff, metrics, reconcile
from accounting_operator import conditions as cond
from accounting_operator.k8s import Client, errors, resources
from accounting_operator.reconcile import InvalidSpecError
from accounting_operator.render import meta, secrets
from accounting_operator.render.platform import SECRETS_DIGEST_ANNOTATION, Manifest, Platform
from accounting_operator.scheduling import Key
from accounting_operator.settings import Settings
from accounting_operator.status import AccountingPlatformStatus

logger = logging.getLogger(__name__)

MANAGED_LABELS = {"app.kubernetes.io/managed-by": meta.MANAGED_BY}
"""Labels of every child; kopf watches Deployments and Jobs with them."""

__all__ = [
    "MANAGED_LABELS",
    "Context",
    "InvalidSpecError",
    "Manifest",
    "Monitoring",
    "backup_requested",
    "platform_of",
    "retry_delay",
    "run",
    "run_key",
]


@dataclass(frozen=True, slots=True)
class Monitoring:
    """Which of the Prometheus Operator's kinds the cluster serves."""

    service_monitors: bool = False
    prometheus_rules: bool = False

    def kinds(self) -> tuple[resources.Resource, ...]:
        """The kinds to list (and prune) for a platform."""
        return resources.children(self.service_monitors, self.prometheus_rules)


@dataclass
class Context:
    """What every reconcile shares: the API client, the settings, the children as last
    watched (None: list them on every reconcile), cached discovery."""

    client: Client
    settings: Settings
    children: cache.Children | None = None
    secret_readers: dict[Key, frozenset[str]] = field(default_factory=dict)
    """With watch_secrets: the Secrets each platform's API and worker read, as of its
    last reconcile (a change of one of them requests a reconcile: handlers)."""
    _monitoring: tuple[float, Monitoring] = field(default=(float("-inf"), Monitoring()))

    async def monitoring(self) -> Monitoring:
        """Whether the cluster serves ServiceMonitors and PrometheusRules (their CRDs may
        come and go); re-checked once per drift interval."""
        checked, served = self._monitoring
        if time.monotonic() - checked < self.settings.drift_interval:
            return served
        found = [await self.client.serves(r.api_version, r.plural) for r in resources.MONITORING]
        served = Monitoring(*found)
        self._monitoring = (time.monotonic(), served)
        return served


def now() -> datetime:
    """Status times in whole seconds, as Kubernetes writes them."""
    return datetime.now(UTC).replace(microsecond=0)


async def read_children(ctx: Context, parent: reconcile.Parent, served: Monitoring) -> diff.Live:
    """The watched children, and by a LIST what is not watched: the ServiceMonitors and
    PrometheusRules (their CRDs may come and go), or everything when no watch feeds the
    cache."""
    watched = ctx.children
    live = {} if watched is None else watched.read((parent.namespace, parent.name))
    kinds = served.kinds()
    if watched is not None:
        kinds = tuple(k for k in kinds if k not in resources.CHILDREN)
    selector = reconcile.selector(parent.name)
    found = await asyncio.gather(
        *(ctx.client.select(kind, parent.namespace, selector) for kind in kinds)
    )
    return live | {diff.key(m): m for items in found for m in items}


async def audit_children(ctx: Context) -> set[cache.Owner]:
    """One list per child kind (and watched namespace) checked against the index: the
    platforms that have ghosts, children deleted while a watch was away."""
    if ctx.children is None:
        return set()
    selector = ",".join(f"{k}={v}" for k, v in MANAGED_LABELS.items())
    owners: set[cache.Owner] = set()
    for kind in resources.CHILDREN:
        for namespace in ctx.settings.namespaces or (None,):
            listed, at = await ctx.client.select_all(kind, namespace, selector)
            owners |= ctx.children.audit(kind.kind, namespace, listed, at)
    return owners


async def execute(ctx: Context, plan: diff.Plan) -> tuple[list[Manifest], list[Manifest]]:
    """The writes in order, then the deletions; what the API server answered."""
    written = []
    for write in plan.writes:
        if write.verb == "create":
            result = await ctx.client.create(write.manifest)
        else:
            result = await ctx.client.apply(write.manifest, write.field_manager)
        metrics.WRITES.labels(write.verb).inc()
        if result is not None:
            written.append(result)
            if ctx.children is not None:
                ctx.children.wrote(result)
    for child in plan.prune:
        metadata = child["metadata"]
        await ctx.client.delete(resources.of(child), metadata["namespace"], metadata["name"])
        metrics.WRITES.labels("delete").inc()
        if ctx.children is not None:
            ctx.children.deleted(child)
    return written, plan.prune


async def publish(
    ctx: Context,
    body: Manifest,
    previous: AccountingPlatformStatus,
    new: AccountingPlatformStatus,
    events: list[reconcile.Event],
) -> None:
    """Write what changed in the status, then post the Events (best effort).

    Only the fields this reconcile changed are written (`diff.merge_patch`): what the
    failover watchdog wrote meanwhile (status.database) is left as it is."""
    metadata = body["metadata"]
    before, after = previous.wire(), new.wire()
    if after != before:
        patch = diff.merge_patch(before, after)
        await ctx.client.patch_status(metadata["namespace"], metadata["name"], patch)
        metrics.WRITES.labels("status").inc()
    for event in events:
        try:
            await ctx.client.post_event(body, event.type, event.reason, event.message, "Reconcile")
            metrics.WRITES.labels("event").inc()
        except errors.KubeError as error:
            # An Event is a courtesy: never fail (and repeat) a reconcile over one.
            logger.warning("could not post event %s: %s", event.reason, error)


async def report_failure(
    ctx: Context, body: Manifest, parent: reconcile.Parent, reason: str, message: str
) -> None:
    """Surface a permanent failure in the status (Degraded) and as a Warning Event."""
    previous = parent.previous
    new = cond.failed(previous, parent.generation, reason, message, now())
    changed = new.conditions != previous.conditions or new.phase != previous.phase
    events = [reconcile.Event("Warning", reason, message)] if changed else []
    await publish(ctx, body, previous, new, events)


async def reconcile_body(ctx: Context, body: Manifest) -> str:
    """One reconcile of the platform `body`; its phase afterwards."""
    parent = reconcile.Parent.of(body)
    served = await ctx.monitoring()
    try:
        platform = reconcile.parse(parent, served.service_monitors, served.prometheus_rules)
    except reconcile.InvalidSpecError as error:
        await report_failure(ctx, body, parent, "InvalidSpec", str(error))
        raise
    live = await read_children(ctx, parent, served)
    if ctx.settings.watch_secrets:
        platform = await with_secrets_digest(ctx, platform, live)
    decision = reconcile.decide(parent, platform, live)
    written: list[Manifest] = []
    pruned: list[Manifest] = []
    if not platform.spec.paused:
        try:
            written, pruned = await execute(ctx, decision.plan)
        except errors.PermanentError as error:
            await report_failure(ctx, body, parent, "ApplyFailed", str(error))
            raise
    status, events = reconcile.report(
        parent, decision, reconcile.after(live, written, pruned), now()
    )
    await publish(ctx, body, parent.previous, status, events)
    if status.rollback is not None and status.rollback != parent.previous.rollback:
        metrics.ROLLBACKS.labels(status.rollback.reason).inc()
    if status.backup is not None:
        backup = status.backup
        metrics.backup_times(
            parent.namespace,
            parent.name,
            backup.last_successful,
            backup.last_verified,
            backup.last_failed_verification,
        )
    return status.phase or ""


async def with_secrets_digest(ctx: Context, platform: Platform, live: diff.Live) -> Platform:
    """The platform with the digest of the Secret keys its pods read (render/secrets.py):
    each Secret read for this reconcile only, its values hashed and dropped. While one of
    them is missing, the pods keep the digest they run with (new pods could not start)."""
    wanted = secrets.refs(platform)
    names = frozenset(name for name, _ in wanted)
    ctx.secret_readers[(platform.namespace, platform.name)] = names
    namespace = platform.namespace
    read = {name: await ctx.client.get(resources.SECRET, namespace, name) for name in names}
    missing = secrets.missing(wanted, read)
    if not missing:
        return dataclasses.replace(platform, secrets_digest=secrets.digest(wanted, read))
    logger.warning(
        "%s/%s: not rolling its pods for Secret changes while %s is missing",
        namespace, platform.name, ", ".join(f"{name}/{key}" for name, key in missing),
    )  # fmt: skip
    running = live.get(("Deployment", platform.child("api")), {})
    template = running.get("spec", {}).get("template", {}).get("metadata", {})
    kept = (template.get("annotations") or {}).get(SECRETS_DIGEST_ANNOTATION, "")
    return dataclasses.replace(platform, secrets_digest=kept)


def readers_of(ctx: Context, namespace: str, name: str) -> list[Key]:
    """The platforms whose API or worker read Secret `namespace/name`."""
    return [
        key for key, names in ctx.secret_readers.items() if key[0] == namespace and name in names
    ]


def platform_of(body: Manifest) -> cache.Owner | None:
    """The platform a child belongs to: its controller, or for the Jobs the backup CronJob
    makes (their controller is the CronJob), the platform its labels name."""
    for ref in body.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("kind") == "AccountingPlatform" and ref.get("controller"):
            return str(body["metadata"]["namespace"]), str(ref["name"])
    return cache.owner_key(body) if body.get("kind") == "Job" else None


def backup_requested(body: Manifest) -> bool:
    """Whether the platform carries a backup-now token its status has not handled yet."""
    return reconcile.backup_now_pending(reconcile.Parent.of(body))


async def run(ctx: Context, body: Manifest) -> None:
    """`reconcile_body` with metrics and a log line; errors propagate to the caller."""
    started = time.monotonic()
    metadata = body["metadata"]
    where = f"{metadata['namespace']}/{metadata['name']}"
    try:
        phase = await reconcile_body(ctx, body)
    except Exception as error:
        retry = isinstance(error, errors.RetryableError)
        metrics.RECONCILES.labels("retry" if retry else "failed").inc()
        metrics.ERRORS.labels(type(error).__name__).inc()
        logger.warning("reconcile of %s failed: %s", where, error)
        raise
    finally:
        metrics.DURATION.observe(time.monotonic() - started)
    metrics.RECONCILES.labels("success").inc()
    logger.debug("reconciled %s: %s", where, phase)


async def run_key(ctx: Context, key: Key) -> None:
    """Reconcile the platform `key` as it is now (for triggers that carry no body)."""
    namespace, name = key
    body = await ctx.client.get(resources.PLATFORM, namespace, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return  # gone or going: garbage collection takes the children
    await run(ctx, body)


def retry_delay(error: BaseException) -> float | None:
    """For the scheduler: retry what may pass, not invalid specs or rejected writes."""
    return error.delay if isinstance(error, errors.RetryableError) else None
