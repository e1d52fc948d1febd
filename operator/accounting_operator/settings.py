"""The operator's settings: one typed object per process, read from environment variables.

Every field is read from `ACCOUNTING_OPERATOR_<FIELD>` (e.g. ACCOUNTING_OPERATOR_DRIFT_INTERVAL);
the `run` command's flags override the namespaces. kopf's own settings are derived from
these in `handlers.configure`, so nothing about the operator's behaviour is left at a
framework default by accident.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PREFIX = "ACCOUNTING_OPERATOR_"


class SettingsError(ValueError):
    """A variable does not parse."""


def _namespaces(raw: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in raw.split(",") if part.strip())
    return () if names in {(), ("*",)} else names


def _flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value not in {"true", "false", "1", "0", "yes", "no"}:
        raise ValueError(raw)
    return value in {"true", "1", "yes"}


_PARSERS: dict[str, Any] = {
    "bool": _flag,
    "str": str,
    "int": int,
    "float": float,
    "tuple[str, ...]": _namespaces,
}


@dataclass(frozen=True, slots=True)
class Settings:
    namespaces: tuple[str, ...] = field(default=())
    """Namespaces whose AccountingPlatforms are managed; empty means all namespaces
    (ACCOUNTING_OPERATOR_NAMESPACES=a,b or *)."""
    drift_interval: float = 30.0
    """Seconds between two drift checks of every platform (re-reconcile from scratch)."""
    debounce: float = 0.1
    """Seconds a reconcile requested by a child's change waits, so bursts coalesce."""
    max_workers: int = 8
    """Platforms reconciled at once, and threads (and HTTP connections) for API calls."""
    request_timeout: float = 30.0
    """Seconds one Kubernetes API request of the apply layer may take."""
    watch_server_timeout: int = 300
    """Seconds after which the API server ends a watch stream (kopf reconnects)."""
    watch_client_timeout: float = 330.0
    """Seconds after which the operator gives up on a silent watch stream; longer than the
    server timeout, so a healthy stream always ends from the server side first."""
    watch_connect_timeout: float = 10.0
    """Seconds to connect a watch stream."""
    posting_level: str = "WARNING"
    """Lowest level of kopf's own log messages that become Kubernetes Events; the
    operator's Events for its actions are posted regardless."""
    liveness_endpoint: str = "http://0.0.0.0:8080/healthz"
    """Where kopf serves the liveness probe."""
    metrics_address: str = "0.0.0.0"  # noqa: S104 (scraped from other pods)
    """Address of the Prometheus /metrics server."""
    metrics_port: int = 9090
    """Port of the Prometheus /metrics server; 0 disables it."""
    watch_secrets: bool = False
    """Watch the Secrets the API and worker pods read, and roll those pods when one's
    content changes (needs list/watch on Secrets: the chart's watchSecrets). Off: only
    `kubectl acp rotate` (the rotate annotation) rolls them (docs/secret-rotation.md)."""

    def __post_init__(self) -> None:
        level = self.posting_level.upper()
        if not isinstance(logging.getLevelName(level), int):
            raise SettingsError(f"{PREFIX}POSTING_LEVEL must be a log level, got {level!r}")
        object.__setattr__(self, "posting_level", level)
        if self.drift_interval <= 0 or self.max_workers < 1:
            raise SettingsError("drift interval and max workers must be positive")

    @property
    def clusterwide(self) -> bool:
        return not self.namespaces

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Each field from ACCOUNTING_OPERATOR_<NAME>; keyword overrides win."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for spec in dataclasses.fields(cls):
            raw = env.get(PREFIX + spec.name.upper())
            if raw is None:
                continue
            try:
                values[spec.name] = _PARSERS[str(spec.type)](raw)
            except ValueError:
                raise SettingsError(f"{PREFIX}{spec.name.upper()}: cannot parse {raw!r}") from None
        values.update(overrides)
        return cls(**values)
