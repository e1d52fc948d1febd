"""What the soak (bench/soak.py) samples once a second while its load runs: the summed
RSS and CPU time of uvicorn's worker processes, the CPU time of the PostgreSQL server
the API uses (its postmaster and every process it started), and the load average.

CPU per operation tells the API's own growth apart from the machine's: on a shared
machine, other work lengthens every latency, but not the CPU each operation costs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import statistics
import time
from dataclasses import dataclass, field

from bench import api_bench, processes


@dataclass(frozen=True, slots=True)
class Reading:
    at_s: float
    """Since the probe started."""
    rss_kb: int
    api_cpu_s: float
    postgres_cpu_s: float
    load: float


def workers(server: int) -> list[int]:
    """uvicorn's worker processes: the server's children that run multiprocessing's
    spawn_main (not its resource tracker)."""
    found = []
    for pid in api_bench.family(server)[1:]:
        with contextlib.suppress(OSError):  # an exiting process
            if b"spawn_main" in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
    return found


def rss_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, KeyError):
            total += processes.memory_kb(pid)["VmRSS"]
    return total


@dataclass
class Probe:
    server: int
    postmaster: int
    readings: list[Reading] = field(default_factory=list)

    @classmethod
    async def of(cls, server: int) -> Probe:
        return cls(server, await api_bench.postmaster_pid(os.environ["DATABASE_URL"]))

    async def run(self) -> None:
        """A reading every second until cancelled."""
        started = time.perf_counter()
        while True:
            self.readings.append(self.read(time.perf_counter() - started))
            await asyncio.sleep(1.0)

    def read(self, at_s: float) -> Reading:
        pids = workers(self.server)
        return Reading(
            at_s,
            rss_kb(pids),
            api_bench.cpu_seconds(pids),
            api_bench.server_cpu_seconds(self.postmaster),
            processes.loadavg(),
        )

    def within(self, span: tuple[float, float]) -> list[Reading]:
        """The span's readings; the one nearest its start if none falls in it (a minute
        shorter than a second, with a very short SOAK_SECONDS)."""
        found = [r for r in self.readings if span[0] <= r.at_s < span[1]]
        return found or [min(self.readings, key=lambda r: abs(r.at_s - span[0]))]

    def rss_mb(self, span: tuple[float, float]) -> float:
        """The median of the span's readings."""
        return statistics.median(r.rss_kb for r in self.within(span)) / 1024

    def load(self, span: tuple[float, float]) -> float:
        return statistics.fmean(r.load for r in self.within(span))

    def cpu_s(self, span: tuple[float, float]) -> tuple[float, float]:
        """CPU seconds of the API's workers and of PostgreSQL from the span's first reading
        to its last (a worker that a restart replaced would make it wrong: none is)."""
        found = self.within(span)
        first, last = found[0], found[-1]
        return last.api_cpu_s - first.api_cpu_s, last.postgres_cpu_s - first.postgres_cpu_s
