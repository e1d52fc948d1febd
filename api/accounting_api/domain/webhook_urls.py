"""Where webhooks may go: https URLs to public internet addresses (SSRF protection).

An endpoint URL is checked twice. At creation: https only, a host given as a number
(in any form the resolver reads: `127.1`, `2130706433`, `0x7f000001`) must be a public
address, and a name may not be a loopback or single-label one. At delivery: the host is
resolved and every address it resolves to must be public; the worker then connects to
that checked address, never resolving again, so a name that changes its answer in
between (DNS rebinding) gains nothing. Private networks and plain http are allowed only
by a setting meant for local development and tests.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

from accounting_api.domain import errors

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Ranges older Pythons' `ipaddress` still counts as global: IETF protocol assignments
# (192.0.0.0/24, some of it used for cloud metadata services) and IPv6 site-local.
_INTERNAL = (ipaddress.IPv4Network("192.0.0.0/24"), ipaddress.IPv6Network("fec0::/10"))
_KINDS = (
    ("an unspecified address", "is_unspecified"),
    ("a loopback address", "is_loopback"),
    ("a link-local address", "is_link_local"),
    ("a multicast address", "is_multicast"),
    ("a reserved address", "is_reserved"),
    ("a private address", "is_private"),
)


def _embedded_ipv4(address: Address) -> Address:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64), else itself."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def refusal(address: Address) -> str | None:
    """Why a webhook may not be sent to this address (e.g. 'a loopback address'), or
    None when it is a public internet address."""
    target = _embedded_ipv4(address)
    for kind, attribute in _KINDS:
        if getattr(target, attribute):
            return kind
    if any(target in network for network in _INTERNAL if network.version == target.version):
        return "an internal address"
    return None if target.is_global else "not a public address"


_NUMERIC_HOST = re.compile(r"^[0-9][0-9a-fA-FxX.]*$")


def literal_address(host: str) -> Address | None:
    """The address a host written as a number stands for, in every form the resolver
    takes (`127.0.0.1`, and `127.1`, `2130706433`, `0177.0.0.1`, `0x7f000001` as
    inet_aton reads them), or None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if not _NUMERIC_HOST.match(host.rstrip(".")):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))
    except OSError:
        return None


def name_refusal(host: str) -> str | None:
    """Why a host name can never be a public internet address, or None: loopback names
    (RFC 6761) and single-label names (resolved by search domains inside a network)."""
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return "a loopback name"
    if "." not in name:
        return "a name without a domain (an internal one)"
    return None


_NOT_IPV6 = "its host is not a valid IPv6 literal or domain name"


def _malformed(url: str) -> str | None:
    """Why a delivery could not even be attempted to this URL, or None."""
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed or stray bracket
        return _NOT_IPV6
    bracketed = "[" in parts.netloc.rpartition("@")[2]
    if bracketed and not isinstance(literal_address(parts.hostname or ""), ipaddress.IPv6Address):
        return _NOT_IPV6
    try:
        parts.port  # noqa: B018 (raises on a port out of range)
    except ValueError:
        return "its port is not a number from 1 to 65535"
    if parts.port == 0:
        return "its port is not a number from 1 to 65535"
    if parts.username is not None or parts.password is not None:
        return "it carries credentials; the signature header authenticates deliveries"
    if not url.isascii():
        return "it has characters that are not percent-encoded (use punycode for hosts)"
    try:
        (parts.hostname or "").encode("idna")
    except UnicodeError:
        return "its host is not a valid domain name"
    return None


def check(url: str, *, allow_insecure: bool) -> None:
    """Refuse, at creation, a URL the worker would never deliver to."""
    problem = _malformed(url)
    if problem is not None:
        raise errors.WebhookUrlMalformed(f"url: {problem}", param="url")
    parts = urlsplit(url)
    if allow_insecure:
        return
    if parts.scheme != "https":
        raise errors.WebhookUrlInsecure("url: webhook endpoints must use https", param="url")
    host = parts.hostname or ""
    address = literal_address(host)
    reason = refusal(address) if address is not None else name_refusal(host)
    if reason is not None:
        raise errors.WebhookUrlNotPublic(
            f"url: {address or host} is {reason}; webhooks go to public internet addresses only",
            param="url",
        )
