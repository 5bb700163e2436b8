"""Crash recovery for real: a writer process killed with SIGKILL at random points, many times.

Each round starts ``python -m node.writer`` on the same data directory (it
recovers what the last round left, cutting a torn tail), pipes it a burst of
commands, waits a random few milliseconds and kills it with SIGKILL, mid-batch,
mid-write or mid-fsync as it happens; sometimes a snapshot child is still
writing. After every kill:

- every acknowledged command is in the recovered journal, in order, as sent;
- the journal holds nothing that was not sent (an unacknowledged command may
  be there, if it became durable just before the kill: never a changed one);
- the engine recovered from snapshot plus tail has the state hash of a fresh
  engine fed the whole journal from the genesis.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import msgspec

from model.commands import CancelOrder, Command, Deposit, NewOrder, RunTimers
from node.demo import DEMO_ACCOUNTS, DEMO_INSTRUMENTS
from node.journal import scan
from node.recovery import verify
from node.store import read_genesis

ROOT = Path(__file__).resolve().parents[3]


def _flow(rng: random.Random, count: int) -> list[Command]:
    """Deposits for every demo account, then limit orders around each reference and cancels."""
    out: list[Command] = []
    for account in DEMO_ACCOUNTS:
        out.append(Deposit(0, 0, account, "USD", 100_000_000))
        out.extend(Deposit(0, 0, account, i.base, 100 * 10**8) for i in DEMO_INSTRUMENTS)
    while len(out) < count:
        account = rng.choice(DEMO_ACCOUNTS)
        if rng.random() < 0.2:
            # Order ids are seqs the writer assigns; any recent one will do (or be unknown).
            out.append(CancelOrder(0, 0, account, rng.randint(1, len(out) + 200)))
            continue
        inst = rng.choice(DEMO_INSTRUMENTS)
        side = rng.choice(("buy", "sell"))
        offset = rng.randint(-5, 60)
        price = inst.reference_price - offset if side == "buy" else inst.reference_price + offset
        out.append(NewOrder(0, 0, account, inst.symbol, side, rng.randint(1, 300) * 100, price))
    return out


def _feed(stdin: IO[bytes], lines: list[bytes]) -> None:
    """Write ``lines`` in small chunks, a little apart, until done or the pipe breaks."""
    try:
        for i in range(0, len(lines), 25):
            stdin.write(b"".join(lines[i : i + 25]))
            stdin.flush()
            time.sleep(0.002)
    except (BrokenPipeError, ValueError):
        pass  # killed


def _unstamped(command: Command) -> Command:
    return msgspec.structs.replace(command, seq=0, ts=0)


def _client_commands(data: Path) -> list[Command]:
    """The journal's commands the client sent (not the sequencer's timers), seq/ts cleared."""
    return [_unstamped(c) for c in scan(data / "journal").commands if not isinstance(c, RunTimers)]


def test_sigkill_at_random_points_loses_nothing_acknowledged(tmp_path: Path) -> None:
    rng = random.Random(20_261_121)
    data = tmp_path / "data"
    flow = _flow(rng, 12_000)
    acked_total = 0
    kills_mid_batch = 0
    for round_ in range(14):
        journal = _client_commands(data) if (data / "genesis.tkx").exists() else []
        start = len(journal)  # resume after what the journal holds
        assert start < len(flow), "the flow ran out: raise its size"
        burst = flow[start : start + rng.randint(200, 1_500)]
        every = rng.choice(("0", "40", "150"))
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "node.writer",
                "--data",
                str(data),
                "--snapshot-every",
                every,
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdin is not None and proc.stdout is not None
        lines = [msgspec.json.encode(c) + b"\n" for c in burst]
        feeder = threading.Thread(target=_feed, args=(proc.stdin, lines), daemon=True)
        feeder.start()
        # Kill it after a random number of acknowledgements (0: during start-up and
        # recovery), while the feeder keeps it busy with more.
        target = rng.choice((0, rng.randint(1, len(burst) - 1)))
        seen: list[bytes] = []
        if target:
            while len(seen) < target:
                line = proc.stdout.readline()
                if not line:
                    break
                seen.append(line)
        else:
            time.sleep(rng.random() * 0.3)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        feeder.join()
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else b""
        seen += proc.stdout.read().splitlines(keepends=True)
        acks = [msgspec.json.decode(line) for line in seen]
        assert all("seq" in a for a in acks), acks[:3]
        if not (data / "genesis.tkx").exists():
            assert not acks  # killed before the data directory was even created
            continue
        if len(acks) < len(burst):
            kills_mid_batch += 1
        # Every acknowledged command is there, in order, exactly as sent; the journal
        # holds only what was sent, in the order it was sent.
        after = _client_commands(data)
        assert after[:start] == journal, f"round {round_}: the journal's past changed"
        assert len(after) >= start + len(acks), f"round {round_}: acknowledged commands lost"
        assert after == [_unstamped(c) for c in flow[: len(after)]], f"round {round_}: foreign data"
        acked_total += len(acks)
        # Snapshot plus tail gives what replaying the whole journal gives.
        recovered = verify(data)
        fresh = read_genesis(data).build()
        for command in scan(data / "journal").commands:
            fresh.process(command)
        assert recovered.engine.state_hash() == fresh.state_hash(), f"round {round_}"
    # The kills did land mid-flow, and something was acknowledged along the way.
    assert kills_mid_batch >= 5 and acked_total > 1_000, (kills_mid_batch, acked_total)
