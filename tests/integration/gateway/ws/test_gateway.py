"""The WebSocket gateway for real: ``tokex serve`` in its own process, real clients on loopback.

Each test starts the server on the built-in demo config with a fresh data
directory and port 0, reads the port it prints, and talks to it with the
``websockets`` client. What is covered so far: connect status, ping, login
(and its failures), add_order and cancel_order with their answers and errors,
the executions channel (snapshot, updates, gap-free sequence, answers before
executions), bad input answered without closing, a restart on the same data
directory, and an orderly SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import websockets

from tests.integration.gateway.ws.client import Client, connect, server, sign


def test_two_accounts_trade_and_each_sees_its_own_executions(tmp_path: Path) -> None:
    async def scenario(port: int) -> None:
        alice, bob = await connect(port), await connect(port)
        assert (await alice.login("alice"))["result"]["account"] == "alice"
        assert (await bob.login("bob"))["success"] is True
        for c in (alice, bob):
            sub = await c.call("subscribe", channel="executions")
            assert sub["success"] is True
            snap = await c.recv()
            assert snap == {"channel": "executions", "type": "snapshot", "data": [], "sequence": 1}
        placed = await alice.call(
            "add_order", symbol="AAPLx/USD", side="buy", order_qty="0.5", limit_price="230.00",
            cl_ord_id="a-1",
        )  # fmt: skip
        assert placed["success"] is True and placed["result"]["cl_ord_id"] == "a-1"
        order_id = placed["result"]["order_id"]
        new = await alice.recv()  # the answer came first, then the execution
        assert new["sequence"] == 2 and new["data"][0]["exec_type"] == "new"
        assert new["data"][0]["order_id"] == order_id and new["data"][0]["limit_price"] == 230.0
        sold = await bob.call(
            "add_order", symbol="AAPLx/USD", side="sell", order_qty=0.2, limit_price=229
        )
        assert sold["success"] is True
        # Kraken's event model: one event per message; the fill is a trade event,
        # the completion a separate filled event.
        bob_execs = [await bob.recv() for _ in range(3)]
        assert [m["sequence"] for m in bob_execs] == [2, 3, 4]
        assert all(len(m["data"]) == 1 for m in bob_execs)
        new_b, fill, filled = (m["data"][0] for m in bob_execs)
        assert [new_b["exec_type"], fill["exec_type"], filled["exec_type"]] == [
            "new", "trade", "filled"
        ]  # fmt: skip
        assert (fill["last_price"], fill["last_qty"], fill["liquidity_ind"]) == (230.0, 0.2, "t")
        assert fill["order_status"] == "filled" and fill["trade_id"] == 1
        assert (fill["cum_qty"], fill["cum_cost"], fill["avg_price"]) == (0.2, 46.0, 230.0)
        assert fill["order_type"] == "limit" and fill["side"] == "sell"
        # $46.00 at 0.25% taker: 0.115 -> 0.12 USD (rounded in the venue's favour).
        assert fill["fees"] == [{"asset": "USD", "qty": 0.12}]
        assert "last_qty" not in filled and filled["order_status"] == "filled"
        assert (filled["cum_qty"], filled["avg_price"]) == (0.2, 230.0)
        alice_exec = await alice.recv()
        assert alice_exec["sequence"] == 3
        [maker] = alice_exec["data"]
        assert maker["exec_type"] == "trade" and maker["liquidity_ind"] == "m"
        assert maker["order_status"] == "partially_filled" and maker["cl_ord_id"] == "a-1"
        assert maker["leaves_qty"] == 0.3 and maker["fees"] == [{"asset": "USD", "qty": 0.05}]
        # Cancel the rest; an unknown id comes back as a warning, so does a foreign one.
        cancel = await alice.call("cancel_order", order_id=[order_id, "O999999", "OQCLML-BW3P3"])
        assert cancel["result"] == {
            "count": 1,
            "warnings": ["EOrder:Unknown order:O999999", "EOrder:Unknown order:OQCLML-BW3P3"],
        }
        gone = await alice.recv()
        assert gone["sequence"] == 4
        [canceled] = gone["data"]
        assert canceled["exec_type"] == "canceled" and canceled["reason"] == "user"
        assert (canceled["cum_qty"], canceled["cum_cost"], canceled["order_status"]) == (
            0.2, 46.0, "canceled"
        )  # fmt: skip
        # Only unknown ids: the whole request is EOrder:Unknown order.
        none = await alice.call("cancel_order", order_id=["O999999", "OQCLML-BW3P3"])
        assert none["error"] == "EOrder:Unknown order"
        # No push ever arrived ahead of the answer to the request that caused it.
        assert alice.pushed == [] and bob.pushed == []
        for c in (alice, bob):
            await c.ws.close()

    with server(tmp_path / "data") as (port, _):
        asyncio.run(scenario(port))


def test_bad_input_is_answered_and_the_connection_stays(tmp_path: Path) -> None:
    async def scenario(port: int) -> None:
        c = await connect(port)
        await c.ws.send("{not json")
        assert (await c.recv())["error"] == "EGeneral:Invalid JSON"
        assert (await c.call("no_such_method"))["error"] == "EGeneral:Unknown method"
        assert (await c.call("ping"))["method"] == "pong"
        # Private without a session; then login failures.
        order = {"symbol": "AAPLx/USD", "side": "buy", "order_qty": "1", "limit_price": "230"}
        assert (await c.call("add_order", **order))["error"] == "ESession:Invalid session"
        assert (await c.call("login", api_key="nobody", nonce=1, signature="00"))[
            "error"
        ] == "EAPI:Invalid key"
        assert (await c.call("login", api_key="alice-key", nonce=1, signature="00"))[
            "error"
        ] == "EAPI:Invalid signature"
        nonce = time.time_ns()
        good = {
            "api_key": "alice-key",
            "nonce": nonce,
            "signature": sign("dG9rZXggZGVtbyBzZWNyZXQgb2YgYWxpY2U=", "alice-key", nonce),
        }
        assert (await c.call("login", **good))["success"] is True
        assert (await c.call("login", **good))["error"] == "EAPI:Invalid nonce"  # replayed
        # Field errors name the field, the value and the rule; nothing is placed.
        off_grid = await c.call("add_order", **{**order, "limit_price": "230.001"})
        assert off_grid["error"].startswith("EGeneral:Invalid arguments:limit_price '230.001'")
        unknown = await c.call("add_order", **{**order, "symbol": "GME/USD"})
        assert unknown["error"] == "EGeneral:Invalid arguments:symbol 'GME/USD': not listed"
        # $999,750 is inside alice's $1M order limit; with the worst fee it is more
        # than her $1M balance.
        poor = await c.call("add_order", **{**order, "order_qty": "4300", "limit_price": "232.50"})
        assert poor["error"] == "EOrder:Insufficient funds"
        assert (await c.call("ping"))["success"] is True  # still connected
        await c.ws.close()

    with server(tmp_path / "data") as (port, _):
        asyncio.run(scenario(port))


def test_open_orders_survive_a_restart_and_sigterm_stops_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "data"

    async def place(port: int) -> str:
        c = await connect(port)
        await c.login("alice")
        placed = await c.call(
            "add_order", symbol="SPYx/USD", side="sell", order_qty="1.25", limit_price="600.00"
        )
        await c.ws.close()
        return str(placed["result"]["order_id"])

    async def look(port: int) -> list[dict[str, Any]]:
        c = await connect(port)
        await c.login("alice")
        await c.call("subscribe", channel="executions")
        snap = await c.recv()
        await c.ws.close()
        return list(snap["data"])

    with server(data) as (port, proc):
        order_id = asyncio.run(place(port))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert proc.stdout is not None and "tokex serve: stopped" in proc.stdout.read()
    with server(data) as (port, _):
        [order] = asyncio.run(look(port))
    assert order["order_id"] == order_id
    assert (order["symbol"], order["side"], order["leaves_qty"]) == ("SPYx/USD", "sell", 1.25)


def test_operator_methods_roles_amend_edit_and_the_dead_man_switch(tmp_path: Path) -> None:
    async def scenario(port: int) -> None:
        ops, alice = await connect(port), await connect(port)
        await ops.login("ops")
        await alice.login("alice")
        # Roles: a trader cannot halt, an operator cannot trade.
        assert (await alice.call("halt", symbol="AAPLx/USD"))[
            "error"
        ] == "EGeneral:Permission denied"
        order = {"symbol": "AAPLx/USD", "side": "buy", "order_qty": "1", "limit_price": "229.00"}
        assert (await ops.call("add_order", **order))["error"] == "EGeneral:Permission denied"
        # Operator commands go through the journal like orders.
        assert (await ops.call("deposit", account="alice", asset="USD", amount="10.00"))["success"]
        assert (await ops.call("halt", symbol="AAPLx/USD", reason="news"))["success"]
        assert (await alice.call("add_order", **order))["error"] == "EOrder:Trading halted"
        assert (await ops.call("resume", symbol="AAPLx/USD", auction_seconds=0))["success"]
        placed = await alice.call("add_order", **order)
        order_id = placed["result"]["order_id"]
        amended = await alice.call("amend_order", order_id=order_id, limit_price="229.50")
        assert amended["success"] and amended["result"]["order_id"] == order_id
        edited = await alice.call(
            "edit_order", order_id=order_id, symbol="AAPLx/USD", order_qty="2"
        )
        assert edited["result"]["original_order_id"] == order_id
        assert edited["result"]["order_id"] != order_id
        unknown = await alice.call("amend_order", order_id="O424242", limit_price="229.50")
        assert unknown["error"] == "EOrder:Unknown order"
        dms = await alice.call("cancel_all_orders_after", timeout=60)
        assert dms["success"] and dms["result"]["triggerTime"] != "0"
        assert (await alice.call("cancel_all_orders_after", timeout=86_400))["error"].startswith(
            "EGeneral:Invalid arguments:timeout"
        )
        # The system clock cannot be moved.
        assert (await ops.call("clock_advance", seconds=60))["error"].startswith(
            "EGeneral:Invalid arguments:clock_advance"
        )
        for c in (ops, alice):
            await c.ws.close()

    # On the system clock: AAPLx trades limit orders in every phase, whatever the day.
    with server(tmp_path / "data", clock="system") as (port, _):
        asyncio.run(scenario(port))


def test_rate_limit_and_oversized_frames(tmp_path: Path) -> None:
    async def scenario(port: int) -> None:
        c = await connect(port)
        # 150 pings at once against a bucket of 100 (refilling at 50/s): some are refused.
        for i in range(150):
            await c.ws.send(json.dumps({"method": "ping", "req_id": i}))
        answers = [await c.recv() for _ in range(150)]
        limited = [a for a in answers if a.get("error") == "EAPI:Rate limit exceeded"]
        assert 0 < len(limited) < 150
        # A frame over 64 KiB closes the connection with 1009.
        await c.ws.send("x" * (65 * 1024))
        try:
            await asyncio.wait_for(c.ws.recv(), 10)
        except websockets.ConnectionClosed as e:
            assert e.rcvd is not None and e.rcvd.code == 1009
        else:
            raise AssertionError("the connection stayed open")

    with server(tmp_path / "data") as (port, _):
        asyncio.run(scenario(port))


def _kraken_checksum(bids: dict[Decimal, Decimal], asks: dict[Decimal, Decimal]) -> int:
    """Kraken's book checksum, written from its description (WS_API.md), not from the server."""

    def digits(value: Decimal, places: int) -> str:
        return f"{value:.{places}f}".replace(".", "").lstrip("0")

    text = "".join(digits(p, 2) + digits(asks[p], 4) for p in sorted(asks)[:10])
    text += "".join(digits(p, 2) + digits(bids[p], 4) for p in sorted(bids, reverse=True)[:10])
    return zlib.crc32(text.encode())


def test_a_client_rebuilds_the_book_and_every_checksum_matches(tmp_path: Path) -> None:
    async def scenario(port: int) -> None:
        watcher = await connect(port)
        sub = await watcher.call("subscribe", channel="book", symbol=["AAPLx/USD"], depth=10)
        assert sub["success"] and sub["result"]["depth"] == 10
        books: dict[str, dict[Decimal, Decimal]] = {"bids": {}, "asks": {}}
        expected_sequence = 1

        def apply(msg: dict[str, Any]) -> None:
            nonlocal expected_sequence
            [data] = msg["data"]
            assert data["sequence"] == expected_sequence, "a gap in the book sequence"
            expected_sequence += 1
            for side in ("bids", "asks"):
                for level in data[side]:
                    price, qty = Decimal(str(level["price"])), Decimal(str(level["qty"]))
                    if qty == 0:
                        books[side].pop(price, None)
                    else:
                        books[side][price] = qty
            # The client keeps the subscribed depth; the server sends what leaves it.
            assert len(books["bids"]) <= 10 and len(books["asks"]) <= 10
            assert data["checksum"] == _kraken_checksum(books["bids"], books["asks"])

        apply(await watcher.recv())  # the snapshot (empty)
        traders = [await connect(port) for _ in range(3)]
        for trader, name in zip(traders, ("alice", "bob", "mm"), strict=True):
            await trader.login(name)
        rng = random.Random(7)
        placed: list[tuple[Client, str]] = []
        for i in range(240):
            trader = traders[i % 3]
            if placed and rng.random() < 0.25:
                owner, order_id = placed.pop(rng.randrange(len(placed)))
                await owner.call("cancel_order", order_id=[order_id])
                continue
            side = rng.choice(("buy", "sell"))
            ticks = rng.randint(-12, 3)
            price = (
                Decimal("230.00") + (Decimal(ticks) if side == "sell" else -Decimal(ticks)) / 100
            )
            answer = await trader.call(
                "add_order", symbol="AAPLx/USD", side=side, limit_price=str(price),
                order_qty=str(Decimal(rng.randint(1, 40)) / 100),
            )  # fmt: skip
            if answer["success"]:
                placed.append((trader, answer["result"]["order_id"]))
        # Every update the watcher got so far: each applied and checked in order.
        await watcher.call("ping")
        for msg in watcher.pushed:
            if msg["channel"] != "heartbeat":  # a quiet second on a busy machine
                apply(msg)
        assert expected_sequence > 100  # the flow really moved the book
        for c in (watcher, *traders):
            await c.ws.close()

    with server(tmp_path / "data") as (port, _):
        asyncio.run(scenario(port))


def test_a_simulated_day_close_and_a_halt_with_its_call_on_the_instrument_channel(
    tmp_path: Path,
) -> None:
    async def scenario(port: int) -> None:
        ops, watcher, alice, bob = [await connect(port) for _ in range(4)]
        await ops.login("ops")
        sub = await watcher.call("subscribe", channel="instrument")
        assert sub["success"]
        snap = await watcher.recv()
        pairs = {p["symbol"]: p for p in snap["data"]["pairs"]}
        assert (pairs["AAPLx/USD"]["phase"], pairs["AAPLx/USD"]["status"]) == ("regular", "online")
        assert pairs["TSLAx/USD"]["schedule"] == "24/5"
        # Nothing has traded yet: no trade snapshot (ccxt cannot take an empty one).
        assert (await watcher.call("subscribe", channel="trade", symbol=["AAPLx/USD"]))["success"]
        # 15:55 ET: five minutes to the close. The operator halts AAPLx, then resumes
        # it with a 60 s call; both sides meet in it.
        assert (await ops.call("clock_advance", seconds=5 * 3600 + 55 * 60))["success"]
        # Logins lapse 15 minutes (of exchange time) after their last use, the
        # operator's own too: everyone logs in after the jump.
        for client, name in ((ops, "ops"), (alice, "alice"), (bob, "bob")):
            assert (await client.login(name))["success"]
        assert (await ops.call("halt", symbol="AAPLx/USD", reason="news"))["success"]

        async def until(channel: str, phase: str | None = None) -> dict[str, Any]:
            """The next push on ``channel`` (with AAPLx in ``phase``), skipping the rest."""
            while True:
                msg = await watcher.recv()
                if msg.get("channel") != channel:
                    continue
                if phase is None:
                    return msg
                aapl = [p for p in msg["data"]["pairs"] if p["symbol"] == "AAPLx/USD"]
                if aapl and aapl[0]["phase"] == phase:
                    return msg

        halted = await until("instrument", "halted")
        assert halted["data"]["pairs"][0]["status"] == "cancel_only"
        assert (await ops.call("resume", symbol="AAPLx/USD", auction_seconds=60))["success"]
        call = await until("instrument", "auction")
        assert call["data"]["pairs"][0]["status"] == "auction"
        order = {"symbol": "AAPLx/USD", "order_qty": "1", "limit_price": "230.00"}
        assert (await alice.call("add_order", side="buy", **order))["success"]
        assert (await bob.call("add_order", side="sell", **order))["success"]
        # The call ends: one trade at 230.00, back to regular; then 16:00 closes the day.
        assert (await ops.call("clock_advance", seconds=61))["success"]
        trade = await until("trade")
        assert trade["data"][0]["price"] == 230.0 and trade["data"][0]["qty"] == 1.0
        await until("instrument", "regular")
        assert (await ops.call("clock_advance", seconds=300))["success"]
        closed = await until("instrument", "extended")
        assert closed["data"]["pairs"][0]["status"] == "limit_only"
        for c in (ops, watcher, alice, bob):
            await c.ws.close()

    with server(tmp_path / "data") as (port, _):
        asyncio.run(scenario(port))


def test_balances_snapshot_then_ledger_entries_with_exact_running_balances(tmp_path: Path) -> None:
    async def scenario(port: int) -> None:
        alice, bob = await connect(port), await connect(port)
        await alice.login("alice")
        await bob.login("bob")
        assert (await alice.call("subscribe", channel="balances"))["success"]
        snap = await alice.recv()
        start = {b["asset"]: b for b in snap["data"]}
        assert (start["USD"]["balance"], start["USD"]["hold_trade"]) == (1_000_000.0, 0.0)
        assert start["AAPLx"]["balance"] == 100.0
        order = {"symbol": "AAPLx/USD", "order_qty": "0.2", "limit_price": "230.00"}
        assert (await alice.call("add_order", side="buy", **order))["success"]
        assert (await bob.call("add_order", side="sell", **order))["success"]
        update = await alice.recv()
        assert update["channel"] == "balances" and update["sequence"] == 2
        usd, aapl = update["data"]
        # alice is the maker buyer: $46.00 plus 0.10% (0.046 -> 0.05), shares in.
        assert (usd["type"], usd["asset"], usd["amount"], usd["fee"]) == (
            "trade",
            "USD",
            -46.0,
            0.05,
        )
        assert usd["balance"] == 1_000_000 - 46.05 and usd["hold_trade"] == 0.0
        assert (aapl["asset"], aapl["amount"], aapl["balance"]) == ("AAPLx", 0.2, 100.2)
        assert usd["ref_id"] == aapl["ref_id"] == "T1"
        for c in (alice, bob):
            await c.ws.close()

    with server(tmp_path / "data") as (port, _):
        asyncio.run(scenario(port))
