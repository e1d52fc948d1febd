"""The one seam through which webhooks leave the process: a minimal HTTP/1.1 POST.

Plain asyncio streams (TLS for https), one request per connection, so the worker
needs no HTTP client library at runtime. Only the status code is read back.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import urlsplit

Transport = Callable[[str, bytes, Mapping[str, str], float], Awaitable[int]]
"""(url, body, headers, timeout seconds) -> response status code; raises OSError or
TimeoutError when the receiver cannot be reached in time."""


def _request(url: str, body: bytes, headers: Mapping[str, str]) -> tuple[str, int, bool, bytes]:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise OSError(f"not an http(s) URL: {url}")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [
        f"POST {target} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        "User-Agent: accounting-api-webhooks",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return parts.hostname, port, tls, head + body


async def _exchange(host: str, port: int, tls: bool, request: bytes) -> int:
    context = ssl.create_default_context() if tls else None
    reader, writer = await asyncio.open_connection(host, port, ssl=context)
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


async def post(url: str, body: bytes, headers: Mapping[str, str], seconds: float) -> int:
    host, port, tls, request = _request(url, body, headers)
    async with asyncio.timeout(seconds):
        return await _exchange(host, port, tls, request)
