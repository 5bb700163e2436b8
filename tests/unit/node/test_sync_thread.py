"""node/syncs.py's SyncThread: jobs run in the thread in the order given, each answered on the
event loop, with what it raised."""

from __future__ import annotations

import asyncio
import threading

from node.syncs import SyncThread


def test_jobs_run_in_order_off_the_loop_and_answer_on_it() -> None:
    async def run() -> None:
        loop = asyncio.get_running_loop()
        thread = SyncThread("test-sync", loop)
        ran: list[tuple[int, str]] = []
        answers: list[tuple[int, str | None, bool]] = []
        finished = asyncio.Event()

        def job(n: int) -> None:
            ran.append((n, threading.current_thread().name))
            if n == 2:
                raise OSError(5, "the disk failed")

        def done(n: int, error: BaseException | None) -> None:
            on_loop = threading.current_thread() is threading.main_thread()
            answers.append((n, None if error is None else str(error), on_loop))
            if n == 3:
                finished.set()

        for n in (1, 2, 3):
            thread.run(lambda n=n: job(n), lambda error, n=n: done(n, error))  # type: ignore[misc]
        await asyncio.wait_for(finished.wait(), 10)
        thread.close()
        assert ran == [(1, "test-sync"), (2, "test-sync"), (3, "test-sync")]
        assert answers == [(1, None, True), (2, "[Errno 5] the disk failed", True), (3, None, True)]

    asyncio.run(run())
