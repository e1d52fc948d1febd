"""Settings from environment variables: parsing, defaults and errors naming the variable."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from accounting_api import cli
from accounting_api.settings import BackupSettings, Settings, SettingsError

REQUIRED = {
    "DATABASE_URL": "postgresql://app:pw@db/accounting",
    "REDIS_URL": "redis://cache:6379/0",
    "JWT_SECRET": "s" * 32,
}


def test_required_variables_alone_give_the_documented_defaults() -> None:
    settings = Settings.from_env(REQUIRED)
    assert settings.database_url == REQUIRED["DATABASE_URL"]
    assert (settings.rate_limit_max, settings.rate_limit_window_seconds) == (5000, 3600)
    assert (settings.auth_rate_limit_max, settings.auth_rate_limit_window_seconds) == (20, 300)
    assert settings.idempotency_ttl_seconds == 86400
    assert settings.max_body_bytes == 1_048_576
    assert settings.trust_forwarded_for is False
    assert settings.webhook_allow_insecure is False
    assert settings.owner_database_url == REQUIRED["DATABASE_URL"]
    assert settings.db_pool_acquire_timeout_seconds == 10.0


@pytest.mark.parametrize("raw", ["0", "-1"])
def test_a_pool_acquire_timeout_must_be_positive(raw: str) -> None:
    with pytest.raises(SettingsError, match="DB_POOL_ACQUIRE_TIMEOUT_SECONDS"):
        Settings.from_env(REQUIRED | {"DB_POOL_ACQUIRE_TIMEOUT_SECONDS": raw})


def test_brute_force_thresholds_default_to_the_deployment_guides() -> None:
    settings = Settings.from_env(REQUIRED)
    assert (
        settings.auth_failures_per_account_address,
        settings.auth_failure_window_seconds,
        settings.auth_block_seconds,
        settings.auth_block_max_seconds,
        settings.auth_recidive_seconds,
    ) == (5, 900, 900, 86400, 86400)
    assert (settings.auth_failures_per_account, settings.auth_lock_seconds) == (20, 3600)
    assert (
        settings.suspicious_ip_requests,
        settings.suspicious_ip_window_seconds,
        settings.suspicious_ip_block_seconds,
    ) == (100, 900, 900)
    assert (
        settings.sign_up_attempts_per_email,
        settings.sign_up_attempts_per_address,
        settings.sign_up_window_seconds,
    ) == (5, 20, 3600)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"AUTH_FAILURE_WINDOW_SECONDS": "0"}, "1 second"),
        ({"SUSPICIOUS_IP_BLOCK_SECONDS": "-5"}, "1 second"),
        ({"AUTH_BLOCK_SECONDS": "600", "AUTH_BLOCK_MAX_SECONDS": "60"}, "AUTH_BLOCK_MAX_SECONDS"),
        ({"SIGN_UP_ATTEMPTS_PER_EMAIL": "0"}, "sign-up limits"),
        ({"SIGN_UP_WINDOW_SECONDS": "0"}, "sign-up limits"),
    ],
)
def test_brute_force_windows_and_blocks_must_make_sense(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(REQUIRED | env)


def test_ints_floats_and_strings_are_parsed() -> None:
    env = REQUIRED | {
        "RATE_LIMIT_MAX": "7",
        "JWT_TTL_SECONDS": "60",
        "REDIS_TIMEOUT_SECONDS": "0.5",
        "LOG_LEVEL": "debug",
        "MIGRATION_DATABASE_URL": "postgresql://owner:pw@db/accounting",
    }
    settings = Settings.from_env(env)
    assert (settings.rate_limit_max, settings.jwt_ttl_seconds) == (7, 60)
    assert settings.redis_timeout_seconds == 0.5
    assert settings.log_level == "DEBUG"
    assert settings.owner_database_url == "postgresql://owner:pw@db/accounting"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *[("1", True), ("true", True), ("TRUE", True), ("yes", True), (" on ", True)],
        *[("0", False), ("false", False), ("no", False), ("off", False)],
    ],
)
def test_bools_are_parsed(raw: str, expected: bool) -> None:
    settings = Settings.from_env(REQUIRED | {"TRUST_FORWARDED_FOR": raw})
    assert settings.trust_forwarded_for is expected


def test_an_empty_variable_means_the_default() -> None:
    assert Settings.from_env(REQUIRED | {"RATE_LIMIT_MAX": ""}).rate_limit_max == 5000


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_a_missing_required_variable_is_named(missing: str) -> None:
    env = {k: v for k, v in REQUIRED.items() if k != missing}
    with pytest.raises(SettingsError, match=f"^{missing} is required"):
        Settings.from_env(env)


@pytest.mark.parametrize("secret", ["", "short", "x" * 31, "é" * 15])
def test_a_short_jwt_secret_is_refused(secret: str) -> None:
    with pytest.raises(SettingsError, match="JWT_SECRET"):
        Settings.from_env(REQUIRED | {"JWT_SECRET": secret})


def test_a_32_byte_multibyte_secret_is_enough() -> None:
    assert Settings.from_env(REQUIRED | {"JWT_SECRET": "é" * 16}).jwt_secret == "é" * 16


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("RATE_LIMIT_MAX", "abc"),
        ("DB_POOL_MAX", "1.5"),
        ("JWT_TTL_SECONDS", "1h"),
        ("REDIS_TIMEOUT_SECONDS", "fast"),
    ],
)
def test_a_value_that_does_not_parse_names_its_variable(variable: str, raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(REQUIRED | {variable: raw})
    assert variable in str(caught.value)
    assert repr(raw) in str(caught.value)


def test_secrets_stay_out_of_the_repr() -> None:
    text = repr(Settings.from_env(REQUIRED))
    for secret in REQUIRED.values():
        assert secret not in text


@pytest.mark.parametrize(("raw", "expected"), [("", False), ("false", False), ("1", True)])
def test_the_worker_reads_the_webhook_switches_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool
) -> None:
    monkeypatch.setenv("WEBHOOK_ALLOW_INSECURE", raw)
    monkeypatch.setenv("WEBHOOK_MAX_ATTEMPTS", "5")
    args = cli.parser().parse_args(["worker", "--once"])
    assert (args.webhook_allow_insecure, args.webhook_max_attempts) == (expected, 5)
    assert Settings.from_env(REQUIRED | {"WEBHOOK_ALLOW_INSECURE": raw}).webhook_allow_insecure is (
        expected
    )


@pytest.mark.parametrize("raw", ["0", "-3", "many"])
def test_the_worker_refuses_a_max_attempts_that_would_never_deliver(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], raw: str
) -> None:
    monkeypatch.setenv("WEBHOOK_MAX_ATTEMPTS", raw)
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["worker", "--once"])
    assert "--webhook-max-attempts" in capsys.readouterr().err


KEY = "a2V5LW1hdGVyaWFsLW9mLWV4YWN0bHktMzItYnl0ZXM="  # base64 of 32 bytes


def test_webhook_secret_keys_are_optional_parsed_and_never_shown() -> None:
    assert Settings.from_env(REQUIRED).secret_keys() is None
    settings = Settings.from_env(REQUIRED | {"WEBHOOK_SECRET_KEYS": f"k2:{KEY},k1:{KEY}"})
    keys = settings.secret_keys()
    assert keys is not None
    assert keys.ids == ("k2", "k1")
    assert KEY not in repr(settings)
    assert KEY not in repr(keys)


@pytest.mark.parametrize("raw", [KEY, "k:short", f"k:{KEY},k:{KEY}"])
def test_webhook_secret_keys_that_do_not_parse_stop_the_start(raw: str) -> None:
    with pytest.raises(SettingsError, match=r"^WEBHOOK_SECRET_KEYS: ") as refused:
        Settings.from_env(REQUIRED | {"WEBHOOK_SECRET_KEYS": raw})
    assert KEY not in str(refused.value)


def test_webhooks_rekey_without_a_key_ring_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET_KEYS", "")
    assert cli.main(["webhooks", "rekey"]) == 2
    assert "WEBHOOK_SECRET_KEYS is required" in capsys.readouterr().err


def test_a_short_previous_jwt_key_is_refused_and_none_is_fine() -> None:
    with pytest.raises(SettingsError, match="JWT_PREVIOUS_SECRET"):
        Settings.from_env(REQUIRED | {"JWT_PREVIOUS_SECRET": "short"})
    assert Settings.from_env(REQUIRED).jwt_previous_secret == ""
    rotated = Settings.from_env(REQUIRED | {"JWT_PREVIOUS_SECRET": "p" * 32})
    assert "p" * 32 not in repr(rotated)


DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize(
    ("settings", "page"), [(Settings, "configuration.md"), (BackupSettings, "backups.md")]
)
def test_every_setting_is_documented_where_an_admin_looks_for_it(settings: type, page: str) -> None:
    text = (DOCS / page).read_text()
    variables = [field.name.upper() for field in dataclasses.fields(settings)]
    assert [v for v in variables if f"`{v}`" not in text] == []
