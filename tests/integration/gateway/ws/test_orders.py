"""batch_add, validate, batch_cancel, the ticker channel, unsubscribe and cancel-on-disconnect.

Against a real ``tokex serve`` process (tests/integration/gateway/ws/client.py) with real
WebSocket clients. A ``ping`` serves as a barrier: it is answered at once,
after every push already queued for the connection, so "nothing was pushed"
is checked by what arrived before the pong.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

from node.config import DEMO_CONFIG
from tests.integration.gateway.ws.client import Client, connect, pushes_until_pong, server

S = "AAPLx/USD"


async def push(client: Client, channel: str) -> dict[str, Any]:
    """The next push on ``channel`` (kept ones first); other pushes are dropped."""
    while True:
        if client.pushed:
            msg = client.pushed.pop(0)
        else:
            msg = await client.recv()
        if msg.get("channel") == channel:
            return msg


async def quiet(client: Client, channel: str) -> None:
    """Assert nothing is pending on ``channel``: every queued push comes before the pong."""
    kept = client.pushed
    pending = kept + await pushes_until_pong(client)
    assert [m for m in pending if m.get("channel") == channel] == []


async def open_orders(client: Client) -> list[str]:
    """The ids in a fresh executions snapshot (subscribe, read, unsubscribe)."""
    sub = await client.call("subscribe", channel="executions")
    assert sub["success"] is True
    snap = await push(client, "executions")
    assert snap["type"] == "snapshot"
    assert (await client.call("unsubscribe", channel="executions"))["success"] is True
    return [o["order_id"] for o in snap["data"]]


def sell(price: str, qty: str = "0.5", **fields: Any) -> dict[str, Any]:
    return {"order_type": "limit", "side": "sell", "order_qty": qty, "limit_price": price, **fields}


def buy(price: str, qty: str, **fields: Any) -> dict[str, Any]:
    return {"order_type": "limit", "side": "buy", "order_qty": qty, "limit_price": price, **fields}


def test_batch_add_is_all_or_nothing_and_validate_places_nothing(tmp_path: Path) -> None:
    async def scenario(port: int) -> None:
        alice = await connect(port)
        await alice.login("alice")
        assert await open_orders(alice) == []
        three = [sell("240.00", cl_ord_id="s-1"), sell("241.00"), sell("242.00", order_userref=7)]
        placed = await alice.call("batch_add", symbol=S, orders=three)
        assert placed["success"] is True, placed
        orders = placed["result"]["orders"]
        ids = [int(o["order_id"][1:]) for o in orders]
        assert ids == [ids[0], ids[0] + 1, ids[0] + 2]  # one seq each, back to back
        assert orders[0]["cl_ord_id"] == "s-1" and orders[2]["order_userref"] == 7
        assert await open_orders(alice) == [o["order_id"] for o in orders]

        # Each buy alone fits the $1,000,000 balance; the two together do not.
        big = [buy("230.00", "2500"), buy("230.00", "2500")]
        refused = await alice.call("batch_add", symbol=S, orders=big)
        assert refused["success"] is False
        assert refused["error"] == "EOrder:Insufficient funds" and refused["order_index"] == 1
        checked = await alice.call("batch_add", symbol=S, orders=big, validate=True)
        assert checked["error"] == "EOrder:Insufficient funds" and checked["order_index"] == 1
        assert (await alice.call("add_order", symbol=S, validate=True, **big[0]))["success"]
        ok = await alice.call(
            "batch_add", symbol=S, orders=[*big[:1], sell("250.00")], validate=True
        )
        assert ok["success"] is True and len(ok["result"]["orders"]) == 2
        assert "order_id" not in ok["result"]["orders"][0]
        too_much = await alice.call("add_order", symbol=S, validate=True, **buy("230.00", "5000"))
        assert too_much["error"] == "EOrder:Max notional exceeded"  # alice's own limit
        assert len(await open_orders(alice)) == 3  # nothing the checks saw was placed

        bad = await alice.call("batch_add", symbol=S, orders=[sell("240.00"), sell("240.005")])
        assert bad["error"].startswith("EGeneral:Invalid arguments:orders[1].limit_price")
        one = await alice.call("batch_add", symbol=S, orders=[sell("240.00")])
        assert one["error"].startswith("EGeneral:Invalid arguments:orders")
        twice = [sell("243.00", cl_ord_id="x"), sell("244.00", cl_ord_id="x")]
        dup = await alice.call("batch_add", symbol=S, orders=twice)
        assert dup["error"] == "EOrder:Duplicate cl_ord_id" and dup["order_index"] == 1
        other = await alice.call(
            "batch_add", symbol=S, orders=[sell("243.00"), {**sell("1.00"), "symbol": "SPYx/USD"}]
        )  # fmt: skip
        assert other["error"].startswith("EGeneral:Invalid arguments:orders[1].symbol")
        assert len(await open_orders(alice)) == 3

        cancelled = await alice.call(
            "batch_cancel", orders=[orders[0]["order_id"], "s-1", int(ids[1]), "nope"]
        )  # fmt: skip
        # s-1 is order 0 again: cancelled once, then unknown like "nope".
        assert cancelled["result"]["count"] == 2
        assert cancelled["result"]["warnings"] == [
            "EOrder:Unknown order:s-1",
            "EOrder:Unknown order:nope",
        ]
        assert await open_orders(alice) == [orders[2]["order_id"]]

    with server(tmp_path / "data") as (port, _):
        asyncio.run(scenario(port))


def test_ticker_snapshot_then_updates_on_bbo_and_trades_and_unsubscribe(tmp_path: Path) -> None:
    async def scenario(port: int) -> None:
        alice, bob = await connect(port), await connect(port)
        await alice.login("alice")
        await bob.login("bob")
        sub = await bob.call("subscribe", channel="ticker", symbol=[S])
        assert sub["result"] == {"channel": "ticker", "symbol": S, "snapshot": True}
        first = await push(bob, "ticker")
        assert first["type"] == "snapshot"
        snap = first["data"][0]
        # Every field a number, never null, before anything traded (WS_API.md).
        assert all(value is not None for value in snap.values()), snap
        assert (snap["bid"], snap["ask"], snap["last"], snap["volume"]) == (0, 0, 0, 0)

        await alice.call("add_order", symbol=S, **sell("231.00", "0.5"))
        update = await push(bob, "ticker")
        assert update["type"] == "update"
        item = update["data"][0]
        assert (item["ask"], item["ask_qty"], item["bid"]) == (231.0, 0.5, 0)

        await bob.call("add_order", symbol=S, **buy("231.00", "0.2"))
        item = (await push(bob, "ticker"))["data"][0]
        assert item["last"] == 231.0 and Decimal(str(item["volume"])) == Decimal("0.2")
        assert (item["vwap"], item["low"], item["high"], item["change"]) == (231, 231, 231, 0)
        assert Decimal(str(item["ask_qty"])) == Decimal("0.3")

        await alice.call("add_order", symbol="SPYx/USD", **sell("600.00", "0.1"))
        await quiet(bob, "ticker")  # another symbol: no AAPLx ticker
        await alice.call("add_order", symbol=S, **sell("235.00", "0.1"))
        await quiet(bob, "ticker")  # behind the best ask: the BBO did not change

        # A market buy sized only by what it may spend (no order_qty).
        cash = await bob.call(
            "add_order", symbol=S, order_type="market", side="buy", cash_order_qty="20.00"
        )
        assert cash["success"] is True, cash
        item = (await push(bob, "ticker"))["data"][0]
        assert Decimal(str(item["volume"])) > Decimal("0.2")  # it traded
        assert (await bob.call("unsubscribe", channel="ticker", symbol=[S]))["success"] is True
        await alice.call("add_order", symbol=S, **sell("230.50", "0.1"))
        await quiet(bob, "ticker")
        again = await bob.call("unsubscribe", channel="ticker", symbol=[S])
        assert (
            again["error"] == f"EGeneral:Invalid arguments:symbol '{S}': not subscribed on ticker"
        )

        await bob.call("subscribe", channel="book", symbol=[S])
        assert (await push(bob, "book"))["type"] == "snapshot"
        assert (await bob.call("unsubscribe", channel="book", symbol=[S]))["success"] is True
        await alice.call("add_order", symbol=S, **sell("230.40", "0.1"))
        await quiet(bob, "book")
        nothing = await bob.call("unsubscribe", channel="balances")
        assert nothing["error"] == "EGeneral:Invalid arguments:channel 'balances': not subscribed"

    with server(tmp_path / "data") as (port, _):
        asyncio.run(scenario(port))


CANCEL_ON_DISCONNECT = """
[[accounts]]
id = "carol"
role = "trader"
api_key = "carol-key"
secret = "carol-secret"
cancel_on_disconnect = true
balances = { USD = "100000.00", AAPLx = "10" }
"""


def test_cancel_on_disconnect_only_when_configured_and_the_last_connection_closes(
    tmp_path: Path,
) -> None:
    config = tmp_path / "tokex.toml"
    config.write_text(DEMO_CONFIG + CANCEL_ON_DISCONNECT)

    async def orders_of(port: int, account: str) -> list[str]:
        client = await connect(port)
        await client.login(account)
        ids = await open_orders(client)
        await client.ws.close()
        return ids

    async def scenario(port: int) -> None:
        watcher = await connect(port)
        await watcher.call("subscribe", channel="book", symbol=[S])
        assert (await push(watcher, "book"))["type"] == "snapshot"
        first, second = await connect(port), await connect(port)
        await first.login("carol")
        await second.login("carol")
        assert (await first.call("add_order", symbol=S, **sell("240.00", "1")))["success"]
        assert (await push(watcher, "book"))["data"][0]["asks"] == [{"price": 240.0, "qty": 1.0}]
        bob = await connect(port)
        await bob.login("bob")
        assert (await bob.call("add_order", symbol=S, **sell("241.00", "1")))["success"]
        await bob.ws.close()  # bob's config keeps his orders
        assert (await push(watcher, "book"))["data"][0]["asks"] == [{"price": 241.0, "qty": 1.0}]

        await first.ws.close()
        # Still one carol connection open: nothing cancelled.
        assert len(await open_orders(second)) == 1
        await second.ws.close()
        # Her last connection closed: her order leaves the book, bob's stays.
        gone = await push(watcher, "book")
        assert gone["data"][0]["asks"] == [{"price": 240.0, "qty": 0.0}]
        assert len(await orders_of(port, "bob")) == 1

    with server(tmp_path / "data", config=config) as (port, _):
        asyncio.run(scenario(port))


def test_sigkill_then_restart_keeps_every_acknowledged_order_trade_and_balance(
    tmp_path: Path,
) -> None:
    """Everything answered before a SIGKILL is there after the restart, exactly."""
    data = tmp_path / "data"

    async def trade(port: int) -> None:
        alice, bob = await connect(port), await connect(port)
        await alice.login("alice")
        await bob.login("bob")
        assert (await alice.call("add_order", symbol="SPYx/USD", **sell("600.00", "1.25")))[
            "success"
        ]
        assert (await bob.call("add_order", symbol="SPYx/USD", **buy("600.00", "0.25")))["success"]

    async def look(port: int) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        alice = await connect(port)
        await alice.login("alice")
        await alice.call("subscribe", channel="executions")
        orders = (await push(alice, "executions"))["data"]
        await alice.call("subscribe", channel="balances")
        balances = {b["asset"]: b for b in (await push(alice, "balances"))["data"]}
        return orders, balances

    with server(data) as (port, proc):
        asyncio.run(trade(port))
        proc.kill()  # SIGKILL: no orderly shutdown
        proc.wait(timeout=30)
    with server(data) as (port, _):
        orders, balances = asyncio.run(look(port))
    [order] = orders
    assert (order["symbol"], order["side"], order["leaves_qty"]) == ("SPYx/USD", "sell", 1.0)
    # 0.25 sold at $600: $150.00 in, less the 10 bps maker fee ($0.15).
    assert Decimal(str(balances["USD"]["balance"])) == Decimal("1000149.85")
    assert Decimal(str(balances["SPYx"]["balance"])) == Decimal("99.75")
    assert Decimal(str(balances["SPYx"]["hold_trade"])) == Decimal("1")
