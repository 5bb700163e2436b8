"""Trading over FIX with a real FIX engine (jspurefix) against a real ``tokex serve``.

Orders, fills between two sessions, cancels, replaces, mass cancels, mass
quotes with fills, market data, order status, drop copy, cancel-on-disconnect,
and the same orders seen and cancelled over FIX and the WebSocket API at
once. One server and one jspurefix process for the module, twice: with the
FIX gateway in the node and in a gateway worker; the tests keep to price
levels of their own so the shared books do not mix them up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.gateway.fix.driver import (
    Driver,
    all_tags,
    config_text,
    server,
    stamp,
    tags,
)
from tests.integration.gateway.ws.client import connect

ACCOUNTS: dict[str, list[dict[str, Any]]] = {
    "mm": [
        {"sender_comp_id": "MM", "password": "mm-fix", "cancel_on_disconnect": False},
        {"sender_comp_id": "MMDC", "password": "mm-dc", "drop_copy": True},
    ],
    "mm2": [{"sender_comp_id": "MM2", "password": "mm2-fix", "cancel_on_disconnect": False}],
    "alice": [{"sender_comp_id": "ALICE", "password": "alice-fix"}],
    "cod": [
        {"sender_comp_id": "COD", "password": "cod-fix"},  # a market maker: on by default
        {"sender_comp_id": "CODDC", "password": "cod-dc", "drop_copy": True},
    ],
}
LOGINS = {
    "MM": ("mm", "mm-fix"),
    "MMDC": ("mm", "mm-dc"),
    "MM2": ("mm2", "mm2-fix"),
    "ALICE": ("alice", "alice-fix"),
    "COD": ("cod", "cod-fix"),
    "CODDC": ("cod", "cod-dc"),
}


@pytest.fixture(scope="module", params=[0, 1], ids=["in-node", "in-worker"])
def fix(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[Driver, int, int]]:
    """The server with the FIX gateway in the node (``--workers 0``), then in worker 0."""
    tmp: Path = tmp_path_factory.mktemp("fix-trading")
    workers: int = request.param
    with server(tmp / "data", config_text(ACCOUNTS), workers) as (ws_port, port, _proc):
        driver = Driver()
        try:
            for name in ("MM", "MMDC", "MM2", "ALICE"):
                account, password = LOGINS[name]
                driver.connect(name, port, name, password, f"{account}-key", validate=True)
            yield driver, port, ws_port
        finally:
            driver.close()


def order(
    clid: str, side: str, qty: str, price: str | None, tif: str = "1", **more: str
) -> dict[str, str]:
    fields = {
        "ClOrdID": clid,
        "Symbol": "AAPLx/USD",
        "Side": side,
        "TransactTime": stamp(),
        "OrderQty": qty,
        "OrdType": "2" if price is not None else "1",
        "TimeInForce": tif,
        **more,
    }
    if price is not None:
        fields["Price"] = price
    return fields


def test_orders_fill_between_two_sessions(fix: tuple[Driver, int, int]) -> None:
    d, _, _ = fix
    d.send("MM", "D", order("buy-1", "1", "2", "231.00"))
    new = tags(d.received("MM", "8", t11="buy-1"))
    assert (new[150], new[39], new[38], new[44], new[151], new[14]) == (
        "0",
        "0",
        "2.0000",
        "231.00",
        "2.0000",
        "0.0000",
    )
    assert new[37].startswith("O") and new[59] == "1" and new[40] == "2"
    d.send("MM2", "D", order("sell-1", "2", "3", "231.00"))
    assert tags(d.received("MM2", "8", t11="sell-1"))[150] == "0"
    taker = tags(d.received("MM2", "8", t11="sell-1", t150="F"))
    assert (taker[39], taker[32], taker[31], taker[851], taker[151], taker[14]) == (
        "1",
        "2.0000",
        "231.00",
        "2",
        "1.0000",
        "2.0000",
    )
    assert (taker[12], taker[13]) == ("1.16", "3")  # 25 bps of 462.00, rounded up
    maker = tags(d.received("MM", "8", t11="buy-1", t150="F"))
    assert (maker[39], maker[851], maker[151], maker[14], maker[6]) == (
        "2",
        "1",
        "0.0000",
        "2.0000",
        "231",
    )
    assert maker[17] == taker[17]  # one trade, one ExecID on both sides
    # The drop copy of mm's account saw both of mm's reports, in order.
    copies = [tags(d.received("MMDC", "8", t11="buy-1")) for _ in range(2)]
    assert [c[150] for c in copies] == ["0", "F"]
    d.send(
        "MM2",
        "F",
        {
            "OrigClOrdID": "sell-1",
            "ClOrdID": "sell-1-x",
            "Symbol": "AAPLx/USD",
            "Side": "2",
            "TransactTime": stamp(),
            "OrderQty": "3",
        },
    )
    assert tags(d.received("MM2", "8", t11="sell-1-x"))[150] == "4"


def test_cancels_and_their_refusals(fix: tuple[Driver, int, int]) -> None:
    d, _, _ = fix
    d.send("MM", "D", order("c-1", "1", "1", "225.00"))
    order_id = tags(d.received("MM", "8", t11="c-1"))[37]
    cancel = {"Symbol": "AAPLx/USD", "Side": "1", "TransactTime": stamp(), "OrderQty": "1"}
    d.send("MM", "F", {**cancel, "OrigClOrdID": "c-1", "ClOrdID": "c-1-cancel"})
    done = tags(d.received("MM", "8", t11="c-1-cancel"))
    assert (done[150], done[39], done[41], done[37], done[58], done[151]) == (
        "4",
        "4",
        "c-1",
        order_id,
        "user",
        "0.0000",
    )
    d.send("MM", "F", {**cancel, "OrigClOrdID": "c-1", "ClOrdID": "c-1-again"})
    refused = tags(d.received("MM", "9", t11="c-1-again"))
    assert (refused[434], refused[102], refused[41], refused[58]) == (
        "1",
        "1",
        "c-1",
        "EOrder:Unknown order",
    )
    d.send("MM", "F", {**cancel, "OrigClOrdID": "x", "OrderID": "O99999999", "ClOrdID": "by-id"})
    assert tags(d.received("MM", "9", t11="by-id"))[102] == "1"


def test_replaces_keep_what_was_filled(fix: tuple[Driver, int, int]) -> None:
    d, _, _ = fix
    d.send("MM", "D", order("r-1", "1", "2", "229.90"))
    first = tags(d.received("MM", "8", t11="r-1"))
    d.send("MM2", "D", order("r-hit", "2", "0.5", "229.90", tif="3"))
    partial = tags(d.received("MM", "8", t11="r-1", t150="F"))
    assert (partial[14], partial[151]) == ("0.5000", "1.5000")
    replace = order("r-2", "1", "3", "229.80")
    d.send("MM", "G", {**replace, "OrigClOrdID": "r-1"})
    replaced = tags(d.received("MM", "8", t11="r-2"))
    assert (replaced[150], replaced[39], replaced[41], replaced[38]) == ("5", "1", "r-1", "3.0000")
    assert (replaced[14], replaced[151], replaced[44]) == ("0.5000", "2.5000", "229.80")
    assert replaced[37] != first[37]  # cancel and replace: a new order id
    # What cannot change is refused with an OrderCancelReject for a replace.
    d.send("MM", "G", {**order("r-3", "2", "3", "229.80"), "OrigClOrdID": "r-2"})
    refused = tags(d.received("MM", "9", t11="r-3"))
    assert (refused[434], refused[41]) == ("2", "r-2")
    assert "Side (54)" in refused[58]
    d.send("MM", "G", {**order("r-4", "1", "0.5", "229.80"), "OrigClOrdID": "r-2"})
    assert tags(d.received("MM", "9", t11="r-4"))[58].startswith("EGeneral:Invalid arguments")
    cancel = {"Symbol": "AAPLx/USD", "Side": "1", "TransactTime": stamp(), "OrderQty": "3"}
    d.send("MM", "F", {**cancel, "OrigClOrdID": "r-2", "ClOrdID": "r-done"})
    assert tags(d.received("MM", "8", t11="r-done"))[14] == "0.5000"


def test_mass_cancel_by_symbol_and_all(fix: tuple[Driver, int, int]) -> None:
    d, _, _ = fix
    d.send("MM", "D", order("m-1", "1", "1", "221.00"))
    d.send("MM", "D", order("m-2", "1", "1", "221.01"))
    d.send("MM", "D", {**order("m-3", "1", "1", "580.00"), "Symbol": "SPYx/USD"})
    for clid in ("m-1", "m-2", "m-3"):
        d.received("MM", "8", t11=clid, t150="0")
    d.send(
        "MM",
        "q",
        {
            "ClOrdID": "mc-1",
            "MassCancelRequestType": "1",
            "Symbol": "AAPLx/USD",
            "TransactTime": stamp(),
        },
    )
    report = tags(d.received("MM", "r", t11="mc-1"))
    assert (report[530], report[531], report[533], report[55]) == ("1", "1", "2", "AAPLx/USD")
    cancelled = {tags(d.received("MM", "8", t150="4"))[11] for _ in range(2)}
    assert cancelled == {"m-1", "m-2"}
    d.send("MM", "q", {"ClOrdID": "mc-2", "MassCancelRequestType": "7", "TransactTime": stamp()})
    assert tags(d.received("MM", "r", t11="mc-2"))[533] == "1"
    assert tags(d.received("MM", "8", t150="4"))[11] == "m-3"
    d.send("MM", "q", {"ClOrdID": "mc-3", "MassCancelRequestType": "3", "TransactTime": stamp()})
    assert tags(d.received("MM", "r", t11="mc-3"))[531] == "0"


def _quote(quote_id: str, entries: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "QuoteID": quote_id,
        "NoQuoteSets": [
            {"QuoteSetID": "S1", "TotNoQuoteEntries": len(entries), "NoQuoteEntries": entries}
        ],
    }


def test_mass_quotes_replace_each_other_and_fill(fix: tuple[Driver, int, int]) -> None:
    d, _, _ = fix
    spy = {"Symbol": "SPYx/USD"}
    d.send(
        "MM",
        "i",
        _quote(
            "q-1",
            [
                {
                    "QuoteEntryID": "e1",
                    **spy,
                    "BidPx": "585.00",
                    "OfferPx": "595.00",
                    "BidSize": "2",
                    "OfferSize": "2",
                }
            ],
        ),
    )
    ack = d.received("MM", "b", t117="q-1")
    assert (tags(ack)[297], all_tags(ack, 299)) == ("0", ["e1"])
    d.send(
        "MM",
        "i",
        _quote(
            "q-2",
            [
                {
                    "QuoteEntryID": "e1",
                    **spy,
                    "BidPx": "586.00",
                    "OfferPx": "594.00",
                    "BidSize": "2",
                    "OfferSize": "1",
                },
                {"QuoteEntryID": "e2", "Symbol": "NOPE/USD", "BidPx": "1", "BidSize": "1"},
            ],
        ),
    )
    ack = d.received("MM", "b", t117="q-2")
    assert (tags(ack)[297], all_tags(ack, 299), all_tags(ack, 368)) == ("0", ["e1", "e2"], ["1"])
    d.none_received("MM", "8", seconds=0.2)  # quotes are acknowledged, not reported one by one
    d.send(
        "MM2",
        "V",
        {
            "MDReqID": "q-book",
            "SubscriptionRequestType": "0",
            "MarketDepth": 5,
            "NoMDEntryTypes": [{"MDEntryType": "0"}, {"MDEntryType": "1"}],
            "NoRelatedSym": [{"Symbol": "SPYx/USD"}],
        },
    )
    book = d.received("MM2", "W", t262="q-book")
    assert all_tags(book, 270) == ["586.00", "594.00"]  # the first quote is gone
    assert all_tags(book, 271) == ["2.0000", "1.0000"]
    d.send("MM2", "D", {**order("q-hit", "2", "0.5", "586.00", tif="3"), **spy})
    fill = tags(d.received("MM", "8", t150="F"))
    assert (fill[11], fill[32], fill[31], fill[851], fill[151]) == (
        "Q.MM.SPYx/USD.B",
        "0.5000",
        "586.00",
        "1",
        "1.5000",
    )
    assert tags(d.received("MM2", "8", t11="q-hit", t150="F"))[851] == "2"
    d.send(
        "MM", "i", _quote("q-3", [{"QuoteEntryID": "e1", **spy, "BidSize": "0", "OfferSize": "0"}])
    )
    d.received("MM", "b", t117="q-3")
    d.send(
        "MM2",
        "V",
        {
            **{"MDReqID": "q-book-2", "SubscriptionRequestType": "0", "MarketDepth": 5},
            "NoMDEntryTypes": [{"MDEntryType": "0"}],
            "NoRelatedSym": [{"Symbol": "SPYx/USD"}],
        },
    )
    assert all_tags(d.received("MM2", "W", t262="q-book-2"), 270) == []  # quotes pulled


def test_market_data_snapshot_then_increments(fix: tuple[Driver, int, int]) -> None:
    d, _, _ = fix
    request = {
        "MDReqID": "md-1",
        "SubscriptionRequestType": "1",
        "MarketDepth": 0,
        "MDUpdateType": "1",
        "NoMDEntryTypes": [{"MDEntryType": t} for t in "012"],
        "NoRelatedSym": [{"Symbol": "AAPLx/USD"}],
    }
    d.send("ALICE", "V", request)
    snapshot = d.received("ALICE", "W", t262="md-1")
    assert "222.22" not in all_tags(snapshot, 270)
    d.send("MM2", "D", order("md-bid", "1", "1.5", "222.22"))
    update = d.received("ALICE", "X", t262="md-1")
    assert (all_tags(update, 279), all_tags(update, 269), all_tags(update, 270)) == (
        ["0"],
        ["0"],
        ["222.22"],
    )
    d.send("MM", "D", order("md-hit", "2", "0.5", "222.22", tif="3"))
    update = d.received("ALICE", "X", t262="md-1")
    assert all_tags(update, 279) == ["1", "0"] and all_tags(update, 269) == ["0", "2"]
    assert all_tags(update, 271) == ["1.0000", "0.5000"]
    d.send("ALICE", "V", request)
    assert tags(d.received("ALICE", "Y", t262="md-1"))[281] == "1"  # a duplicate MDReqID
    d.send("ALICE", "V", {**request, "SubscriptionRequestType": "2"})
    d.send(
        "MM2",
        "F",
        {
            "OrigClOrdID": "md-bid",
            "ClOrdID": "md-bid-x",
            "Symbol": "AAPLx/USD",
            "Side": "1",
            "TransactTime": stamp(),
            "OrderQty": "1.5",
        },
    )
    d.received("MM2", "8", t11="md-bid-x")
    d.none_received("ALICE", "X", seconds=0.3)
    bad = {**request, "MDReqID": "md-2", "NoRelatedSym": [{"Symbol": "NOPE/USD"}]}
    d.send("ALICE", "V", bad)
    assert tags(d.received("ALICE", "Y", t262="md-2"))[281] == "0"


def test_order_status_requests(fix: tuple[Driver, int, int]) -> None:
    d, _, _ = fix
    d.send("MM2", "D", order("st-1", "1", "1", "224.00"))
    order_id = tags(d.received("MM2", "8", t11="st-1"))[37]
    d.send("MM2", "H", {"ClOrdID": "st-1", "Symbol": "AAPLx/USD", "Side": "1"})
    status = tags(d.received("MM2", "8", t150="I"))
    assert (status[37], status[39], status[151], status[17]) == (order_id, "0", "1.0000", "0")
    d.send("MM2", "H", {"ClOrdID": "nope", "Symbol": "AAPLx/USD", "Side": "1"})
    unknown = tags(d.received("MM2", "8", t150="I"))
    assert (unknown[39], unknown[58]) == ("8", "EOrder:Unknown order")


def test_a_drop_copy_session_enters_no_orders(fix: tuple[Driver, int, int]) -> None:
    d, _, _ = fix
    seq = d.send("MMDC", "D", order("dc-1", "1", "1", "220.00"))
    refused = tags(d.received("MMDC", "j"))
    assert (refused[380], refused[45], refused[379]) == ("6", str(seq), "dc-1")


def test_fix_and_websocket_see_and_cancel_the_same_orders(fix: tuple[Driver, int, int]) -> None:
    d, _, ws_port = fix

    async def run() -> None:
        ws = await connect(ws_port)
        assert (await ws.login("alice"))["success"]
        d.send("ALICE", "D", order("x-fix", "1", "1", "223.00"))
        order_id = tags(d.received("ALICE", "8", t11="x-fix"))[37]
        answer = await ws.call("subscribe", channel="executions")
        assert answer["success"]
        snapshot = await ws.recv()
        assert order_id in [o["order_id"] for o in snapshot["data"]]
        cancelled = await ws.call("cancel_order", order_id=[order_id])
        assert cancelled["result"]["count"] == 1
        assert tags(d.received("ALICE", "8", t11="x-fix", t150="4"))[58] == "user"
        placed = await ws.call(
            "add_order",
            symbol="AAPLx/USD",
            side="sell",
            order_type="limit",
            order_qty="0.5",
            limit_price="236.00",
            cl_ord_id="x-ws",
        )
        ws_order = placed["result"]["order_id"]
        new = tags(d.received("ALICE", "8", t11="x-ws"))
        assert (new[37], new[150], new[54], new[38]) == (ws_order, "0", "2", "0.5000")
        d.send(
            "ALICE",
            "F",
            {
                "OrigClOrdID": "x-ws",
                "OrderID": ws_order,
                "ClOrdID": "x-fx",
                "Symbol": "AAPLx/USD",
                "Side": "2",
                "TransactTime": stamp(),
                "OrderQty": "0.5",
            },
        )
        assert tags(d.received("ALICE", "8", t11="x-fx"))[150] == "4"
        events: list[dict[str, Any]] = []
        while not any(
            e.get("exec_type") == "canceled" and e.get("order_id") == ws_order for e in events
        ):
            message = await ws.recv()
            events += message.get("data", []) if message.get("channel") == "executions" else []
        await ws.ws.close()

    asyncio.run(run())


def test_cancel_on_disconnect_and_the_reports_resent_at_logon(
    fix: tuple[Driver, int, int],
) -> None:
    d, port, _ = fix
    d.connect("COD", port, "COD", "cod-fix", "cod-key", validate=True)
    d.connect("CODDC", port, "CODDC", "cod-dc", "cod-key", validate=True)
    for clid, price in (("cod-1", "226.00"), ("cod-2", "226.01")):
        d.send("COD", "D", order(clid, "1", "1", price))
        d.received("COD", "8", t11=clid, t150="0")
    d.cmd("disconnect", session="COD")  # the connection drops, no Logout
    d.wait_for("stopped", session="COD")
    cancels = [tags(d.received("CODDC", "8", t150="4")) for _ in range(2)]
    assert sorted(c[11] for c in cancels) == ["cod-1", "cod-2"]
    d.drop("COD")
    d.connect("COD", port, "COD", "cod-fix", "cod-key", validate=True, reset_seq=False)
    # Our Logon is two numbers ahead of what jspurefix saw: it asks, and gets the two
    # cancel reports again (PossDup), which went out while it was away.
    assert d.wait_for("tx", session="COD", type="2")
    again = [tags(d.received("COD", "8", t43="Y")) for _ in range(2)]
    assert sorted(m[11] for m in again) == ["cod-1", "cod-2"]
    assert all(m[150] == "4" and 122 in m for m in again)
    d.cmd("logout", session="COD")
    d.wait_for("stopped", session="COD")


def test_every_order_event_becomes_a_report(fix: tuple[Driver, int, int]) -> None:
    """Iceberg refills (D), stop triggers (L), expiry (C), an amend over WebSocket (5)."""
    d, _, ws_port = fix
    spy = {"Symbol": "SPYx/USD"}
    d.send("ALICE", "D", {**order("ice", "1", "2", "589.00"), **spy, "MaxFloor": "0.5"})
    assert tags(d.received("ALICE", "8", t11="ice", t150="0"))[111] == "0.5000"
    d.send("MM2", "D", {**order("ice-hit", "2", "0.5", "589.00", tif="3"), **spy})
    assert tags(d.received("ALICE", "8", t11="ice", t150="F"))[151] == "1.5000"
    refill = tags(d.received("ALICE", "8", t11="ice", t150="D"))
    assert (refill[378], refill[58], refill[151]) == ("99", "iceberg_refill", "1.5000")
    cancel = {"Side": "1", "TransactTime": stamp(), "OrderQty": "2", **spy}
    d.send("ALICE", "F", {**cancel, "OrigClOrdID": "ice", "ClOrdID": "ice-x"})
    d.received("ALICE", "8", t11="ice-x", t150="4")
    stop = {**order("stop", "2", "0.1", "600.00"), **spy, "OrdType": "4", "StopPx": "588.50"}
    d.send("ALICE", "D", stop)
    assert tags(d.received("ALICE", "8", t11="stop", t150="0"))[99] == "588.50"
    d.send("MM", "D", {**order("under", "1", "0.1", "588.00"), **spy})
    d.received("MM", "8", t11="under", t150="0")
    d.send("MM2", "D", {**order("print", "2", "0.1", "588.00", tif="3"), **spy})
    d.received("MM2", "8", t11="print", t150="F")
    triggered = tags(d.received("ALICE", "8", t11="stop", t150="L"))
    assert (triggered[39], triggered[40]) == ("0", "4")
    expire = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(time.time() + 2))
    d.send(
        "ALICE", "D", {**order("gtd", "1", "0.1", "580.00", tif="6"), **spy, "ExpireTime": expire}
    )
    assert tags(d.received("ALICE", "8", t11="gtd", t150="0"))[126] == f"{expire}.000"
    expired = tags(d.received("ALICE", "8", t11="gtd", t150="C", timeout=10))
    assert (expired[39], expired[151], expired[58]) == ("C", "0.0000", "expired")

    async def amend() -> None:
        ws = await connect(ws_port)
        assert (await ws.login("alice"))["success"]
        answer = await ws.call("amend_order", order_id=triggered[37], order_qty="0.05")
        assert answer["success"], answer
        await ws.ws.close()

    asyncio.run(amend())
    amended = tags(d.received("ALICE", "8", t11="stop", t150="5"))
    assert (amended[37], amended[41], amended[38], amended[151]) == (
        triggered[37],
        "stop",
        "0.0500",
        "0.0500",
    )
