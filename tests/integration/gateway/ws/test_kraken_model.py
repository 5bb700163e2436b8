"""Kraken's event model and shapes on the WebSocket API (WS_API.md, as amended for issue 17).

Against a real ``tokex serve``: every fill a ``trade`` event and the completion
a separate ``filled`` event, one event per message, every event carrying the
order's identity and state; snapshots of open orders and of the last fills
(also after a restart); one subscribe answer per symbol with the symbol as a
string, symbols in any case; no number in exponent form.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.integration.gateway.ws.client import Client, connect, server

S = "AAPLx/USD"


async def _executions(c: Client, n: int) -> list[dict[str, Any]]:
    """The next ``n`` executions messages (each must carry exactly one event)."""
    out = []
    while len(out) < n:
        msg = await c.recv()
        if msg.get("channel") != "executions":
            continue
        assert len(msg["data"]) == 1, msg
        out.append(msg)
    return out


def test_a_multi_fill_market_order_reports_every_fill_then_filled_and_snapshots_them(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"

    async def trade(port: int) -> str:
        mm, alice = await connect(port), await connect(port)
        await mm.login("mm")
        await alice.login("alice")
        for price, qty in (("230.00", "0.1"), ("230.50", "0.2"), ("231.00", "0.3")):
            placed = await mm.call(
                "add_order", symbol=S, side="sell", order_type="limit",
                order_qty=qty, limit_price=price,
            )  # fmt: skip
            assert placed["success"], placed
        sub = await alice.call("subscribe", channel="executions", snap_trades=True)
        assert sub["result"]["snap_trades"] is True
        # No order and no fill yet: two empty snapshots (orders, then fills).
        snaps = [await alice.recv() for _ in range(2)]
        assert [(m["type"], m["data"], m["sequence"]) for m in snaps] == [
            ("snapshot", [], 1), ("snapshot", [], 2)
        ]  # fmt: skip
        placed = await alice.call(
            "add_order", symbol=S, side="buy", order_type="market", order_qty="0.6",
            order_userref=7, cl_ord_id="mkt-1",
        )  # fmt: skip
        assert placed["success"], placed
        msgs = await _executions(alice, 5)
        assert [m["sequence"] for m in msgs] == [3, 4, 5, 6, 7]
        events = [m["data"][0] for m in msgs]
        assert [e["exec_type"] for e in events] == ["new", "trade", "trade", "trade", "filled"]
        for e in events:  # the identity and state on every event
            assert e["order_id"] == placed["result"]["order_id"]
            assert (e["cl_ord_id"], e["order_userref"], e["symbol"]) == ("mkt-1", 7, S)
            assert (e["side"], e["order_type"]) == ("buy", "market")
            for name in ("order_status", "cum_qty", "cum_cost", "avg_price", "timestamp"):
                assert name in e, (name, e)
        fills = events[1:4]
        assert [f["last_price"] for f in fills] == [230.0, 230.5, 231.0]
        assert [f["cum_qty"] for f in fills] == [0.1, 0.3, 0.6]
        assert [f["cum_cost"] for f in fills] == [23.0, 69.1, 138.4]
        assert [f["order_status"] for f in fills] == ["partially_filled"] * 2 + ["filled"]
        assert [f["trade_id"] for f in fills] == [1, 2, 3]
        assert all(f["liquidity_ind"] == "t" and f["fees"][0]["asset"] == "USD" for f in fills)
        done = events[4]
        assert done["order_status"] == "filled" and "last_qty" not in done
        assert (done["cum_qty"], done["cum_cost"], done["avg_price"]) == (0.6, 138.4, 230.67)
        await alice.ws.close()
        await mm.ws.close()
        return str(placed["result"]["order_id"])

    async def after_restart(port: int, order_id: str) -> None:
        alice = await connect(port)
        await alice.login("alice")
        await alice.call("subscribe", channel="executions", snap_trades=True)
        orders, trades = [await alice.recv() for _ in range(2)]
        assert orders["data"] == []
        assert [t["exec_type"] for t in trades["data"]] == ["trade"] * 3
        assert [t["trade_id"] for t in trades["data"]] == [1, 2, 3]
        assert [t["cum_qty"] for t in trades["data"]] == [0.1, 0.3, 0.6]
        assert {t["order_id"] for t in trades["data"]} == {order_id}
        assert {t["cl_ord_id"] for t in trades["data"]} == {"mkt-1"}
        assert {t["order_type"] for t in trades["data"]} == {"market"}
        await alice.ws.close()

    with server(data) as (port, _):
        order_id = asyncio.run(trade(port))
    with server(data) as (port, _):
        asyncio.run(after_restart(port, order_id))


def test_a_part_filled_open_order_is_snapshotted_as_partially_filled(tmp_path: Path) -> None:
    async def scenario(port: int) -> None:
        alice, bob = await connect(port), await connect(port)
        await alice.login("alice")
        await bob.login("bob")
        placed = await alice.call(
            "add_order", symbol=S, side="buy", order_qty="1", limit_price="229.00",
            cl_ord_id="rest-1",
        )  # fmt: skip
        await bob.call("add_order", symbol=S, side="sell", order_qty="0.25", limit_price="229")
        await alice.call("subscribe", channel="executions")
        snap = await alice.recv()
        [item] = snap["data"]
        assert item["order_id"] == placed["result"]["order_id"]
        assert (item["exec_type"], item["order_status"]) == ("new", "partially_filled")
        assert (item["cum_qty"], item["leaves_qty"], item["cl_ord_id"]) == (0.25, 0.75, "rest-1")
        assert (item["cum_cost"], item["avg_price"]) == (57.25, 229.0)
        assert "timestamp" in item
        amended = await alice.call("amend_order", order_id=item["order_id"], order_qty="0.5")
        assert amended["success"], amended
        [event] = (await _executions(alice, 1))[0]["data"]
        assert (event["exec_type"], event["order_status"]) == ("amended", "partially_filled")
        assert (event["cum_qty"], event["order_qty"]) == (0.25, 0.5)
        for c in (alice, bob):
            await c.ws.close()

    with server(tmp_path / "data") as (port, _):
        asyncio.run(scenario(port))


def test_subscribe_answers_once_per_symbol_and_takes_symbols_in_any_case(tmp_path: Path) -> None:
    async def scenario(port: int) -> None:
        c = await connect(port)
        await c.ws.send(
            json.dumps(
                {
                    "method": "subscribe",
                    "params": {"channel": "book", "symbol": ["aaplx/usd", "SPYx/USD"]},
                    "req_id": 5,
                }
            )
        )
        got = [await c.recv() for _ in range(4)]
        answers = [m for m in got if m.get("method") == "subscribe"]
        books = [m for m in got if m.get("channel") == "book"]
        assert [a["result"]["symbol"] for a in answers] == ["aaplx/usd", "SPYx/USD"]
        assert all(a["req_id"] == 5 and a["success"] for a in answers)
        # The pushes carry the client's own spelling (clients key their books on it).
        assert [b["data"][0]["symbol"] for b in books] == ["aaplx/usd", "SPYx/USD"]
        gone = await c.call("unsubscribe", channel="book", symbol=["aaplx/usd"])
        assert gone["result"]["symbol"] == "aaplx/usd"
        await c.ws.close()

    with server(tmp_path / "data") as (port, _):
        asyncio.run(scenario(port))


def test_balances_and_ledger_never_write_numbers_in_exponent_form(tmp_path: Path) -> None:
    async def scenario(port: int) -> None:
        bob, alice = await connect(port), await connect(port)
        await bob.login("bob")
        await alice.login("alice")
        await bob.ws.send(json.dumps({"method": "subscribe", "params": {"channel": "balances"}}))
        texts = [await asyncio.wait_for(bob.ws.recv(), 10) for _ in range(2)]
        # Tiny amounts: 0.0001 AAPLx moves 0.00010000 of an 8-decimal asset.
        await alice.call("add_order", symbol=S, side="sell", order_qty="0.0100", limit_price="230")
        await bob.call("add_order", symbol=S, side="buy", order_qty="0.0100", limit_price="230")
        while True:
            text = await asyncio.wait_for(bob.ws.recv(), 10)
            texts.append(str(text))
            if json.loads(text).get("channel") == "balances" and '"update"' in str(text):
                break
        snapshot = json.loads(texts[1])
        assert snapshot["type"] == "snapshot"
        # Nothing held in an 8-decimal token: written out in full, not as 0E-8.
        assert '"asset":"AAPLx","balance":100.00000000,"hold_trade":0.00000000' in texts[1]
        for text in texts:
            assert "E-" not in str(text) and "e-" not in str(text), text
        for c in (alice, bob):
            await c.ws.close()

    with server(tmp_path / "data") as (port, _):
        asyncio.run(scenario(port))


def test_ohlc_bars_of_one_and_five_minutes_from_trades(tmp_path: Path) -> None:
    async def scenario(port: int) -> None:
        ops, watcher, alice, bob = [await connect(port) for _ in range(4)]
        for c, name in ((ops, "ops"), (alice, "alice"), (bob, "bob")):
            await c.login(name)
        await bob.call("add_order", symbol=S, side="sell", order_qty="1", limit_price="231")
        await alice.call("add_order", symbol=S, side="buy", order_qty="0.2", limit_price="231")
        for minutes in (1, 5):
            sub = await watcher.call("subscribe", channel="ohlc", symbol=[S], interval=minutes)
            assert sub["result"] == {
                "channel": "ohlc", "symbol": S, "interval": minutes, "snapshot": True
            }  # fmt: skip
            snap = await watcher.recv()
            [bar] = snap["data"]
            assert (snap["type"], bar["interval"], bar["trades"], bar["volume"]) == (
                "snapshot", minutes, 1, 0.2
            )  # fmt: skip
            assert bar["interval_begin"] == "2026-11-23T15:00:00.000000Z"
        # 90 seconds on: a new one-minute bar, the same five-minute bar.
        assert (await ops.call("clock_advance", seconds=90))["success"]
        await alice.login("alice")
        await bob.login("bob")
        await bob.call("add_order", symbol=S, side="sell", order_qty="0.1", limit_price="230")
        await alice.call("add_order", symbol=S, side="buy", order_qty="0.3", limit_price="231")
        updates = []
        while len(updates) < 2:
            msg = await watcher.recv()
            if msg.get("channel") == "ohlc":
                updates.append(msg["data"][0])
        by = {u["interval"]: u for u in updates}
        one, five = by[1], by[5]
        assert (one["interval_begin"], one["trades"], one["volume"]) == (
            "2026-11-23T15:01:00.000000Z", 2, 0.3
        )  # fmt: skip
        assert (one["open"], one["high"], one["low"], one["close"]) == (230, 231, 230, 231)
        assert (five["interval_begin"], five["trades"], five["volume"]) == (
            "2026-11-23T15:00:00.000000Z", 3, 0.5
        )  # fmt: skip
        # (0.2 x 231 + 0.1 x 230 + 0.2 x 231) / 0.5
        assert five["vwap"] == 230.8
        bad = await watcher.call("subscribe", channel="ohlc", symbol=[S], interval=2)
        assert bad["error"].startswith("EGeneral:Invalid arguments:interval 2")
        for c in (ops, watcher, alice, bob):
            await c.ws.close()

    with server(tmp_path / "data") as (port, _):
        asyncio.run(scenario(port))
