"""Two-factor rules: a TOTP code is accepted within one step of drift and only for a step
later than the last used; recovery codes are random, read as typed, and hashed per
person; the organization's requirement applies to owners and admins only."""

from __future__ import annotations

import pyotp
import pytest

from accounting_api.domain import two_factor
from accounting_api.domain.roles import Role

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = 1_800_000_015.0
STEP = two_factor.step_at(NOW)


def code(step: int) -> str:
    return pyotp.TOTP(SECRET).generate_otp(step)


@pytest.mark.parametrize(
    ("offset", "after", "expected"),
    [
        (0, 0, 0),
        (-1, 0, -1),
        (1, 0, 1),
        (-2, 0, None),  # older than the drift allows
        (2, 0, None),
        (0, STEP, None),  # that step was used: a replay
        (1, STEP, 1),  # the next step's code still works
        (-1, STEP - 1, None),
    ],
)
def test_a_code_matches_its_step_within_the_drift_once(
    offset: int, after: int, expected: int | None
) -> None:
    found = two_factor.matching_step(SECRET, code(STEP + offset), now=NOW, after=after)
    assert found == (None if expected is None else STEP + expected)


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "12345a", " 123456"])
def test_a_code_that_is_not_six_digits_matches_nothing(typed: str) -> None:
    assert two_factor.matching_step(SECRET, typed, now=NOW, after=0) is None


def test_the_uri_names_the_issuer_and_the_person() -> None:
    uri = two_factor.uri(SECRET, "ann@example.com")
    assert uri.startswith("otpauth://totp/Universal%20Accounting:ann%40example.com?")
    assert f"secret={SECRET}" in uri
    assert "issuer=Universal%20Accounting" in uri


def test_recovery_codes_are_ten_distinct_grouped_codes() -> None:
    codes = two_factor.new_recovery_codes()
    assert len(set(codes)) == 10
    assert all(len(c) == 23 and c.count("-") == 3 for c in codes)


def test_a_recovery_code_is_read_as_typed_and_hashed_per_person() -> None:
    code_ = "abcde-01234-fffff-98765"
    hashed = two_factor.recovery_hash("Ann@Example.com", code_)
    assert two_factor.recovery_hash("ann@example.com", "ABCDE 01234 FFFFF 98765") == hashed
    assert two_factor.recovery_hash("bob@example.com", code_) != hashed
    assert code_.replace("-", "") not in hashed


@pytest.mark.parametrize(
    ("requirement", "role", "applies"),
    [
        (two_factor.Requirement.OWNERS_AND_ADMINS, Role.OWNER, True),
        (two_factor.Requirement.OWNERS_AND_ADMINS, Role.ADMIN, True),
        (two_factor.Requirement.OWNERS_AND_ADMINS, Role.ACCOUNTANT, False),
        (two_factor.Requirement.OWNERS_AND_ADMINS, Role.VIEWER, False),
        (two_factor.Requirement.NONE, Role.OWNER, False),
    ],
)
def test_the_requirement_applies_to_owners_and_admins(
    requirement: two_factor.Requirement, role: Role, applies: bool
) -> None:
    assert requirement.applies_to(role) is applies
