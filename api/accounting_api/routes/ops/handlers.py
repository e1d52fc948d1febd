"""Operations endpoints: /health, /health/live, /ready, /metrics, /openapi.json."""

from __future__ import annotations

import dataclasses
import time

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from accounting_api import __version__
from accounting_api.routes import support
from accounting_api.services import health as health_service

_STARTED = time.monotonic()


async def health(request: Request) -> Response:
    report = await support.deps(request).pinger.health()
    body = {
        "status": report.status,
        "version": __version__,
        "uptime_seconds": round(time.monotonic() - _STARTED, 1),
        "checked_at": report.checked_at.isoformat(),
        "components": [dataclasses.asdict(c) for c in report.components],
    }
    status = 503 if report.status == health_service.UNHEALTHY else 200
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


async def live(request: Request) -> Response:
    """Liveness: the process answers. No dependency is checked, so a database or Redis
    outage never makes Kubernetes restart every replica (/ready takes them out of
    rotation instead)."""
    body = {"status": "alive", "uptime_seconds": round(time.monotonic() - _STARTED, 1)}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def ready(request: Request) -> Response:
    ok, reason = await support.deps(request).pinger.ready()
    body = {"status": "ready" if ok else "not_ready", "reason": reason}
    return JSONResponse(body, status_code=200 if ok else 503)


async def metrics(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
