"""Run the peer ``fastlob`` (PyPI, pinned 0.0.24) on a tokex peer-flow ops file.

Runs INSIDE the peer's venv: stdlib plus ``fastlob`` only.

Usage::

    python runner_fastlob.py OPS_JSON [--runs R] [--latency]

fastlob works in ``Decimal`` with 2 decimals (its defaults), has no accounts
and assigns its own random string order ids. Mapping of the ops:

* ``["L", oid, side, price, qty, acct]`` -> ``ob.process(OrderParams(side,
  Decimal(price).scaleb(-2), Decimal(qty), OrderType.GTC))``: price ticks of
  0.01 become the 2-decimal price, 1 lot = 1 unit. fastlob matches an order
  that crosses and rests the remainder, i.e. a GTC limit. The returned
  fastlob id is stored in a dict keyed by ``oid`` (client-side id map; this
  dict store is inside the timed loop, as a real client of fastlob needs it).
* ``["M", oid, side, qty, acct]`` -> fastlob has no market or IOC type (only
  GTC, GTD, FOK). The faithful equivalent used here is an aggressive GTC
  limit at the extreme price (buy at ``MAX_VALUE`` = 1e11, sell at the
  0.01 tick), which crosses every level, followed, only when something of it
  is left on the book (result kind ``PARTIAL_MARKET``, or ``LIMIT`` when the
  opposite side was empty), by an immediate ``ob.cancel`` of that remainder.
  That is market-IOC semantics: fill what is there, cancel the rest. FOK was
  not used because it kills the whole order when liquidity is short. Both
  calls count as one command and are timed together.
* ``["C", oid, acct]`` -> ``ob.cancel(<fastlob id of oid>)``. The account is
  dropped (fastlob has no owners, and so no self-trade prevention either).

Known fastlob 0.0.24 defect, visible in the report: a resting order filled
whole by ``engine.fill_whole_orders`` is popped from its level without being
marked filled, so a later cancel of it is accepted, corrupts the level's
count and volume (and can drop the level with live orders in it), or raises
``KeyError`` when its level is gone. Such a ``KeyError`` is caught and counted
in ``cancel_errors``; the run goes on. ``resting_orders_end`` is fastlob's own
per-level count of valid orders at the end, so it reflects that drift.

``trades`` counts maker fills like the other peers: per command, fastlob's
``n_orders_matched`` plus one for a partially filled head order (a call of
``Limit.fill_next``). It comes from an extra, untimed audit pass with that
method wrapped; the timed passes run fastlob unmodified.

Logging is disabled (``logging.disable(CRITICAL)``) for the whole process, so
fastlob's per-order log calls return at the first check. Each engine is
``Orderbook(start=True)`` (which starts its GTD-expiry thread, waking every
0.1 s) and is stopped after its pass.

All commands are built before any timing. Each of the R runs processes them
on a fresh book inside one ``perf_counter_ns`` pair (throughput). With
``--latency`` one more pass on a fresh book times each command on its own;
percentiles are nearest-rank over the exact sorted list. The garbage collector
keeps the interpreter defaults. Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import math
import platform
import sys
import time
from decimal import Decimal
from typing import Any

from fastlob import Orderbook, OrderParams, OrderSide, OrderType, ResultType
from fastlob.consts import MAX_VALUE, TICK_SIZE_PRICE
from fastlob.limit import Limit

PEER = "fastlob"
DIST = "fastlob"
SIDES = {"buy": OrderSide.BID, "sell": OrderSide.ASK}
LIMIT, MARKET, CANCEL = 0, 1, 2
RESULT_MARKET = ResultType.MARKET


def load_ops(path: str) -> list[list[Any]]:
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or not isinstance(doc.get("ops"), list):
        raise SystemExit(f"{path}: expected a JSON object with an 'ops' list")
    return doc["ops"]


def convert(ops: list[list[Any]]) -> list[tuple[int, int, OrderParams | None]]:
    """Ops -> ``(kind, oid, params)``; params are reusable (fastlob copies them)."""
    out: list[tuple[int, int, OrderParams | None]] = []
    for i, op in enumerate(ops):
        kind = op[0]
        if kind == "L":
            _, oid, side, price, qty, _acct = op
            params = OrderParams(
                SIDES[side], Decimal(price).scaleb(-2), Decimal(qty), OrderType.GTC
            )
            out.append((LIMIT, oid, params))
        elif kind == "M":
            _, oid, side, qty, _acct = op
            s = SIDES[side]
            price = MAX_VALUE if s is OrderSide.BID else TICK_SIZE_PRICE
            out.append((MARKET, oid, OrderParams(s, price, Decimal(qty), OrderType.GTC)))
        elif kind == "C":
            _, oid, _acct = op
            out.append((CANCEL, oid, None))
        else:
            raise SystemExit(f"op {i}: unknown kind {kind!r}")
    return out


def percentile(sorted_ns: list[int], p: float) -> int:
    """Nearest-rank percentile: the smallest value with at least p% of values <= it."""
    rank = max(1, math.ceil(p / 100.0 * len(sorted_ns)))
    return sorted_ns[rank - 1]


def timed_run(cmds: list[tuple[int, int, OrderParams | None]]) -> tuple[int, int]:
    """One pass on a fresh book in a single timer; returns (elapsed ns, cancel errors)."""
    ob = Orderbook(start=True)
    process, cancel = ob.process, ob.cancel
    ids: dict[int, str] = {}
    errors = 0
    perf = time.perf_counter_ns
    t0 = perf()
    for kind, oid, params in cmds:
        if kind == LIMIT:
            ids[oid] = process(params).orderid()
        elif kind == MARKET:
            res = process(params)
            if res.kind() is not RESULT_MARKET:
                cancel(res.orderid())
        else:
            try:
                cancel(ids.get(oid, ""))
            except KeyError:
                errors += 1
    t1 = perf()
    ob.stop()
    return t1 - t0, errors


def latency_run(cmds: list[tuple[int, int, OrderParams | None]]) -> list[int]:
    """One pass on a fresh book timing each command on its own (ns)."""
    ob = Orderbook(start=True)
    process, cancel = ob.process, ob.cancel
    ids: dict[int, str] = {}
    perf = time.perf_counter_ns
    lat: list[int] = []
    append = lat.append
    errors = 0
    for kind, oid, params in cmds:
        t0 = perf()
        if kind == LIMIT:
            ids[oid] = process(params).orderid()
        elif kind == MARKET:
            res = process(params)
            if res.kind() is not RESULT_MARKET:
                cancel(res.orderid())
        else:
            try:
                cancel(ids.get(oid, ""))
            except KeyError:
                errors += 1  # counted by the audit pass; the command's time still counts
        append(perf() - t0)
    ob.stop()
    return lat


def audit_run(cmds: list[tuple[int, int, OrderParams | None]]) -> tuple[int, int, int]:
    """Untimed pass counting (trades, resting orders at the end, cancel errors)."""
    partial_fills = 0
    original = Limit.fill_next

    def counting_fill_next(self: Limit, quantity: Decimal) -> None:
        nonlocal partial_fills
        partial_fills += 1
        original(self, quantity)

    Limit.fill_next = counting_fill_next  # type: ignore[method-assign]
    try:
        ob = Orderbook(start=True)
        ids: dict[int, str] = {}
        matched = errors = 0
        for kind, oid, params in cmds:
            if kind == CANCEL:
                try:
                    ob.cancel(ids.get(oid, ""))
                except KeyError:
                    errors += 1
                continue
            res = ob.process(params)
            matched += res.n_orders_matched()
            if kind == LIMIT:
                ids[oid] = res.orderid()
            elif res.kind() is not RESULT_MARKET:
                ob.cancel(res.orderid())
        ob.stop()
    finally:
        Limit.fill_next = original  # type: ignore[method-assign]
    resting = sum(lim.valid_orders() for lim in ob._bidside.limits())
    resting += sum(lim.valid_orders() for lim in ob._askside.limits())
    return matched + partial_fills, resting, errors


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ops_json")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--latency", action="store_true")
    ap.add_argument(
        "--count-mode",
        choices=("setup", "once"),
        help="for instruction counting: only build the commands, or build and run them once",
    )
    args = ap.parse_args(argv)
    if args.runs < 1:
        raise SystemExit("--runs must be >= 1")

    logging.disable(logging.CRITICAL)
    cmds = convert(load_ops(args.ops_json))
    if args.count_mode is not None:
        if args.count_mode == "once":
            timed_run(cmds)
        return 0
    n = len(cmds)
    throughput = []
    for _ in range(args.runs):
        elapsed, _errors = timed_run(cmds)
        throughput.append(n / (elapsed / 1e9) if elapsed else 0.0)

    trades, resting, cancel_errors = audit_run(cmds)

    latency = None
    if args.latency:
        lat = latency_run(cmds)
        lat.sort()
        latency = (
            {
                "p50": percentile(lat, 50),
                "p99": percentile(lat, 99),
                "p999": percentile(lat, 99.9),
                "max": lat[-1],
            }
            if lat
            else {"p50": 0, "p99": 0, "p999": 0, "max": 0}
        )

    report = {
        "peer": PEER,
        "version": importlib.metadata.version(DIST),
        "python": platform.python_version(),
        "commands": n,
        "runs": args.runs,
        "throughput_cmd_s": throughput,
        "latency_ns": latency,
        "resting_orders_end": resting,
        "trades": trades,
        "cancel_errors": cancel_errors,
        "market_mapping": "GTC limit at the extreme price, remainder cancelled at once",
    }
    sys.stdout.write(json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
