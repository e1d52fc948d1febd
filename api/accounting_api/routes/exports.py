"""Exports: the journal in hledger's plain-text format, streamed."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from accounting_api.routes import support
from accounting_api.services import exports as exports_service


async def ledger_journal(request: Request) -> Response:
    chunks = exports_service.journal(support.db(request), support.principal(request))
    return StreamingResponse(
        chunks,
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="ledger.journal"'},
    )
