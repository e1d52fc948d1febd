"""Headers every answer carries: no content sniffing, no cache keeping an API answer, and
no banner naming the server."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from tests import drill_support
from tests.integration import conftest
from tests.integration.helpers import PASSWORD, sign_up


async def test_authenticated_answers_are_never_stored_or_sniffed(
    client: httpx.AsyncClient,
) -> None:
    tenant = await sign_up(client)
    listed = await client.get("/v1/accounts", headers=tenant.auth)
    refused = await client.get("/v1/accounts")
    for response in (listed, refused):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
    assert (listed.status_code, refused.status_code) == (200, 401)


async def test_the_token_answer_is_never_stored(client: httpx.AsyncClient) -> None:
    tenant = await sign_up(client)
    issued = await client.post("/v1/auth/token", json={"email": tenant.email, "password": PASSWORD})
    assert issued.status_code == 200
    assert issued.headers["cache-control"] == "no-store"


async def test_the_public_contract_may_be_cached_but_not_sniffed(
    client: httpx.AsyncClient,
) -> None:
    document = await client.get("/openapi.json")
    assert document.headers["x-content-type-options"] == "nosniff"
    assert "cache-control" not in document.headers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def served(database: conftest.TestDatabase) -> AsyncIterator[str]:
    """`accounting-api serve`, the real uvicorn server, on a loopback port."""
    port = free_port()
    env = os.environ | drill_support.api_settings(database.app_url)
    process = await asyncio.create_subprocess_exec(
        str(drill_support.CLI),
        *("serve", "--host", "127.0.0.1", "--port", str(port)),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            for _ in range(150):
                try:
                    if (await http.get("/health/live")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        yield url
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)


async def test_the_server_names_no_software(served: str) -> None:
    async with httpx.AsyncClient(base_url=served) as http:
        answers = [await http.get(path) for path in ("/health/live", "/v1/accounts", "/nowhere")]
    assert [a.status_code for a in answers] == [200, 401, 404]
    for answer in answers:
        assert "server" not in answer.headers
        assert answer.headers["x-content-type-options"] == "nosniff"
