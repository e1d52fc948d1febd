"""Authentication and roles: tokens, refused tokens and headers, who may do what."""

from __future__ import annotations

import base64
import dataclasses
import json
import secrets
import time
import warnings
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest

from accounting_api.settings import Settings
from tests.integration import conftest
from tests.integration.helpers import PASSWORD, Tenant, entry, sign_up, token

PROBLEM = "application/problem+json"
ROLES = ("viewer", "accountant", "admin", "owner")


@dataclasses.dataclass(frozen=True)
class Team:
    tenant: Tenant
    tokens: dict[str, str]
    """Role -> a bearer token of a user with that role."""

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def email(role: str) -> str:
    return f"{role}-{secrets.token_hex(6)}@example.com"


def new_user(role: str) -> dict[str, str]:
    return {"email": email(role), "password": PASSWORD, "name": role.title(), "role": role}


@pytest.fixture(scope="module")
async def team(client: httpx.AsyncClient) -> Team:
    tenant = await sign_up(client)
    tokens = {"owner": tenant.token}
    for role in ROLES[:-1]:
        body = new_user(role)
        made = await client.post("/v1/users", json=body, headers=tenant.auth)
        assert made.status_code == 201, made.text
        tokens[role] = await token(client, body["email"])
    return Team(tenant, tokens)


def assert_unauthenticated(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith("Bearer")
    problem: dict[str, Any] = response.json()
    assert problem["code"] == "unauthenticated"
    return problem


# --- the token endpoint ------------------------------------------------------------


async def test_right_password_gets_a_working_token(
    client: httpx.AsyncClient, settings: Settings, team: Team
) -> None:
    response = await client.post(
        "/v1/auth/token", json={"email": team.tenant.email.upper(), "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["token_type"], body["expires_in"]) == ("bearer", settings.jwt_ttl_seconds)
    accounts = await client.get(
        "/v1/accounts", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert accounts.status_code == 200, accounts.text
    assert {a["id"] for a in accounts.json()["data"]} <= set(team.tenant.accounts.values())


async def test_wrong_password_and_unknown_email_are_indistinguishable(
    client: httpx.AsyncClient, team: Team
) -> None:
    attempts = [
        {"email": team.tenant.email, "password": "not-the-password"},
        {"email": email("nobody"), "password": PASSWORD},
    ]
    problems = []
    for attempt in attempts:
        problem = assert_unauthenticated(await client.post("/v1/auth/token", json=attempt))
        problems.append({k: v for k, v in problem.items() if k != "request_id"})
    assert problems[0] == problems[1]


# --- refused tokens ------------------------------------------------------------------


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


Forge = Callable[[dict[str, Any], Settings], str]


def signed(
    change: Callable[[dict[str, Any]], None], *, secret: str = "", alg: str = "HS256"
) -> Forge:
    def forge(claims: dict[str, Any], settings: Settings) -> str:
        changed = dict(claims)
        change(changed)
        with warnings.catch_warnings():  # HS512 wants a longer key; we only test refusal
            warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
            return jwt.encode(changed, secret or settings.jwt_secret, algorithm=alg)

    return forge


def unsigned(claims: dict[str, Any], settings: Settings) -> str:
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


def remove(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda claims: claims.pop(name)


def put(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda claims: claims.update(values)


HOUR_AGO = int(time.time()) - 3600
BAD_TOKENS: list[tuple[str, Forge, str]] = [
    ("expired", signed(put(iat=HOUR_AGO - 60, exp=HOUR_AGO)), "expired"),
    ("forged-signature", signed(put(), secret="another-secret-" + "y" * 40), "signature"),
    ("wrong-audience", signed(put(aud="another-api")), "audience"),
    ("wrong-issuer", signed(put(iss="https://evil.example.com")), "issuer"),
    ("alg-none", unsigned, ""),
    ("alg-hs512-not-allowed", signed(put(), alg="HS512"), ""),
    ("unknown-role", signed(put(role="superuser")), "role"),
    ("org-not-an-org-id", signed(put(org="acme'; --")), "organization"),
    *[
        (f"missing-{claim}", signed(remove(claim)), claim)
        for claim in ("exp", "sub", "org", "role")
    ],
    ("not-a-jwt", lambda claims, settings: "not.a.jwt", ""),
]


@pytest.mark.parametrize(
    ("forge", "named"), [(f, n) for _, f, n in BAD_TOKENS], ids=[i for i, _, _ in BAD_TOKENS]
)
async def test_a_bad_token_is_refused_with_401(
    client: httpx.AsyncClient, settings: Settings, team: Team, forge: Forge, named: str
) -> None:
    claims = jwt.decode(
        team.tokens["owner"],
        settings.jwt_secret,
        algorithms=["HS256"],
        audience=settings.jwt_audience,
    )
    bearer = forge(claims, settings)
    response = await client.get("/v1/accounts", headers={"Authorization": f"Bearer {bearer}"})
    problem = assert_unauthenticated(response)
    assert named in problem["detail"]


@pytest.mark.parametrize(
    "header",
    ["Basic dXNlcjpwYXNzd29yZA==", "Bearer", "Bearer    ", "Token abc", "{token}", "bearer{token}"],
    ids=["basic", "bearer-without-token", "bearer-blank", "other-scheme", "no-scheme", "no-space"],
)
async def test_a_malformed_authorization_header_is_refused(
    client: httpx.AsyncClient, team: Team, header: str
) -> None:
    value = header.format(token=team.tokens["owner"])
    response = await client.get("/v1/accounts", headers={"Authorization": value})
    assert_unauthenticated(response)


PROTECTED = [
    ("GET", "/v1/accounts", None),
    ("GET", "/v1/journal-entries", None),
    ("GET", "/v1/users", None),
    ("GET", "/v1/accounts/acct_x/balance", None),
    ("POST", "/v1/accounts", {"code": "9", "name": "N", "type": "asset", "currency": "USD"}),
    ("POST", "/v1/journal-entries", {}),
    ("POST", "/v1/journal-entries/je_x/reverse", None),
]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    PROTECTED,
    ids=[f"{m} {p}" + (" invalid-body" if b == {} else "") for m, p, b in PROTECTED],
)
async def test_no_token_on_a_protected_endpoint_is_401(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = await client.request(method, path, json=body)
    assert_unauthenticated(response)


# --- roles ---------------------------------------------------------------------------

# role -> statuses of: list entries, post an entry, add a viewer, add an owner
ALLOWED = {
    "viewer": (200, 403, 403, 403),
    "accountant": (200, 201, 403, 403),
    "admin": (200, 201, 201, 403),
    "owner": (200, 201, 201, 201),
}


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_may_do_exactly_its_share(
    client: httpx.AsyncClient, team: Team, role: str
) -> None:
    headers = team.auth(role)
    accounts = team.tenant.accounts
    listed = await client.get("/v1/journal-entries", headers=headers)
    posted = await client.post(
        "/v1/journal-entries", json=entry(accounts["1000"], accounts["3000"], 10), headers=headers
    )
    wanted = [new_user("viewer"), new_user("owner")]
    added = [await client.post("/v1/users", json=user, headers=headers) for user in wanted]
    statuses = (listed.status_code, posted.status_code, *(r.status_code for r in added))
    assert statuses == ALLOWED[role], [r.text for r in (posted, *added)]
    for response in (posted, *added):
        if response.status_code == 403:
            assert response.json()["code"] == "forbidden"
    users = await client.get("/v1/users", params={"limit": 100}, headers=team.auth("owner"))
    present = {u["email"] for u in users.json()["data"]}
    for user, response in zip(wanted, added, strict=True):
        assert (user["email"] in present) == (response.status_code == 201)


async def test_after_a_jwt_key_rotation_earlier_tokens_work_while_the_previous_key_is_kept(
    make_app: Callable[..., Any],
) -> None:
    old_key, new_key = "old-signing-key-" + "o" * 32, "new-signing-key-" + "n" * 32
    async with conftest.serve(make_app(jwt_secret=old_key)) as before:
        t = await sign_up(before)
    async with conftest.serve(make_app(jwt_secret=new_key, jwt_previous_secret=old_key)) as after:
        assert (await after.get("/v1/accounts", headers=t.auth)).status_code == 200
        fresh = await token(after, t.email)  # signed with the new key from now on
        assert jwt.decode(fresh, new_key, audience="accounting-api", algorithms=["HS256"])
    async with conftest.serve(make_app(jwt_secret=new_key)) as dropped:
        refused = await dropped.get("/v1/accounts", headers=t.auth)
        assert refused.status_code == 401
        fresh_auth = {"Authorization": f"Bearer {fresh}"}
        assert (await dropped.get("/v1/accounts", headers=fresh_auth)).status_code == 200
