"""Access tokens: HS256 JWTs whose issuer, audience and expiry are checked."""

from __future__ import annotations

import base64
import dataclasses
import json
import time

import jwt
import pytest

from accounting_api.domain import errors, ids
from accounting_api.domain.roles import Principal, Role
from accounting_api.services.auth import TokenCodec

SECRET = "unit-test-secret-" + "k" * 32
CODEC = TokenCodec(SECRET, "https://issuer.test", "accounting-api", 600)
ALICE = Principal(ids.new_id("user"), ids.new_id("org"), Role.ACCOUNTANT)


def test_round_trip_gives_back_the_principal() -> None:
    token, ttl = CODEC.issue(ALICE)
    assert ttl == 600
    assert CODEC.verify(token) == ALICE


def test_claims_carry_issuer_audience_and_lifetime() -> None:
    token, _ = CODEC.issue(ALICE, now=1_700_000_000)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims == {
        "sub": ALICE.user_id,
        "org": ALICE.organization_id,
        "role": "accountant",
        "ver": 0,
        "iss": "https://issuer.test",
        "aud": "accounting-api",
        "iat": 1_700_000_000,
        "exp": 1_700_000_600,
    }


def expect_refusal(token: str, codec: TokenCodec = CODEC) -> str:
    with pytest.raises(errors.Unauthenticated) as caught:
        codec.verify(token)
    assert caught.value.status == 401
    return caught.value.detail


def test_expired_token_is_refused() -> None:
    token, _ = CODEC.issue(ALICE, now=time.time() - 3600)
    assert "expired" in expect_refusal(token)


def test_token_for_another_audience_is_refused() -> None:
    other = TokenCodec(SECRET, "https://issuer.test", "billing-api", 600)
    token, _ = other.issue(ALICE)
    assert "audience" in expect_refusal(token)


def test_token_from_another_issuer_is_refused() -> None:
    other = TokenCodec(SECRET, "https://evil.test", "accounting-api", 600)
    token, _ = other.issue(ALICE)
    assert "issuer" in expect_refusal(token)


def test_token_signed_with_another_key_is_refused() -> None:
    other = TokenCodec("another-secret-" + "z" * 32, "https://issuer.test", "accounting-api", 600)
    token, _ = other.issue(ALICE)
    assert "signature" in expect_refusal(token)


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_tampered_payload_is_refused() -> None:
    token, _ = CODEC.issue(ALICE)
    header, _, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = b64(claims | {"role": "owner", "org": ids.new_id("org")})
    assert "signature" in expect_refusal(f"{header}.{forged}.{signature}")


def test_unsigned_token_is_refused() -> None:
    claims = jwt.decode(CODEC.issue(ALICE)[0], options={"verify_signature": False})
    token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    expect_refusal(token)


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "eyJ.eyJ.sig"])
def test_garbage_is_refused(token: str) -> None:
    expect_refusal(token)


def valid_claims() -> dict[str, object]:
    now = int(time.time())
    return {
        "sub": ALICE.user_id,
        "org": ALICE.organization_id,
        "role": "viewer",
        "iss": "https://issuer.test",
        "aud": "accounting-api",
        "iat": now,
        "exp": now + 60,
    }


def test_the_claims_helper_makes_an_acceptable_token() -> None:
    principal = CODEC.verify(jwt.encode(valid_claims(), SECRET, algorithm="HS256"))
    assert principal == Principal(ALICE.user_id, ALICE.organization_id, Role.VIEWER)


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "org", "role"])
def test_a_token_missing_a_required_claim_is_refused(missing: str) -> None:
    claims = valid_claims()
    del claims[missing]
    expect_refusal(jwt.encode(claims, SECRET, algorithm="HS256"))


@pytest.mark.parametrize(
    ("claim", "value", "named"),
    [("role", "superuser", "role"), ("org", "acme", "organization"), ("org", "", "organization")],
)
def test_a_validly_signed_token_with_bad_claims_is_refused(
    claim: str, value: str, named: str
) -> None:
    claims = valid_claims() | {claim: value}
    assert named in expect_refusal(jwt.encode(claims, SECRET, algorithm="HS256"))


def test_a_token_names_the_users_token_version() -> None:
    token, _ = CODEC.issue(dataclasses.replace(ALICE, token_version=7))
    assert CODEC.verify(token).token_version == 7


def test_a_token_of_the_previous_release_stands_for_version_zero() -> None:
    claims = {
        "sub": ALICE.user_id,
        "org": ALICE.organization_id,
        "role": "accountant",
        "iss": "https://issuer.test",
        "aud": "accounting-api",
        "iat": int(time.time()),
        "exp": int(time.time()) + 60,
    }
    token = jwt.encode(claims, CODEC.secret, algorithm="HS256")
    assert CODEC.verify(token).token_version == 0


@pytest.mark.parametrize("version", [-1, "3", True, 1.5])
def test_a_token_with_an_invalid_version_is_refused(version: object) -> None:
    claims = jwt.decode(CODEC.issue(ALICE)[0], options={"verify_signature": False})
    forged = jwt.encode(claims | {"ver": version}, CODEC.secret, algorithm="HS256")
    assert "version" in expect_refusal(forged)


def test_a_token_restricted_to_two_factor_enrolment_says_so_and_verifies_as_such() -> None:
    restricted = dataclasses.replace(ALICE, enrolment_only=True)
    token, _ = CODEC.issue(restricted)
    assert jwt.decode(token, options={"verify_signature": False})["scp"] == "two_factor_enrolment"
    assert CODEC.verify(token) == restricted


def test_a_token_of_an_unknown_scope_is_refused() -> None:
    claims = jwt.decode(CODEC.issue(ALICE)[0], options={"verify_signature": False})
    forged = jwt.encode(claims | {"scp": "admin"}, CODEC.secret, algorithm="HS256")
    assert "unknown scope" in expect_refusal(forged)


def test_after_a_key_rotation_tokens_of_the_previous_key_work_until_they_expire() -> None:
    old_key, new_key = SECRET, "rotated-secret-" + "n" * 32
    before = TokenCodec(old_key, "https://issuer.test", "accounting-api", 600)
    after = TokenCodec(
        new_key, "https://issuer.test", "accounting-api", 600, previous_secret=old_key
    )
    issued_before, _ = before.issue(ALICE)
    assert after.verify(issued_before) == ALICE
    issued_after, _ = after.issue(ALICE)
    assert jwt.decode(issued_after, new_key, audience="accounting-api", algorithms=["HS256"])
    expired, _ = before.issue(ALICE, now=time.time() - 3600)
    assert "expired" in expect_refusal(expired, after)
    # Once the previous key is dropped, its tokens end.
    without = TokenCodec(new_key, "https://issuer.test", "accounting-api", 600)
    assert "signature" in expect_refusal(issued_before, without)


def test_neither_key_is_shown_by_the_codec() -> None:
    codec = TokenCodec(
        SECRET, "https://issuer.test", "accounting-api", 600, previous_secret="p" * 32
    )
    assert SECRET not in repr(codec)
    assert "p" * 32 not in repr(codec)
