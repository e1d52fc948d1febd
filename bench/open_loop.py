"""An open-loop HTTP load: requests sent at a fixed arrival rate, whatever the answers.

A closed-loop client (wrk, a pool of workers) sends its next request only when an
answer comes back, so a stall slows the sender and the stalled requests that would
have been sent are never measured (coordinated omission). Here request i is due at
`start + i / rate`; it is sent then on an idle keep-alive connection (or as soon as
one frees up), and its latency runs from when it was due, as wrk2 measures it.

Plain asyncio streams and hand-written HTTP/1.1, so that the client's own CPU per
request stays small beside the server's on a shared machine.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int
    path: str
    headers: dict[str, str]
    body: bytes

    def request(self) -> bytes:
        return post(self.host, self.port, self.path, self.headers, self.body)


def post(host: str, port: int, path: str, headers: dict[str, str], body: bytes) -> bytes:
    """An HTTP/1.1 POST, as sent on a keep-alive connection."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass(slots=True)
class Connection:
    """One keep-alive connection a closed-loop client sends its POSTs on, one at a time
    (opened again when the server closed it while idle)."""

    host: str
    port: int
    headers: dict[str, str]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    @classmethod
    async def open(cls, host: str, port: int, headers: dict[str, str]) -> Connection:
        return cls(host, port, headers, *await asyncio.open_connection(host, port))

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """The answer's status code and body."""
        if self.reader.at_eof():
            self.writer.close()
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(post(self.host, self.port, path, self.headers, body))
        return await answer(self.reader)

    def close(self) -> None:
        self.writer.close()


@dataclass(frozen=True, slots=True)
class Result:
    latencies_ms: list[float]
    """From each request's due time to its complete answer, sorted."""
    non_2xx: int
    late_starts: int
    """Requests that waited for a free connection past their due time."""

    def percentile(self, q: float) -> float:
        found = self.latencies_ms
        return found[min(len(found) - 1, int(q * len(found)))] if found else 0.0


async def answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Read one response: its status code and body."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def run(target: Target, rate: float, seconds: float, connections: int) -> Result:
    """Send round(rate * seconds) requests at the fixed rate; wait for every answer."""
    payload = target.request()
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(await asyncio.open_connection(target.host, target.port))
    latencies: list[float] = []
    failures = late = 0

    async def one(due: float) -> None:
        nonlocal failures, late
        reader, writer = await idle.get()
        if time.perf_counter() > due + 0.001:
            late += 1
        writer.write(payload)
        status, _ = await answer(reader)
        latencies.append((time.perf_counter() - due) * 1000)
        failures += not 200 <= status < 300
        idle.put_nowait((reader, writer))

    start = time.perf_counter() + 0.05
    tasks = []
    for i in range(round(rate * seconds)):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    while not idle.empty():
        _, writer = idle.get_nowait()
        writer.close()
    return Result(sorted(latencies), failures, late)
