"""The disk's own fsync latency, measured beside a benchmark step on the same filesystem.

:class:`FsyncProbe` is a thread that appends 4 KiB to a file of its own and
``fsync``s it (what the journal does per batch), ``rate`` times a second,
while the step runs; :meth:`FsyncProbe.stop` returns p50, p99 and max in
microseconds. A step's ack latency is compared with it: an exchange that acks
after its journal's fsync cannot beat the disk.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

__all__ = ["FsyncProbe"]


class FsyncProbe:
    def __init__(self, folder: Path, rate: float = 200.0) -> None:
        self.path = folder / "fsync-probe.bin"
        self.interval = 1 / rate
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fsync-probe", daemon=True)

    def start(self) -> FsyncProbe:
        self._thread.start()
        return self

    def _run(self) -> None:
        block = b"\0" * 4096
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            while not self._stop.wait(self.interval):
                os.write(fd, block)
                start = time.perf_counter_ns()
                os.fsync(fd)
                self.samples.append((time.perf_counter_ns() - start) // 1000)
        finally:
            os.close(fd)

    def stop(self) -> dict[str, int] | None:
        """Stop; p50, p99, max (µs) and the count of syncs measured (None if none)."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.path.unlink(missing_ok=True)
        values = sorted(self.samples)
        if not values:
            return None

        def at(q: float) -> int:
            return values[min(len(values) - 1, int(q * len(values)))]

        return {"p50": at(0.5), "p99": at(0.99), "max": values[-1], "count": len(values)}
