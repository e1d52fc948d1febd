"""The one seam through which webhooks leave the process: a minimal HTTP/1.1 POST.

Plain asyncio streams (TLS for https), one request per connection, so the worker
needs no HTTP client library at runtime. Only the status code is read back, and no
redirect is followed.

Guarded against server-side request forgery (see domain.webhook_urls): the host is
resolved once, every address it resolves to is checked, and the connection goes to a
checked address itself (TLS still verifies the certificate against the host name), so
a name that resolves elsewhere a moment later is never connected to.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from accounting_api.domain import webhook_urls

Transport = Callable[[str, bytes, Mapping[str, str], float], Awaitable[int]]
"""(url, body, headers, timeout seconds) -> response status code; raises OSError or
TimeoutError when the receiver cannot be reached in time."""

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Refused(OSError):
    """Not sent: plain http, or a host that resolves to an internal address."""


@dataclass(frozen=True, slots=True)
class _Request:
    host: str
    port: int
    tls: bool
    data: bytes


def _host_header(hostname: str, port: int | None) -> str:
    """Host and port only: never the URL's user information."""
    host = f"[{hostname}]" if ":" in hostname else hostname
    return host if port is None else f"{host}:{port}"


def _request(url: str, body: bytes, headers: Mapping[str, str]) -> _Request:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise OSError(f"not an http(s) URL: {url}")
    tls = parts.scheme == "https"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [
        f"POST {target} HTTP/1.1",
        f"Host: {_host_header(parts.hostname, parts.port)}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        "User-Agent: accounting-api-webhooks",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return _Request(parts.hostname, parts.port or (443 if tls else 80), tls, head + body)


async def _resolve(host: str, port: int) -> list[webhook_urls.Address]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    return list(dict.fromkeys(found))


def _check(host: str, addresses: list[webhook_urls.Address]) -> None:
    for address in addresses:
        reason = webhook_urls.refusal(address)
        if reason is not None:
            raise Refused(f"{host} resolves to {address}, {reason}")


async def _connect(request: _Request, addresses: list[webhook_urls.Address]) -> Streams:
    """A connection to the first of the (checked) addresses that accepts one."""
    context = ssl.create_default_context() if request.tls else None
    server_hostname = request.host if request.tls else None
    failure: OSError = OSError(f"{request.host} resolves to no address")
    for address in addresses:
        try:
            return await asyncio.open_connection(
                str(address), request.port, ssl=context, server_hostname=server_hostname
            )
        except OSError as exc:
            failure = exc
    raise failure


async def _exchange(streams: Streams, request: bytes) -> int:
    reader, writer = streams
    try:
        writer.write(request)
        await writer.drain()
        status_line = await reader.readline()
    finally:
        writer.close()
    fields = status_line.decode("latin-1").split()
    if len(fields) < 2 or not fields[1].isdigit():
        raise OSError(f"not an HTTP response: {status_line[:100]!r}")
    return int(fields[1])


@dataclass(frozen=True, slots=True)
class Guarded:
    """The worker's transport: https to public addresses only, unless allow_insecure
    (local development and tests) also lets plain http and internal addresses through."""

    allow_insecure: bool = False

    async def __call__(
        self, url: str, body: bytes, headers: Mapping[str, str], seconds: float
    ) -> int:
        request = _request(url, body, headers)
        if not (request.tls or self.allow_insecure):
            raise Refused("plain http is not allowed, the URL must be https")
        async with asyncio.timeout(seconds):
            addresses = await _resolve(request.host, request.port)
            if not self.allow_insecure:
                _check(request.host, addresses)
            return await _exchange(await _connect(request, addresses), request.data)
