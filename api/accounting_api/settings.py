"""One typed settings object per process, read from environment variables."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from accounting_api.domain import sealing


class SettingsError(ValueError):
    """A required variable is missing or a value does not parse."""


_PARSERS: dict[str, Callable[[str], Any]] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": lambda raw: raw.strip().lower() in {"1", "true", "yes", "on"},
}


def parse_value(kind: str, raw: str) -> Any:
    """`raw` as a value of the settings type named `kind` (str, int, float or bool)."""
    return _PARSERS[kind](raw)


def _parse(spec: dataclasses.Field[Any], raw: str) -> Any:
    try:
        return parse_value(str(spec.type), raw)
    except ValueError:
        raise SettingsError(f"{spec.name.upper()} must be {spec.type}, got {raw!r}") from None


def _values(cls: type, env: Mapping[str, str] | None) -> dict[str, Any]:
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for spec in dataclasses.fields(cls):
        raw = env.get(spec.name.upper(), "")
        if raw:
            values[spec.name] = _parse(spec, raw)
        elif spec.default is dataclasses.MISSING:
            raise SettingsError(f"{spec.name.upper()} is required")
    return values


def secret_keys(text: str) -> sealing.KeyRing | None:
    """A key ring from its text (WEBHOOK_SECRET_KEYS); None when empty."""
    if not text.strip():
        return None
    try:
        return sealing.parse(text)
    except sealing.KeyRingError as exc:
        raise SettingsError(f"WEBHOOK_SECRET_KEYS: {exc}") from None


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = field(repr=False)
    """PostgreSQL DSN of the app role (owns no tables, subject to row-level security)."""
    redis_url: str = field(repr=False)
    """Redis URL for rate limiting and the report cache."""
    jwt_secret: str = field(repr=False)
    """HS256 signing key for access tokens; at least 32 bytes."""
    migration_database_url: str = field(default="", repr=False)
    """DSN of the role that owns the schema; `migrate` uses it (DATABASE_URL if empty)."""
    jwt_previous_secret: str = field(default="", repr=False)
    """The signing key before the last rotation: tokens it signed are still accepted until
    they expire, and nothing new is signed with it (empty: none)."""
    jwt_issuer: str = "https://api.universalaccounting.com"
    """`iss` claim issued and required."""
    jwt_audience: str = "accounting-api"
    """`aud` claim issued and required."""
    jwt_ttl_seconds: int = 3600
    """Lifetime of an access token."""
    rate_limit_max: int = 5000
    """Requests allowed per organization and per client IP in one window."""
    rate_limit_window_seconds: int = 3600
    """Length of the rate-limit window."""
    auth_rate_limit_max: int = 20
    """Token requests allowed per client IP in one auth window (kept even without Redis)."""
    auth_rate_limit_window_seconds: int = 300
    """Length of the auth rate-limit window."""
    auth_failures_per_account_address: int = 5
    """Failed sign-ins of one account (e-mail) from one client address allowed within
    AUTH_FAILURE_WINDOW_SECONDS; one more blocks that pair (docs/api.md: Brute-force defence)."""
    auth_failure_window_seconds: int = 900
    """The sliding window failed sign-ins count in."""
    auth_block_seconds: int = 900
    """A pair's first block; each block again within AUTH_RECIDIVE_SECONDS doubles it."""
    auth_block_max_seconds: int = 86400
    """The longest block of a pair."""
    auth_recidive_seconds: int = 86400
    """A pair blocked again within this long of its last block is blocked twice as long."""
    auth_failures_per_account: int = 20
    """Failed sign-ins of one account from any address allowed within the window; one
    more locks the account until an owner or admin unlocks it or the lock expires."""
    auth_lock_seconds: int = 3600
    """How long a lock lasts unless lifted (POST /v1/users/{id}/unlock)."""
    suspicious_ip_requests: int = 100
    """Failed requests (answered 401, 403 or 429) of one client address allowed within
    SUSPICIOUS_IP_WINDOW_SECONDS; one more blocks the address (429 with Retry-After).
    0: addresses are not watched."""
    suspicious_ip_window_seconds: int = 900
    """The sliding window an address's failed requests count in."""
    suspicious_ip_block_seconds: int = 900
    """How long a blocked address gets 429 for every request (but /health, /ready, /metrics)."""
    platform_failed_signins: int = 5
    """Failed sign-ins across the platform (every organization and address) allowed within
    PLATFORM_FAILED_SIGNINS_WINDOW_SECONDS; past it the token endpoint's rate limit is
    halved until the count falls back (docs/api.md: Automatic security responses). 0: off."""
    platform_failed_signins_window_seconds: int = 900
    """The sliding window the platform's failed sign-ins count in."""
    org_api_calls_per_minute: int = 1000
    """Requests of one organization allowed in any 60 s; past it its requests get 429
    `organization_rate_limited` with Retry-After. 0: off."""
    org_export_bytes_per_hour: int = 10_000_000
    """Bytes one organization may export (GET /v1/exports/ledger.journal) in any hour; past
    it each export needs a token issued within EXPORT_STEP_UP_SECONDS. 0: off."""
    export_step_up_seconds: int = 300
    """How recent a token must be to export past ORG_EXPORT_BYTES_PER_HOUR."""
    sign_up_attempts_per_email: int = 5
    """Sign-up attempts (POST /v1/organizations) with one owner e-mail allowed within
    SIGN_UP_WINDOW_SECONDS; more get 429 with Retry-After (kept even without Redis)."""
    sign_up_attempts_per_address: int = 20
    """Sign-up attempts from one client address allowed within SIGN_UP_WINDOW_SECONDS."""
    sign_up_window_seconds: int = 3600
    """The sliding window sign-up attempts count in (refused attempts count too)."""
    idempotency_ttl_seconds: int = 86400
    """How long a stored Idempotency-Key response is replayed."""
    max_body_bytes: int = 1_048_576
    """Largest request body accepted; larger ones are answered 413."""
    db_pool_min: int = 2
    """Connections the pool keeps open."""
    db_pool_max: int = 20
    """Connections the pool may open."""
    db_pool_acquire_timeout_seconds: float = 10.0
    """How long a request waits for a free connection of the write pool before it answers
    503 with Retry-After (every connection busy: a slow or overloaded database)."""
    db_statement_timeout_ms: int = 30_000
    """Server-side statement timeout for app connections."""
    database_min_timeline: int = 0
    """Refuse a database server whose timeline is older (0: no floor). The operator renders
    the new primary's timeline after a failover, so a restarted former primary, read-write
    on the old timeline, takes no connection (docs/database-servers.md)."""
    database_replicas: str = ""
    """Streaming replicas that reports and lists read from, `host:port,host:port` (login
    and database as in DATABASE_URL); empty: every read on the primary. The operator
    renders the replicas that follow the active primary (docs/database-servers.md)."""
    database_replica_max_lag_bytes: int = 16 * 1024 * 1024
    """A replica further behind the primary than this serves no read."""
    database_replica_wait_ms: int = 100
    """How long a read carrying a Consistency-Token waits for a replica that has replayed
    it before it reads from the primary instead."""
    db_read_pool_max: int = 10
    """Connections each read pool (the primary's, and each replica's) may open."""
    report_cache_ttl_seconds: int = 300
    """How long a report response stays cached in Redis; 0 disables the cache. Keys hold
    the organization's ledger version, so a posting is never hidden by the cache."""
    redis_cluster: bool = False
    """REDIS_URL names a node of a Redis Cluster: talk to the cluster (slots, redirects)."""
    redis_timeout_seconds: float = 0.25
    """Socket timeout for Redis calls; past it the API fails open (or closed for auth)."""
    trust_forwarded_for: bool = False
    """Take the client IP from X-Forwarded-For (set only behind a trusted proxy)."""
    trusted_proxies: int = 1
    """With TRUST_FORWARDED_FOR: how many proxies in front of the API append to
    X-Forwarded-For; the client is the address the outermost one saw (the entry this many
    from the right), never an entry a client wrote."""
    webhook_allow_insecure: bool = False
    """Accept http:// webhook URLs and URLs naming private or loopback addresses (local
    development and tests only; the worker has the same switch, WEBHOOK_ALLOW_INSECURE)."""
    webhook_secret_keys: str = field(default="", repr=False)
    """The platform key ring: it seals webhook signing secrets and two-factor secrets at
    rest, `<id>:<base64 of 32 bytes>`, comma-separated, the current key first
    (docs/webhook-secrets.md, docs/two-factor.md). Without it no webhook endpoint can be
    created and no one can enrol in two-factor sign-in (a secret is never stored in the
    clear)."""
    log_level: str = "INFO"
    """Root log level (DEBUG, INFO, WARNING, ERROR)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "log_level", self.log_level.upper())
        self.secret_keys()  # a key ring that does not parse stops the process at start
        if not 1 <= self.trusted_proxies <= 10:
            raise SettingsError("TRUSTED_PROXIES must be between 1 and 10")
        if self.database_replica_max_lag_bytes < 0 or self.database_replica_wait_ms < 0:
            raise SettingsError("DATABASE_REPLICA_MAX_LAG_BYTES and _WAIT_MS must be >= 0")
        if min(self.auth_failure_window_seconds, self.auth_block_seconds,
               self.suspicious_ip_window_seconds, self.suspicious_ip_block_seconds,
               self.auth_lock_seconds, self.auth_recidive_seconds) < 1:  # fmt: skip
            raise SettingsError("brute-force windows, blocks and locks must be >= 1 second")
        if min(self.platform_failed_signins, self.org_api_calls_per_minute,
               self.org_export_bytes_per_hour, self.suspicious_ip_requests) < 0:  # fmt: skip
            raise SettingsError("security thresholds must be >= 0 (0: off)")
        if min(self.platform_failed_signins_window_seconds, self.export_step_up_seconds) < 1:
            raise SettingsError(
                "PLATFORM_FAILED_SIGNINS_WINDOW_SECONDS and EXPORT_STEP_UP_SECONDS must be >= 1"
            )
        if min(self.sign_up_attempts_per_email, self.sign_up_attempts_per_address,
               self.sign_up_window_seconds) < 1:  # fmt: skip
            raise SettingsError("sign-up limits and their window must be at least 1")
        if self.auth_block_max_seconds < self.auth_block_seconds:
            raise SettingsError("AUTH_BLOCK_MAX_SECONDS must be >= AUTH_BLOCK_SECONDS")
        if self.db_read_pool_max < 1:
            raise SettingsError("DB_READ_POOL_MAX must be at least 1")
        if self.db_pool_acquire_timeout_seconds <= 0:
            raise SettingsError("DB_POOL_ACQUIRE_TIMEOUT_SECONDS must be more than 0")
        for part in filter(None, (p.strip() for p in self.database_replicas.split(","))):
            _, colon, port = part.rpartition(":")
            if not colon or not port.isdigit() or "/" in part or "@" in part:
                raise SettingsError(f"DATABASE_REPLICAS: {part!r} is not host:port")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Each field from the variable of its name in capitals (DATABASE_URL, ...)."""
        settings = cls(**_values(cls, env))
        if len(settings.jwt_secret.encode()) < 32:
            raise SettingsError("JWT_SECRET must be at least 32 bytes")
        if settings.jwt_previous_secret and len(settings.jwt_previous_secret.encode()) < 32:
            raise SettingsError("JWT_PREVIOUS_SECRET must be empty or at least 32 bytes")
        return settings

    def secret_keys(self) -> sealing.KeyRing | None:
        """WEBHOOK_SECRET_KEYS parsed; None when it is not set."""
        return secret_keys(self.webhook_secret_keys)

    @property
    def owner_database_url(self) -> str:
        return self.migration_database_url or self.database_url


@dataclass(frozen=True, slots=True)
class BackupSettings:
    """Where `accounting-api backup`, `backup verify` and `restore` keep backups. The S3
    keys come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (boto3 reads them)."""

    backup_s3_bucket: str
    """The bucket."""
    backup_s3_prefix: str = ""
    """Key prefix inside the bucket (the operator sets the platform's name)."""
    backup_s3_region: str = "us-east-1"
    """The bucket's region."""
    backup_s3_endpoint: str = ""
    """Endpoint URL of an S3-compatible service; empty for AWS S3."""
    backup_retention_days: int = 30
    """Backups older than this are deleted after a successful backup (never the newest,
    nor the newest verified)."""
    backup_scratch_dir: str = ""
    """Where restore tests and restores download the dump and run the throwaway server
    (default: the system's temporary directory)."""
    backup_verify_deadline_seconds: int = 3600
    """`backup verify` starts no restore test that would not end before this."""

    def __post_init__(self) -> None:
        if self.backup_retention_days < 1:
            raise SettingsError("BACKUP_RETENTION_DAYS must be at least 1")
        if self.backup_verify_deadline_seconds < 1:
            raise SettingsError("BACKUP_VERIFY_DEADLINE_SECONDS must be at least 1")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BackupSettings:
        return cls(**_values(cls, env))
