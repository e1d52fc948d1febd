"""An open-loop HTTP load: requests sent at a fixed arrival rate, whatever the answers.

A closed-loop client (wrk, a pool of workers) sends its next request only when an
answer comes back, so a stall slows the sender and the stalled requests that would
have been sent are never measured (coordinated omission). Here request i is due at
`start + i / rate`; it is sent then on an idle keep-alive connection (or as soon as
one frees up), and its latency runs from when it was due, as wrk2 measures it.

An arrival is an operation of some kind (one request, or a few that depend on each
other, such as an invoice's create and finalize), so a mixed load (bench/soak.py) runs the
same way as a single POST repeated (bench/api_bench.py); an operation's latency runs from
its due time to its last answer.

Plain asyncio streams and hand-written HTTP/1.1, so that the client's own CPU per
request stays small beside the server's on a shared machine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int
    path: str
    headers: dict[str, str]
    body: bytes


def post(host: str, port: int, path: str, headers: dict[str, str], body: bytes) -> bytes:
    """An HTTP/1.1 POST, as sent on a keep-alive connection."""
    return request("POST", host, port, path, headers, body)


def request(
    method: str, host: str, port: int, path: str, headers: dict[str, str], body: bytes
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass(slots=True)
class Connection:
    """One keep-alive connection requests are sent on, one at a time (opened again when
    the server closed it while idle, or after a request on it failed)."""

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
        return await self.send("POST", path, body)

    async def get(self, path: str) -> tuple[int, bytes]:
        return await self.send("GET", path, b"")

    async def send(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        if self.reader.at_eof() or self.writer.is_closing():
            self.writer.close()
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(request(method, self.host, self.port, path, self.headers, body))
        try:
            return await answer(self.reader)
        except BaseException:
            self.writer.close()  # the answer's rest would be read as the next one's
            raise

    def close(self) -> None:
        self.writer.close()


Operation = Callable[[Connection], Awaitable[list[int]]]
"""One arrival's work on a connection: the status codes of the requests it sent."""

Arrivals = Callable[[int], tuple[str, Operation]]
"""The kind and the operation of the i-th arrival."""


@dataclass(frozen=True, slots=True)
class Sample:
    kind: str
    due_s: float
    """When it was due, from the start of the run."""
    latency_ms: float
    """From its due time to its last answer."""
    statuses: tuple[int, ...]
    """Of its requests; 0 for one that got no answer (connection lost)."""


@dataclass(frozen=True, slots=True)
class Run:
    samples: list[Sample]
    late_starts: int
    """Arrivals that waited for a free connection past their due time."""


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


async def drive(
    arrivals: Arrivals, rate: float, seconds: float, connections: list[Connection]
) -> Run:
    """Start round(rate * seconds) arrivals at the fixed rate, each on an idle connection
    (or as soon as one frees up); wait for every one to finish."""
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for conn in connections:
        idle.put_nowait(conn)
    samples: list[Sample] = []
    late = 0
    start = time.perf_counter() + 0.05

    async def one(kind: str, operation: Operation, due: float) -> None:
        nonlocal late
        late += idle.empty()
        conn = await idle.get()
        try:
            statuses = await operation(conn)
        except (OSError, asyncio.IncompleteReadError):
            statuses = [0]
        finally:
            idle.put_nowait(conn)
        ms = (time.perf_counter() - due) * 1000
        samples.append(Sample(kind, due - start, ms, tuple(statuses)))

    tasks = []
    for i in range(round(rate * seconds)):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(*arrivals(i), due)))
    await asyncio.gather(*tasks)
    return Run(samples, late)


async def run(target: Target, rate: float, seconds: float, connections: int) -> Result:
    """Send round(rate * seconds) requests at the fixed rate; wait for every answer."""
    pool = [
        await Connection.open(target.host, target.port, target.headers) for _ in range(connections)
    ]

    async def send(conn: Connection) -> list[int]:
        return [(await conn.post(target.path, target.body))[0]]

    try:
        done = await drive(lambda _: ("post", send), rate, seconds, pool)
    finally:
        for conn in pool:
            conn.close()
    latencies = sorted(s.latency_ms for s in done.samples)
    failures = sum(not 200 <= s.statuses[0] < 300 for s in done.samples)
    return Result(latencies, failures, done.late_starts)
