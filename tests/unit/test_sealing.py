"""Sealed secrets: what opens, what does not, and the key ring's text."""

from __future__ import annotations

import base64

import pytest

from accounting_api.domain import sealing

OLD = base64.b64encode(b"o" * 32).decode()
NEW = base64.urlsafe_b64encode(b"n" * 32).decode()
HERE = sealing.binding("webhook_endpoints.secret_sealed", "org_1", "we_1")


def test_a_sealed_value_opens_where_it_was_sealed_and_names_its_key() -> None:
    ring = sealing.parse(f"new:{NEW},old:{OLD}")
    sealed = ring.seal(b"whsec_abc", HERE)
    assert sealed.startswith("new:")
    assert b"whsec_abc" not in sealed.encode()
    assert ring.open(sealed, HERE) == b"whsec_abc"
    assert ring.seal(b"whsec_abc", HERE) != sealed  # a fresh nonce each time


@pytest.mark.parametrize(
    "elsewhere",
    [
        sealing.binding("webhook_endpoints.secret_sealed", "org_1", "we_2"),
        sealing.binding("webhook_endpoints.secret_sealed", "org_2", "we_1"),
        sealing.binding("idempotency_keys.response_sealed", "org_1", "we_1"),
    ],
)
def test_a_sealed_value_moved_to_another_place_does_not_open(elsewhere: bytes) -> None:
    ring = sealing.parse(f"k:{OLD}")
    with pytest.raises(sealing.Unreadable, match="for this place"):
        ring.open(ring.seal(b"whsec_abc", HERE), elsewhere)


def test_after_rotation_the_old_key_opens_and_the_new_one_seals() -> None:
    sealed_before = sealing.parse(f"old:{OLD}").seal(b"whsec_abc", HERE)
    rotated = sealing.parse(f"new:{NEW},old:{OLD}")
    assert rotated.open(sealed_before, HERE) == b"whsec_abc"
    resealed = rotated.seal(rotated.open(sealed_before, HERE), HERE)
    assert (sealed_before.split(":")[0], resealed.split(":")[0]) == ("old", "new")
    assert sealing.parse(f"new:{NEW}").open(resealed, HERE) == b"whsec_abc"
    with pytest.raises(sealing.Unreadable, match="'old', which is not in the key ring"):
        sealing.parse(f"new:{NEW}").open(sealed_before, HERE)


@pytest.mark.parametrize(
    "tampered",
    [
        lambda s: s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1],  # a changed byte
        lambda s: s.split(":")[0] + ":not base64!",
        lambda s: s.split(":")[0] + ":",
        lambda s: "no separator",
    ],
)
def test_an_altered_sealed_value_does_not_open(tampered: object) -> None:
    ring = sealing.parse(f"k:{OLD}")
    sealed = ring.seal(b"whsec_abc", HERE)
    assert callable(tampered)
    with pytest.raises(sealing.Unreadable):
        ring.open(tampered(sealed), HERE)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "holds no key"),
        (" , ", "holds no key"),
        (OLD, "each key is <id>:<base64>"),
        (f"bad id:{OLD}", "each key is <id>:<base64>"),
        (f"{'x' * 33}:{OLD}", "each key is <id>:<base64>"),
        ("k:%%%%", "not base64"),
        (f"k:{base64.b64encode(b'short').decode()}", "must be 32 bytes, got 5"),
        (f"k:{OLD},k:{NEW}", "unique"),
    ],
)
def test_a_key_ring_that_does_not_parse_says_why_without_the_key(text: str, message: str) -> None:
    with pytest.raises(sealing.KeyRingError, match=message) as refused:
        sealing.parse(text)
    assert OLD not in str(refused.value)
    assert NEW not in str(refused.value)


def test_a_key_ring_shows_its_ids_never_its_keys() -> None:
    ring = sealing.parse(f" new : {NEW} , old:{OLD}")
    assert (ring.current, ring.ids) == ("new", ("new", "old"))
    assert NEW not in repr(ring)
    assert OLD not in repr(ring)
    assert "new" in repr(ring)
