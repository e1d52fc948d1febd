"""Which membership a sign-in is about, and when the person must choose an organization."""

from __future__ import annotations

import pytest

from accounting_api.domain import lockout
from accounting_api.domain.memberships import Membership, needs_choice, not_a_member, subject

A = Membership("org_a", "user_a", active=True)
B = Membership("org_b", "user_b", active=True)
OFF = Membership("org_off", "user_off", active=False)


@pytest.mark.parametrize(
    ("found", "chosen", "about", "stranger", "choose"),
    [
        ([], None, None, False, False),
        ([A], None, A, False, False),
        ([OFF, A], None, A, False, False),
        ([OFF], None, OFF, False, False),
        ([A, B], None, A, False, True),
        ([A, B], "org_b", B, False, False),
        ([A, OFF], "org_off", OFF, False, False),
        ([A, B], "org_elsewhere", A, True, False),
    ],
)
def test_the_membership_a_sign_in_is_about(
    found: list[Membership],
    chosen: str | None,
    about: Membership | None,
    stranger: bool,
    choose: bool,
) -> None:
    assert subject(found, chosen) == about
    if about is not None:
        assert not_a_member(about, chosen) is stranger
    assert needs_choice(found, chosen) is choose


def test_sign_up_counts_of_an_email_and_an_address_name_neither() -> None:
    by_email, by_address = lockout.sign_up_keys("Someone@Example.com", "203.0.113.9")
    assert (by_email, by_address) == lockout.sign_up_keys("someone@example.com ", "203.0.113.9")
    assert "someone" not in by_email
    assert "203.0.113" not in by_address
    assert by_email.count("{") == by_address.count("{") == 1  # one hash tag each
