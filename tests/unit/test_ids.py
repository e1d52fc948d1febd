"""Type-prefixed, time-ordered identifiers."""

from __future__ import annotations

import time

import pytest

from accounting_api.domain import ids


@pytest.mark.parametrize("prefix", sorted(ids.PREFIXES))
def test_new_ids_carry_their_prefix_and_a_26_character_body(prefix: str) -> None:
    value = ids.new_id(prefix)
    head, _, body = value.partition("_")
    assert head == prefix
    assert len(body) == 26
    assert ids.has_prefix(value, prefix)


def test_ids_are_unique() -> None:
    assert len({ids.new_id("je") for _ in range(10_000)}) == 10_000


def test_ids_sort_by_creation_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # One id per millisecond tick, created out of order: sorting the ids sorts the ticks.
    ticks = [1_700_000_000_123, 1_700_000_000_001, 1_800_000_000_000, 1_700_000_000_002]
    made = {}
    for tick in ticks:
        monkeypatch.setattr(time, "time_ns", lambda tick=tick: tick * 1_000_000)
        made[ids.new_id("je")] = tick
    assert [made[i] for i in sorted(made)] == sorted(ticks)


@pytest.mark.parametrize(
    ("value", "prefix", "expected"),
    [
        ("acct_" + "0" * 26, "acct", True),
        ("acct_" + "0" * 26, "je", False),
        ("acct_" + "0" * 25, "acct", False),
        ("acct_" + "0" * 27, "acct", False),
        ("acct_" + "0" * 25 + "u", "acct", False),  # not Crockford base32
        ("acct_" + "0" * 25 + "A", "acct", False),
        ("acct" + "0" * 27, "acct", False),
        ("", "acct", False),
    ],
)
def test_has_prefix(value: str, prefix: str, expected: bool) -> None:
    assert ids.has_prefix(value, prefix) is expected


@pytest.mark.parametrize("prefix", ["", "account", "ACCT", "je_"])
def test_unknown_prefix_raises(prefix: str) -> None:
    with pytest.raises(ValueError, match="unknown id prefix"):
        ids.new_id(prefix)


def test_ids_made_together_are_distinct_and_of_one_millisecond() -> None:
    made = ids.new_ids("aud", 1000)
    assert len(set(made)) == 1000
    assert all(ids.has_prefix(value, "aud") for value in made)
    assert len({value[:13] for value in made}) == 1  # the first 45 of the 48 bits of time
