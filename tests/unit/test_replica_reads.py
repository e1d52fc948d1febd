"""The Consistency-Token's form (a WAL position) and the replica settings."""

from __future__ import annotations

import pytest

from accounting_api.db.replicas import format_position, parse_position
from accounting_api.settings import Settings, SettingsError

ENV = {"DATABASE_URL": "postgresql://x@h/db", "REDIS_URL": "redis://h", "JWT_SECRET": "s" * 32}


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("0/0", 0),
        ("0/3000148", 0x3000148),
        ("1/0", 1 << 32),
        ("FFFFFFFF/FFFFFFFF", (1 << 64) - 1),
        ("a/b", (0xA << 32) | 0xB),
    ],
)
def test_a_token_is_a_wal_position_in_pg_lsn_form(text: str, position: int) -> None:
    assert parse_position(text) == position
    assert format_position(position) == text.upper()


@pytest.mark.parametrize("text", ["", "0", "/1", "1/", "0/x", "123456789/0", "0/-1", " 0/1"])
def test_anything_else_is_not_a_token(text: str) -> None:
    with pytest.raises(ValueError, match="not a WAL position"):
        parse_position(text)


@pytest.mark.parametrize(
    "replicas", ["", "pg-1:5432", "pg-1:5432,pg-2:6432", "10.0.0.2:5432, 10.0.0.3:5432"]
)
def test_replicas_are_host_and_port_pairs(replicas: str) -> None:
    assert Settings.from_env({**ENV, "DATABASE_REPLICAS": replicas}).database_replicas == replicas


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_REPLICAS", "pg-1"),
        ("DATABASE_REPLICAS", "pg-1:x"),
        ("DATABASE_REPLICAS", "postgresql://u:p@pg-1:5432/db"),
        ("DATABASE_REPLICA_WAIT_MS", "-1"),
        ("DATABASE_REPLICA_MAX_LAG_BYTES", "-5"),
        ("DB_READ_POOL_MAX", "0"),
    ],
)
def test_a_bad_replica_setting_is_refused(name: str, value: str) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env({**ENV, name: value})
