"""JSON log lines, with secrets, tokens and card or account numbers scrubbed."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

_PATTERNS = (
    (re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer [REDACTED]"),
    (re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "[REDACTED_JWT]"),
    (
        re.compile(r"(?i)(password|secret|token|api[_-]?key)(\"?\s*[:=]\s*\"?)[^\s\",}]+"),
        r"\1\2[REDACTED]",
    ),
    (re.compile(r"(postgres(?:ql)?|redis)://([^:/@\s]+):[^@\s]+@"), r"\1://\2:[REDACTED]@"),
    # Card numbers (13-19 digits, optionally grouped) keep only their last four digits.
    (re.compile(r"\b(?:\d[ -]?){9,15}(\d{4})\b"), r"[REDACTED]\1"),
)
_SENSITIVE_KEYS = frozenset({"password", "secret", "token", "authorization", "jwt_secret"})
# Fields the access log fills from validated values (a route template, never a raw
# path): scrubbing them on every request would cost more than the request's logic.
_STRUCTURED_KEYS = frozenset(
    {
        "time",
        "level",
        "logger",
        "request_id",
        "method",
        "route",
        "status",
        "duration_ms",
        "organization_id",
        "client_ip",
        "error_code",
    }
)


def scrub(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class ScrubbingFormatter(JsonFormatter):
    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        for key, value in list(log_data.items()):
            if key.lower() in _SENSITIVE_KEYS:
                log_data[key] = "[REDACTED]"
            elif isinstance(value, str) and key not in _STRUCTURED_KEYS:
                log_data[key] = scrub(value)
        return log_data


class _ReasonOnly(logging.Filter):
    """asyncpg's pool keeps reconnecting its minimum of connections while the database is
    down (backing off to a minute) and logs each failure with a traceback. The outage is
    logged once (db/availability.py); its retries keep the reason, not the stack."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.msg} ({type(record.exc_info[1]).__name__})"
            record.exc_info = None
        return True


_REASON_ONLY = _ReasonOnly()


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        ScrubbingFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "asctime": "time", "name": "logger"},
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("asyncpg.pool").addFilter(_REASON_ONLY)  # once, however often called
