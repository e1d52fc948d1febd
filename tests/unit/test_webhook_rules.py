"""Webhook rules: signatures, the event body, the retry schedule, no secret in reprs."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import hmac
import json

import pytest

from accounting_api.domain import sealing, webhooks
from accounting_api.services.webhooks import DeliverySettings, signing_secret

DELIVERY = webhooks.Delivery(
    7,
    1,
    "https://hooks.example.com",
    "whsec_top-secret",
    "evt_1",
    "invoice.paid",
    {"object": "invoice", "id": "inv_1"},
    datetime.datetime(2026, 1, 15, tzinfo=datetime.UTC),
    "we_1",
    "k:c2VhbGVk",
)


def test_the_signature_is_an_hmac_of_the_timestamp_and_the_body() -> None:
    body = b'{"id":"evt_1"}'
    expected = hmac.new(b"secret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert webhooks.signature("secret", 1_700_000_000, body) == f"t=1700000000,v1={expected}"
    assert webhooks.signature("other", 1_700_000_000, body) != f"t=1700000000,v1={expected}"


def test_the_body_is_the_event_with_its_object() -> None:
    assert json.loads(webhooks.body(DELIVERY)) == {
        "id": "evt_1",
        "object": "event",
        "type": "invoice.paid",
        "created": 1_768_435_200,
        "data": {"object": {"object": "invoice", "id": "inv_1"}},
    }


@pytest.mark.parametrize(
    ("attempts", "delay"), [(0, 30.0), (1, 30.0), (2, 60.0), (3, 120.0), (10, 3600.0)]
)
def test_retries_back_off_exponentially_up_to_a_cap(attempts: int, delay: float) -> None:
    assert webhooks.retry_delay(attempts, 30, 3600) == delay


def test_a_delivery_never_shows_its_secret() -> None:
    assert "whsec" not in repr(DELIVERY)
    assert "whsec" not in str(DELIVERY)


def test_the_default_attempts_span_about_three_days() -> None:
    settings = DeliverySettings()
    delays = [
        webhooks.retry_delay(n, settings.retry_base_seconds, settings.retry_max_seconds)
        for n in range(1, settings.max_attempts)
    ]
    assert 2.5 * 86400 < sum(delays) < 3.5 * 86400
    assert not webhooks.gives_up(settings.max_attempts - 1, settings.max_attempts)
    assert webhooks.gives_up(settings.max_attempts, settings.max_attempts)


KEYS = sealing.parse("k1:" + "a" * 43 + "=")
SEALED = KEYS.seal(b"whsec_sealed", webhooks.secret_binding("org_1", "we_1"))


@pytest.mark.parametrize(
    ("plain", "sealed", "keys", "signs_with"),
    [
        ("whsec_plain", None, None, "whsec_plain"),  # the previous version's row
        ("whsec_plain", None, KEYS, "whsec_plain"),
        (None, SEALED, KEYS, "whsec_sealed"),
    ],
)
def test_a_delivery_signs_with_its_secret_in_the_clear_or_opened(
    plain: str | None, sealed: str | None, keys: sealing.KeyRing | None, signs_with: str
) -> None:
    delivery = dataclasses.replace(DELIVERY, secret=plain, sealed_secret=sealed)
    assert signing_secret(delivery, "org_1", keys) == signs_with


@pytest.mark.parametrize(
    ("plain", "sealed", "organization_id", "keys", "why"),
    [
        (None, SEALED, "org_1", None, "WEBHOOK_SECRET_KEYS is not set"),
        (None, SEALED, "org_2", KEYS, "does not open with key 'k1' for this place"),
        ("", None, "org_1", KEYS, "no signing secret"),
        (None, None, "org_1", KEYS, "no signing secret"),
    ],
)
def test_a_delivery_whose_secret_does_not_open_is_never_signed(
    plain: str | None,
    sealed: str | None,
    organization_id: str,
    keys: sealing.KeyRing | None,
    why: str,
) -> None:
    delivery = dataclasses.replace(DELIVERY, secret=plain, sealed_secret=sealed)
    with pytest.raises(sealing.Unreadable, match=why):
        signing_secret(delivery, organization_id, keys)
