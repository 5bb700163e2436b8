"""ccxt (and ccxt.pro) against a real ``tokex serve``, changing nothing but its URLs and keys.

ccxt 4.5.90's ``kraken`` class, as a trader would use it: REST for markets,
balances, orders and fills; the WebSocket v2 API for books, trades, orders
and fills (its private channels authenticate with GetWebSocketsToken).
The market maker's liquidity comes over tokex's raw WebSocket API.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import ccxt.pro
import pytest
from ccxt.base.errors import BaseError, OrderNotFound

from tests.integration.gateway.rest.client import STEP, within
from tests.integration.gateway.rest.test_rest import rest_server
from tests.integration.gateway.ws.client import Client, connect, demo_secret

SYMBOL = "AAPLX/USD"  # ccxt upper-cases currency codes; tokex's symbols are case-insensitive


def kraken(ws_port: int, http: int, account: str = "alice") -> Any:
    exchange = ccxt.pro.kraken({"apiKey": f"{account}-key", "secret": demo_secret(account)})
    rest = f"http://127.0.0.1:{http}"
    ws = f"ws://127.0.0.1:{ws_port}/v2"
    exchange.urls["api"].update(public=rest, private=rest)
    exchange.urls["api"]["ws"].update(public=ws, private=ws, publicV2=ws, privateV2=ws)
    return exchange


async def _sell_ladder(mm: Client) -> list[str]:
    ids = []
    for price, qty in (("230.00", "0.1"), ("230.50", "0.2"), ("231.00", "0.3")):
        placed = await mm.call(
            "add_order", symbol="AAPLx/USD", side="sell", order_type="limit",
            order_qty=qty, limit_price=price,
        )  # fmt: skip
        assert placed["success"], placed
        ids.append(placed["result"]["order_id"])
    return ids


async def _until(watch: Any, enough: Any, what: str) -> list[Any]:
    """Call ``watch()`` until ``enough(everything seen)``; everything seen.

    A ccxt ``watch_*`` call resolves on the next message for its stream, not on
    what arrived before it was called: a test waits for a state by watching
    from before the event that makes it.
    """
    seen: list[Any] = []

    async def loop() -> None:
        while not enough(seen):
            seen.extend(await watch())

    await within(loop(), what)
    return seen


async def _book_until(k: Any, enough: Any, what: str) -> Any:
    """Watch the order book until ``enough(book)``; that book."""

    async def loop() -> Any:
        while True:
            book = await k.watch_order_book(SYMBOL)
            if enough(book):
                return book

    return await within(loop(), what)


def test_ccxt_rest_markets_balance_orders_and_fills(tmp_path: Path) -> None:
    async def flow(ws_port: int, http: int) -> None:
        k = kraken(ws_port, http)
        try:
            markets = await k.load_markets()
            assert set(markets) == {"AAPLX/USD", "TSLAX/USD", "SPYX/USD", "NVDAX/USD"}
            m = markets[SYMBOL]
            assert (m["id"], m["wsId"], m["active"]) == ("AAPLxUSD", "AAPLx/USD", True)
            assert (m["precision"]["price"], m["precision"]["amount"]) == (0.01, 0.0001)
            assert (m["limits"]["amount"]["min"], m["limits"]["cost"]["min"]) == (0.0001, 1.0)
            assert (m["taker"], m["maker"]) == (0.0025, 0.001)
            balance = await k.fetch_balance()
            assert balance["USD"]["total"] == 1_000_000 and balance["AAPLX"]["free"] == 100

            mm = await connect(ws_port)
            await mm.login("mm")
            await _sell_ladder(mm)
            resting = await k.create_order(SYMBOL, "limit", "buy", 0.5, 229.5)
            posted = await k.create_order(SYMBOL, "limit", "buy", 0.2, 229.0, {"postOnly": True})
            with pytest.raises(BaseError, match="Post only order"):
                await k.create_order(SYMBOL, "limit", "buy", 0.2, 231.0, {"postOnly": True})
            open_orders = await k.fetch_open_orders(SYMBOL)
            by_id = {o["id"]: o for o in open_orders}
            assert set(by_id) == {resting["id"], posted["id"]}
            assert (by_id[resting["id"]]["price"], by_id[resting["id"]]["amount"]) == (229.5, 0.5)
            assert by_id[posted["id"]]["postOnly"] is True
            await k.cancel_order(resting["id"], SYMBOL)
            with pytest.raises(OrderNotFound):
                await k.cancel_order(resting["id"], SYMBOL)
            assert [o["id"] for o in await k.fetch_open_orders(SYMBOL)] == [posted["id"]]

            market = await k.create_order(SYMBOL, "market", "buy", 0.6)
            assert market["id"].startswith("O")
            trades = await k.fetch_my_trades(SYMBOL)
            mine = [t for t in trades if t["order"] == market["id"]]
            assert sorted((t["price"], t["amount"]) for t in mine) == [
                (230.0, 0.1), (230.5, 0.2), (231.0, 0.3)
            ]  # fmt: skip
            assert all(t["side"] == "buy" and t["takerOrMaker"] == "taker" for t in mine)
            assert all(t["fee"]["currency"] == "USD" and t["fee"]["cost"] > 0 for t in mine)
            after = await k.fetch_balance()
            assert after["AAPLX"]["total"] == 100.6
            await mm.ws.close()
        finally:
            await k.close()

    with rest_server(tmp_path / "data") as (ws_port, http, _):
        asyncio.run(within(flow(ws_port, http), "the whole flow", 6 * STEP))


def test_ccxt_pro_books_trades_orders_and_every_fill(tmp_path: Path) -> None:
    async def flow(ws_port: int, http: int) -> None:
        k = kraken(ws_port, http)
        try:
            await within(k.load_markets(), "load_markets")
            mm = await connect(ws_port)
            await mm.login("mm")
            await _sell_ladder(mm)
            book = await within(k.watch_order_book(SYMBOL), "watch_order_book (snapshot)")
            assert book["asks"][:3] == [[230.0, 0.1], [230.5, 0.2], [231.0, 0.3]]
            assert book["bids"] == []

            # Every watch starts before the trade it waits for. The private channel's
            # snapshot is empty (no orders yet).
            emptied = asyncio.ensure_future(
                _book_until(k, lambda b: b["asks"] == [], "watch_order_book: the ladder taken")
            )
            orders_task = asyncio.ensure_future(
                _until(
                    k.watch_orders,
                    lambda seen: any(o["status"] == "closed" for o in seen),
                    "watch_orders: the market order closed",
                )
            )
            trades_task = asyncio.ensure_future(
                _until(
                    lambda: k.watch_trades(SYMBOL),
                    lambda seen: len(seen) >= 3,
                    "watch_trades: three public trades",
                )
            )
            await asyncio.sleep(0.5)
            mine_task = asyncio.ensure_future(
                _until(k.watch_my_trades, lambda seen: len(seen) >= 3, "watch_my_trades: 3 fills")
            )
            await asyncio.sleep(0.5)
            # A market order that fills against three levels: three fills.
            market = await within(
                k.create_order_ws(SYMBOL, "market", "buy", 0.6), "create_order_ws (market)"
            )
            assert market["id"].startswith("O")
            fills = await mine_task
            assert [(t["price"], t["amount"]) for t in fills] == [
                (230.0, 0.1), (230.5, 0.2), (231.0, 0.3)
            ]  # fmt: skip
            assert {t["order"] for t in fills} == {market["id"]}
            assert all(t["type"] == "market" and t["side"] == "buy" for t in fills)
            public = await trades_task
            assert [(t["price"], t["amount"], t["side"]) for t in public][:3] == [
                (230.0, 0.1, "buy"), (230.5, 0.2, "buy"), (231.0, 0.3, "buy")
            ]  # fmt: skip
            orders = await orders_task
            done = [o for o in orders if o["id"] == market["id"] and o["status"] == "closed"]
            assert done and done[-1]["filled"] == 0.6 and done[-1]["average"] == 230.67
            book = await emptied  # the ladder is gone
            assert book["bids"] == []

            # Order entry and cancel over the WebSocket; the book shows the bid, then not.
            bid = asyncio.ensure_future(
                _book_until(k, lambda b: b["bids"] == [[220.0, 0.1]], "watch_order_book: the bid")
            )
            placed = await within(
                k.create_order_ws(SYMBOL, "limit", "buy", 0.1, 220.0), "create_order_ws (limit)"
            )
            assert placed["id"].startswith("O")
            await bid
            open_ids = [o["id"] for o in await within(k.fetch_open_orders(SYMBOL), "open orders")]
            assert open_ids == [placed["id"]]
            gone = asyncio.ensure_future(
                _book_until(k, lambda b: b["bids"] == [], "watch_order_book: the bid cancelled")
            )
            await within(k.cancel_order_ws(placed["id"]), "cancel_order_ws")
            await gone
            assert await within(k.fetch_open_orders(SYMBOL), "fetch_open_orders") == []
            await mm.ws.close()
        finally:
            await within(k.close(), "close")

    with rest_server(tmp_path / "data") as (ws_port, http, _):
        asyncio.run(within(flow(ws_port, http), "the whole flow", 6 * STEP))
