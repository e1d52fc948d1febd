"""The operator process: logging, the /metrics server, the API client, then kopf."""

from __future__ import annotations

import logging

import kopf

from accounting_operator import controller, handlers, metrics
from accounting_operator.k8s import Client
from accounting_operator.settings import Settings


def run(settings: Settings) -> None:
    """Run until SIGINT or SIGTERM (kopf handles both)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # kopf logs every handler call at INFO, and child events arrive by the dozen; the
    # operator logs its own outcomes. Problems (WARNING and up) still show.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    metrics.serve(settings.metrics_address, settings.metrics_port)
    client = Client.connect(workers=settings.max_workers, timeout=settings.request_timeout)
    ctx = controller.Context(client=client, settings=settings)
    registry, kopf_settings = handlers.build(ctx)
    kopf.run(
        registry=registry,
        settings=kopf_settings,
        standalone=True,
        clusterwide=settings.clusterwide,
        namespaces=settings.namespaces,
        liveness_endpoint=settings.liveness_endpoint,
    )
