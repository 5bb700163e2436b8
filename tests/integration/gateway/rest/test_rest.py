"""The REST API (REST_API.md) against a real ``tokex serve``: public and private methods,
signing, nonces shared with the WebSocket login and kept across restarts, the rate
counter, and orders placed over REST showing on the WebSocket executions channel."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.integration.gateway.rest.client import Rest, millis, used
from tests.integration.gateway.ws.client import config_file, connect, login_params, server

S = "AAPLx/USD"


@contextmanager
def rest_server(data: Path, config: Path | None = None) -> Iterator[tuple[int, int, Any]]:
    """A ``tokex serve``: (WebSocket port, HTTP port, process)."""
    banner: list[str] = []
    with server(data, config=config, banner=banner) as (ws_port, proc):
        http = re.search(r"console on http://127\.0\.0\.1:(\d+)/", banner[0])
        assert http, banner
        yield ws_port, int(http.group(1)), proc


def test_public_methods_in_krakens_shapes(tmp_path: Path) -> None:
    with rest_server(tmp_path / "data") as (ws_port, http, _):
        alice, bob, pub = Rest(http, "alice"), Rest(http, "bob"), Rest(http)
        assert pub.public("Time")["result"]["unixtime"] == 1795446000  # the simulated clock
        assert pub.public("SystemStatus")["result"]["status"] == "online"
        assets = pub.public("Assets")["result"]
        assert assets["USD"]["decimals"] == 2 and assets["AAPLx"]["decimals"] == 8
        pairs = pub.public("AssetPairs")["result"]
        assert set(pairs) == {"AAPLxUSD", "TSLAxUSD", "SPYxUSD", "NVDAxUSD"}
        aapl = pairs["AAPLxUSD"]
        assert (aapl["wsname"], aapl["altname"], aapl["base"], aapl["quote"]) == (
            S, "AAPLxUSD", "AAPLx", "USD"
        )  # fmt: skip
        assert (aapl["pair_decimals"], aapl["lot_decimals"], aapl["cost_decimals"]) == (2, 4, 2)
        assert (aapl["ordermin"], aapl["costmin"], aapl["tick_size"]) == ("0.0001", "1.00", "0.01")
        assert aapl["fees"] == [[0, 0.25]] and aapl["fees_maker"] == [[0, 0.1]]
        assert (aapl["status"], aapl["phase"]) == ("online", "regular")
        # A pair asked for by any of its names comes back under that name.
        asked = pub.public("AssetPairs", pair="aaplx/usd,SPYxUSD")["result"]
        assert list(asked) == ["aaplx/usd", "SPYxUSD"]
        assert pub.public("AssetPairs", pair="NOPE")["error"] == ["EQuery:Unknown asset pair"]

        bob.ok("AddOrder", pair="AAPLxUSD", type="sell", ordertype="limit", volume="0.3",
               price="231.00")  # fmt: skip
        bob.ok("AddOrder", pair="AAPLxUSD", type="sell", ordertype="limit", volume="0.5",
               price="232.00")  # fmt: skip
        alice.ok("AddOrder", pair="AAPLxUSD", type="buy", ordertype="limit", volume="0.1",
                 price="231.00")  # fmt: skip
        alice.ok("AddOrder", pair="AAPLxUSD", type="buy", ordertype="limit", volume="0.4",
                 price="229.00")  # fmt: skip

        async def later() -> None:  # five and a half minutes on, another trade
            ops = await connect(ws_port)
            await ops.login("ops")
            assert (await ops.call("clock_advance", seconds=330))["success"]
            await ops.ws.close()

        asyncio.run(later())
        alice = Rest(http, "alice")
        alice.ok("AddOrder", pair="AAPLxUSD", type="buy", ordertype="market", volume="0.4")

        ticker = pub.public("Ticker", pair="AAPLxUSD")["result"]["AAPLxUSD"]
        assert ticker["a"] == ["232.00", "1", "0.3000"] and ticker["b"] == ["229.00", "1", "0.4000"]
        assert ticker["c"] == ["232.00", "0.2000"]
        assert ticker["v"] == ["0.5000", "0.5000"] and ticker["t"] == [3, 3]
        assert (ticker["l"], ticker["h"]) == (["231.00", "231.00"], ["232.00", "232.00"])
        depth = pub.public("Depth", pair="AAPLxUSD", count=1)["result"]["AAPLxUSD"]
        assert [row[:2] for row in depth["asks"]] == [["232.00", "0.3000"]]
        assert [row[:2] for row in depth["bids"]] == [["229.00", "0.4000"]]
        trades = pub.public("Trades", pair="AAPLxUSD", since="0")["result"]
        assert [(t[0], t[1], t[3], t[4]) for t in trades["AAPLxUSD"]] == [
            ("231.00", "0.1000", "b", "l"), ("231.00", "0.2000", "b", "m"),
            ("232.00", "0.2000", "b", "m"),
        ]  # fmt: skip
        newer = pub.public("Trades", pair="AAPLxUSD", since=trades["last"])["result"]
        assert newer["AAPLxUSD"] == []
        spread = pub.public("Spread", pair="AAPLxUSD")["result"]["AAPLxUSD"]
        assert spread[0][1:] == ["229.00", "232.00"]
        # One-minute bars: the first trade alone, then the two 5.5 minutes later.
        one = pub.public("OHLC", pair="AAPLxUSD", interval=1)["result"]["AAPLxUSD"]
        assert [(b[1], b[2], b[3], b[4], b[6], b[7]) for b in one] == [
            ("231.00", "231.00", "231.00", "231.00", "0.1000", 1),
            ("231.00", "232.00", "231.00", "232.00", "0.4000", 2),
        ]  # fmt: skip
        assert one[1][0] - one[0][0] == 300  # 15:00 and 15:05
        assert one[1][5] == "231.50"  # the VWAP
        five = pub.public("OHLC", pair="AAPLxUSD", interval=5)["result"]["AAPLxUSD"]
        assert [b[0] for b in five] == [one[0][0], one[0][0] + 300]
        bad = pub.public("OHLC", pair="AAPLxUSD", interval=7)
        assert bad["error"][0].startswith("EGeneral:Invalid arguments:interval 7")


def test_signing_and_nonces_shared_with_the_websocket_login_and_kept_across_restarts(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    with rest_server(data) as (ws_port, http, _):
        alice = Rest(http, "alice")
        nonce = millis()
        assert alice.private("Balance", nonce=nonce)["result"]["USD"] == "1000000.00"
        # The same nonce again, or a lower one: refused, nothing done.
        assert alice.private("Balance", nonce=nonce)["error"] == ["EAPI:Invalid nonce"]
        assert alice.private("Balance", nonce=nonce - 5)["error"] == ["EAPI:Invalid nonce"]
        wrong = Rest(http, "alice").private("Balance", sign_with=Rest(http, "bob").secret)
        assert wrong["error"] == ["EAPI:Invalid signature"]
        nobody = Rest(http, "nobody", secret=Rest(http, "bob").secret).private("Balance")
        assert nobody["error"] == ["EAPI:Invalid key"]
        assert alice.private("NoSuchMethod")["error"] == ["EGeneral:Unknown method"]
        # A WebSocket login takes nonces from the same store, both ways.
        ws_nonce = millis() + 1000

        async def login(n: int) -> dict[str, Any]:
            c = await connect(ws_port)
            answer = await c.call("login", **login_params("alice", n))
            await c.ws.close()
            return answer

        assert asyncio.run(login(ws_nonce))["success"] is True
        used(ws_nonce)
        assert alice.private("Balance", nonce=ws_nonce)["error"] == ["EAPI:Invalid nonce"]
        last = ws_nonce + 1
        assert alice.private("Balance", nonce=last)["error"] == []
        assert asyncio.run(login(last))["error"] == "EAPI:Invalid nonce"
        # GetWebSocketsToken gives a token the WebSocket API takes.
        token = alice.ok("GetWebSocketsToken")["token"]

        async def use(token: str) -> dict[str, Any]:
            c = await connect(ws_port)
            answer = await c.call("subscribe", channel="balances", token=token)
            await c.ws.close()
            return answer

        assert asyncio.run(use(token))["success"] is True
        last = millis()
        alice.ok("Balance", nonce=last)
    with rest_server(data) as (_, http, _):
        # After a restart the nonces used before are still used.
        alice = Rest(http, "alice")
        assert alice.private("Balance", nonce=last)["error"] == ["EAPI:Invalid nonce"]
        assert alice.private("Balance")["error"] == []


def test_a_secret_that_is_not_base64_is_refused_on_rest_and_named_at_start(tmp_path: Path) -> None:
    config = config_file(tmp_path / "c.toml")
    text = config.read_text().replace(
        'secret = "dG9rZXggZGVtbyBzZWNyZXQgb2YgYm9i"', 'secret = "bob-plain-secret!"'
    )
    config.write_text(text)
    with rest_server(tmp_path / "data", config) as (ws_port, http, proc):
        bob = Rest(http, "bob", secret="")
        assert bob.private("Balance", sign_with="")["error"] == ["EAPI:Invalid key"]

        async def ws_login() -> dict[str, Any]:
            import hashlib
            import hmac

            c = await connect(ws_port)
            n = millis()
            sig = hmac.new(b"bob-plain-secret!", f"{n}bob-key".encode(), hashlib.sha256)
            answer = await c.call("login", api_key="bob-key", nonce=n, signature=sig.hexdigest())
            await c.ws.close()
            return answer

        assert asyncio.run(ws_login())["success"] is True
        proc.terminate()
        _, err = proc.communicate(timeout=30)
        assert "account bob (bob-key): secret is not base64" in err


def test_the_rate_counter_refuses_a_burst_and_takes_order_methods(tmp_path: Path) -> None:
    with rest_server(tmp_path / "data") as (_, http, _):
        alice = Rest(http, "alice")
        answers = [alice.private("Ledgers")["error"] for _ in range(30)]
        assert [] in answers and ["EAPI:Rate limit exceeded"] in answers
        # Order entry is not counted on this counter (Kraken counts it per pair).
        placed = alice.private("AddOrder", pair="AAPLxUSD", type="buy", ordertype="limit",
                               volume="0.1", price="200.00")  # fmt: skip
        assert placed["error"] == [], placed


def test_order_methods_through_the_pipeline_and_on_the_websocket(tmp_path: Path) -> None:
    with rest_server(tmp_path / "data") as (ws_port, http, _):
        alice, bob = Rest(http, "alice"), Rest(http, "bob")

        token = alice.ok("GetWebSocketsToken")["token"]

        async def watch() -> Any:
            c = await connect(ws_port)
            assert (await c.call("subscribe", channel="executions", token=token))["success"]
            await c.recv()  # the empty snapshot
            return c

        loop = asyncio.new_event_loop()
        watcher = loop.run_until_complete(watch())
        # validate: checked, nothing placed.
        checked = alice.ok("AddOrder", pair="AAPLxUSD", type="buy", ordertype="limit",
                           volume="0.5", price="229.50", validate="true")  # fmt: skip
        assert checked == {"descr": {"order": "buy 0.5000 AAPLxUSD @ limit 229.50"}}
        assert alice.ok("OpenOrders")["open"] == {}
        placed = alice.ok("AddOrder", pair="AAPLx/USD", type="buy", ordertype="limit",
                          volume="0.5", price="229.50", userref="42", cl_ord_id="r-1",
                          oflags="post")  # fmt: skip
        [txid] = placed["txid"]
        event = loop.run_until_complete(watcher.recv())
        assert event["data"][0]["order_id"] == txid and event["data"][0]["cl_ord_id"] == "r-1"
        opened = alice.ok("OpenOrders")["open"][txid]
        assert (opened["status"], opened["vol"], opened["userref"]) == ("open", "0.5000", 42)
        assert opened["descr"]["price"] == "229.50" and "post" in opened["oflags"]
        assert alice.ok("QueryOrders", txid=txid)[txid]["cl_ord_id"] == "r-1"
        # Errors in Kraken's words, naming the REST field.
        off = alice.private("AddOrder", pair="AAPLxUSD", type="buy", ordertype="limit",
                            volume="0.5", price="229.505")  # fmt: skip
        assert off["error"][0].startswith("EGeneral:Invalid arguments:price")
        poor = bob.private("AddOrder", pair="AAPLxUSD", type="buy", ordertype="limit",
                             volume="50000", price="229.50")  # fmt: skip
        assert poor["error"] == ["EOrder:Insufficient funds"]
        # Amend, then edit (cancel and replace).
        amended = alice.ok("AmendOrder", txid=txid, order_qty="0.4")
        assert amended["amend_id"].startswith("A")
        assert alice.ok("OpenOrders")["open"][txid]["vol"] == "0.4000"
        edited = alice.ok("EditOrder", txid=txid, pair="AAPLxUSD", volume="0.3", price="229.00")
        assert edited["originaltxid"] == txid and edited["txid"] != txid
        new_txid = edited["txid"]
        assert list(alice.ok("OpenOrders")["open"]) == [new_txid]
        # A fill: bob sells into it.
        sold = bob.ok("AddOrder", pair="AAPLxUSD", type="sell", ordertype="market", volume="0.3")
        assert len(sold["txid"]) == 1
        history = alice.ok("TradesHistory")
        assert history["count"] == 1
        [(trade_txid, fill)] = history["trades"].items()
        assert (fill["ordertxid"], fill["price"], fill["vol"], fill["type"]) == (
            new_txid, "229.00", "0.3000", "buy"
        )  # fmt: skip
        assert fill["maker"] is True and fill["cost"] == "68.70" and fill["fee"] == "0.07"
        assert alice.ok("QueryTrades", txid=trade_txid)[trade_txid]["trade_id"] == 1
        closed = alice.ok("ClosedOrders")
        assert closed["closed"][new_txid]["status"] == "closed"
        assert closed["closed"][txid]["status"] == "canceled"
        assert closed["closed"][new_txid]["vol_exec"] == "0.3000"
        ledger = alice.ok("Ledgers", asset="USD")["ledger"]
        trade_entry = next(e for e in ledger.values() if e["type"] == "trade")
        assert (trade_entry["amount"], trade_entry["fee"]) == ("-68.70", "0.07")
        assert alice.ok("Balance")["AAPLx"] == "100.30000000"
        ex = alice.ok("BalanceEx")["USD"]
        assert ex["balance"] == "999931.23" and ex["hold_trade"] == "0.00"
        # 100.3 AAPLx at the last price (229.00), 100 TSLAx, SPYx, NVDAx at their reference
        # prices (250, 590, 140): nothing traded there yet.
        assert alice.ok("TradeBalance")["eb"] == "1120899.93"
        # Batches, cancels.
        batch = alice.ok("AddOrderBatch", **{
            "pair": "AAPLxUSD",
            "orders[0][type]": "buy", "orders[0][ordertype]": "limit",
            "orders[0][volume]": "0.1", "orders[0][price]": "220.00",
            "orders[1][type]": "buy", "orders[1][ordertype]": "limit",
            "orders[1][volume]": "0.1", "orders[1][price]": "221.00",
            "orders[1][cl_ord_id]": "b-2",
        })  # fmt: skip
        ids = [o["txid"] for o in batch["orders"]]
        assert len(ids) == 2 and set(alice.ok("OpenOrders")["open"]) == set(ids)
        unknown = alice.private("CancelOrder", txid="OQCLML-BW3P3-BUCMWZ")
        assert unknown["error"] == ["EOrder:Unknown order"]
        assert alice.ok("CancelOrder", txid=ids[0]) == {"count": 1, "pending": False}
        assert alice.ok("CancelOrder", cl_ord_id="b-2")["count"] == 1
        for price in ("210.00", "211.00"):
            alice.ok("AddOrder", pair="AAPLxUSD", type="buy", ordertype="limit", volume="0.1",
                     price=price)  # fmt: skip
        assert alice.ok("CancelAll") == {"count": 2}
        armed = alice.ok("CancelAllOrdersAfter", timeout="60")
        assert armed["currentTime"] == "2026-11-23T15:00:00Z"
        assert armed["triggerTime"] == "2026-11-23T15:01:00Z"
        assert alice.ok("CancelAllOrdersAfter", timeout="0")["triggerTime"] == "0"
        # Operators have no balances: permission denied.
        assert Rest(http, "ops").private("Balance")["error"] == ["EGeneral:Permission denied"]
        loop.run_until_complete(watcher.ws.close())
        loop.close()
