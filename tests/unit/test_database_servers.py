"""The servers a DATABASE_URL names, and the timeline floor that refuses a former primary."""

from __future__ import annotations

import pytest

from accounting_api.db.servers import Address, TimelineFloor, addresses
from accounting_api.settings import Settings


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ("postgresql://u:p@db:5432/accounting", [Address("db", 5432)]),
        ("postgresql://u:p@db/accounting", [Address("db", None)]),
        (
            "postgresql://u:p@h1:5432,h2:5433,h3/accounting?target_session_attrs=read-write",
            [Address("h1", 5432), Address("h2", 5433), Address("h3", None)],
        ),
        (
            "postgresql://u:p@[::1]:5432,[fe80::2]/db",
            [Address("::1", 5432), Address("fe80::2", None)],
        ),
        ("postgresql://u:p%40ss@h1:1,h2:2/db", [Address("h1", 1), Address("h2", 2)]),
        ("postgresql:///accounting?host=/var/run/postgresql", []),
    ],
)
def test_addresses_in_the_order_of_the_url(dsn: str, expected: list[Address]) -> None:
    assert addresses(dsn) == expected


def test_an_address_prints_as_host_and_port() -> None:
    assert [str(a) for a in (Address("h1", 5432), Address("h2", None))] == ["h1:5432", "h2"]


@pytest.mark.parametrize(
    ("floor", "seen", "admitted", "moved", "after"),
    [
        (0, 1, True, False, 1),  # the first timeline seen is no failover
        (1, 1, True, False, 1),
        (1, 2, True, True, 2),  # a promotion: older connections are expired
        (2, 1, False, False, 2),  # a former primary
        (3, 3, True, False, 3),  # the floor the operator rendered
    ],
)
def test_the_floor_admits_the_current_timeline_and_rises_with_it(
    floor: int, seen: int, admitted: bool, moved: bool, after: int
) -> None:
    timelines = TimelineFloor(floor)
    assert timelines.admits(seen) is admitted
    if admitted:
        assert timelines.raise_to(seen) is moved
    assert timelines.value == after


def test_the_floor_is_read_from_database_min_timeline() -> None:
    env = {"DATABASE_URL": "postgresql://x@h/db", "REDIS_URL": "redis://h", "JWT_SECRET": "s" * 32}
    assert Settings.from_env(env).database_min_timeline == 0
    assert Settings.from_env({**env, "DATABASE_MIN_TIMELINE": "3"}).database_min_timeline == 3
