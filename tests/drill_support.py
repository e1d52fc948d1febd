"""What the crash drills share (the failover e2e tests and `make bench-failover`, and the
integration drills): a real `accounting-api serve` process on a loopback port that a
drill may SIGKILL and start again on the same port, and the checks of the books after."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx

from accounting_api.db import backups as books_sql

CLI = Path(sys.executable).parent / "accounting-api"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_status(url: str) -> int:
    """The status of a GET, 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


def api_settings(database_url: str) -> dict[str, str]:
    """The environment of a test's own API process: its database, no rate limit and no
    address block in the way (every test client is 127.0.0.1, and the failed requests other
    tests make on purpose count against it in the shared Redis: a block one process sets
    holds for every process)."""
    return {
        "DATABASE_URL": database_url,
        "JWT_SECRET": "drill-secret-" + "x" * 32,
        "RATE_LIMIT_MAX": "100000000",
        "AUTH_RATE_LIMIT_MAX": "100000000",
        "SUSPICIOUS_IP_REQUESTS": "100000000",
        "PLATFORM_FAILED_SIGNINS": "100000000",
        "ORG_API_CALLS_PER_MINUTE": "100000000",
        "ORG_EXPORT_BYTES_PER_HOUR": "1000000000000",
        "SIGN_UP_ATTEMPTS_PER_ADDRESS": "100000000",
    }


class ApiProcess:
    """`accounting-api serve` on 127.0.0.1:port with `env` added to this process's; its
    output appended to `log` (a restart keeps what the killed process wrote)."""

    def __init__(self, env: dict[str, str], log: Path, port: int | None = None) -> None:
        self.env = {**os.environ, **env}
        self.log = log
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, ready_within: float = 60) -> None:
        command = [str(CLI), "serve", "--port", str(self.port)]
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(
                command, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + ready_within
        while http_status(f"{self.base}/ready") != 200:
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the API did not get ready; see {self.log}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, requests in flight are cut off."""
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        self._process.wait()

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds; waited for either way."""
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_messages(self) -> list[str]:
        """The messages of the JSON lines the process logged."""
        lines = self.log.read_text().splitlines()
        return [json.loads(line)["message"] for line in lines if line.startswith("{")]

    def tracebacks(self) -> int:
        """Requests answered 500 (each logs its traceback as an unhandled error)."""
        return self.log_messages().count("unhandled error")


@contextlib.asynccontextmanager
async def running(api: ApiProcess) -> AsyncIterator[httpx.AsyncClient]:
    """The API started (in a thread: start waits for /ready), a client to it, stopped."""
    await asyncio.to_thread(api.start)
    try:
        async with httpx.AsyncClient(base_url=api.base, timeout=15) as http:
            yield http
    finally:
        await asyncio.to_thread(api.stop)


async def books_problems(conn: asyncpg.Connection, orgs: list[str] | None = None) -> list[str]:
    """Unbalanced trial balances and broken audit chains of `orgs` (default: every
    organization), read by `conn` (a role that sees every tenant)."""
    if orgs is None:
        orgs = await books_sql.organizations(conn)
    books = await books_sql.books(conn, orgs)
    problems = [
        f"{org} {currency}: debits {t.debits} != credits {t.credits}"
        for org, balance in books.trial_balances.items()
        for currency, t in balance.items()
        if t.debits != t.credits
    ]
    for org in orgs:
        broken = await books_sql.verify_chain(conn, org)
        if broken is not None:
            problems.append(str(broken))
    return problems
