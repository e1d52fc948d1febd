"""Pure renderers: a `Platform` in, the manifests of all its children out.

No I/O and no Kubernetes client here (import-linter enforces it): the apply layer
applies what these functions return, so tests can check every object without a cluster.
"""

from __future__ import annotations

from collections.abc import Callable

from accounting_operator.render import (
    account,
    alerts,
    api,
    autoscaling,
    backup,
    config,
    dashboard,
    disruption,
    ingress,
    migration,
    monitoring,
    network,
    restore,
    service,
    worker,
)
from accounting_operator.render.platform import Manifest, Platform

# In apply order: what pods refer to (account, settings) before the pods themselves.
RENDERERS: tuple[Callable[[Platform], Manifest | None], ...] = (
    account.service_account,
    config.config_map,
    restore.job,
    migration.job,
    api.deployment,
    service.service,
    autoscaling.hpa,
    worker.deployment,
    disruption.pdb,
    network.network_policy,
    ingress.ingress,
    monitoring.worker_service,
    monitoring.service_monitor,
    alerts.prometheus_rule,
    dashboard.config_map,
    backup.backup_cron_job,
    backup.verify_cron_job,
)


def render(platform: Platform) -> list[Manifest]:
    """Every child of the platform; an object whose feature is off is left out."""
    return [m for m in (renderer(platform) for renderer in RENDERERS) if m is not None]


__all__ = ["Manifest", "Platform", "render"]
