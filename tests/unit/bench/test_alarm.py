"""The load generator's :class:`bench.wsload.Alarm`: wakes its event loop at an instant,
never before it, and one wait after another."""

from __future__ import annotations

import asyncio
import time

from bench.wsload import Alarm


def test_the_alarm_never_wakes_the_loop_before_its_instant() -> None:
    async def run() -> list[tuple[int, int]]:
        alarm = Alarm(asyncio.get_running_loop())
        woke: list[tuple[int, int]] = []
        try:
            start = time.monotonic_ns()
            for i in range(1, 30):
                due = start + i * 700_000  # every 0.7 ms, finer than the loop's own timers
                await alarm.sleep_until(due)
                woke.append((due, time.monotonic_ns()))
            # An instant already past returns at once (on the next turn of the loop).
            await alarm.sleep_until(time.monotonic_ns() - 1_000_000)
        finally:
            alarm.stop()
        return woke

    woke = asyncio.run(run())
    assert len(woke) == 29
    assert all(at >= due for due, at in woke)


def test_a_stopped_alarm_ends_its_thread() -> None:
    async def run() -> Alarm:
        alarm = Alarm(asyncio.get_running_loop())
        await alarm.sleep_until(time.monotonic_ns() + 100_000)
        alarm.stop()
        return alarm

    alarm = asyncio.run(run())
    assert not alarm._thread.is_alive()
