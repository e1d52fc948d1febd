"""Brute-force rules without Redis: block lengths, keys on one Cluster slot, what counts
as a failed request, and the in-process counts that stand in for Redis."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from accounting_api.domain import lockout
from accounting_api.services.lockout import LocalBackend

RULES = lockout.Rules(block=900, block_max=86400)


@pytest.mark.parametrize(
    ("strikes", "seconds"),
    [(1, 900), (2, 1800), (3, 3600), (4, 7200), (7, 57600), (8, 86400), (30, 86400)],
)
def test_a_repeat_offenders_block_doubles_up_to_the_maximum(strikes: int, seconds: int) -> None:
    assert lockout.block_seconds(RULES, strikes) == seconds


def test_the_keys_of_one_check_share_a_cluster_slot() -> None:
    keys = lockout.account_keys("Someone@Example.com", "203.0.113.9")
    slots = {key_slot(k.encode()) for k in vars_of(keys)}
    address = lockout.address_keys("203.0.113.9")
    assert len(slots) == 1
    assert key_slot(address.failures.encode()) == key_slot(address.block.encode())
    assert set(lockout.lock_keys("someone@example.com")) <= set(vars_of(keys))


def test_keys_name_no_email_or_address() -> None:
    keys = [*vars_of(lockout.account_keys("someone@example.com", "203.0.113.9"))]
    assert not [k for k in keys if "someone" in k or "203.0" in k]


def vars_of(keys: lockout.AccountKeys) -> list[str]:
    return [getattr(keys, name) for name in lockout.AccountKeys.__slots__]


@pytest.mark.parametrize(
    ("status", "counts"),
    [(401, True), (403, True), (429, True), (200, False), (404, False), (409, False),
     (422, False), (500, False), (503, False)],
)  # fmt: skip
def test_only_refusals_of_who_or_how_often_count_against_an_address(
    status: int, counts: bool
) -> None:
    assert lockout.failed_request(status) is counts


def test_a_sign_in_asked_for_its_second_factor_does_not_count_against_its_address() -> None:
    assert lockout.failed_request(401, "two_factor_required") is False
    assert lockout.failed_request(401, "two_factor_code_invalid") is True


@pytest.mark.parametrize(
    ("pair", "account", "expected"),
    [
        (5, 20, (False, False)),
        (6, 20, (True, False)),
        (5, 21, (False, True)),
        (6, 21, (True, True)),
    ],
)
def test_a_block_and_a_lock_come_one_past_their_threshold(
    pair: int, account: int, expected: tuple[bool, bool]
) -> None:
    assert lockout.failure_counts_past(lockout.Rules(), pair, account) == expected


async def test_in_memory_counts_slide_with_their_window() -> None:
    local = LocalBackend()
    counts = [(await local.count(["a", "b"], now, 10))[0] for now in (0, 4, 8, 11, 15)]
    assert counts == [1, 2, 3, 3, 3]  # 0 left at 10, 4 at 14
    assert await local.count(["b"], 15, 10) == [4]  # b counted each time along with a


async def test_in_memory_strikes_count_within_the_recidive_period_only() -> None:
    local = LocalBackend()
    strikes = [await local.strike("s", now, 100) for now in (0, 50, 140, 260)]
    assert strikes == [1, 2, 3, 1]


async def test_in_memory_holds_run_out_and_clear() -> None:
    local = LocalBackend()
    await local.count(["failures"], 0, 100)
    await local.hold("block", 0, 30, "failures")
    await local.hold("lock", 0, 60, "other")
    assert await local.left(["block", "lock", "none"], 20) == [10, 40, 0]
    assert await local.count(["failures"], 20, 100) == [1]  # forgotten when the block began
    assert await local.left(["block"], 31) == [0]
    await local.clear(["lock"])
    assert await local.left(["lock"], 20) == [0]


def test_held_names_a_lock_before_a_block() -> None:
    assert lockout.Held(5, 9).reason == "locked"
    assert lockout.Held(5, 0).reason == "blocked"
    assert lockout.Held().reason is None
