"""Log scrubbing: secrets, tokens and card numbers never reach a log line."""

from __future__ import annotations

import json
import logging

import pytest

from accounting_api import logs

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEifQ.c2lnbmF0dXJlLXZhbHVl"


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        (
            "Authorization: Bearer abc.DEF-123_x",
            "abc.DEF-123_x",
            "Authorization: Bearer [REDACTED]",
        ),
        ("authorization: bearer s3cr3t-token", "s3cr3t-token", "[REDACTED]"),
        (f"token {JWT} seen", JWT, "token [REDACTED_JWT] seen"),
        (f"got={JWT}", JWT, "[REDACTED"),
        ("password=hunter2-long and more", "hunter2-long", "password=[REDACTED] and more"),
        ('{"password": "hunter2-long"}', "hunter2-long", '{"password": "[REDACTED]"}'),
        ("PASSWORD: hunter2-long", "hunter2-long", "PASSWORD: [REDACTED]"),
        ("client_secret=abcdef123", "abcdef123", "secret=[REDACTED]"),
        ("api_key=k-123456", "k-123456", "api_key=[REDACTED]"),
        (
            "connect postgresql://ua_api:s3cret-pw@db:5432/accounting failed",
            "s3cret-pw",
            "postgresql://ua_api:[REDACTED]@db:5432/accounting",
        ),
        ("postgres://app:pw123@db/x", "pw123", "postgres://app:[REDACTED]@db/x"),
        ("redis://default:r3dis-pw@cache:6379/0", "r3dis-pw", "redis://default:[REDACTED]@cache"),
        ("card 4111111111111111 declined", "4111111111111111", "card [REDACTED]1111 declined"),
        ("card 4111 1111 1111 1234 declined", "4111 1111 1111", "[REDACTED]1234 declined"),
        ("card 5500-0000-0000-0004", "5500-0000", "[REDACTED]0004"),
    ],
)
def test_scrub_redacts_secrets(text: str, secret: str, kept: str) -> None:
    scrubbed = logs.scrub(text)
    assert secret not in scrubbed
    assert kept in scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "posted je_01jd2x in 12.5 ms",
        "entry date 2026-01-15, amount 123456",
        "GET /v1/accounts/acct_01hx/balance 200",
        "postgresql://db:5432/accounting",
    ],
)
def test_scrub_leaves_ordinary_text_alone(text: str) -> None:
    assert logs.scrub(text) == text


def format_record(message: str, **extra: object) -> dict[str, object]:
    formatter = logs.ScrubbingFormatter("%(levelname)s %(name)s %(message)s")
    record = logging.LogRecord("accounting_api.test", logging.INFO, __file__, 1, message, (), None)
    record.__dict__.update(extra)
    parsed: dict[str, object] = json.loads(formatter.format(record))
    return parsed


def test_formatter_redacts_sensitive_fields_by_name() -> None:
    line = format_record(
        "login", password="hunter2-long", token="abc", Authorization="Bearer x", jwt_secret="k"
    )
    for key in ("password", "token", "Authorization", "jwt_secret"):
        assert line[key] == "[REDACTED]"


def test_formatter_scrubs_the_message_and_string_fields() -> None:
    line = format_record(
        f"issued {JWT}", dsn="postgresql://u:dbpw@h/d", note="card 4111111111111111"
    )
    text = json.dumps(line)
    for secret in (JWT, "dbpw", "4111111111111111"):
        assert secret not in text
    assert line["dsn"] == "postgresql://u:[REDACTED]@h/d"
    assert line["note"] == "card [REDACTED]1111"
    assert line["levelname"] == "INFO"


def test_formatter_keeps_numbers_and_ids() -> None:
    line = format_record("request", status=201, duration_ms=3.5, organization_id="org_01abc")
    assert (line["status"], line["duration_ms"], line["organization_id"]) == (201, 3.5, "org_01abc")
