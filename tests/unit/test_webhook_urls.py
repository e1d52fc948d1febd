"""Where webhooks may go: the address rules of the SSRF guard and the URL check."""

from __future__ import annotations

import ipaddress

import pytest

from accounting_api.domain import errors, webhook_urls


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("2002:808:808::1", None),  # 6to4 of a public address
        ("127.0.0.1", "a loopback address"),
        ("127.8.9.10", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("64:ff9b::7f00:1", "a loopback address"),  # NAT64 of 127.0.0.1
        ("2002:7f00:1::", "a loopback address"),  # 6to4 of 127.0.0.1
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("169.254.169.254", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.0.1", "a private address"),
        ("::ffff:192.168.0.1", "a private address"),
        ("fd00::1", "a private address"),
        ("240.0.0.1", "a reserved address"),
        ("100.64.0.1", "not a public address"),
        ("192.0.0.192", "an internal address"),  # IETF protocol assignments
        ("fec0::1", "an internal address"),  # IPv6 site-local
    ],
)
def test_only_public_internet_addresses_are_allowed(address: str, reason: str | None) -> None:
    found = webhook_urls.refusal(ipaddress.ip_address(address))
    assert found == reason


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("https://hooks.example.com/ua", None),
        ("https://203.0.113.9.nip.io/ua", None),  # names are checked when delivering
        ("https://8.8.8.8/ua", None),
        ("http://hooks.example.com/ua", errors.WebhookUrlInsecure),
        ("https://10.0.0.1/ua", errors.WebhookUrlNotPublic),
        ("https://[::ffff:169.254.169.254]/", errors.WebhookUrlNotPublic),
    ],
)
def test_creation_refuses_http_and_literal_internal_addresses(
    url: str, error: type[errors.AccountingError] | None
) -> None:
    if error is None:
        webhook_urls.check(url, allow_insecure=False)
    else:
        with pytest.raises(error) as raised:
            webhook_urls.check(url, allow_insecure=False)
        assert raised.value.param == "url"
    webhook_urls.check(url, allow_insecure=True)  # local development: anything goes


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://hooks.example.com:99999/x", "port"),
        ("https://hooks.example.com:0/x", "port"),
        ("https://user:pass@hooks.example.com/x", "credentials"),
        ("https://hooks.example.com/\u65e5\u672c", "percent-encoded"),
        ("https://a..b.example.com/x", "not a valid domain name"),
        ("https://[x", "not a valid IPv6 literal"),
        ("https://example.com]/x", "not a valid IPv6 literal"),
        ("https://[::1/x", "not a valid IPv6 literal"),
        ("https://[v1.x]/x", "not a valid IPv6 literal"),
    ],
)
def test_urls_no_delivery_could_be_made_to_are_refused_even_for_local_development(
    url: str, reason: str
) -> None:
    for allow_insecure in (False, True):
        with pytest.raises(errors.WebhookUrlMalformed, match=reason) as raised:
            webhook_urls.check(url, allow_insecure=allow_insecure)
        assert raised.value.param == "url"


@pytest.mark.parametrize(
    "url",
    [
        "https://127.1/hook",
        "https://2130706433/hook",
        "https://0177.0.0.1/hook",
        "https://0x7f000001/hook",
        "https://0x7f.1/hook",
        "https://10.1/hook",
        "https://localhost/hook",
        "https://LOCALHOST./hook",
        "https://api.localhost/hook",
        "https://metadata/hook",
    ],
)
def test_creation_refuses_internal_addresses_in_every_form_the_resolver_reads(url: str) -> None:
    with pytest.raises(errors.WebhookUrlNotPublic) as refused:
        webhook_urls.check(url, allow_insecure=False)
    assert refused.value.param == "url"


@pytest.mark.parametrize(
    "url", ["https://134744072/hook", "https://1e100.net/hook", "https://deadbeef.cafe/hook"]
)
def test_public_numbers_and_names_that_look_numeric_are_accepted(url: str) -> None:
    webhook_urls.check(url, allow_insecure=False)
