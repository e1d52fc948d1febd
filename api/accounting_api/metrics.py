"""Prometheus metrics of the API and worker processes (names from the deployment guide;
the the table of docs/metrics.md lists them all). No metric has an organization label: label
values come from closed sets, so the series stay bounded however many tenants there are."""

from __future__ import annotations

import enum

from prometheus_client import Counter, Gauge, Histogram, start_http_server


class Service(enum.StrEnum):
    """The `service` label of errors_total: which process counted the error."""

    API = "api"
    WORKER = "worker"


class ErrorType(enum.StrEnum):
    """The `type` label of errors_total: what failed (never a client's mistake)."""

    SERVER = "server"
    """A request answered 5xx."""
    DATABASE = "database"
    """A query that failed because of PostgreSQL (unreachable, timed out, out of
    resources, an internal error), not because of what was asked."""
    REDIS = "redis"
    """Redis unreachable: rate limits, blocks or the report cache failed open (or closed)."""
    WORKER_PASS = "worker_pass"
    """A worker pass that failed (it is retried at the next interval)."""


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "HTTP request duration by method, route template and status.",
    ["method", "route", "status_code"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DB_QUERY_DURATION = Histogram(
    "db_query_duration_seconds",
    "PostgreSQL query duration by operation (first SQL keyword).",
    ["operation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
)
ERRORS = Counter(
    "errors_total",
    "Errors of the service itself (5xx answers, failed dependencies, failed worker passes),"
    " by type, severity and service; never answers about a client's request (4xx).",
    ["type", "severity", "service"],
)
PROBLEMS = Counter(
    "accounting_http_problems_total",
    "Requests answered with an error (4xx and 5xx), by stable error code and status.",
    ["code", "status_code"],
)
SECURITY_EVENTS = Counter(
    "accounting_security_events_total",
    "Security events recorded (GET /v1/security-events), by event and severity:"
    " auth.sign_in_failed counts failed sign-ins, auth.sign_ins_blocked, user.locked and"
    " auth.address_blocked the brute-force defence's blocks and locks.",
    ["event", "severity"],
)
WORKER_PASSES = Counter(
    "accounting_worker_passes_total",
    "Worker passes, by result (succeeded, failed).",
    ["result"],
)
WORKER_LAST_PASS = Gauge(
    "accounting_worker_last_pass_timestamp_seconds",
    "Unix time the worker's last successful pass ended.",
)
WORKER_ITEMS = Counter(
    "accounting_worker_items_total",
    "What worker passes did, by job (revenue_recognitions_posted, webhooks_delivered,"
    " invoices_marked_overdue, ...: the keys of `accounting-api worker --once`).",
    ["job"],
)
RATE_LIMITED = Counter(
    "rate_limited_total", "Requests refused by the rate limiter, by scope.", ["scope"]
)
RATE_LIMIT_BACKEND_FAILURES = Counter(
    "rate_limit_backend_failures_total",
    "Rate-limit checks that could not reach Redis (failed open, or closed for auth).",
)
INVOICES_CREATED = Counter(
    "invoices_created_total",
    "Invoices created (as drafts), by customer tier (a closed set; never by organization).",
    ["customer_tier"],
)
PAYMENTS_PROCESSED = Counter(
    "payments_processed_total",
    "Payments recorded, by method and outcome (succeeded or refused); both closed sets.",
    ["method", "status"],
)
REVENUE_RECOGNIZED = Counter(
    "revenue_recognized_amount",
    "Deferred revenue recognized by the worker, in minor units, by currency.",
    ["currency"],
)
REPORT_CACHE_HITS = Counter(
    "report_cache_hits_total",
    "Report responses served from the Redis cache, by report.",
    ["report"],
)
REPORT_CACHE_MISSES = Counter(
    "report_cache_misses_total",
    "Report responses computed from the database with the cache on (not cached yet, or"
    " Redis unavailable), by report.",
    ["report"],
)
REPORT_CACHE_FAILURES = Counter(
    "report_cache_backend_failures_total",
    "Report cache reads or writes that could not reach Redis (the report is computed"
    " from the database), by report.",
    ["report"],
)
DB_SERVERS_REFUSED = Counter(
    "accounting_db_servers_refused_total",
    "Database servers of DATABASE_URL a new connection did not use, by reason: stale_timeline"
    " (a former primary, on a timeline older than the pool has seen), read_only (a replica),"
    " unavailable (unreachable, starting up, or refusing the login: a fenced server).",
    ["reason"],
)
KEPT_RECORDS_LOST = Counter(
    "accounting_kept_records_lost_total",
    "Records a request kept (a refusal's security or audit event) that could not be written:"
    " the request's rollback failed, or their own transaction did.",
    ["reason"],
)
DB_READS = Counter(
    "accounting_db_reads_total",
    "Read transactions of reports and lists, by the server that served them: server is a"
    " replica's host:port (role replica) or 'primary' (role primary).",
    ["server", "role"],
)
DB_READ_FALLBACKS = Counter(
    "accounting_db_read_fallbacks_total",
    "Reads served by the primary although replicas are configured, by reason: no_replica"
    " (none healthy and within the lag limit), behind (none had replayed the request's"
    " Consistency-Token within the wait), replica_failed (the replica failed mid-read; the"
    " request was answered from the primary).",
    ["reason"],
)
DB_REPLICA_LAG = Gauge(
    "accounting_db_replica_lag_bytes",
    "WAL the primary has written that the replica has not replayed yet, at the last poll.",
    ["server"],
)
DB_REPLICA_UP = Gauge(
    "accounting_db_replica_up",
    "1 while the replica answers as a streaming replica (in recovery), else 0.",
    ["server"],
)
PLATFORM_FAILED_SIGN_INS = Gauge(
    "accounting_platform_failed_sign_ins",
    "Failed sign-ins across the platform within PLATFORM_FAILED_SIGNINS_WINDOW_SECONDS, as this"
    " process last read them (every replica reads the same count, shared in Redis).",
    multiprocess_mode="max",
)
PLATFORM_FAILED_SIGN_INS_ALARM = Gauge(
    "accounting_platform_failed_sign_ins_alarm",
    "1 while the platform's failed sign-ins are past PLATFORM_FAILED_SIGNINS (the token"
    " endpoint's rate limit is then halved), else 0.",
    multiprocess_mode="max",
)
SECURITY_RESPONSES = Counter(
    "accounting_security_responses_total",
    "Automatic security responses recorded (once per window each), by security event:"
    " platform.failed_sign_ins_high / _normal, organization.throttled,"
    " organization.data_exfiltration.",
    ["event"],
)


_process = {"service": Service.API}


def error(kind: ErrorType, severity: Severity = Severity.ERROR) -> None:
    """Count one error of this process (the API's, or the worker's once `serve_worker`)."""
    ERRORS.labels(kind.value, severity.value, _process["service"].value).inc()


def serve_worker(address: str, port: int) -> None:
    """The worker's /metrics, from a daemon thread (port 0: not served); its errors are
    counted with service="worker"."""
    _process["service"] = Service.WORKER
    for result in ("succeeded", "failed"):
        WORKER_PASSES.labels(result)  # exported as 0 before the first pass
    if port:
        start_http_server(port, addr=address)
