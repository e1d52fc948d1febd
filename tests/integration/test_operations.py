"""Operations: health, readiness, request ids, metrics, the OpenAPI document, access logs."""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.routing import Route

from accounting_api import logs
from tests.integration.conftest import serve
from tests.integration.helpers import sign_up, token

MakeApp = Callable[..., Starlette]
DEAD_DATABASE = "postgresql://ua_api:x@127.0.0.1:1/none"
GENERATED_ID = re.compile(r"^req_[0-9a-f]{32}$")


# --- health and readiness -----------------------------------------------------------


async def test_health_reports_each_dependency_with_its_response_time(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    report = response.json()
    assert report["status"] == "healthy"
    components = {c["name"]: c for c in report["components"]}
    assert set(components) == {"database", "redis"}
    for component in components.values():
        assert component["status"] == "healthy"
        assert isinstance(component["response_time_ms"], int | float)
        assert component["response_time_ms"] >= 0
    assert components["database"]["critical"] is True


async def test_ready_when_the_schema_is_migrated(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert (response.status_code, response.json()["status"]) == (200, "ready")


async def test_without_a_database_the_api_starts_and_reports_unhealthy(
    make_app: MakeApp,
) -> None:
    # A replica whose database is unreachable should stay up and say so (503 on /ready
    # and /health) but stay alive (the liveness probe's /health/live), so the
    # orchestrator takes it out of rotation instead of crash-looping it.
    async with serve(make_app(database_url=DEAD_DATABASE)) as http:
        ready = await http.get("/ready")
        health = await http.get("/health")
        live = await http.get("/health/live")
    assert (live.status_code, live.json()["status"]) == (200, "alive")
    assert ready.status_code == 503
    assert ready.json()["status"] == "not_ready"
    assert health.status_code == 503
    assert health.json()["status"] == "unhealthy"
    components = {c["name"]: c["status"] for c in health.json()["components"]}
    assert components == {"database": "unhealthy", "redis": "healthy"}


# --- request ids ------------------------------------------------------------------------


@pytest.mark.parametrize("given", ["abc-123", "req.01:ab_CD", "x" * 128])
async def test_a_valid_request_id_is_echoed(client: httpx.AsyncClient, given: str) -> None:
    response = await client.get("/health", headers={"X-Request-Id": given})
    assert response.headers["x-request-id"] == given


@pytest.mark.parametrize("given", [None, "", "has space", "a/b", "x" * 129, "<script>"])
async def test_a_missing_or_invalid_request_id_is_replaced(
    client: httpx.AsyncClient, given: str | None
) -> None:
    headers = {} if given is None else {"X-Request-Id": given}
    first = await client.get("/health", headers=headers)
    second = await client.get("/health", headers=headers)
    assert GENERATED_ID.match(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_problems_carry_the_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/accounts", headers={"X-Request-Id": "trace-42"})
    assert response.status_code == 401
    assert response.headers["x-request-id"] == "trace-42"
    assert response.json()["request_id"] == "trace-42"


# --- metrics --------------------------------------------------------------------------------


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    ]


def value(text: str, name: str, **labels: str) -> float:
    return sum(v for found, v in samples(text, name) if labels.items() <= found.items())


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_request_durations_are_labelled_by_route_template(client: httpx.AsyncClient) -> None:
    t = await sign_up(client)
    account_id = t.accounts["1000"]
    name, template = "http_request_duration_seconds_count", "/v1/accounts/{id}"
    labels = {"method": "GET", "route": template, "status_code": "200"}
    before = value(await scrape(client), name, **labels)
    for _ in range(2):
        assert (await client.get(f"/v1/accounts/{account_id}", headers=t.auth)).status_code == 200
    after = await scrape(client)
    assert value(after, name, **labels) == before + 2
    assert not [s for s in samples(after, name) if account_id in s[0]["route"]]


async def test_unknown_paths_do_not_become_labels(client: httpx.AsyncClient) -> None:
    path = f"/no-such-thing-{secrets.token_hex(4)}"
    assert (await client.get(path)).status_code == 404
    text = await scrape(client)
    assert path not in text
    assert value(text, "http_request_duration_seconds_count", route="unmatched") >= 1


async def test_database_query_durations_are_exported(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    text = await scrape(client)
    assert value(text, "db_query_duration_seconds_count", operation="select") > 0
    assert value(text, "db_query_duration_seconds_count", operation="insert") > 0


SERVER_ERRORS = {"type": "server", "severity": "error", "service": "api"}


async def test_error_answers_are_counted_by_code_and_are_not_the_services_errors(
    client: httpx.AsyncClient,
) -> None:
    t = await sign_up(client)
    labels = {"code": "not_found", "status_code": "404"}
    before = await scrape(client)
    missing = await client.get("/v1/accounts/acct_00000000000000000000000000", headers=t.auth)
    assert missing.json()["code"] == "not_found"
    after = await scrape(client)
    problems = "accounting_http_problems_total"
    assert value(after, problems, **labels) == value(before, problems, **labels) + 1
    assert value(after, "errors_total") == value(before, "errors_total")


async def test_5xx_answers_of_a_database_outage_count_as_server_errors(
    make_app: MakeApp,
) -> None:
    async with serve(make_app(database_url=DEAD_DATABASE)) as http:
        before = value(await scrape(http), "errors_total", **SERVER_ERRORS)
        refused = await http.post(
            "/v1/auth/token", json={"email": "a@example.com", "password": "x" * 12}
        )
        assert refused.status_code == 503
        assert value(await scrape(http), "errors_total", **SERVER_ERRORS) == before + 1


async def test_failed_sign_ins_are_counted_without_an_organization(
    client: httpx.AsyncClient,
) -> None:
    labels = {"event": "auth.sign_in_failed", "severity": "warning"}
    before = value(await scrape(client), "accounting_security_events_total", **labels)
    email = f"nobody-{secrets.token_hex(4)}@example.com"
    wrong = await client.post("/v1/auth/token", json={"email": email, "password": "x" * 12})
    assert wrong.status_code == 401
    text = await scrape(client)
    assert value(text, "accounting_security_events_total", **labels) == before + 1
    assert all("organization" not in found for found, _ in samples(text, "errors_total"))


# --- the OpenAPI document ------------------------------------------------------------------


async def test_openapi_documents_exactly_the_served_routes(make_app: MakeApp) -> None:
    app = make_app()
    async with serve(app) as http:
        document = (await http.get("/openapi.json")).json()
    served = {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route) and route.path != "/openapi.json"
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert documented == served


async def test_openapi_documents_idempotency_key_on_every_post_but_sign_in(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    posts = {path: ops["post"] for path, ops in document["paths"].items() if "post" in ops}
    assert posts
    for path, op in posts.items():
        headers = [p for p in op.get("parameters", []) if p["in"] == "header"]
        # A sign-in is never stored nor replayed (routes/openapi.Endpoint.idempotent).
        expected = [] if path == "/v1/auth/token" else ["Idempotency-Key"]
        assert [h["name"] for h in headers] == expected, path
        path_params = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert path_params == set(re.findall(r"{(\w+)}", path)), path


# --- access logs ---------------------------------------------------------------------------------


def formatted(record: logging.LogRecord) -> str:
    return logs.ScrubbingFormatter("%(levelname)s %(name)s %(message)s").format(record)


async def test_each_request_writes_one_structured_access_log(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    t = await sign_up(client)
    request_id = f"log-{secrets.token_hex(6)}"
    caplog.set_level(logging.INFO, logger="accounting_api.access")
    url = f"/v1/accounts/{t.accounts['1000']}"
    response = await client.get(url, headers=t.auth | {"X-Request-Id": request_id})
    assert response.status_code == 200
    mine = [
        r
        for r in caplog.records
        if r.name == "accounting_api.access" and getattr(r, "request_id", None) == request_id
    ]
    assert len(mine) == 1
    line = json.loads(formatted(mine[0]))
    assert line["request_id"] == request_id
    assert line["route"] == "/v1/accounts/{id}"
    assert line["method"] == "GET"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], int | float)
    assert line["duration_ms"] >= 0
    assert line["organization_id"] == t.org_id


async def test_passwords_and_tokens_never_reach_the_logs(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    password = f"pw-{secrets.token_hex(12)}"
    email = f"owner-{secrets.token_hex(6)}@example.com"
    owner = {"email": email, "password": password, "name": "Secretive"}
    created = await client.post("/v1/organizations", json={"name": "Quiet", "owner": owner})
    assert created.status_code == 201, created.text
    bearer = await token(client, email, password)
    wrong = await client.post("/v1/auth/token", json={"email": email, "password": password + "x"})
    assert wrong.status_code == 401
    listing = await client.get("/v1/accounts", headers={"Authorization": f"Bearer {bearer}"})
    assert listing.status_code == 200
    tampered = await client.get("/v1/accounts", headers={"Authorization": f"Bearer {bearer}x"})
    assert tampered.status_code == 401
    assert caplog.records
    for record in caplog.records:
        raw = record.getMessage() + " ".join(str(v) for v in vars(record).values())
        for secret in (password, bearer):
            assert secret not in raw, record.name
            assert secret not in formatted(record), record.name
