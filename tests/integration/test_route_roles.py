"""Each write endpoint's declared role is the one its use case enforces: a user of exactly
that role gets past authorization (the empty request is then refused for its content),
and a user one role below is refused with 403 before anything else."""

from __future__ import annotations

import secrets

import httpx

from accounting_api.domain.roles import Role
from accounting_api.routes import ENDPOINTS, work
from tests.integration.billing import add_user
from tests.integration.helpers import PASSWORD, Tenant, sign_up, token

BELOW = {Role.ACCOUNTANT: Role.VIEWER, Role.ADMIN: Role.ACCOUNTANT, Role.OWNER: Role.ADMIN}
IDS = {"id": "zz_0", "line_id": "zz_0", "period": "2000-01"}


async def viewer(client: httpx.AsyncClient, t: Tenant) -> dict[str, str]:
    """A viewer of its own, for a request that may end its tokens."""
    email = f"viewer-{secrets.token_hex(6)}@example.com"
    body = {"email": email, "password": PASSWORD, "name": "viewer", "role": "viewer"}
    assert (await client.post("/v1/users", json=body, headers=t.auth)).status_code == 201
    return {"Authorization": f"Bearer {await token(client, email)}"}


async def test_each_write_refuses_the_role_below_its_own_and_admits_its_own(
    client: httpx.AsyncClient,
) -> None:
    t = await sign_up(client)
    auth = {role: await add_user(client, t, role.value) for role in BELOW.values()}
    auth[Role.OWNER] = t.auth
    for e in ENDPOINTS:
        if e.role is None or e.method not in work.WRITES:
            continue
        path = e.path.format(**IDS)
        if e.role is Role.VIEWER:
            # Any member may (their own password, signing out): no role below to refuse,
            # and a viewer of its own, since signing out ends the viewer's tokens.
            own = await client.request(e.method, path, json={}, headers=await viewer(client, t))
            assert own.status_code != 403, (e.method, e.path, own.text)
            continue
        below = await client.request(e.method, path, json={}, headers=auth[BELOW[e.role]])
        assert below.status_code == 403, (e.method, e.path, below.text)
        own = await client.request(e.method, path, json={}, headers=auth[e.role])
        assert own.status_code != 403, (e.method, e.path, own.text)
