"""Automatic security responses, the pure part and the settings: the guide's thresholds
as defaults, the halved token limit, the export step-up, and the in-memory counts a
replica keeps while Redis is away."""

from __future__ import annotations

import pytest

from accounting_api.domain import errors, responses
from accounting_api.services import responses as responses_service
from accounting_api.settings import Settings, SettingsError
from tests.unit.test_settings import REQUIRED

RULES = responses.Thresholds(export_bytes=1000, step_up=300)
KEYS = responses.org_keys("org_a")


def test_thresholds_default_to_the_deployment_guides() -> None:
    settings = Settings.from_env(REQUIRED)
    assert (
        settings.platform_failed_signins,
        settings.platform_failed_signins_window_seconds,
        settings.org_api_calls_per_minute,
        settings.org_export_bytes_per_hour,
        settings.export_step_up_seconds,
    ) == (5, 900, 1000, 10_000_000, 300)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ORG_API_CALLS_PER_MINUTE": "-1"}, ">= 0"),
        ({"PLATFORM_FAILED_SIGNINS": "-5"}, ">= 0"),
        ({"PLATFORM_FAILED_SIGNINS_WINDOW_SECONDS": "0"}, "PLATFORM_FAILED_SIGNINS_WINDOW"),
        ({"EXPORT_STEP_UP_SECONDS": "0"}, "EXPORT_STEP_UP_SECONDS"),
    ],
)
def test_thresholds_and_windows_must_make_sense(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(REQUIRED | env)


@pytest.mark.parametrize(("maximum", "halved"), [(20, 10), (5, 2), (1, 1)])
def test_the_halved_token_limit_never_reaches_zero(maximum: int, halved: int) -> None:
    assert responses.halved(maximum) == halved


@pytest.mark.parametrize(
    ("total", "age", "refused"),
    [
        (1000, 10_000, False),  # at the threshold: any token
        (1001, 300, False),  # past it: a token 5 minutes old still does
        (1001, 301, True),
    ],
)
def test_an_export_past_the_threshold_needs_a_recent_token(
    total: int, age: int, refused: bool
) -> None:
    now = 1_000_000.0
    if refused:
        with pytest.raises(errors.ReauthenticationRequired):
            responses.check_step_up(RULES, total, int(now) - age, now)
    else:
        responses.check_step_up(RULES, total, int(now) - age, now)


async def test_in_memory_an_organizations_calls_slide_and_its_first_refusal_is_marked() -> None:
    local = responses_service.LocalBackend()
    seen = [await local.calls(KEYS, t, 60, 2, "") for t in (0.0, 1.0, 2.0, 3.0, 60.5)]
    assert [c.allowed for c in seen] == [True, True, False, False, True]
    assert [c.first for c in seen] == [False, False, True, False, False]
    assert seen[2].retry_after == 58.0  # the first call leaves the minute at 60 s


async def test_in_memory_the_platform_alarm_trips_once_and_clears_once() -> None:
    local = responses_service.LocalBackend()
    changes = [(await local.failures(t, 10, 2, "f"))[1] for t in (0.0, 1.0, 2.0, 3.0)]
    later = [(await local.failures(t, 10, 2, ""))[1] for t in (12.5, 13.0)]
    assert changes == [0, 0, 1, 0]
    assert later == [-1, 0]


async def test_in_memory_export_bytes_add_up_and_cross_the_threshold_once() -> None:
    local = responses_service.LocalBackend()
    found = [
        await local.exported(KEYS, t, 3600, 1000, size=600, member="") for t in (0.0, 1.0, 2.0)
    ]
    assert [(e.total, e.first) for e in found] == [(600, False), (1200, True), (1800, False)]
    assert (await local.exported(KEYS, 3602.5, 3600, 1000, size=0, member="")).total == 0
