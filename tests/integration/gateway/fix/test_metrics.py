"""``/metrics`` counts the FIX gateway under ``protocol="fix"``: sessions, messages,
refusals, closed connections and the ack latency of each request type.

A real ``tokex serve``, two sessions of a real FIX engine (jspurefix) that trade
with each other and have one order refused, and one connection that logs on
as a session nobody configured; the text is parsed with prometheus_client's
own parser.
"""

from __future__ import annotations

import socket
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.gateway.fix.driver import HTTP_PORTS, Driver, config_text, server, stamp
from tests.integration.gateway.fix.driver import tags as fields

ACCOUNTS = {
    "mm": [{"sender_comp_id": "MM", "password": "mm-fix", "cancel_on_disconnect": False}],
    "mm2": [{"sender_comp_id": "MM2", "password": "mm2-fix", "cancel_on_disconnect": False}],
}


def _order(clid: str, side: str, qty: str, price: str) -> dict[str, str]:
    return {
        "ClOrdID": clid,
        "Symbol": "AAPLx/USD",
        "Side": side,
        "TransactTime": stamp(),
        "OrderQty": qty,
        "OrdType": "2",
        "TimeInForce": "1",
        "Price": price,
    }


def _scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _sent(samples: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> float:
    key = ("tokex_gateway_messages_sent_total", frozenset({("protocol", "fix")}))
    return samples.get(key, 0.0)


@pytest.mark.parametrize("workers", [0, 1], ids=["in-node", "in-worker"])
def test_metrics_count_the_fix_gateway(tmp_path: Path, workers: int) -> None:
    """In a worker, the node shows what the worker last told it (every second)."""
    with server(tmp_path / "data", config_text(ACCOUNTS), workers) as (_, port, proc):
        d = Driver()
        try:
            d.connect("MM", port, "MM", "mm-fix", "mm-key", validate=True)
            d.connect("MM2", port, "MM2", "mm2-fix", "mm2-key", validate=True)
            d.send("MM", "D", _order("b1", "1", "2", "231.00"))
            d.received("MM", "8", t11="b1")
            d.send("MM2", "D", _order("s1", "2", "2", "231.00"))
            d.received("MM2", "8", t11="s1", t150="F")
            # 10,000,000 USD buys at most about 43,000 AAPLx at 231: refused for funds.
            d.send("MM", "D", _order("b2", "1", "90000", "231.00"))
            refused = fields(d.received("MM", "8", t11="b2"))
            assert refused[150] == "8", refused
            # A Logon as a SenderCompID no account has: answered with a Logout and closed.
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                body = f"35=A\x0149=NOBODY\x0156=TOKEX\x0134=1\x0152={stamp()}\x01"
                body += "98=0\x01108=30\x01"
                head = f"8=FIX.4.4\x019={len(body)}\x01"
                msg = head + body
                raw.sendall(f"{msg}10={sum(msg.encode()) % 256:03d}\x01".encode())
                assert b"35=5" in raw.recv(4096)
                assert raw.recv(4096) == b""  # closed by the server
            samples = _scrape(HTTP_PORTS[proc.pid])
            deadline = time.monotonic() + 10
            while _sent(samples) < 7 and time.monotonic() < deadline:
                time.sleep(0.1)  # a worker's counts reach the node once a second
                samples = _scrape(HTTP_PORTS[proc.pid])
        finally:
            d.close()

    def fix(name: str, **labels: str) -> float:
        return samples[(name, frozenset({"protocol": "fix", **labels}.items()))]

    assert fix("tokex_gateway_connections_total") == 3
    assert fix("tokex_gateway_connections") == 2
    assert fix("tokex_gateway_disconnects_total", reason="bad_logon") == 1
    assert fix("tokex_gateway_errors_total", error="EOrder:Insufficient funds") == 1
    assert fix("tokex_ack_latency_seconds_count", method="D") == 3
    # Read: two Logons, three orders and the stranger's Logon (heartbeats come every 30 s).
    assert fix("tokex_gateway_messages_received_total") == 6
    # Sent: two Logons, b1 new, s1 new and fill, b1 fill, b2 refused (the Logout to the
    # stranger goes before any session is chosen and is not a session's message).
    assert fix("tokex_gateway_messages_sent_total") == 7
