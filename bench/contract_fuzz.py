"""Contract fuzzing: every operation of /openapi.json, through Schemathesis, against a
real API served by uvicorn on a loopback port, with every check on.

Each operation gets `examples` positive cases (valid by the document: the API must not
fail, and must not refuse them as malformed) and as many negative ones (invalid by the
document: the API must refuse them with a 4xx), under a fixed seed. Every answer is
checked by all of Schemathesis's checks (no 5xx, status code, content type, headers and
body as documented, negative data rejected, positive data accepted, auth not ignored,
405 for unsupported methods, ...) plus `documented_input_accepted` below. The caller is the
owner of a fresh organization (bench/fuzz_world.py); path ids are real ones.

`make fuzz` runs `python -m bench.contract_fuzz`: a scratch database, FUZZ_EXAMPLES cases
per operation and mode (enough for 20,000 requests), one JSON object on the last line.
tests/integration/test_contract_fuzz.py runs the same with 20.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import dataclasses
import json
import os
import re
import secrets
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import hypothesis
import requests
import schemathesis
import uvicorn
from bench import fuzz_world
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.parameters import ParameterLocation
from starlette.applications import Starlette
from tests.integration import conftest

from accounting_api import routes
from accounting_api.app import create_app
from accounting_api.settings import Settings

SEED = 20260101
SCHEMA_CHECK = "response_schema_conformance"
REFERENCES = frozenset(
    {"account_id", "customer", "invoice", "payment", "credit_note", "line", "revenue_account_id"}
)
"""Body fields that name another object: a real one is put there half of the time."""
ENDS_TOKENS = frozenset({"/v1/auth/sign-out", "/v1/users/me/password"})
"""Operations that, when they succeed, end the caller's (the owner's) tokens."""
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]
"""What a valid request may be answered: 422 too, for rules no JSON Schema can state (an
unbalanced entry, a currency not the customer's); documented_input_accepted then makes
sure such a 422 is never the request models' own validation_error."""


BEYOND_JSON_SCHEMA = frozenset(
    {
        ("GET /v1/reports/income-statement", "to"),  # not before 'from'
        ("POST /v1/organizations", "owner.email"),  # no special-use domain (RFC 6761)
        ("POST /v1/users", "email"),
        ("POST /v1/customers", "email"),
        ("POST /v1/payments", "applied_to[].invoice"),  # each invoice once
        ("POST /v1/invoices/{id}/apply-credit", "date"),  # not before the invoice's issue
    }
)
"""(operation, param with [] for indexes) that rules JSON Schema cannot state refuse with a
validation_error: between query parameters, unique by a field, against stored state, an
email's domain beyond `format: email`."""


@schemathesis.check
def documented_input_accepted(ctx: Any, response: Any, case: schemathesis.Case[Any]) -> bool | None:
    """A request valid by the document never fails the API's own request models."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code >= 500:
        return None
    if response.status_code in (400, 415, 422):
        problem = response.json()
        param = re.sub(r"\[\d+\]", "[]", str(problem.get("param")))
        if (case.operation.label, param) in BEYOND_JSON_SCHEMA:
            return None
        if problem.get("code") in {"validation_error", "invalid_json", "invalid_request"}:
            raise Failure(
                operation=case.operation.label,
                title="Documented input refused as malformed",
                message=f"{problem.get('param')}: {problem.get('detail')}",
            )
    return None


load_all_checks()
ALL_CHECKS: list[Any] = CHECKS.get_all()
"""Every check Schemathesis has, and documented_input_accepted."""


@dataclasses.dataclass
class Summary:
    operations: int = 0
    requests: int = 0
    server_errors: int = 0
    schema_violations: int = 0
    failures: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    """'<check>: <operation>' -> how many times."""
    examples: list[str] = dataclasses.field(default_factory=list)
    """One report per distinct failure (check and operation)."""
    timed_out: list[str] = dataclasses.field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "operations": self.operations,
            "requests": self.requests,
            "server_errors": self.server_errors,
            "schema_violations": self.schema_violations,
            "failed_checks": sum(self.failures.values()),
            "failures": dict(self.failures),
            "timed_out": self.timed_out,
        }


@contextlib.contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """`app` served by uvicorn on a free loopback port, in a thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(300):
            if server.started:
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


class _OutOfTime(Exception):
    pass


def _real_references(value: Any, world: fuzz_world.World, pick: int) -> Any:
    """`value` with every reference field set to a real id of its kind (any kind will
    do for the fuzzer: a wrong kind is a 4xx as well)."""
    if isinstance(value, list):
        return [_real_references(item, world, pick) for item in value]
    if not isinstance(value, dict):
        return value
    pool = [i for ids in world.ids.values() for i in ids]
    return {
        k: pool[pick % len(pool)] if k in REFERENCES else _real_references(v, world, pick)
        for k, v in value.items()
    }


def _as_sent(value: Any) -> Any:
    """The body as the API takes it: integers as JSON integers (JSON Schema cannot tell
    100 from 100.0; the API, strict, refuses the latter). Amounts go up to the documented
    maximum (domain.money.MAX_AMOUNT, in the document): their sums never overflow."""
    if isinstance(value, list):
        return [_as_sent(item) for item in value]
    if isinstance(value, dict):
        return {k: _as_sent(v) for k, v in value.items()}
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value


def _path_choices(path: str, world: fuzz_world.World) -> list[dict[str, str]]:
    """Real values for the path's ids (empty: the fuzzer's own)."""
    if "{line_id}" in path:
        return [{"id": invoice, "line_id": line} for invoice, line in world.lines]
    parts = path.split("/")
    if "{id}" not in parts:
        return []
    return [{"id": i} for i in world.ids.get(parts[parts.index("{id}") - 1], [])]


def _cases(operation: Any, mode: GenerationMode, choices: list[dict[str, str]]) -> Any:
    if not choices:
        return operation.as_strategy(mode)
    return st.sampled_from(choices).flatmap(
        lambda ids: operation.as_strategy(mode, path_parameters=ids)
    )


@dataclasses.dataclass
class Fuzzer:
    base_url: str
    world: fuzz_world.World
    summary: Summary
    session: requests.Session

    def record(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.summary.requests += 1
        if response.status_code >= 500:
            self.summary.server_errors += 1

    def check(self, case: schemathesis.Case[Any], real: bool, pick: int) -> None:
        if real and isinstance(case.body, dict | list):
            case.body = _real_references(case.body, self.world, pick)
        if isinstance(case.body, dict | list):
            case.body = _as_sent(case.body)
        auth = self._auth(case)
        response = case.call(base_url=self.base_url, session=self.session, headers=auth)
        if case.operation.path in ENDS_TOKENS and response.status_code < 300:
            with httpx.Client(base_url=self.base_url) as http:
                fuzz_world.sign_in_again(http, self.world)
        try:
            case.validate_response(
                response,
                checks=ALL_CHECKS,
                headers=auth,
                transport_kwargs={"base_url": self.base_url, "session": self.session},
            )
        except FailureGroup as group:
            for failure in group.exceptions:
                self.failed(case, failure)

    def _auth(self, case: schemathesis.Case[Any]) -> dict[str, str]:
        """The owner's token, unless the case's headers are its invalid part (a missing or
        malformed Authorization): then they alone say who calls."""
        header = case.meta.components.get(ParameterLocation.HEADER) if case.meta else None
        return {} if header is not None and header.mode.is_negative else self.world.auth

    def failed(self, case: schemathesis.Case[Any], failure: Failure) -> None:
        name = failure.checks[0] if failure.checks else failure.title
        key = f"{name}: {case.operation.label}"
        if key not in self.summary.failures:
            self.summary.examples.append(f"{key}\n{failure.message}\n{case.as_curl_command()}")
        self.summary.failures[key] += 1
        if name == SCHEMA_CHECK:
            self.summary.schema_violations += 1

    def operation(self, operation: Any, examples: int, seconds: float) -> None:
        ends = time.monotonic() + seconds
        choices = _path_choices(operation.path, self.world)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = _cases(operation, mode, choices)

            @hypothesis.seed(SEED)
            @hypothesis.settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=False,
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
                suppress_health_check=list(hypothesis.HealthCheck),
            )
            @hypothesis.given(case=strategy, real=st.booleans(), pick=st.integers(0, 10**6))
            def run(case: schemathesis.Case[Any], real: bool, pick: int) -> None:
                if time.monotonic() > ends:
                    raise _OutOfTime
                self.check(case, real, pick)

            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                continue  # nothing of the operation can be made invalid (no input at all)
            except _OutOfTime:
                self.summary.timed_out.append(f"{operation.label} ({mode.value})")
                return


def run(base_url: str, *, examples: int, seconds_per_operation: float) -> Summary:
    """Fuzz every operation of the API at `base_url` (its document built in-process)."""
    with httpx.Client(base_url=base_url, timeout=30) as http:
        world = fuzz_world.build(http)
    config = schemathesis.Config.from_dict(
        {"checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}}}
    )
    schema = schemathesis.openapi.from_dict(routes.openapi_document(), config=config)
    summary = Summary()
    with requests.Session() as session:
        fuzzer = Fuzzer(base_url, world, summary, session)
        session.hooks["response"].append(fuzzer.record)
        for result in schema.get_all_operations():
            summary.operations += 1
            fuzzer.operation(result.ok(), examples, seconds_per_operation)  # type: ignore[union-attr]
    return summary


def main() -> None:
    """`make fuzz`: the API on a scratch database, FUZZ_EXAMPLES cases per operation and
    mode; failures on stderr, the summary as the last line; exit 1 on any failure."""
    examples = int(os.environ.get("FUZZ_EXAMPLES", "200"))
    seconds = float(os.environ.get("FUZZ_SECONDS_PER_OPERATION", "60"))
    database = asyncio.run(conftest.create_database())
    try:
        settings = Settings(
            database_url=database.app_url,
            redis_url=os.environ["REDIS_URL"],
            jwt_secret=secrets.token_hex(32),
            migration_database_url=database.owner_url,
            rate_limit_max=10**9,
            auth_rate_limit_max=10**9,
            # One client address sends every case, refused ones by the thousand.
            auth_failures_per_account_address=10**9,
            auth_failures_per_account=10**9,
            suspicious_ip_requests=10**9,
            sign_up_attempts_per_email=10**9,
            sign_up_attempts_per_address=10**9,
            # Webhook endpoints are created only with a key ring to seal their secrets.
            webhook_secret_keys="fuzz:" + base64.b64encode(secrets.token_bytes(32)).decode(),
            platform_failed_signins=10**9,
            org_api_calls_per_minute=10**9,
            org_export_bytes_per_hour=10**15,
        )
        started = time.monotonic()
        with serve(create_app(settings)) as base_url:
            summary = run(base_url, examples=examples, seconds_per_operation=seconds)
    finally:
        asyncio.run(conftest.drop_database(database.name))
    for report in summary.examples:
        print(report, end="\n\n", file=sys.stderr)
    result = summary.as_json() | {"seconds": round(time.monotonic() - started, 1)}
    print(json.dumps(result | {"examples_per_operation_and_mode": examples, "seed": SEED}))
    raise SystemExit(1 if summary.failures or summary.server_errors else 0)


if __name__ == "__main__":
    main()
