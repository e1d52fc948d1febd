"""The ASGI application factory; its lifespan owns the pool and the Redis client."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware

from accounting_api import logs, redis_connection, routes
from accounting_api.db import replicas, servers
from accounting_api.db.connection import Database
from accounting_api.domain import lockout as domain_lockout
from accounting_api.domain import responses as domain_responses
from accounting_api.http import problems
from accounting_api.http.auth import AuthenticationMiddleware
from accounting_api.http.blocking import AddressBlockMiddleware
from accounting_api.http.consistency import ConsistencyMiddleware, ReadFloors
from accounting_api.http.context import RequestContextMiddleware
from accounting_api.http.ratelimit import Limit, RateLimiter, RateLimitMiddleware
from accounting_api.http.responses import FailedSignInMiddleware
from accounting_api.routes.support import Deps
from accounting_api.services import lockout, responses
from accounting_api.services.auth import TokenCodec
from accounting_api.services.health import Pinger
from accounting_api.settings import Settings


def create_app(settings: Settings) -> Starlette:
    """The API; its lifespan opens the pool and closes it and Redis on shutdown."""
    codec = TokenCodec(
        settings.jwt_secret,
        settings.jwt_issuer,
        settings.jwt_audience,
        settings.jwt_ttl_seconds,
        previous_secret=settings.jwt_previous_secret,
    )
    redis_client = redis_connection.connect(settings)
    db = Database(
        settings.database_url,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        statement_timeout_ms=settings.db_statement_timeout_ms,
        min_timeline=settings.database_min_timeline,
        acquire_timeout_s=settings.db_pool_acquire_timeout_seconds,
    )

    reads = read_router(settings, db)
    guard = lockout.Guard(lockout.Counts(lockout.RedisBackend(redis_client)), rules(settings))
    watch = responses.Watch(responses.RedisBackend(redis_client), thresholds(settings))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await db.open()
        await reads.open()
        try:
            yield
        finally:
            await reads.close()
            await db.close()
            await redis_client.aclose()

    app = Starlette(
        routes=routes.starlette_routes(),
        middleware=_middleware(settings, db, reads, redis_client, codec, guard=guard, watch=watch),
        exception_handlers=problems.HANDLERS,
        lifespan=lifespan,
    )
    pinger = Pinger(db, redis_client)
    app.state.deps = Deps(
        settings, db, redis_client, codec, pinger, guard, settings.secret_keys(), watch=watch
    )
    app.state.openapi = routes.openapi_document()
    return app


def rules(settings: Settings) -> domain_lockout.Rules:
    """The brute-force thresholds of the settings (docs/api.md: Brute-force defence)."""
    return domain_lockout.Rules(
        failures_per_account_address=settings.auth_failures_per_account_address,
        failures_per_account=settings.auth_failures_per_account,
        window=settings.auth_failure_window_seconds,
        block=settings.auth_block_seconds,
        block_max=settings.auth_block_max_seconds,
        recidive=settings.auth_recidive_seconds,
        lock=settings.auth_lock_seconds,
        address_failures=settings.suspicious_ip_requests,
        address_window=settings.suspicious_ip_window_seconds,
        address_block=settings.suspicious_ip_block_seconds,
        sign_ups_per_email=settings.sign_up_attempts_per_email,
        sign_ups_per_address=settings.sign_up_attempts_per_address,
        sign_up_window=settings.sign_up_window_seconds,
    )


def thresholds(settings: Settings) -> domain_responses.Thresholds:
    """The automatic security responses' thresholds (docs/api.md: Automatic security responses)."""
    return domain_responses.Thresholds(
        platform_failed_signins=settings.platform_failed_signins,
        platform_window=settings.platform_failed_signins_window_seconds,
        org_calls=settings.org_api_calls_per_minute,
        export_bytes=settings.org_export_bytes_per_hour,
        step_up=settings.export_step_up_seconds,
    )


def read_router(settings: Settings, db: Database) -> replicas.ReadRouter:
    """Where reports and lists read: DATABASE_REPLICAS, else the primary's read pool."""
    policy = replicas.Policy(
        max_lag_bytes=settings.database_replica_max_lag_bytes,
        wait_seconds=settings.database_replica_wait_ms / 1000,
    )
    return replicas.ReadRouter(
        db,
        settings.database_url,
        servers.parse_addresses(settings.database_replicas),
        policy,
        pool_max=settings.db_read_pool_max,
        statement_timeout_ms=settings.db_statement_timeout_ms,
    )


def _middleware(
    settings: Settings,
    db: Database,
    reads: replicas.ReadRouter,
    redis_client: redis_connection.Client,
    codec: TokenCodec,
    *,
    guard: lockout.Guard,
    watch: responses.Watch,
) -> list[Middleware]:
    """Outermost first: request context, blocked addresses (it sees every answer below it,
    401s, 403s and 429s included), authentication, the platform's failed sign-ins, rate
    limits (with the address's block and the organization's calls per minute, in one Redis
    round trip), consistency tokens and read routing, idempotency."""
    general = Limit("general", settings.rate_limit_max, settings.rate_limit_window_seconds)
    auth = Limit("auth", settings.auth_rate_limit_max, settings.auth_rate_limit_window_seconds)
    return [
        Middleware(
            RequestContextMiddleware,
            max_body_bytes=settings.max_body_bytes,
            trusted_proxies=settings.trusted_proxies if settings.trust_forwarded_for else 0,
        ),
        Middleware(AddressBlockMiddleware, guard=guard, db=db),
        Middleware(AuthenticationMiddleware, codec=codec),
        Middleware(FailedSignInMiddleware, watch=watch, db=db),
        Middleware(
            RateLimitMiddleware,
            limiter=RateLimiter(redis_client),
            general=general,
            auth=auth,
            guard=guard,
            watch=watch,
            db=db,
        ),
        Middleware(ConsistencyMiddleware, router=reads, floors=ReadFloors(redis_client)),
    ]


def app_from_env() -> Starlette:
    """Factory for `uvicorn --factory` (each worker process builds its own app)."""
    settings = Settings.from_env()
    logs.configure(settings.log_level)
    if settings.secret_keys() is None:
        logging.getLogger("accounting_api").warning(
            "WEBHOOK_SECRET_KEYS is not set: webhook endpoints cannot be created, and no one"
            " can enrol in two-factor sign-in"
        )
    return create_app(settings)
