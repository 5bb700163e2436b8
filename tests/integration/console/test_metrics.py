"""``/metrics`` after a known flow over WebSocket: every counter equals what was sent and done.

A real ``tokex serve``; orders, trades, refusals (by the engine and by the
gateway), pings and a burst past the rate limit from real WebSocket clients;
then the text is parsed with prometheus_client's own parser.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.console.serving import Served, console_server, limit
from tests.integration.gateway.ws.client import MONDAY, ROOT, connect, login_params, run_within

SYMBOL = "AAPLx/USD"
GENESIS_RECORDS = 15  # the demo's opening deposits, journaled when the data directory is made

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(served: Served) -> Samples:
    status, headers, body = served.get("/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers
    out: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_metrics_count_exactly_what_was_sent_and_done(tmp_path: Path) -> None:
    with console_server(tmp_path / "data") as served:
        flow, samples = run_within(_flow(served))
    orders = flow["orders"]

    def count(kind: str, name: str = "tokex_commands_total") -> float:
        return value(samples, name, kind=kind)

    # Commands and events: the engine saw every order the gateway let through.
    assert count("new_order") == orders["reached_engine"] == 6
    assert count("cancel_order") == 1
    assert count("trade", "tokex_events_total") == len(flow["trades"]) == 3
    assert count("order_accepted", "tokex_events_total") == 5
    assert count("order_rejected", "tokex_events_total") == 2
    assert value(samples, "tokex_rejects_total", reason="insufficient_funds") == 1
    assert value(samples, "tokex_rejects_total", reason="unknown_order") == 1

    # Trades, volume, notional, open orders.
    volume = sum(Decimal(q) for _, q in flow["trades"])
    notional = sum(Decimal(p) * Decimal(q) for p, q in flow["trades"])
    assert (volume, notional) == (Decimal("1.2"), Decimal("276.62"))
    assert value(samples, "tokex_trades_total", symbol=SYMBOL) == 3
    assert value(samples, "tokex_traded_volume_total", symbol=SYMBOL, asset="AAPLx") == 1.2
    assert value(samples, "tokex_traded_notional_total", symbol=SYMBOL, asset="USD") == 276.62
    assert value(samples, "tokex_open_orders", symbol=SYMBOL) == flow["open_orders"] == 2
    assert value(samples, "tokex_open_orders", symbol="SPYx/USD") == 0

    # The journal: one record per command, one write and one fsync per group commit.
    commands = sum(v for (name, _), v in samples.items() if name == "tokex_commands_total")
    assert value(samples, "tokex_journal_batch_records_sum") == commands
    assert value(samples, "tokex_journal_last_seq") == GENESIS_RECORDS + commands
    batches = value(samples, "tokex_journal_batch_records_count")
    assert 1 <= batches <= commands
    assert value(samples, "tokex_journal_write_seconds_count") == batches
    assert value(samples, "tokex_journal_fsync_seconds_count") == batches
    assert value(samples, "tokex_journal_written_bytes_total") > 0
    assert value(samples, "tokex_snapshot_last_seq") == 0
    assert value(samples, "tokex_snapshot_age_records") == GENESIS_RECORDS + commands
    # Settlement's gauges (refreshed once a second): its queue holds at most what was fed.
    assert 0 <= value(samples, "tokex_settlement_queue_depth") <= GENESIS_RECORDS + commands
    assert 0 <= value(samples, "tokex_settlement_lag_trades") <= len(flow["trades"])

    # The gateway: connections, messages each way, the rate limit, answers by method.
    ws = {"protocol": "ws"}
    assert value(samples, "tokex_gateway_connections", **ws) == 3
    assert value(samples, "tokex_gateway_connections_total", **ws) == 3
    sent = flow["requests"]
    assert value(samples, "tokex_gateway_messages_received_total", **ws) == sent
    # Each request is answered once; each connection got its status message first.
    assert value(samples, "tokex_gateway_messages_sent_total", **ws) == sent + 3
    assert value(samples, "tokex_gateway_rate_limited_total", **ws) == flow["rate_limited"] > 0
    assert value(samples, "tokex_gateway_disconnects_total", reason="slow_consumer", **ws) == 0
    errors = {
        dict(labels)["error"]: n
        for (name, labels), n in samples.items()
        if name == "tokex_gateway_errors_total"
    }
    assert errors == {
        "EOrder:Insufficient funds": 1,
        "EGeneral:Invalid arguments": 1,
        "EOrder:Unknown order": 1,
        "EAPI:Rate limit exceeded": flow["rate_limited"],
    }
    ack = "tokex_ack_latency_seconds_count"
    assert value(samples, ack, method="add_order", **ws) == orders["sent"] == 7
    assert value(samples, ack, method="login", **ws) == 2
    assert value(samples, ack, method="cancel_order", **ws) == 1
    assert value(samples, ack, method="ping", **ws) == flow["pings"]
    inf = value(samples, "tokex_ack_latency_seconds_bucket", method="add_order", le="+Inf", **ws)
    assert inf == orders["sent"]

    # The process and the loop.
    assert value(samples, "process_resident_memory_bytes") > 10 * 2**20
    lag = value(samples, "tokex_event_loop_lag_seconds_count")
    assert value(samples, "tokex_event_loop_lag_seconds_bucket", le="+Inf") == lag


async def _flow(served: Served) -> tuple[dict[str, Any], Samples]:
    """The flow, and a scrape taken while its three connections are still open."""
    port = served.ws_port
    alice, bob, carol = await connect(port), await connect(port), await connect(port)
    requests = 0
    sent_orders = reached = 0

    async def call(client: Any, method: str, **params: Any) -> dict[str, Any]:
        nonlocal requests
        requests += 1
        answer: dict[str, Any] = await client.call(method, **params)
        return answer

    async def order(client: Any, side: str, qty: str, price: str, engine: bool = True) -> Any:
        nonlocal sent_orders, reached
        sent_orders += 1
        reached += engine
        return await call(client, "add_order", **limit(side, qty, price))

    assert (await call(alice, "login", **login_params("alice")))["success"]
    assert (await call(bob, "login", **login_params("bob")))["success"]
    assert (await order(bob, "sell", "1", "230.50"))["success"]
    assert (await order(bob, "sell", "0.5", "230.60"))["success"]
    assert (await order(alice, "buy", "0.5", "229.50"))["success"]
    assert (await order(alice, "buy", "0.2", "230.50"))["success"]  # 0.2 @ 230.50
    assert (await order(alice, "buy", "1", "230.60"))["success"]  # 0.8 @ 230.50, 0.2 @ 230.60
    trades = [("230.50", "0.2"), ("230.50", "0.8"), ("230.60", "0.2")]
    refused = await order(bob, "buy", "5000", "229.00")
    assert refused["error"] == "EOrder:Insufficient funds", refused
    off_grid = await order(alice, "buy", "1", "229.505", engine=False)
    assert off_grid["error"].startswith("EGeneral:Invalid arguments:limit_price"), off_grid
    unknown = await call(alice, "cancel_order", order_id=["O999999"])
    # Only an unknown id: the whole request is EOrder:Unknown order (WS_API.md).
    assert unknown["error"] == "EOrder:Unknown order", unknown
    pings = 0
    for _ in range(3):
        assert (await call(alice, "ping"))["method"] == "pong"
        pings += 1
    # A burst past the bucket (100, refilled at 50/s): every request is answered.
    burst = 130
    for n in range(burst):
        await carol.ws.send(json.dumps({"method": "ping", "req_id": n}))
    answers = [await carol.recv() for _ in range(burst)]
    requests += burst
    pings += burst
    limited = sum(a.get("error") == "EAPI:Rate limit exceeded" for a in answers)
    await asyncio.sleep(0.3)  # let the loop-lag probe run at least once
    samples = await asyncio.to_thread(scrape, served)
    for client in (alice, bob, carol):
        await client.ws.close()
    return {
        "orders": {"sent": sent_orders, "reached_engine": reached},
        "trades": trades,
        "open_orders": 2,  # bob's 230.60 remainder and alice's 229.50 bid
        "requests": requests,
        "pings": pings,
        "rate_limited": limited,
    }, samples


def test_the_page_and_its_settings_are_served(tmp_path: Path) -> None:
    with console_server(tmp_path / "data") as served:
        status, headers, body = served.get("/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert f"ws://127.0.0.1:{served.ws_port}" in policy
        assert b'<script src="/console.js"' in body
        for path, kind in (("/console.js", "text/javascript"), ("/console.css", "text/css")):
            status, headers, _ = served.get(path)
            assert status == 200 and headers["Content-Type"].startswith(kind)
        status, _, body = served.get("/console.json")
        settings = json.loads(body)
        assert settings == {
            "name": "tokex-demo",
            "version": "0.1.0",
            "ws_port": served.ws_port,
            "clock": "simulated",
        }


def test_a_taken_http_port_stops_the_start_with_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "tokex.cli", "serve", "--data", str(tmp_path / "d")]
        command += [
            "--ws-port",
            "0",
            "--http-port",
            str(port),
            "--fix-port",
            "0",
            "--clock",
            MONDAY,
        ]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done
    assert f"the HTTP (console and /metrics) port: port {port} is taken" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
