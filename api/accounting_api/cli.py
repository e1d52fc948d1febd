"""`accounting-api`: serve, migrate, worker, create-org, purge-idempotency-keys, webhooks
rekey, backup (take, list, verify) and restore."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import signal
import sys

from accounting_api import backup_cli, logs
from accounting_api.db import failures, migrations
from accounting_api.db.connection import Database, connected
from accounting_api.domain import errors
from accounting_api.settings import Settings, SettingsError, parse_value, secret_keys


def _database_url(owner: bool) -> str:
    name = "MIGRATION_DATABASE_URL" if owner else "DATABASE_URL"
    url = os.environ.get(name) or os.environ.get("DATABASE_URL", "")
    if not url:
        raise SettingsError(f"{name} (or DATABASE_URL) is required")
    return url


def _database(min_size: int, max_size: int) -> Database:
    """The app role's pool, with the timeline floor the operator renders."""
    floor = parse_value("int", os.environ.get("DATABASE_MIN_TIMELINE") or "0")
    return Database(
        _database_url(owner=False), min_size=min_size, max_size=max_size, min_timeline=floor
    )


async def _migrate() -> int:
    async with connected(_database_url(owner=True)) as conn:
        applied = await migrations.apply(conn)
    names = [f"{m.version:04d}_{m.name}" for m in applied]
    print(json.dumps({"applied": names, "up_to_date": not names}))
    return 0


# The services and uvicorn are imported by the commands that use them: every command
# would otherwise pay for all of them at start-up (a backup CronJob's Job, each hour).


async def _create_org(args: argparse.Namespace) -> int:
    from accounting_api.services import audit, organizations

    db = _database(1, 2)
    await db.open()
    try:
        if args.unless_exists:
            found = await organizations.memberships_of(db, args.email)
            if found:
                oldest = found[0].organization_id
                print(json.dumps({"created": False, "organization_id": oldest}))
                return 0
        password = os.environ.get("OWNER_PASSWORD") or getpass.getpass("Owner password: ")
        async with db.unit_of_work() as unit:  # the sign-up and its audit event, as the API
            org = await organizations.sign_up(
                unit,
                name=args.name,
                base_currency=args.currency,
                email=args.email,
                password=password,
                owner_name=args.owner_name,
            )
            await audit.record(
                unit,
                organization_id=org.id,
                actor_user_id=unit.actor,
                request_id=None,
                changes=unit.changes,
            )
    finally:
        await db.close()
    print(
        json.dumps(
            {
                "created": True,
                "organization_id": org.id,
                "owner_id": org.owner.id,
                "email": org.owner.email,
                "accounts_created": org.accounts,
            }
        )
    )
    return 0


async def _purge(args: argparse.Namespace) -> int:
    from accounting_api.services import maintenance

    db = _database(1, 1)
    await db.open()
    try:
        removed = await maintenance.purge_expired_keys(db, args.older_than_seconds)
    finally:
        await db.close()
    print(json.dumps({"purged": removed}))
    return 0


async def _compliance_report(args: argparse.Namespace) -> int:
    """The organization's compliance report on stdout (JSON or Markdown), under this
    environment's settings (run it where the API runs); exit 1 if a control fails."""
    from accounting_api import routes
    from accounting_api.domain.roles import Principal, Role
    from accounting_api.routes.compliance import schemas
    from accounting_api.services import compliance

    settings = Settings.from_env()
    endpoints = {f"{e.method} {e.path}" for e in routes.ENDPOINTS}
    principal = Principal("cli", args.organization, Role.OWNER)
    db = _database(1, 2)
    await db.open()
    try:
        found = await compliance.report(db, principal, compliance.protection(settings), endpoints)
    finally:
        await db.close()
    report = schemas.report_out(found)
    print(report.model_dump_json(indent=2) if args.format == "json" else schemas.markdown(report))
    return 0 if report.compliant else 1


async def _rekey() -> int:
    """Seal every webhook secret and second factor under the current key; exit 1 if one
    does not open (the key it needs must stay in the ring). `sealed` and `unreadable` count
    both kinds; `second_factors_*` the factors' part."""
    from accounting_api.services import webhook_secrets

    keys = secret_keys(os.environ.get("WEBHOOK_SECRET_KEYS", ""))
    if keys is None:
        raise SettingsError("WEBHOOK_SECRET_KEYS is required")
    db = _database(1, 1)
    await db.open()
    try:
        hooks = await webhook_secrets.rekey(db, keys)
        factors = await webhook_secrets.rekey_second_factors(db, keys)
    finally:
        await db.close()
    report = {
        "key": keys.current,
        "sealed": hooks.sealed + factors.sealed,
        "unreadable": hooks.unreadable + factors.unreadable,
        "second_factors_sealed": factors.sealed,
        "second_factors_unreadable": factors.unreadable,
    }
    print(json.dumps(report))
    return 1 if report["unreadable"] else 0


async def _worker(args: argparse.Namespace) -> int:
    from accounting_api import metrics
    from accounting_api.services import maintenance, webhooks

    logs.configure(os.environ.get("LOG_LEVEL", "INFO").upper())
    # One pass (--once) is over before anything could scrape it.
    port = 0 if args.once else args.metrics_port
    try:
        metrics.serve_worker(args.metrics_host, port)
    except OSError as exc:  # not PostgreSQL's: say which setting to change
        raise SettingsError(f"/metrics on {args.metrics_host}:{port}: {exc}") from None
    keys = secret_keys(os.environ.get("WEBHOOK_SECRET_KEYS", ""))
    db = _database(1, 2)
    await db.open()
    worker = maintenance.Worker(
        db,
        interval_seconds=args.interval_seconds,
        idempotency_ttl_seconds=int(os.environ.get("IDEMPOTENCY_TTL_SECONDS", "86400")),
        webhooks=webhooks.DeliverySettings(
            retry_base_seconds=args.webhook_retry_base_seconds,
            lease_seconds=args.webhook_lease_seconds,
            timeout_seconds=args.webhook_timeout_seconds,
            max_attempts=args.webhook_max_attempts,
            allow_insecure=args.webhook_allow_insecure,
            keys=keys,
        ),
    )
    if keys is None:
        logging.getLogger("accounting_api.worker").warning(
            "WEBHOOK_SECRET_KEYS is not set: sealed webhook secrets cannot sign deliveries"
        )
    try:
        if args.once:
            print(json.dumps(await worker.run_once()))
            return 0
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await worker.run(stop)
    finally:
        await db.close()
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = Settings.from_env()  # fail fast, before any worker starts
    logs.configure(settings.log_level)
    uvicorn.run(
        "accounting_api.app:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,
        # The client address behind proxies is the app's (http/context.py: counted from
        # the right of X-Forwarded-For); no banner names the server.
        proxy_headers=False,
        server_header=False,
        access_log=False,
        timeout_graceful_shutdown=25,
    )
    return 0


def _flag(raw: str) -> bool:
    return bool(parse_value("bool", raw))


def _at_least_one(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="accounting-api", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP API with uvicorn")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")))
    sub.add_parser("migrate", help="apply pending SQL migrations (safe to run concurrently)")
    org = sub.add_parser("create-org", help="create an organization with its owner")
    org.add_argument("--name", required=True)
    org.add_argument("--email", required=True)
    org.add_argument("--owner-name", default="Owner")
    org.add_argument("--currency", default="USD")
    org.add_argument(
        "--unless-exists",
        action="store_true",
        help="do nothing if the e-mail is already a person's (any membership): exit 0 and"
        " print their oldest organization; for seeding scripts run more than once",
    )
    worker = sub.add_parser("worker", help="run background upkeep until SIGTERM")
    worker.add_argument(
        "--interval-seconds",
        type=float,
        default=float(os.environ.get("WORKER_INTERVAL_SECONDS", "60")),
    )
    worker.add_argument("--once", action="store_true", help="run one pass and exit")
    worker.add_argument(
        "--metrics-host",
        default=os.environ.get("WORKER_METRICS_HOST", "127.0.0.1"),
        help="address the worker's /metrics listens on",
    )
    worker.add_argument(
        "--metrics-port",
        type=int,
        default=int(os.environ.get("WORKER_METRICS_PORT", "9090")),
        help="port of the worker's /metrics (Prometheus); 0: not served",
    )
    for name, default, text in (
        ("retry-base-seconds", "30", "delay before a failed webhook's first retry (doubles)"),
        ("lease-seconds", "60", "time a claimed webhook delivery is reserved to its worker"),
        ("timeout-seconds", "10", "time a webhook receiver has to answer"),
    ):
        env = f"WEBHOOK_{name.upper().replace('-', '_')}"
        worker.add_argument(
            f"--webhook-{name}", type=float, default=float(os.environ.get(env, default)), help=text
        )
    worker.add_argument(
        "--webhook-max-attempts",
        type=_at_least_one,
        default=os.environ.get("WEBHOOK_MAX_ATTEMPTS", "22"),
        help="attempts before a webhook delivery is failed for good (about 3 days)",
    )
    worker.add_argument(
        "--webhook-allow-insecure",
        action="store_true",
        default=_flag(os.environ.get("WEBHOOK_ALLOW_INSECURE", "")),
        help="also deliver over plain http and to private addresses (development only)",
    )
    webhooks = sub.add_parser("webhooks", help="webhook upkeep")
    webhooks_sub = webhooks.add_subparsers(dest="webhooks_command", required=True)
    webhooks_sub.add_parser(
        "rekey",
        help="seal every webhook signing secret and second factor under the current key",
    )
    report = sub.add_parser(
        "compliance-report", help="an organization's compliance report; exit 1 if a control fails"
    )
    report.add_argument("--organization", required=True, help="the organization's id (org_...)")
    report.add_argument("--format", choices=("json", "markdown"), default="json")
    purge = sub.add_parser("purge-idempotency-keys", help="delete expired Idempotency-Keys")
    purge.add_argument("--older-than-seconds", type=int, default=86400)
    backup_cli.add_parsers(sub)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "migrate":
            return asyncio.run(_migrate())
        if args.command == "create-org":
            return asyncio.run(_create_org(args))
        if args.command == "worker":
            return asyncio.run(_worker(args))
        if args.command == "compliance-report":
            return asyncio.run(_compliance_report(args))
        if args.command == "webhooks":
            return asyncio.run(_rekey())
        if args.command in backup_cli.COMMANDS:
            return asyncio.run(backup_cli.run(args, _database_url))
        return asyncio.run(_purge(args))
    except (SettingsError, errors.AccountingError, migrations.MigrationError) as exc:
        print(f"accounting-api {args.command}: {exc}", file=sys.stderr)
        return 2
    except backup_cli.FAILURES as exc:
        return backup_cli.report_failure(args, exc)
    except failures.UNAVAILABLE as exc:
        print(f"accounting-api {args.command}: cannot reach PostgreSQL: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
