"""An outage of the database in the log: one line when it goes away, one when it is back,
however many requests find it gone or see it answer meanwhile."""

from __future__ import annotations

import logging

import pytest

from accounting_api.db import availability

LOST, ANSWERED = "lost", "answered"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("events", "lines"),
    [
        ([ANSWERED, ANSWERED], []),
        ([LOST] * 50, ["database unavailable (ConnectionRefusedError)"]),
        (
            [ANSWERED, *[LOST] * 50, *[ANSWERED] * 50],
            [
                "database unavailable (ConnectionRefusedError)",
                "database available again after 50.0 s",
            ],
        ),
        (
            [LOST, ANSWERED, LOST, ANSWERED],
            [
                "database unavailable (ConnectionRefusedError)",
                "database available again after 1.0 s",
                "database unavailable (ConnectionRefusedError)",
                "database available again after 1.0 s",
            ],
        ),
    ],
    ids=["never down", "down for good", "one outage, many requests", "two outages"],
)
def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    events: list[str], lines: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    seen = availability.Availability(clock)
    with caplog.at_level(logging.INFO, availability.log.name):
        for event in events:
            clock.now += 1
            if event == LOST:
                seen.lost(ConnectionRefusedError("connection refused"))
            else:
                seen.answered()
    assert [r.getMessage().split(";")[0] for r in caplog.records] == lines
    assert seen.down == (events[-1] == LOST)
