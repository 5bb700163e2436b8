"""The settlement status report: what ``tokex settlement status`` prints and the operator
WebSocket method ``settlement_status`` answers (the same keys).

* ``queue``: the backend, and its depth: messages (and, where the backend
  can count them, trades) after the ledger's position;
* ``lag``: trades the engine made that the ledger has not booked, and
  seconds since the oldest message still waiting was handed to the queue;
* ``position`` and ``last_settled_trade``: how far the ledger is;
* ``instructions``: how many are pending, submitted, confirmed and failed;
* ``netting``: the window still gathering trades, if any (its instructions
  come when it closes);
* ``reconciliation``: ``ok``, the engine seq it holds at, how many
  balances were compared, and the differences (none expected): by replay of
  the journal in the command, continuously (batch by batch) in the server.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from settlement.instructions import counts
from settlement.ledger import connect

__all__ = ["build", "continuous", "ledger_balances", "ledger_view", "open_view", "render"]

_SHOWN = 20
"""Differences listed at most (the count is always given)."""


def open_view(path: Path) -> sqlite3.Connection:
    """A connection for reading a ledger (the file and its schema are created if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return connect(path)


def _time(ns: int) -> str | None:
    if not ns:
        return None
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S") + (
        f".{ns % 1_000_000_000:09d}Z"
    )


def ledger_view(db: sqlite3.Connection) -> dict[str, Any]:
    """The ledger's position, its last trade, instruction counts and continuous checks."""
    (seq, cursor, messages, trades, last_trade_id, booked_ns, checked, mismatched) = db.execute(
        "SELECT seq, cursor, messages, trades, last_trade_id, booked_ns, checked, mismatched"
        " FROM position"
    ).fetchone()
    last = db.execute(
        "SELECT trade_id, seq, ts, symbol, price, qty, buyer, seller FROM trades"
        " WHERE trade_id = ?",
        (last_trade_id,),
    ).fetchone()
    mismatches = [
        {"seq": s, "account": a, "asset": x, "ledger": lv, "engine": ev}
        for s, a, x, lv, ev in db.execute(
            "SELECT seq, account, asset, ledger, engine FROM mismatches ORDER BY id LIMIT ?",
            (_SHOWN,),
        )
    ]
    window = db.execute(
        "SELECT id, start_ts FROM windows WHERE closed_seq IS NULL ORDER BY id LIMIT 1"
    ).fetchone()
    return {
        "open_window": None if window is None else {"id": window[0], "start": _time(window[1])},
        "seq": seq,
        "cursor": cursor,
        "messages": messages,
        "trades": trades,
        "booked_ns": booked_ns,
        "checked": checked,
        "mismatched": mismatched,
        "mismatches": mismatches,
        "last_trade": None
        if last is None
        else {
            "trade_id": last[0],
            "seq": last[1],
            "time": _time(last[2]),
            "symbol": last[3],
            "price": last[4],
            "qty": last[5],
            "buyer": last[6],
            "seller": last[7],
        },
        "instructions": counts(db),
    }


def ledger_balances(db: sqlite3.Connection) -> dict[tuple[str, str], int]:
    """The ledger's non-zero balances of the engine's accounts (system accounts left out)."""
    return {
        (a, s): b
        for a, s, b in db.execute(
            "SELECT account, asset, balance FROM balances WHERE balance != 0"
            " AND account NOT LIKE '@%'"
        )
    }


def build(
    backend: str,
    view: dict[str, Any],
    depth: tuple[int, int | None],
    engine_trades: int,
    now_ns: int,
    reconciliation: list[dict[str, Any]],
) -> dict[str, Any]:
    """The report (plain JSON-able data) from its parts.

    ``depth``: messages after the ledger's position, and when the first of
    them was fed (None: unknown or none); ``engine_trades``: trades the
    engine has made; ``reconciliation``: the results of :func:`continuous`
    and, where it was run, the replay.
    """
    messages, first_fed = depth
    waited = 0 if first_fed is None or not messages else max(0, now_ns - first_fed)
    return {
        "queue": {"backend": backend, "depth_messages": messages},
        "lag": {
            "trades": max(0, engine_trades - view["trades"]),
            "seconds": float(Decimal(waited).scaleb(-9).quantize(Decimal("0.001"))),
        },
        "position": {"seq": view["seq"], "messages": view["messages"], "trades": view["trades"]},
        "last_settled_trade": view["last_trade"],
        "instructions": view["instructions"],
        "netting": {"open_window": view["open_window"]},
        "reconciliation": {
            "ok": all(r["ok"] for r in reconciliation),
            "results": reconciliation,
        },
    }


def continuous(view: dict[str, Any]) -> dict[str, Any]:
    """The reconciliation as the worker checked it batch by batch."""
    return {
        "ok": view["mismatched"] == 0,
        "method": "continuous",
        "at_seq": view["seq"],
        "compared": view["checked"],
        "differences": view["mismatches"],
        "difference_count": view["mismatched"],
    }


def render(report: dict[str, Any]) -> str:
    """The human-readable form of a report."""
    q, lag, pos = report["queue"], report["lag"], report["position"]
    lines = [
        f"queue: {q['backend']}, depth {q['depth_messages']:,} messages",
        f"lag: {lag['trades']:,} trades, {lag['seconds']:.3f} s",
        f"position: seq {pos['seq']:,} ({pos['messages']:,} messages, {pos['trades']:,} trades)",
    ]
    last = report["last_settled_trade"]
    if last is None:
        lines.append("last settled trade: none")
    else:
        lines.append(
            f"last settled trade: {last['trade_id']} at seq {last['seq']} ({last['time']},"
            f" {last['symbol']}, {last['buyer']} bought from {last['seller']})"
        )
    ins = report["instructions"]
    lines.append("instructions: " + ", ".join(f"{n:,} {s}" for s, n in ins.items()))
    window = report["netting"]["open_window"]
    lines.append(
        "netting: no window open"
        if window is None
        else f"netting: window {window['id']} open since {window['start']}"
    )
    for rec in report["reconciliation"]["results"]:
        verdict = "reconciled" if rec["ok"] else "NOT RECONCILED"
        lines.append(
            f"reconciliation ({rec['method']}): {verdict} at seq {rec['at_seq']:,},"
            f" {rec['compared']:,} balances compared, {rec['difference_count']} differences"
        )
        lines += [
            f"  {d['account']} {d['asset']}: ledger {d['ledger']}, engine {d['engine']}"
            for d in rec["differences"]
        ]
    return "\n".join(lines)
