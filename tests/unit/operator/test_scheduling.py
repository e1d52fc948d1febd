"""Reconcile requests: coalesced, one at a time per platform, bounded, retried."""

from __future__ import annotations

import asyncio

from accounting_operator.scheduling import Key, Scheduler, resync

A: Key = ("ns", "a")
B: Key = ("ns", "b")
C: Key = ("ns", "c")


class Transient(Exception):
    pass


def retry_delay(error: BaseException) -> float | None:
    return 0.001 if isinstance(error, Transient) else None


class Recorder:
    def __init__(self, fail_first: type[Exception] | None = None) -> None:
        self.calls: list[Key] = []
        self.running = 0
        self.most = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_first = fail_first
        self.changed = asyncio.Condition()

    async def until(self, calls: int) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: len(self.calls) >= calls)

    async def __call__(self, key: Key) -> None:
        self.calls.append(key)
        async with self.changed:
            self.changed.notify_all()
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await self.gate.wait()
            if self.fail_first and len(self.calls) == 1:
                raise self.fail_first("first attempt")
        finally:
            self.running -= 1


def scheduler(run: Recorder, concurrency: int = 4) -> Scheduler:
    s = Scheduler(run, retry_delay, concurrency=concurrency, debounce=0.001)
    for key in (A, B, C):
        s.track(key)
    return s


async def test_requests_coalesce() -> None:
    run = Recorder()
    s = scheduler(run)
    for _ in range(5):
        s.request(A)
    await s.drained()
    assert run.calls == [A]


async def test_a_request_during_a_run_reruns_once_afterwards() -> None:
    run = Recorder()
    run.gate.clear()
    s = scheduler(run)
    s.request(A)
    await run.until(1)
    s.request(A)
    s.request(A)
    run.gate.set()
    await s.drained()
    assert run.calls == [A, A]
    assert run.most == 1


async def test_concurrency_is_bounded() -> None:
    run = Recorder()
    s = scheduler(run, concurrency=2)
    run.gate.clear()
    for key in (A, B, C):
        s.request(key)
    await run.until(2)
    await asyncio.sleep(0.01)
    assert len(run.calls) == 2
    run.gate.set()
    await s.drained()
    assert sorted(run.calls) == [A, B, C]
    assert run.most == 2


async def test_retryable_failures_are_retried() -> None:
    run = Recorder(fail_first=Transient)
    s = scheduler(run)
    s.request(A)
    await s.drained()
    assert run.calls == [A, A]


async def test_permanent_failures_are_not_retried() -> None:
    run = Recorder(fail_first=ValueError)
    s = scheduler(run)
    s.request(A)
    await s.drained()
    assert run.calls == [A]


async def test_forgotten_platforms_are_dropped() -> None:
    run = Recorder()
    s = scheduler(run)
    s.request(A)
    s.forget(A)
    await s.drained()
    assert run.calls == []
    assert A not in s
    assert s.known() == [B, C]


async def test_slot_serializes_with_queued_reconciles() -> None:
    run = Recorder()
    s = scheduler(run)
    async with s.slot(A):
        s.request(A)
        await asyncio.sleep(0.01)
        assert run.calls == []  # waits for the handler holding the platform
    await s.drained()
    assert run.calls == [A]


async def test_resync_requests_every_known_platform() -> None:
    run = Recorder()
    s = scheduler(run)
    task = asyncio.create_task(resync(s, 0.001))
    await run.until(3)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await s.close()
    assert set(run.calls) == {A, B, C}
