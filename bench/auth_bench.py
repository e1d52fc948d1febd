"""What the per-request security checks cost: an authenticated GET and the token endpoint,
each against two `accounting-api serve` processes of the same run, one with the checks on
and one with them off.

Checks on: the client address's block (SUSPICIOUS_IP_REQUESTS), the organization's calls
per minute (ORG_API_CALLS_PER_MINUTE), the platform's failed sign-ins
(PLATFORM_FAILED_SIGNINS), each with a threshold far above this load, so every check runs
and none trips. Off: the same settings at 0, which switches each check off. In both, the
session check of every token (a database check, not switchable) and the per-account
brute-force counts of the token endpoint (thresholds above this load) run: they are the
ground both sides stand on.

The GET is GET /v1/accounts/{id} with one owner's token; the token endpoint gets, in turn,
the right and a wrong password of BENCH_ACCOUNTS accounts (all below every threshold).
The two servers alternate in short rounds so both see the same machine. Limit, same run:
throughput with the checks at least 0.9 of without (`get_ratio`, `ratio`);
`token_added_cpu_ms` is the API's CPU per sign-in with the checks minus without.

Prints one JSON object on its last line and writes it to bench/results/auth.json.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import pathlib
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Any

import asyncpg
import httpx
from bench import api_bench

from accounting_api.db import unit_of_work
from accounting_api.domain.roles import Session

ROOT = api_bench.ROOT
PORTS = {"on": int(os.environ.get("BENCH_PORT", "8793")), "off": 0}
PORTS["off"] = PORTS["on"] + 1
SECONDS = int(os.environ.get("BENCH_SECONDS", "6"))
TOKEN_SECONDS = int(os.environ.get("BENCH_TOKEN_SECONDS", "20"))
"""A sign-in hashes a password (argon2, tenths of a second of CPU): longer rounds."""
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
GET_CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
TOKEN_CONCURRENCY = int(os.environ.get("BENCH_TOKEN_CONCURRENCY", "2"))
ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS", "8"))
SESSION_BLOCK = 500
SESSION_BLOCKS = int(os.environ.get("BENCH_SESSION_BLOCKS", "10"))
"""Blocks of SESSION_BLOCK transactions per arm of the session check's measure."""
HIGH = "100000000"
CHECKS_ON = {
    "SUSPICIOUS_IP_REQUESTS": HIGH,
    "ORG_API_CALLS_PER_MINUTE": HIGH,
    "PLATFORM_FAILED_SIGNINS": HIGH,
}
CHECKS_OFF = dict.fromkeys(CHECKS_ON, "0")
COMMON = {
    "JWT_SECRET": "bench-secret-" + "x" * 32,
    "RATE_LIMIT_MAX": HIGH,
    "AUTH_RATE_LIMIT_MAX": HIGH,
    "AUTH_FAILURES_PER_ACCOUNT_ADDRESS": HIGH,
    "AUTH_FAILURES_PER_ACCOUNT": HIGH,
    "SIGN_UP_ATTEMPTS_PER_ADDRESS": HIGH,  # a second run within the hour signs up again
    "LOG_LEVEL": "WARNING",
}


def start(port: int, checks: Mapping[str, str]) -> subprocess.Popen[bytes]:
    env = os.environ | COMMON | dict(checks)
    cmd = [str(ROOT / ".venv/bin/accounting-api"), "serve", "--port", str(port)]
    cmd += ["--workers", os.environ.get("BENCH_WORKERS", "1")]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wrk(port: int, mode: str, concurrency: int, env: Mapping[str, str]) -> dict[str, float]:
    seconds = SECONDS if mode == "get" else TOKEN_SECONDS
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "30s",
         "-s", str(ROOT / "bench/auth.lua"), f"http://127.0.0.1:{port}"],
        env=os.environ | dict(env) | {"BENCH_MODE": mode},
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    match = re.search(r"WRK_JSON (\{.*\})", out)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    result: dict[str, float] = json.loads(match[1])
    return result


async def accounts(client: httpx.AsyncClient) -> tuple[str, str, list[str]]:
    """An owner's token, one of its accounts' paths, and the e-mails of ACCOUNTS owners."""
    emails = []
    for _ in range(ACCOUNTS):
        email = f"auth-bench-{secrets.token_hex(4)}@example.com"
        owner = {"email": email, "password": api_bench.PASSWORD, "name": "B"}
        created = await client.post("/v1/organizations", json={"name": "B", "owner": owner})
        created.raise_for_status()
        emails.append(email)
    login = {"email": emails[0], "password": api_bench.PASSWORD}
    token = (await client.post("/v1/auth/token", json=login)).json()["access_token"]
    listing = await client.get("/v1/accounts", headers={"Authorization": f"Bearer {token}"})
    return token, f"/v1/accounts/{listing.json()['data'][0]['id']}", emails


def measure(
    servers: Mapping[str, subprocess.Popen[bytes]], mode: str, env: Mapping[str, str]
) -> dict[str, dict[str, float]]:
    """Requests per second and API CPU ms per request of each server, rounds alternated."""
    concurrency = GET_CONCURRENCY if mode == "get" else TOKEN_CONCURRENCY
    totals = {
        name: {"requests": 0.0, "seconds": 0.0, "cpu": 0.0, "non_2xx": 0.0} for name in servers
    }
    pids = {name: api_bench.family(server.pid) for name, server in servers.items()}
    for round_ in range(ROUNDS):
        order = ["on", "off"] if round_ % 2 == 0 else ["off", "on"]
        for name in order:
            before = api_bench.cpu_seconds(pids[name])
            found = wrk(PORTS[name], mode, concurrency, env)
            total = totals[name]
            total["cpu"] += api_bench.cpu_seconds(pids[name]) - before
            total["requests"] += found["requests"]
            total["seconds"] += found["duration_us"] / 1e6
            total["non_2xx"] += found["non_2xx"]
    return {
        name: {
            "per_s": round(t["requests"] / t["seconds"], 1),
            "cpu_ms": round(1000 * t["cpu"] / max(t["requests"], 1), 3),
            "non_2xx": t["non_2xx"],
        }
        for name, t in totals.items()
    }


def backend_cpu_seconds(pid: int) -> float:
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def session_check(token: str) -> dict[str, float]:
    """What the token's session check (0025 app_check_session, no off switch) adds to a
    request: the API's first statement of a request (BEGIN, the tenant and the check in one
    round trip, unit_of_work.begin_sql) with and without the check, then COMMIT, on one
    connection as the app role; blocks alternated. PostgreSQL CPU and wall time per
    transaction, the difference being the check's cost."""
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    user = Session(claims["sub"], claims["org"], int(claims["ver"]))
    conn = await asyncpg.connect(os.environ["DATABASE_URL"])
    try:
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        totals = {"with": [0.0, 0.0], "without": [0.0, 0.0]}
        for block in range(SESSION_BLOCKS * 2):
            arm = "with" if block % 2 == 0 else "without"
            cpu, started = backend_cpu_seconds(pid), time.perf_counter()
            for _ in range(SESSION_BLOCK):
                checked = Session(user.user_id, user.organization_id, user.token_version)
                begin = unit_of_work.begin_sql("BEGIN", user.organization_id, checked)
                if arm == "without":
                    begin = unit_of_work.begin_sql("BEGIN", user.organization_id, None)
                await conn.execute(begin)
                await conn.execute("COMMIT")
            totals[arm][0] += backend_cpu_seconds(pid) - cpu
            totals[arm][1] += time.perf_counter() - started
    finally:
        await conn.close()
    runs = SESSION_BLOCKS * SESSION_BLOCK
    per = {arm: [1000 * v / runs for v in t] for arm, t in totals.items()}
    return {
        "session_check_db_cpu_ms": round(per["with"][0] - per["without"][0], 4),
        "session_check_wall_ms": round(per["with"][1] - per["without"][1], 4),
        "begin_db_cpu_ms_without_check": round(per["without"][0], 4),
        "session_check_transactions": runs,
    }


async def main() -> dict[str, Any]:
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk (make bench-auth installs it)")
    servers = {"on": start(PORTS["on"], CHECKS_ON), "off": start(PORTS["off"], CHECKS_OFF)}
    try:
        for port in PORTS.values():
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
                await api_bench.wait_ready(c)
                if port == PORTS["on"]:
                    token, path, emails = await accounts(c)
        get_env = {"BENCH_TOKEN": token, "BENCH_PATH": path}
        token_env = {"BENCH_EMAILS": ",".join(emails), "BENCH_PASSWORD": api_bench.PASSWORD}
        for port in PORTS.values():  # warm up pools and caches
            wrk(port, "get", GET_CONCURRENCY, get_env)
        gets = measure(servers, "get", get_env)
        tokens = measure(servers, "token", token_env)
        session = await session_check(token)
    finally:
        for server in servers.values():
            server.terminate()
            server.wait(timeout=30)
    get_ratio = gets["on"]["per_s"] / gets["off"]["per_s"]
    # The session check runs in both servers; were it switchable, a GET without it would
    # cost its CPU less (API CPU per GET without the checks, plus the check's own CPU in
    # PostgreSQL): the ratio with it counted among the checks, CPU-bound.
    added = max(session["session_check_db_cpu_ms"], 0.0)
    with_session = 1 / (1 / get_ratio + added / gets["off"]["cpu_ms"])
    token_ratio = tokens["on"]["per_s"] / tokens["off"]["per_s"]
    return {
        "benchmark": "auth_checks",
        "seconds_per_round": SECONDS,
        "token_seconds_per_round": TOKEN_SECONDS,
        "rounds": ROUNDS,
        "switch": "SUSPICIOUS_IP_REQUESTS, ORG_API_CALLS_PER_MINUTE, PLATFORM_FAILED_SIGNINS = 0",
        "get_per_s": gets["on"]["per_s"],
        "get_per_s_without": gets["off"]["per_s"],
        "get_ratio": round(get_ratio, 3),
        "get_cpu_ms": gets["on"]["cpu_ms"],
        "get_cpu_ms_without": gets["off"]["cpu_ms"],
        "get_added_cpu_ms": round(gets["on"]["cpu_ms"] - gets["off"]["cpu_ms"], 3),
        "get_non_2xx": gets["on"]["non_2xx"] + gets["off"]["non_2xx"],
        **session,
        "get_ratio_with_session_check": round(with_session, 3),
        "token_per_s": tokens["on"]["per_s"],
        "token_per_s_without": tokens["off"]["per_s"],
        "ratio": round(token_ratio, 3),
        "token_cpu_ms": tokens["on"]["cpu_ms"],
        "token_cpu_ms_without": tokens["off"]["cpu_ms"],
        "token_added_cpu_ms": round(tokens["on"]["cpu_ms"] - tokens["off"]["cpu_ms"], 3),
        "within_limit": min(get_ratio, token_ratio) >= 0.9,
        "cpus": os.cpu_count() or 0,
        "loadavg": api_bench.loadavg(),
    }


if __name__ == "__main__":
    result = asyncio.run(main())
    out = ROOT / "bench/results"
    out.mkdir(exist_ok=True)
    (out / "auth.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
