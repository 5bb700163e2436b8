"""``tokex settlement status`` and ``run`` as a user runs them, and the operator method."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

from gateway.ws.server import WsGateway
from node.clock import parse_clock
from node.exchange import Exchange
from tests.integration.gateway.ws.client import connect
from tests.integration.settlement.conftest import Setup
from tests.integration.settlement.test_service import Node, random_flow

ROOT = Path(__file__).resolve().parents[3]


def tokex(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tokex.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def settled_data(setup: Setup, tmp_path: Path) -> Path:
    data = tmp_path / "data"

    async def scenario() -> None:
        node = Node(setup.config, data)
        await node.start()
        await node.run(random_flow(random.Random(81), 300))
        await node.stop()

    asyncio.run(scenario())
    return data


def test_status_reconciles_and_says_so_in_text_and_json(setup: Setup, tmp_path: Path) -> None:
    data = settled_data(setup, tmp_path)
    config = setup.write(tmp_path)
    text = tokex("settlement", "status", "--data", str(data), "--config", str(config))
    assert text.returncode == 0, text.stderr
    assert f"queue: {setup.backend}, depth 0 messages" in text.stdout
    assert "reconciliation (replay): reconciled at seq" in text.stdout
    assert "reconciliation (continuous): reconciled" in text.stdout
    as_json = tokex("settlement", "status", "--data", str(data), "--config", str(config), "--json")
    report = json.loads(as_json.stdout)
    assert report["reconciliation"]["ok"] and report["lag"] == {"trades": 0, "seconds": 0.0}
    assert report["last_settled_trade"]["trade_id"] == report["position"]["trades"] > 10
    assert set(report["instructions"]) == {"pending", "submitted", "confirmed", "failed"}


def test_status_fails_when_the_ledger_does_not_reconcile(setup: Setup, tmp_path: Path) -> None:
    data = settled_data(setup, tmp_path)
    config = setup.write(tmp_path)
    db = sqlite3.connect(data / "settlement" / "ledger.sqlite")
    with db:
        db.execute(
            "UPDATE balances SET balance = balance + 7 WHERE account = 'bob' AND asset = 'USD'"
        )
    db.close()
    done = tokex("settlement", "status", "--data", str(data), "--config", str(config), "--json")
    assert done.returncode == 1
    replay = json.loads(done.stdout)["reconciliation"]["results"][1]
    assert replay["ok"] is False and replay["difference_count"] == 1
    (diff,) = replay["differences"]
    assert (diff["account"], diff["asset"], diff["ledger"] - diff["engine"]) == ("bob", "USD", 7)
    text = tokex("settlement", "status", "--data", str(data), "--config", str(config))
    assert text.returncode == 1 and "NOT RECONCILED" in text.stdout and "bob USD" in text.stdout


def test_bad_arguments_are_named(tmp_path: Path) -> None:
    missing = tokex("settlement", "status", "--data", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "not a tokex data directory" in missing.stderr
    queue = tokex("settlement", "status", "--data", str(tmp_path), "--queue", "kafka://x")
    assert (
        queue.returncode == 2
        and "--queue 'kafka://x': give sqlite or a nats:// URL" in queue.stderr
    )
    run = tokex("settlement", "run", "--data", str(tmp_path / "nowhere"))
    assert run.returncode == 2 and "not a tokex data directory" in run.stderr


def test_one_worker_per_data_directory(setup: Setup, tmp_path: Path) -> None:
    data = settled_data(setup, tmp_path)
    config = setup.write(tmp_path)
    first = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tokex.cli",
            "settlement",
            "run",
            "--data",
            str(data),
            "--config",
            str(config),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stdout is not None and "worker on" in first.stdout.readline()
        second = tokex("settlement", "run", "--data", str(data), "--config", str(config))
        assert second.returncode == 1
        assert f"another settlement worker runs (pid {first.pid})" in second.stderr
    finally:
        first.terminate()
        first.wait(30)
        assert first.stdout is not None and "stopped" in first.stdout.read()
        for stream in (first.stdout, first.stderr):
            if stream is not None:
                stream.close()


def test_the_operator_method_needs_an_operator_and_a_settlement(tmp_path: Path) -> None:
    """A node with no settlement reported: EService:Unavailable; a trader: permission denied."""
    from node.config import DEMO_CONFIG, parse_config

    async def scenario() -> None:
        exchange = Exchange(parse_config(DEMO_CONFIG), tmp_path / "data", parse_clock("system"))
        exchange.open()
        await exchange.start()
        gateway = WsGateway(exchange)
        port = await gateway.start("127.0.0.1", 0)
        try:
            alice = await connect(port)
            await alice.login("alice")
            assert (await alice.call("settlement_status"))["error"] == "EGeneral:Permission denied"
            ops = await connect(port)
            await ops.login("ops")
            answer = await ops.call("settlement_status")
            assert answer["error"] == "EService:Unavailable:settlement is not running"
            exchange.add_report("settlement", lambda: {"queue": {"depth_messages": 3}})
            answer = await ops.call("settlement_status")
            assert answer["success"] and answer["result"] == {"queue": {"depth_messages": 3}}
            for c in (alice, ops):
                await c.ws.close()
        finally:
            await gateway.close()
            await exchange.close()

    asyncio.run(scenario())
