"""The kopf handlers: thin adapters from kopf's triggers to `controller`.

- create / update / resume of an AccountingPlatform: reconcile at once; the apply layer's
  errors become `kopf.TemporaryError` (retry after a delay) or `kopf.PermanentError`.
- every child the operator manages is watched into an index (`children`, read through
  `cache.Children`), so a reconcile reads its children without a LIST; kopf runs no
  handler before the index is filled.
- a change of a Deployment or Job the operator manages (a migration finished, pods
  became available), or the deletion of any child: request a reconcile of its platform,
  so the status and a held rollout move on, and a deleted child comes back, without
  waiting for the drift check.
- a platform with `spec.failover.enabled` gets a failover watchdog (`watchdog`), which
  checks its primary every `checkIntervalSeconds` and promotes a replica when it fails.
- with `watch_secrets`, a change of a Secret a platform's pods read: request a reconcile
  of that platform (its pods roll when the keys they read changed).
- every `drift_interval` seconds: a reconcile of every platform (drift correction), and
  an audit of the index against one list per child kind (deletions a watch missed).

The drift check is an operator-level loop, not a `@kopf.timer`: kopf puts a finalizer on
every object with a timer (to stop the timer before the object goes), which would block
deleting a platform whenever the operator is not running. Nothing outside the cluster
needs cleaning up, so the platform has no finalizer and garbage collection removes its
children through their ownerReferences.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from accounting_operator import (
    FIELD_MANAGER,
    GROUP,
    PLURAL,
    VERSION,
    cache,
    controller,
    metrics,
    watchdog,
)
from accounting_operator.k8s import errors, resources
from accounting_operator.scheduling import Key, Scheduler, resync

logger = logging.getLogger(__name__)

TIMEOUT = 600.0
"""Seconds one reconcile may take before kopf retries it."""


def kopf_settings(ctx: controller.Context) -> kopf.OperatorSettings:
    """kopf's settings, each one chosen rather than left at its default."""
    settings = ctx.settings
    out = kopf.OperatorSettings()
    # A watch stream can stall without an error; both timeouts make kopf re-open it.
    out.watching.server_timeout = settings.watch_server_timeout
    out.watching.client_timeout = settings.watch_client_timeout
    out.watching.connect_timeout = settings.watch_connect_timeout
    out.execution.max_workers = settings.max_workers
    out.posting.level = logging.getLevelName(settings.posting_level)
    out.posting.reporting_component = FIELD_MANAGER
    # Handler progress and the last handled spec go to annotations only: the status
    # belongs to the CRD's schema, which has no place for kopf's own fields.
    out.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    out.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    # No watching of namespaces or CRDs: the operator needs no RBAC for them.
    out.scanning.disabled = True
    out.peering.standalone = True
    out.networking.request_timeout = settings.request_timeout * 2
    return out


def key_of(body: kopf.Body) -> Key:
    return str(body.metadata.namespace), str(body.metadata.name)


def owner_of(body: kopf.Body) -> Key | None:
    """The AccountingPlatform a child belongs to, if any (see `controller.platform_of`)."""
    return controller.platform_of(dict(body))


async def reconcile_now(ctx: controller.Context, scheduler: Scheduler, body: kopf.Body) -> None:
    """Run one reconcile for a kopf handler, mapping failures to kopf's retry semantics."""
    key = key_of(body)
    scheduler.track(key)
    async with scheduler.slot(key):
        try:
            # Read afresh: kopf's body may predate a status the failover watchdog wrote.
            await controller.run_key(ctx, key)
        except errors.RetryableError as error:
            raise kopf.TemporaryError(str(error), delay=error.delay) from error
        except (errors.PermanentError, controller.InvalidSpecError) as error:
            # Already in the status; retried on the next spec change or drift check.
            raise kopf.PermanentError(str(error)) from error


async def audit(ctx: controller.Context, scheduler: Scheduler) -> None:
    """Every drift interval, find children deleted while a watch was away (kopf keeps
    them in its index) and reconcile their platforms: see `cache`."""
    while True:
        await asyncio.sleep(ctx.settings.drift_interval)
        try:
            owners = await controller.audit_children(ctx)
        except Exception as error:  # the loop must outlive any one failure
            logger.warning("could not audit the children index: %s", error)
            continue
        for owner in owners:
            if owner in scheduler:
                scheduler.request(owner)


def register_lifecycle(
    registry: kopf.OperatorRegistry,
    ctx: controller.Context,
    scheduler: Scheduler,
    dogs: watchdog.Watchdogs,
) -> None:
    """Login, the drift check's start and the orderly shutdown."""
    background: list[asyncio.Task[None]] = []

    @kopf.on.login(registry=registry, id="login")
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_via_client(**kwargs)

    @kopf.on.startup(registry=registry, id="drift-check")
    async def start(**kwargs: Any) -> None:
        # kopf hands every handler its indices by id, filled or not (see `index_child`).
        ctx.children = cache.Children(kwargs["children"])
        interval = ctx.settings.drift_interval
        background.append(asyncio.create_task(resync(scheduler, interval), name="drift check"))
        background.append(asyncio.create_task(audit(ctx, scheduler), name="index audit"))

    @kopf.on.cleanup(registry=registry, id="shutdown")
    async def stop(**_: Any) -> None:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await dogs.close()
        await scheduler.close()
        ctx.client.close()


def register_reconciles(
    registry: kopf.OperatorRegistry,
    ctx: controller.Context,
    scheduler: Scheduler,
    dogs: watchdog.Watchdogs,
) -> None:
    """What starts a reconcile: the platform's changes and its workloads' changes."""

    @kopf.on.resume(GROUP, VERSION, PLURAL, id="reconcile", registry=registry, timeout=TIMEOUT)
    @kopf.on.create(GROUP, VERSION, PLURAL, id="reconcile", registry=registry, timeout=TIMEOUT)
    @kopf.on.update(
        GROUP, VERSION, PLURAL, id="reconcile", field="spec", registry=registry, timeout=TIMEOUT
    )
    async def platform_changed(body: kopf.Body, **_: Any) -> None:
        await reconcile_now(ctx, scheduler, body)

    @kopf.on.event(GROUP, VERSION, PLURAL, id="track", registry=registry)
    async def platform_seen(type: str, body: kopf.Body, **_: Any) -> None:
        if type == "DELETED":
            scheduler.forget(key_of(body))
            ctx.secret_readers.pop(key_of(body), None)
            dogs.forget(key_of(body))
            metrics.forget(*key_of(body))
        else:
            scheduler.track(key_of(body))
            # Every platform event (status included) keeps its failover watchdog current.
            dogs.observe(dict(body))
            # An annotation is no spec change: the backup-now request starts a reconcile here.
            if controller.backup_requested(dict(body)):
                scheduler.request(key_of(body))
        metrics.MANAGED.set(len(scheduler.known()))

    labels = controller.MANAGED_LABELS
    for kind in resources.CHILDREN:
        group, _, version = kind.api_version.rpartition("/")

        @kopf.index(group, version, kind.plural, labels=labels, id="children", registry=registry)
        def index_child(body: kopf.Body, **_: Any) -> dict[cache.Owner, controller.Manifest] | None:
            owner = cache.owner_key(dict(body))
            return None if owner is None else {owner: cache.slim(dict(body))}

        @kopf.on.event(group, version, kind.plural, labels=labels, id="child", registry=registry)
        async def child_changed(type: str, body: kopf.Body, **_: Any) -> None:
            owner = owner_of(body)
            if owner is None or owner not in scheduler:
                return
            # Deployments and Jobs move a rollout, a restore or the backup status on; a
            # CronJob's creation lets a waiting backup-now go; others are watched for
            # deletion (edits of them wait for the drift check, like CloudNativePG's).
            if type == "DELETED" and ctx.children is not None:
                ctx.children.forget(dict(body))
            if type == "DELETED" or body.get("kind") in {"Deployment", "Job", "CronJob"}:
                scheduler.request(owner)


def register_secret_watch(
    registry: kopf.OperatorRegistry, ctx: controller.Context, scheduler: Scheduler
) -> None:
    """With watch_secrets: a change of a Secret a platform's API or worker reads requests
    a reconcile of that platform, whose new digest rolls the pods (render/secrets.py).
    Only the Secret's namespace and name are looked at here."""

    @kopf.on.event("", "v1", "secrets", id="secret", registry=registry)
    async def secret_changed(body: kopf.Body, **_: Any) -> None:
        namespace, name = str(body.metadata.namespace), str(body.metadata.name)
        for key in controller.readers_of(ctx, namespace, name):
            if key in scheduler:
                scheduler.request(key)


def build(ctx: controller.Context) -> tuple[kopf.OperatorRegistry, kopf.OperatorSettings]:
    """The registry with every handler, and kopf's settings, for `kopf.run`."""
    scheduler = Scheduler(
        lambda key: controller.run_key(ctx, key),
        controller.retry_delay,
        concurrency=ctx.settings.max_workers,
        debounce=ctx.settings.debounce,
    )
    dogs = watchdog.Watchdogs(ctx.client, scheduler.request)
    registry = kopf.OperatorRegistry()
    register_lifecycle(registry, ctx, scheduler, dogs)
    register_reconciles(registry, ctx, scheduler, dogs)
    if ctx.settings.watch_secrets:
        register_secret_watch(registry, ctx, scheduler)
    return registry, kopf_settings(ctx)
