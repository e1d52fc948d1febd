"""The ConfigMap of non-secret settings, and the hash that rolls pods when it changes."""

from __future__ import annotations

import hashlib
import json

from accounting_operator import topology
from accounting_operator.render import meta
from accounting_operator.render.platform import Manifest, Platform

CONFIG_HASH_ANNOTATION = "accounting.universalaccounting.com/config-hash"


def database_url(platform: Platform) -> str:
    """The DSN without credentials: libpq/asyncpg take them from PGUSER and PGPASSWORD.

    Keeping user and password out of the URL means no manifest (and no ConfigMap) ever
    holds a secret, and a password needs no URL escaping. It lists the primary, then the
    replicas (see `topology.dsn`); fenced former primaries never.
    """
    database = platform.spec.database
    return topology.dsn(platform.topology, database.primary.database, database.ssl_mode)


def replica_reads(platform: Platform) -> dict[str, str]:
    """Where the API reads reports and lists: the replicas of the topology (after a
    failover, those that follow the active primary; fenced servers never)."""
    reads = platform.spec.database.replica_reads
    replicas = platform.topology.replicas if reads.enabled else ()
    return {
        "DATABASE_REPLICAS": ",".join(str(s) for s in replicas),
        "DATABASE_REPLICA_MAX_LAG_BYTES": str(reads.max_lag_bytes),
        "DATABASE_REPLICA_WAIT_MS": str(reads.wait_milliseconds),
    }


def security_thresholds(platform: Platform) -> dict[str, str]:
    """The automatic security responses' thresholds (spec.api.securityThresholds)."""
    t = platform.spec.api.security_thresholds
    return {
        "PLATFORM_FAILED_SIGNINS": str(t.failed_logins),
        "ORG_API_CALLS_PER_MINUTE": str(t.api_calls_per_minute),
        "ORG_EXPORT_BYTES_PER_HOUR": str(t.data_export_size),
        "SUSPICIOUS_IP_REQUESTS": str(t.suspicious_ip_requests),
    }


def settings(platform: Platform) -> dict[str, str]:
    """Environment variables of the API and worker that are not secret."""
    spec = platform.spec
    timeline = platform.topology.timeline
    # After a failover the API refuses a server on an older timeline: a restarted former
    # primary that the operator has not fenced yet.
    floor = {"DATABASE_MIN_TIMELINE": str(timeline)} if timeline else {}
    return floor | {
        **replica_reads(platform),
        "DATABASE_URL": database_url(platform),
        "ENVIRONMENT": spec.environment,
        "LOG_LEVEL": spec.log_level,
        "RATE_LIMIT_MAX": str(spec.api.rate_limit.max_requests),
        "RATE_LIMIT_WINDOW_SECONDS": str(spec.api.rate_limit.window_seconds),
        **security_thresholds(platform),
        "REDIS_CLUSTER": "true" if spec.redis.cluster else "false",
        # Behind the ingress controller the client address is in X-Forwarded-For.
        "TRUST_FORWARDED_FOR": "true" if spec.ingress.enabled else "false",
        # The root filesystem is read-only.
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def config_hash(platform: Platform) -> str:
    """Changes whenever the settings do, so pods restart to read them."""
    data = json.dumps(settings(platform), sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()[:16]


def config_map(platform: Platform) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta.metadata(platform, platform.child("config"), meta.PLATFORM),
        "data": settings(platform),
    }
