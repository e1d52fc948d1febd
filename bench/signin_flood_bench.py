"""Writes during a flood of wrong sign-ins, or of sign-ups (FLOOD_OF=sign-ups): the write
pool must stay the writes'.

`accounting-api serve` with a write pool of POOL (8) connections; an owner posts 60
journal entries one after another, first on a quiet API (the limit: the same work with
nothing else running), then while FLOOD (120) clients send wrong passwords as fast as
the API answers. A sign-in that held its pool connection through the password check
(argon2 on a small thread pool) would starve the writes: their latency would grow by
seconds and some would answer 503 after the acquire timeout (5 s here). Prints one JSON
line: the writes' p50/p95/max and statuses, quiet and flooded, and the sign-ins made.
With FLOOD_OF=sign-ups the clients sign up new people instead (argon2 hashes each new
password), the sign-up limits raised out of the way.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
from tests import drill_support
from tests.integration import conftest, helpers

FLOOD = int(os.environ.get("FLOOD", "120"))
FLOOD_OF = os.environ.get("FLOOD_OF", "sign-ins")
if FLOOD_OF not in ("sign-ins", "sign-ups"):
    raise SystemExit(f"FLOOD_OF must be sign-ins or sign-ups, not {FLOOD_OF!r}")
POOL = os.environ.get("POOL", "8")
WRITES = 60


async def writes(http: httpx.AsyncClient, owner: dict[str, Any]) -> dict[str, Any]:
    took: list[float] = []
    statuses: dict[int, int] = {}
    for _ in range(WRITES):
        body = helpers.entry(owner["cash"], owner["equity"], 100)
        started = time.perf_counter()
        answer = await http.post("/v1/journal-entries", json=body, headers=owner["auth"])
        took.append((time.perf_counter() - started) * 1000)
        statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
    took.sort()
    return {
        "p50_ms": round(statistics.median(took), 1),
        "p95_ms": round(took[int(len(took) * 0.95) - 1], 1),
        "max_ms": round(took[-1], 1),
        "statuses": statuses,
    }


async def flood(http: httpx.AsyncClient, stop: asyncio.Event) -> int:
    made = 0
    email = f"nobody-{secrets.token_hex(4)}@example.com"
    while not stop.is_set():
        if FLOOD_OF == "sign-ups":
            owner = {"email": f"new-{secrets.token_hex(6)}@example.com", "name": "New"}
            owner["password"] = "a-new-long-passphrase"
            await http.post("/v1/organizations", json={"name": "Flood", "owner": owner})
        else:
            credentials = {"email": email, "password": "wrong-password-1"}
            await http.post("/v1/auth/token", json=credentials)
        made += 1
    return made


async def main() -> None:
    db = await conftest.create_database()
    env = drill_support.api_settings(db.app_url) | {
        "DB_POOL_MAX": POOL,
        "DB_POOL_ACQUIRE_TIMEOUT_SECONDS": "5",
        "AUTH_FAILURES_PER_ACCOUNT_ADDRESS": "100000000",
        "SIGN_UP_ATTEMPTS_PER_ADDRESS": "100000000",
    }
    api = drill_support.ApiProcess(env, Path(f"/tmp/signin-flood-{os.getpid()}.log"))
    async with drill_support.running(api) as http:
        email = f"owner-{secrets.token_hex(4)}@example.com"
        owner_in = {"email": email, "password": helpers.PASSWORD, "name": "Owner"}
        await http.post("/v1/organizations", json={"name": "Flood", "owner": owner_in})
        credentials = {"email": email, "password": helpers.PASSWORD}
        signed = await http.post("/v1/auth/token", json=credentials)
        auth = {"authorization": f"Bearer {signed.json()['access_token']}"}
        listed = await http.get("/v1/accounts?limit=100", headers=auth)
        codes = {a["code"]: a["id"] for a in listed.json()["data"]}
        owner = {"auth": auth, "cash": codes["1000"], "equity": codes["3000"]}
        quiet = await writes(http, owner)
        stop = asyncio.Event()
        limits = httpx.Limits(max_connections=FLOOD + 10)
        async with httpx.AsyncClient(base_url=api.base, timeout=60, limits=limits) as crowd:
            flooding = [asyncio.create_task(flood(crowd, stop)) for _ in range(FLOOD)]
            await asyncio.sleep(2)
            started = time.perf_counter()
            flooded = await writes(http, owner)
            seconds = time.perf_counter() - started
            stop.set()
            flood_requests = sum(await asyncio.gather(*flooding))
    result = {
        "benchmark": "signin_flood",
        "flood_of": FLOOD_OF,
        "pool": int(POOL),
        "flood_clients": FLOOD,
        "quiet": quiet,
        "flooded": flooded,
        "flood_requests": flood_requests,
        "seconds": round(seconds, 1),
        "p50_ratio": round(flooded["p50_ms"] / quiet["p50_ms"], 1),
        "no_write_refused": set(flooded["statuses"]) == {201},
        "load_average": os.getloadavg(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
