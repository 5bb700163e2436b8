"""python-kraken-sdk 3.5.1 against a real ``tokex serve``, changing nothing but URLs and keys.

Its REST clients (``Market``, ``User``, ``Trade``), its ``SpotWSClient`` on the
private channels (it fetches the token with GetWebSocketsToken itself) and its
``SpotOrderBookClient``, which checks the checksum of every book update. The SDK
takes its nonces in units of 10 ns, ccxt and tokex's own clients in
milliseconds: nonces must increase per key, so each library gets its own key
(here: alice and bob use the SDK; mm, the market maker, tokex's raw WebSocket
client with its own key).

The order-book client and ``Trade.truncate`` build their own ``Market()`` with
no URL argument and the order-book client its WebSocket client with none
either; a user points them at tokex with the SDK's class attributes (``URL``,
``WS_URL``), as done here.
"""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from kraken.exceptions import (
    KrakenInsufficientFundsError,
    KrakenUnknownOrderError,
)
from kraken.spot import Market, SpotOrderBookClient, SpotWSClient, Trade, User

from tests.integration.gateway.rest.client import STEP, within
from tests.integration.gateway.rest.test_rest import rest_server
from tests.integration.gateway.ws.client import Client, config_file, connect, demo_secret

PAIR = "AAPLxUSD"
S = "AAPLx/USD"


def _clients(http: int, account: str) -> tuple[User, Trade]:
    url = f"http://127.0.0.1:{http}"
    key, secret = f"{account}-key", demo_secret(account)
    return User(key=key, secret=secret, url=url), Trade(key=key, secret=secret, url=url)


def test_rest_market_user_and_trade_clients(tmp_path: Path, monkeypatch: Any) -> None:
    with rest_server(tmp_path / "data") as (_, http, _proc):
        url = f"http://127.0.0.1:{http}"
        # Trade.truncate asks a Market() of its own, made without a URL: the class's.
        monkeypatch.setattr(Market, "URL", url)
        market = Market(url=url)
        alice_user, alice = _clients(http, "alice")
        bob_user, bob = _clients(http, "bob")

        assert market.get_system_status()["status"] == "online"
        assert set(market.get_assets()) == {"USD", "AAPLx", "TSLAx", "SPYx", "NVDAx"}
        pair = market.get_asset_pairs(pair=S)[S]
        assert (pair["altname"], pair["pair_decimals"], pair["lot_decimals"]) == (PAIR, 2, 4)
        assert alice.truncate(amount="0.123456", amount_type="volume", pair=PAIR) == "0.1234"
        assert alice.truncate(amount=231.456, amount_type="price", pair=PAIR) == "231.45"

        assert alice_user.get_account_balance()["USD"] == "1000000.00"
        assert alice_user.get_balance(currency="AAPLx")["balance"] == 100.0
        # The SDK asks for Kraken's ZUSD by default.
        # The SDK asks for Kraken's ZUSD by default; nothing has traded: reference prices.
        refs = [Decimal(p["reference_price"]) for p in market.get_asset_pairs().values()]
        assert alice_user.get_trade_balance()["eb"] == f"{1_000_000 + 100 * sum(refs):.2f}"

        # bob's asks: two limit orders, one post-only; a post-only that would take is refused.
        sell = bob.create_order(
            ordertype="limit", side="sell", pair=PAIR, volume="0.5", price="230.00"
        )
        posted = bob.create_order(
            ordertype="limit", side="sell", pair=PAIR, volume="0.4", price="231.00",
            oflags=["post"], userref=7, cl_ord_id="bob-1",
        )  # fmt: skip
        assert sell["descr"]["order"] == "sell 0.5000 AAPLxUSD @ limit 230.00"
        # The SDK has no exception for this Kraken error: it returns the answer as is.
        refused = alice.create_order(
            ordertype="limit", side="buy", pair=PAIR, volume="0.1", price="231.00",
            oflags=["post"],
        )  # fmt: skip
        assert refused == {"error": ["EOrder:Post only order"]}
        with pytest.raises(KrakenInsufficientFundsError):  # 1,100,000 USD; bob has 1,000,000
            bob.create_order(
                ordertype="limit", side="buy", pair=PAIR, volume="5000", price="220.00"
            )
        checked = alice.create_order(
            ordertype="limit", side="buy", pair=PAIR, volume="0.1", price="220.00", validate=True
        )
        assert "txid" not in checked  # validated, not placed
        assert alice_user.get_open_orders()["open"] == {}
        opened = bob_user.get_open_orders()["open"]
        assert set(opened) == {sell["txid"][0], posted["txid"][0]}
        assert opened[posted["txid"][0]]["userref"] == 7
        assert "post" in opened[posted["txid"][0]]["oflags"]

        # alice's market order takes 0.5 at 230.00 and 0.2 at 231.00: two fills.
        taken = alice.create_order(ordertype="market", side="buy", pair=PAIR, volume="0.7")
        [order_id] = taken["txid"]
        info = alice_user.get_orders_info(txid=order_id)[order_id]
        assert (info["status"], info["vol_exec"], info["cost"]) == ("closed", "0.7000", "161.20")
        closed = alice_user.get_closed_orders()["closed"]
        assert order_id in closed
        history = alice_user.get_trades_history()["trades"]
        fills = sorted(
            (t["price"], t["vol"]) for t in history.values() if t["ordertxid"] == order_id
        )
        assert fills == [("230.00", "0.5000"), ("231.00", "0.2000")]
        some = next(iter(history))
        assert alice_user.get_trades_info(txid=some)[some]["ordertxid"] == order_id
        ledger = alice_user.get_ledgers_info(asset="AAPLx")["ledger"]
        assert sorted(e["amount"] for e in ledger.values() if e["type"] == "trade") == [
            "0.20000000", "0.50000000",
        ]  # fmt: skip
        assert alice_user.get_account_balance()["AAPLx"] == "100.70000000"

        ticker = market.get_ticker(pair=PAIR)[PAIR]
        assert ticker["c"] == ["231.00", "0.2000"] and ticker["a"][:1] == ["231.00"]
        book = market.get_order_book(pair=PAIR, count=5)[PAIR]
        assert [level[:2] for level in book["asks"]] == [["231.00", "0.2000"]]
        trades = market.get_recent_trades(pair=PAIR)[PAIR]
        assert [(t[0], t[1], t[3]) for t in trades] == [
            ("230.00", "0.5000", "b"), ("231.00", "0.2000", "b"),
        ]  # fmt: skip
        assert market.get_ohlc(pair=PAIR, interval=1)[PAIR][0][1:5] == [
            "230.00", "231.00", "230.00", "231.00",
        ]  # fmt: skip

        # Amend, batch, cancel by id, by cl_ord_id, all; an unknown id is refused.
        resting = alice.create_order(
            ordertype="limit", side="buy", pair=PAIR, volume="0.3", price="225.00"
        )["txid"][0]
        alice.amend_order(txid=resting, order_qty="0.4", limit_price="226.00")
        amended = alice_user.get_orders_info(txid=resting)[resting]
        assert (amended["vol"], amended["descr"]["price"]) == ("0.4000", "226.00")
        batch = alice.create_order_batch(
            orders=[
                {"ordertype": "limit", "type": "buy", "volume": "0.1", "price": "221.00"},
                {"ordertype": "limit", "type": "buy", "volume": "0.1", "price": "222.00"},
            ],
            pair=PAIR,
        )
        assert len(batch["orders"]) == 2
        assert alice.cancel_order(txid=resting)["count"] == 1
        with pytest.raises(KrakenUnknownOrderError):
            alice.cancel_order(txid=resting)
        assert bob.cancel_order(cl_ord_id="bob-1")["count"] == 1
        assert alice.cancel_all_orders()["count"] == 2
        assert alice_user.get_open_orders()["open"] == {}
        after = alice.cancel_all_orders_after_x(timeout=60)
        assert after["currentTime"] < after["triggerTime"]
        assert alice.cancel_all_orders_after_x(timeout=0)["triggerTime"] == "0"


async def _mm(ws_port: int) -> Client:
    mm = await connect(ws_port)
    assert (await mm.login("mm"))["success"]
    return mm


def test_spot_ws_client_private_channels_with_a_token_from_rest(tmp_path: Path) -> None:
    """Executions and balances over SpotWSClient; orders over REST and over its WebSocket."""

    async def flow(ws_port: int, http: int) -> None:
        seen: list[dict[str, Any]] = []
        arrived = asyncio.Event()

        async def on_message(message: dict[str, Any]) -> None:
            seen.append(message)
            arrived.set()

        async def until(what: str, enough: Any) -> list[dict[str, Any]]:
            async def wait() -> list[dict[str, Any]]:
                while not (found := [m for m in seen if enough(m)]):
                    arrived.clear()
                    await arrived.wait()
                return found

            return await within(wait(), what)  # type: ignore[no-any-return]

        client = SpotWSClient(
            key="alice-key",
            secret=demo_secret("alice"),
            callback=on_message,
            no_public=True,
            rest_url=f"http://127.0.0.1:{http}",
            auth_ws_url=f"ws://127.0.0.1:{ws_port}",
        )
        try:
            await within(client.start(), "start")
            await client.subscribe(params={"channel": "executions", "snap_trades": True})
            await client.subscribe(params={"channel": "balances"})
            await until("executions snapshot", lambda m: m.get("channel") == "executions")
            [snap] = await until(
                "balances snapshot",
                lambda m: m.get("channel") == "balances" and m["type"] == "snapshot",
            )
            usd = next(b for b in snap["data"] if b["asset"] == "USD")
            assert (usd["balance"], usd["hold_trade"]) == (1_000_000, 0)

            mm = await _mm(ws_port)
            for price, qty in (("230.00", "0.1"), ("230.50", "0.2")):
                placed = await mm.call(
                    "add_order", symbol=S, side="sell", order_type="limit",
                    order_qty=qty, limit_price=price,
                )  # fmt: skip
                assert placed["success"], placed
            # A market order over SpotWSClient's own connection (it adds the token).
            await client.send_message(
                {
                    "method": "add_order",
                    "req_id": 5,
                    "params": {
                        "order_type": "market",
                        "side": "buy",
                        "order_qty": 0.3,
                        "symbol": S,
                    },
                }
            )
            [answer] = await until("add_order answer", lambda m: m.get("req_id") == 5)
            assert answer["success"], answer
            order_id = answer["result"]["order_id"]

            def events(kind: str) -> list[dict[str, Any]]:
                return [
                    e
                    for m in seen
                    if m.get("channel") == "executions" and m["type"] == "update"
                    for e in m["data"]
                    if e["order_id"] == order_id and e["exec_type"] == kind
                ]

            await until("filled event", lambda m: bool(events("filled")))
            trades = events("trade")
            assert [(t["last_price"], t["last_qty"]) for t in trades] == [
                (230.0, 0.1),
                (230.5, 0.2),
            ]
            assert [t["order_status"] for t in trades] == ["partially_filled", "filled"]
            assert all(t["order_type"] == "market" and t["trade_id"] for t in trades)
            [done] = events("filled")
            assert (done["cum_qty"], done["avg_price"]) == (0.3, 230.33)

            def ledger(asset: str) -> list[dict[str, Any]]:
                return [
                    e
                    for m in seen
                    if m.get("channel") == "balances" and m["type"] == "update"
                    for e in m["data"]
                    if e["asset"] == asset
                ]

            await until("both AAPLx ledger entries", lambda m: len(ledger("AAPLx")) >= 2)
            aapl = ledger("AAPLx")
            assert [e["amount"] for e in aapl] == [0.1, 0.2] and aapl[-1]["balance"] == 100.3

            # An order placed over REST shows on the same executions stream; cancel it
            # over the WebSocket; an id tokex never issued is a warning, not a failure.
            _, trade = _clients(http, "alice")
            resting = trade.create_order(
                ordertype="limit", side="buy", pair=PAIR, volume="0.1", price="220.00"
            )["txid"][0]
            await until("new event", lambda m: any(
                e.get("order_id") == resting and e.get("exec_type") == "new"
                for e in (m.get("data") or []) if isinstance(e, dict)
            ))  # fmt: skip
            await client.send_message(
                {"method": "cancel_order", "req_id": 6,
                 "params": {"order_id": [resting, "OXXXXX-NOT-OURS"]}}
            )  # fmt: skip
            [cancelled] = await until("cancel answer", lambda m: m.get("req_id") == 6)
            assert cancelled["success"], cancelled
            assert cancelled["result"] == {
                "count": 1, "warnings": ["EOrder:Unknown order:OXXXXX-NOT-OURS"]
            }  # fmt: skip
            await until("canceled event", lambda m: any(
                e.get("order_id") == resting and e.get("exec_type") == "canceled"
                for e in (m.get("data") or []) if isinstance(e, dict)
            ))  # fmt: skip
            await mm.ws.close()
        finally:
            await within(client.close(), "close")

    with rest_server(tmp_path / "data") as (ws_port, http, _):
        asyncio.run(within(flow(ws_port, http), "the whole flow", 6 * STEP))


def test_order_book_client_checks_every_checksum_over_a_random_flow(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """Random quotes, takes and cancels, the book emptied and refilled again and again.

    The SDK's client checks the checksum of every update and resubscribes on a
    mismatch (reporting it to ``on_book_update``): none may happen, and its book
    ends equal to tokex's own.
    """
    config = config_file(tmp_path / "tokex.toml", rate_limit="{ per_second = 5000, burst = 5000 }")
    rng = random.Random(17)

    async def flow(ws_port: int, http: int) -> None:
        updates: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []

        class Book(SpotOrderBookClient):
            URL = f"http://127.0.0.1:{http}"
            WS_URL = f"ws://127.0.0.1:{ws_port}"

            async def on_book_update(self, pair: str, message: dict[str, Any]) -> None:
                (errors if "error" in message else updates).append(message)

        book = Book(depth=10)
        try:
            await within(book.start(), "start")
            await book.add_book(pairs=[S])
            mm, bob = await _mm(ws_port), await connect(ws_port)
            assert (await bob.login("bob"))["success"]
            open_ids: list[str] = []
            empties = 0
            for step in range(240):
                roll = rng.random()
                if step % 40 == 39:
                    # Everything off the book: it empties, and fills again after.
                    for who in (mm, bob):
                        assert (await who.call("cancel_all", symbol=S))["success"]
                    open_ids.clear()
                    empties += 1
                elif roll < 0.55 or not open_ids:
                    side = rng.choice(("buy", "sell"))
                    ticks = rng.randrange(1, 25)
                    price = Decimal(230) + (ticks if side == "sell" else -ticks) * Decimal("0.05")
                    placed = await mm.call(
                        "add_order", symbol=S, side=side, order_type="limit",
                        order_qty=str(rng.randrange(1, 40) * Decimal("0.0125")),
                        limit_price=str(price),
                    )  # fmt: skip
                    assert placed["success"], placed
                    open_ids.append(placed["result"]["order_id"])
                elif roll < 0.75:
                    victim = open_ids.pop(rng.randrange(len(open_ids)))
                    await mm.call("cancel_order", order_id=[victim])  # may have filled
                else:
                    taken = await bob.call(
                        "add_order", symbol=S, side=rng.choice(("buy", "sell")),
                        order_type="market", order_qty=str(rng.randrange(1, 30) * Decimal("0.01")),
                    )  # fmt: skip
                    assert taken["success"] or "Insufficient" in taken["error"], taken

            # The flow ended by emptying the book. The SDK skips that update (checksum 0)
            # and shows the levels it removed until the next one (docs/KRAKEN.md): quote.
            last = await mm.call(
                "add_order", symbol=S, side="buy", order_type="limit", order_qty="0.5",
                limit_price="229.00",
            )  # fmt: skip
            assert last["success"], last
            # The SDK's book settles on tokex's (REST Depth, top 10 a side).
            market = Market(url=f"http://127.0.0.1:{http}")

            def depth() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
                d = market.get_order_book(pair=PAIR, count=10)[PAIR]
                return [(p, q) for p, q, _ in d["bids"]], [(p, q) for p, q, _ in d["asks"]]

            def local() -> tuple[list[tuple[str, str]], list[tuple[str, str]]] | None:
                mine = book.get(S)
                if mine is None:
                    return None
                return (
                    [(p, v) for p, (v, _) in mine["bid"].items()],
                    [(p, v) for p, (v, _) in mine["ask"].items()],
                )

            async def settled() -> None:
                while local() != depth():
                    await asyncio.sleep(0.1)

            await within(settled(), "the SDK's book equal to tokex's")
            assert errors == []
            assert empties == 6 and len(updates) > 150
            await mm.ws.close()
            await bob.ws.close()
        finally:
            await within(book.close(), "close")

    # The client's own Market() (asset pairs, for the checksum's decimals) has no URL argument.
    with rest_server(tmp_path / "data", config=config) as (ws_port, http, _):
        monkeypatch.setattr(Market, "URL", f"http://127.0.0.1:{http}")
        asyncio.run(within(flow(ws_port, http), "the whole flow", 12 * STEP))
