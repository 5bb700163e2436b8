"""pytest-benchmark micro-benchmarks of the engine's hot functions.

Run apart from the test suite: ``make bench-micro`` (``pytest bench/micro``).
Each benchmark starts from a book of 10,000 resting orders over 100 levels a
side, so levels already exist as they do in a live market.
"""

from __future__ import annotations

from itertools import count
from typing import Any

import msgspec

from bench.workloads import BENCH_SYMBOL, bench_engine
from engine.engine import Engine
from engine.events import Event
from model.commands import CancelOrder, Command, NewOrder, Side

MID = 100_000


def _loaded() -> tuple[Engine, count[int]]:
    engine = bench_engine()
    seq = count(1)
    for i in range(10_000):
        side: Side = "buy" if i % 2 else "sell"
        price = MID - 1 - i % 100 if side == "buy" else MID + 1 + i % 100
        engine.process(NewOrder(next(seq), 0, f"a{i % 97}", BENCH_SYMBOL, side, 10, price))
    return engine, seq


def test_rest_a_limit_order(benchmark: Any) -> None:
    engine, seq = _loaded()

    def rest() -> None:
        n = next(seq)
        engine.process(NewOrder(n, 0, "m", BENCH_SYMBOL, "buy", 5, MID - 1 - n % 100))

    benchmark(rest)


def test_cancel_a_resting_order(benchmark: Any) -> None:
    engine, seq = _loaded()

    def setup() -> tuple[tuple[Command], dict[str, Any]]:
        n = next(seq)
        engine.process(NewOrder(n, 0, "m", BENCH_SYMBOL, "buy", 5, MID - 1 - n % 100))
        return (CancelOrder(next(seq), 0, "m", n),), {}

    benchmark.pedantic(engine.process, setup=setup, rounds=20_000)


def test_match_one_level(benchmark: Any) -> None:
    engine, seq = _loaded()

    def setup() -> tuple[tuple[Command], dict[str, Any]]:
        engine.process(NewOrder(next(seq), 0, "m", BENCH_SYMBOL, "sell", 5, MID + 1))
        return (NewOrder(next(seq), 0, "t", BENCH_SYMBOL, "buy", 5, MID + 1),), {}

    benchmark.pedantic(engine.process, setup=setup, rounds=20_000)


_COMMAND = NewOrder(1, 2, "alice", BENCH_SYMBOL, "buy", 5, MID, cl_ord_id="c-1")
_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Command)


def test_encode_command(benchmark: Any) -> None:
    benchmark(_ENCODER.encode, _COMMAND)


def test_decode_command(benchmark: Any) -> None:
    data = _ENCODER.encode(_COMMAND)
    assert _DECODER.decode(data) == _COMMAND
    benchmark(_DECODER.decode, data)


def test_encode_events(benchmark: Any) -> None:
    engine = bench_engine()
    events: list[Event] = engine.process(_COMMAND)
    benchmark(_ENCODER.encode, events)
