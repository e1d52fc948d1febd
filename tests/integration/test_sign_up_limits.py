"""Sign-up attempts are limited per owner e-mail and per client address (429 with
Retry-After), in Redis and, while Redis does not answer, in the process (docs/memberships.md):
with memberships a sign-up with an existing e-mail is a sign-in, so enumeration costs time."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from starlette.applications import Starlette

from tests.integration import conftest
from tests.integration.test_memberships import sign_up_body


def address() -> str:
    """A client address of this test alone (counts live in the shared Redis)."""
    return f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"


async def test_sign_ups_are_limited_per_email(make_app: Callable[..., Starlette]) -> None:
    app = make_app(sign_up_attempts_per_email=3)
    email = f"adviser-{secrets.token_hex(6)}@example.com"
    async with conftest.serve(app, client_ip=address()) as client:
        for _ in range(3):  # the first makes the person, the next two prove their password
            made = await client.post("/v1/organizations", json=sign_up_body(email))
            assert made.status_code == 201, made.text
        over = await client.post("/v1/organizations", json=sign_up_body(email))
        other = await client.post("/v1/organizations", json=sign_up_body(f"x{email}"))
    assert (over.status_code, over.json()["code"]) == (429, "rate_limited")
    assert int(over.headers["retry-after"]) == 3600
    assert other.status_code == 201, other.text


async def test_sign_ups_are_limited_per_client_address(
    make_app: Callable[..., Starlette],
) -> None:
    app = make_app(sign_up_attempts_per_address=2)
    emails = [f"adviser-{secrets.token_hex(6)}@example.com" for _ in range(3)]
    async with conftest.serve(app, client_ip=address()) as client:
        answers = [await client.post("/v1/organizations", json=sign_up_body(e)) for e in emails]
    async with conftest.serve(app, client_ip=address()) as elsewhere:
        other = await elsewhere.post("/v1/organizations", json=sign_up_body(f"x{emails[2]}"))
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert int(answers[2].headers["retry-after"]) == 3600
    assert other.status_code == 201, other.text


async def test_sign_up_limits_hold_without_redis(make_app: Callable[..., Starlette]) -> None:
    app = make_app(redis_url="redis://127.0.0.1:1/0", sign_up_attempts_per_email=1)
    email = f"adviser-{secrets.token_hex(6)}@example.com"
    async with conftest.serve(app, client_ip=address()) as client:
        first = await client.post("/v1/organizations", json=sign_up_body(email))
        second = await client.post("/v1/organizations", json=sign_up_body(email))
    assert (first.status_code, second.status_code) == (201, 429)
