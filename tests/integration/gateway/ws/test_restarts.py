"""What must outlive a restart of ``tokex serve``, SIGKILL included.

Each test runs a real server on a data directory, kills it with SIGKILL (or
stops it with SIGTERM) and starts it again on the same directory: login
nonces and session tokens (node/access.py), snapshots written by record
count across short lifetimes (restart replays a bounded number of records),
the simulated clock (it goes on from the journal's last time, so a GTD order
expires on time), and the history behind the trade snapshot, the ticker's
24 hours and an account's fills (node/history.py, caught up from the
journal after a kill).
"""

from __future__ import annotations

import re
import signal
from collections.abc import Callable, Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any

from node.store import snapshots
from tests.integration.gateway.ws.client import (
    MONDAY,
    Client,
    config_file,
    connect,
    login_params,
    run_within,
    server,
)

RESTING = {"symbol": "AAPLx/USD", "side": "buy", "order_qty": "0.01", "limit_price": "220.00"}
UNLIMITED = "{ per_second = 1000000, burst = 1000000 }"


async def _close(*clients: Client) -> None:
    """Close the clients (an open one would hold the server's stop for its close timeout)."""
    for c in clients:
        await c.ws.close()


def _kill(proc: Any) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def _kill_between(
    data: Path,
    before: Callable[[int], Coroutine[Any, Any, None]],
    after: Callable[[int], Coroutine[Any, Any, None]],
) -> None:
    """Run ``before`` against a server on ``data``, SIGKILL it, run ``after`` on a new one."""
    with server(data, MONDAY) as (port, proc):
        run_within(before(port))
        _kill(proc)
    with server(data, MONDAY) as (port, _):
        run_within(after(port))


def test_a_login_replayed_after_sigkill_is_refused_and_tokens_survive(tmp_path: Path) -> None:
    """Proves nonces and tokens are durable before the login is answered.

    alice logs in (nonce N) and bob with a far lower nonce; the server is
    SIGKILLed right after the answers. Restarted on the same data: the very
    same login messages are ``EAPI:Invalid nonce`` (so is a lower nonce of
    each key), a higher nonce logs in, and the token alice got before the
    kill still places an order from a fresh connection.
    """
    data = tmp_path / "data"
    captured = {"alice": login_params("alice"), "bob": login_params("bob", 7)}
    tokens: dict[str, str] = {}

    async def before(port: int) -> None:
        for name, params in captured.items():
            c = await connect(port)
            answer = await c.call("login", **params)
            assert answer["success"], answer
            tokens[name] = answer["result"]["token"]
            await _close(c)

    async def after(port: int) -> None:
        c = await connect(port)
        for name, params in captured.items():
            assert (await c.call("login", **params))["error"] == "EAPI:Invalid nonce"
            lower = login_params(name, params["nonce"] - 1)
            assert (await c.call("login", **lower))["error"] == "EAPI:Invalid nonce"
        higher = login_params("bob", 8)
        assert (await c.call("login", **higher))["result"]["account"] == "bob"
        other = await connect(port)
        placed = await other.call("add_order", token=tokens["alice"], **RESTING)
        assert placed["success"], placed
        assert (await other.call("add_order", token="0" * 32, **RESTING))["error"] == (
            "ESession:Invalid session"
        )
        await _close(c, other)

    _kill_between(data, before, after)


def test_snapshots_count_records_across_short_lifetimes_so_restarts_replay_few(
    tmp_path: Path,
) -> None:
    """Proves a snapshot is taken by records since the newest one, whichever process wrote it.

    With ``snapshots = { records = 100, seconds = 0 }``, six lifetimes each
    add 60 records (orders) and end by SIGKILL or SIGTERM: no single lifetime
    reaches 100, yet every restart replays at most 100 + two lifetimes'
    records (a snapshot child may still be writing when the next start
    looks), where counting per lifetime would replay all 300 by the end. Old
    snapshots are pruned (at a start or a clean stop: no lifetime lives to
    prune between batches). The orders all survive.
    """
    config = config_file(
        tmp_path / "tokex.toml", snapshots="{ records = 100, seconds = 0 }", rate_limit=UNLIMITED
    )
    data = tmp_path / "data"
    replayed: list[int] = []
    placed: list[str] = []

    async def lifetime(port: int, k: int) -> None:
        c = await connect(port)
        name = ("alice", "bob")[k % 2]
        assert (await c.login(name))["success"]
        for i in range(60):
            ticks = 22_000 + k * 60 + i
            order = {**RESTING, "limit_price": f"{ticks // 100}.{ticks % 100:02d}"}
            answer = await c.call("add_order", **order)
            assert answer["success"], answer
            placed.append(answer["result"]["order_id"])
        await _close(c)

    for k in range(6):
        banner: list[str] = []
        with server(data, config=config, banner=banner) as (port, proc):
            found = re.search(r"([\d,]+) records replayed", banner[0])
            assert found, banner
            replayed.append(int(found.group(1).replace(",", "")))
            run_within(lifetime(port, k))
            if k % 2:
                _kill(proc)
    assert max(replayed) <= 100 + 2 * 60, replayed
    assert replayed[:2] == [0, 15 + 60]  # a fresh directory; its deposits and 60 orders
    assert snapshots(data), "no snapshot was written"
    assert len(snapshots(data)) <= 2, snapshots(data)  # pruned, though no lifetime saw it done

    async def check(port: int) -> None:
        ids = set()
        for name in ("alice", "bob"):
            c = await connect(port)
            assert (await c.login(name))["success"]
            assert (await c.call("subscribe", channel="executions"))["success"]
            ids |= {o["order_id"] for o in (await c.recv())["data"]}
            await _close(c)
        assert ids == set(placed)

    with server(data, config=config) as (port, _):
        run_within(check(port))


async def _executions(client: Client, **params: Any) -> list[dict[str, Any]]:
    """Subscribe ``client`` to executions; the snapshot's items."""
    assert (await client.call("subscribe", channel="executions", **params))["success"]
    while True:
        msg = await client.recv()
        if msg.get("channel") == "executions" and msg["type"] == "snapshot":
            return list(msg["data"])


def test_the_simulated_clock_resumes_at_the_journal_time_and_a_gtd_order_expires_on_time(
    tmp_path: Path,
) -> None:
    """Proves a restart on ``--clock sim:`` goes on from the journal, not from the start.

    At 15:00:00Z (the ``--clock`` start) alice places a GTD order expiring at
    15:10:00Z; the operator advances 300 s; SIGKILL. Restarted with the same
    ``--clock``, the exchange stands at 15:05:00Z (the time ``clock_advance``
    journaled), the order is open, 299 s later it still is, and one more
    second expires it with the timestamp 15:10:00.000000Z (a restart that
    went back to the start would expire it 300 s late).
    """
    data = tmp_path / "data"
    gtd = {**RESTING, "time_in_force": "gtd", "expire_time": "2026-11-23T15:10:00Z"}

    async def before(port: int) -> None:
        ops, alice = await connect(port), await connect(port)
        assert (await ops.login("ops"))["success"]
        assert (await alice.login("alice"))["success"]
        placed = await alice.call("add_order", **gtd)
        assert placed["success"], placed
        assert (await ops.call("clock_advance", seconds=300))["success"]
        await _close(ops, alice)

    async def after(port: int) -> None:
        ops, alice = await connect(port), await connect(port)
        pong = await ops.call("ping")
        assert pong["time_in"] == "2026-11-23T15:05:00.000000Z", pong
        assert (await ops.login("ops"))["success"]
        assert (await alice.login("alice"))["success"]
        [open_order] = await _executions(alice)
        assert open_order["time_in_force"] == "gtd"
        assert (await ops.call("clock_advance", seconds=299))["success"]
        assert (await alice.call("ping"))["method"] == "pong"
        assert not [m for m in alice.pushed if m.get("channel") == "executions"]
        assert (await ops.call("clock_advance", seconds=1))["success"]
        while True:
            msg = await alice.recv()
            if msg.get("channel") == "executions":
                break
        [expired] = msg["data"]
        assert (expired["exec_type"], expired["order_id"]) == ("expired", open_order["order_id"])
        assert expired["timestamp"] == "2026-11-23T15:10:00.000000Z"
        await _close(ops, alice)

    _kill_between(data, before, after)


def test_trades_ticker_and_fills_are_rebuilt_after_sigkill(tmp_path: Path) -> None:
    """Proves the trade snapshot, the ticker's 24 hours and snap_trades outlive a SIGKILL.

    alice and bob trade AAPLx three times (the last at once before the kill,
    so the history may hold none of it yet and must catch up from the
    journal). After the restart: the trade channel's snapshot lists the
    three trades with their ids, prices and sizes; the ticker shows their
    volume, VWAP, low, high and last; alice's ``snap_trades`` lists her three
    fills.
    """
    data = tmp_path / "data"
    fills = [("230.00", "0.5"), ("230.50", "0.25"), ("229.75", "1")]
    trade_ids: list[int] = []

    async def before(port: int) -> None:
        alice, bob, watcher = await connect(port), await connect(port), await connect(port)
        assert (await alice.login("alice"))["success"]
        assert (await bob.login("bob"))["success"]
        assert (await watcher.call("subscribe", channel="trade", symbol=["AAPLx/USD"]))["success"]
        for price, qty in fills:
            order = {"symbol": "AAPLx/USD", "order_qty": qty, "limit_price": price}
            assert (await bob.call("add_order", side="sell", **order))["success"]
            assert (await alice.call("add_order", side="buy", **order))["success"]
        while len(trade_ids) < 3:
            msg = await watcher.recv()
            if msg.get("channel") == "trade" and msg["type"] == "update":
                trade_ids.extend(t["trade_id"] for t in msg["data"])
        await _close(alice, bob, watcher)

    async def after(port: int) -> None:
        c = await connect(port)
        assert (await c.call("subscribe", channel="trade", symbol=["AAPLx/USD"]))["success"]
        snap = await c.recv()
        assert [t["trade_id"] for t in snap["data"]] == trade_ids
        assert [(Decimal(str(t["price"])), Decimal(str(t["qty"]))) for t in snap["data"]] == [
            (Decimal(p), Decimal(q)) for p, q in fills
        ]
        assert {t["side"] for t in snap["data"]} == {"buy"}  # alice took each time
        assert (await c.call("subscribe", channel="ticker", symbol=["AAPLx/USD"]))["success"]
        [ticker] = (await c.recv())["data"]
        assert Decimal(str(ticker["volume"])) == Decimal("1.75")
        assert Decimal(str(ticker["last"])) == Decimal("229.75")
        assert (Decimal(str(ticker["low"])), Decimal(str(ticker["high"]))) == (
            Decimal("229.75"),
            Decimal("230.50"),
        )
        notional = sum(Decimal(p) * Decimal(q) for p, q in fills)
        vwap = (notional / Decimal("1.75")).quantize(Decimal("0.01"))
        assert Decimal(str(ticker["vwap"])) == vwap
        alice = await connect(port)
        assert (await alice.login("alice"))["success"]
        items = await _executions(alice, snap_orders=False, snap_trades=True)
        assert [i["exec_id"] for i in items] == [f"T{t}" for t in trade_ids]
        assert {(i["exec_type"], i["side"], i["liquidity_ind"]) for i in items} == {
            ("trade", "buy", "t")
        }
        await _close(c, alice)

    _kill_between(data, before, after)
