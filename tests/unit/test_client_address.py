"""The client address the rate limits and the logs use, behind proxies and without."""

from __future__ import annotations

import pytest
from starlette.types import Scope

from accounting_api.http import context


def scope(*forwarded: str, peer: str = "10.0.0.9") -> Scope:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return {"type": "http", "headers": headers, "client": (peer, 40000)}


@pytest.mark.parametrize(
    ("forwarded", "trusted", "expected"),
    [
        # A client writes the leftmost entries itself; the proxy appends what it saw.
        (["6.6.6.6, 203.0.113.7"], 1, "203.0.113.7"),
        (["203.0.113.7"], 1, "203.0.113.7"),
        # Two proxies: the outer one's entry, one from the right, is the client.
        (["6.6.6.6, 203.0.113.7, 10.1.1.1"], 2, "203.0.113.7"),
        # The same header split over several lines reads as one list.
        (["6.6.6.6", "203.0.113.7, 10.1.1.1"], 2, "203.0.113.7"),
        # Fewer entries than proxies: the furthest one there is.
        (["203.0.113.7"], 3, "203.0.113.7"),
        ([" , 203.0.113.7 ,"], 1, "203.0.113.7"),
    ],
    ids=["spoofed-left", "one-proxy", "two-proxies", "split-header", "short-chain", "blanks"],
)
def test_behind_proxies_the_client_is_counted_from_the_right(
    forwarded: list[str], trusted: int, expected: str
) -> None:
    assert context.client_ip(scope(*forwarded), trusted_proxies=trusted) == expected


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert context.client_ip(scope("6.6.6.6"), trusted_proxies=0) == "10.0.0.9"


def test_without_the_header_the_peer_is_the_client() -> None:
    assert context.client_ip(scope(), trusted_proxies=1) == "10.0.0.9"
