"""Who may do what on the WebSocket gateway, and what stays true across connections.

Each test starts a real ``tokex serve`` (the built-in demo config, a simulated
clock at Monday 10:00 New York time) and talks to it with ``websockets``
clients on loopback. Covered: login failures (key, signature, nonces across
connections, missing and mistyped fields); tokens used from another
connection, bogus tokens, and their 15-minute idle expiry on the exchange
clock; private calls without a session; the role matrix of every method in
WS_API.md; the dead man's switch across a reconnect (armed, re-armed,
disarmed, fired by the operator's ``clock_advance``); a slow consumer cut
with 1013; and the per-connection rate limit on trading requests.

The demo accounts: ``alice`` and ``bob`` (trader), ``mm`` (market_maker),
``ops`` (operator); API key ``<id>-key``, secret ``<id>-secret``.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from tests.integration.gateway.ws.client import (
    Client,
    connect,
    live_server,
    login_params,
    next_nonce,
    pushes_until_pong,
    run_within,
    send_burst,
    sign,
)

INVALID_ARGUMENTS = "EGeneral:Invalid arguments:"
DENIED = "EGeneral:Permission denied"
NO_SESSION = "ESession:Invalid session"

# A resting buy far from the AAPLx reference (230.00) but inside its 5% band.
RESTING = {"symbol": "AAPLx/USD", "side": "buy", "order_qty": "0.01", "limit_price": "220.00"}

TRADING_METHODS = (
    "add_order",
    "amend_order",
    "edit_order",
    "cancel_order",
    "cancel_all",
    "cancel_all_orders_after",
    "batch_add",
    "batch_cancel",
)
OPERATOR_METHODS = (
    "halt",
    "resume",
    "set_reference_price",
    "corporate_action",
    "deposit",
    "withdraw",
    "kill_switch",
    "clock_advance",
    "mass_cancel",
)


def _params(method: str, order_id: str = "O1") -> dict[str, Any]:
    """Well-formed params for ``method`` (WS_API.md), naming ``order_id`` where it needs one."""
    table: dict[str, dict[str, Any]] = {
        "add_order": RESTING,
        "amend_order": {"order_id": order_id, "limit_price": "220.01"},
        "edit_order": {"order_id": order_id, "symbol": "AAPLx/USD", "order_qty": "0.02"},
        "cancel_order": {"order_id": [order_id]},
        "cancel_all": {"symbol": "AAPLx/USD"},
        "cancel_all_orders_after": {"timeout": 0},
        "batch_add": {
            "symbol": "AAPLx/USD",
            "orders": [
                {
                    "order_type": "limit",
                    "side": "buy",
                    "order_qty": "0.01",
                    "limit_price": "220.00",
                },
                {
                    "order_type": "limit",
                    "side": "buy",
                    "order_qty": "0.01",
                    "limit_price": "220.01",
                },
            ],
        },
        "batch_cancel": {"orders": [order_id]},
        "halt": {"symbol": "NVDAx/USD", "reason": "test"},
        "mass_cancel": {"account": "bob"},
        "resume": {"symbol": "NVDAx/USD", "auction_seconds": 0},
        "set_reference_price": {"symbol": "SPYx/USD", "price": "590.00"},
        "corporate_action": {
            "symbol": "TSLAx/USD",
            "kind": "split",
            "ratio": "2",
            "effective_time": "2027-06-01T00:00:00Z",
        },
        "deposit": {"account": "bob", "asset": "USD", "amount": "1.00"},
        "withdraw": {"account": "bob", "asset": "USD", "amount": "1.00"},
        "kill_switch": {"account": "bob", "enabled": False},
        "clock_advance": {"seconds": 1},
    }
    return table[method]


async def _raw(client: Client, message: object) -> dict[str, Any]:
    """Send any JSON value as it is; return the next answer (pushes are kept aside)."""
    await client.ws.send(json.dumps(message))
    while True:
        msg = await client.recv()
        if "channel" not in msg:
            return msg
        client.pushed.append(msg)


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


async def _open_orders(client: Client) -> list[str]:
    """The account's open order ids, from a fresh ``executions`` snapshot on ``client``."""
    sub = await client.call("subscribe", channel="executions")
    assert sub["success"], sub
    while True:
        msg = await client.recv()
        if msg.get("channel") == "executions" and msg.get("type") == "snapshot":
            return sorted(o["order_id"] for o in msg["data"])


def _cancelled(pushes: list[dict[str, Any]]) -> dict[str, str]:
    """order_id -> reason for every ``canceled`` execution in ``pushes``."""
    return {
        item["order_id"]: item.get("reason", "")
        for msg in pushes
        if msg.get("channel") == "executions"
        for item in msg["data"]
        if item.get("exec_type") == "canceled"
    }


# --------------------------------------------------------------------------- login


def test_login_rejects_unknown_keys_bad_signatures_and_replayed_or_lower_nonces(
    tmp_path: Path,
) -> None:
    """Proves login checks the key, the HMAC and a per-key increasing nonce across connections.

    A replayed nonce is refused on the connection that used it and on a second
    one; a lower nonce is refused; another key's nonces are independent; a
    failed login leaves no session behind; a signature that is not even hex
    (empty, non-hex, non-ASCII) is ``EAPI:Invalid signature``; and nothing
    closes the connection.
    """

    async def scenario(port: int) -> None:
        a, b = await connect(port), await connect(port)
        nonce = next_nonce()
        unknown = {
            "api_key": "nobody-key",
            "nonce": nonce,
            "signature": sign("nobody-secret", "nobody-key", nonce),
        }
        assert (await a.call("login", **unknown))["error"] == "EAPI:Invalid key"
        wrong_secret = {
            **login_params("alice", nonce),
            "signature": sign("dG9rZXggZGVtbyBzZWNyZXQgb2YgYm9i", "x", nonce),
        }
        assert (await a.call("login", **wrong_secret))["error"] == "EAPI:Invalid signature"
        other_nonce = {**login_params("alice", nonce), "nonce": nonce + 1}  # signed for `nonce`
        assert (await a.call("login", **other_nonce))["error"] == "EAPI:Invalid signature"
        # Failed logins leave the connection without a session, and open.
        assert (await a.call("add_order", **RESTING))["error"] == NO_SESSION
        good = login_params("alice", nonce)
        first = await a.call("login", **good)
        assert first["success"] and first["result"]["account"] == "alice", first
        assert first["result"]["expires_in"] == 900 and first["result"]["token"]
        assert (await a.call("login", **good))["error"] == "EAPI:Invalid nonce"
        assert (await b.call("login", **good))["error"] == "EAPI:Invalid nonce"  # replayed on B
        lower = login_params("alice", nonce - 1)
        assert (await b.call("login", **lower))["error"] == "EAPI:Invalid nonce"
        upper = {**good, "signature": good["signature"].upper()}  # same HMAC, same nonce
        assert (await b.call("login", **upper))["error"] == "EAPI:Invalid nonce"
        assert (await b.call("add_order", **RESTING))["error"] == NO_SESSION
        # Nonces are per key: bob may use a nonce far below alice's.
        assert (await b.call("login", **login_params("bob", 5)))["result"]["account"] == "bob"
        assert (await b.call("login", **login_params("bob", 5)))["error"] == "EAPI:Invalid nonce"
        assert (await b.call("login", **login_params("alice", nonce + 1)))["success"]
        for c in (a, b):
            assert (await c.call("ping"))["method"] == "pong"
            await c.ws.close()
        # Signatures that are not hex at all are just wrong signatures.
        for signature in ("", "zz" * 32, "0" * 64, "é" * 64):
            c = await connect(port)
            garbled = {**login_params("alice"), "signature": signature}
            try:
                answer = await c.call("login", **garbled)
            except websockets.ConnectionClosed as e:
                raise AssertionError(f"login with signature {signature!r}: closed, {e}") from None
            assert answer.get("error") == "EAPI:Invalid signature", (signature, answer)
            await c.ws.close()

    with live_server(tmp_path / "data") as (port, _):
        run_within(scenario(port))


def test_login_with_missing_or_mistyped_fields_is_invalid_arguments(tmp_path: Path) -> None:
    """Proves each missing or mistyped login field is ``EGeneral:Invalid arguments:<why>``.

    WS_API.md: a missing or mistyped field is ``EGeneral:Invalid arguments``;
    the nonce is an integer (a boolean, a string or a float is mistyped), the
    key and signature strings. The connection stays open throughout.
    """

    async def scenario(port: int) -> None:
        c = await connect(port)
        good = login_params("alice")
        cases: list[tuple[str, object]] = [
            ("no params", {"method": "login", "req_id": 1}),
            ("params not an object", {"method": "login", "params": [1], "req_id": 1}),
        ]
        for field in ("api_key", "nonce", "signature"):
            rest = {k: v for k, v in good.items() if k != field}
            cases.append((f"{field} missing", {"method": "login", "params": rest}))
        mistyped: list[tuple[str, object]] = [
            ("api_key", 123),
            ("api_key", None),
            ("api_key", ["alice-key"]),
            ("nonce", str(good["nonce"])),
            ("nonce", float(good["nonce"])),
            ("nonce", True),
            ("nonce", None),
            ("nonce", 0),
            ("nonce", 2**63),
            ("signature", 0),
            ("signature", None),
            ("signature", {"hex": good["signature"]}),
        ]
        for field, value in mistyped:
            params = {**good, field: value}
            if field == "nonce" and value is True:
                # Signed as the server would see it (str(True)): only the type is wrong.
                params["signature"] = sign(
                    "dG9rZXggZGVtbyBzZWNyZXQgb2YgYWxpY2U=", "alice-key", True
                )
            cases.append((f"{field}={value!r}", {"method": "login", "params": params}))
        wrong = []
        for name, message in cases:
            answer = await _raw(c, message)
            error = answer.get("error", "")
            if not (error.startswith(INVALID_ARGUMENTS) and len(error) > len(INVALID_ARGUMENTS)):
                wrong.append(f"{name}: {json.dumps(message)} -> {json.dumps(answer)}")
        assert (await c.call("ping"))["method"] == "pong"
        after = await c.call("add_order", **RESTING)
        if after.get("error") != NO_SESSION:
            wrong.append(f"a refused login left a session: add_order -> {json.dumps(after)}")
        assert not wrong, "\n".join(wrong)
        await c.ws.close()

    with live_server(tmp_path / "data") as (port, _):
        run_within(scenario(port))


# --------------------------------------------------------------------------- tokens


def test_a_token_works_from_another_connection_and_a_bogus_one_does_not(tmp_path: Path) -> None:
    """Proves a login's token authorizes private calls on a connection that never logged in.

    Connection B places, lists (executions snapshot) and cancels an order as
    alice with alice's token from connection A; a bogus or mistyped token is
    ``ESession:Invalid session`` and does not fall back to anything; and B,
    having only used a token, still has no session of its own (WS_API.md: a
    private call with neither a login nor a token is ``ESession:Invalid
    session``).
    """

    async def scenario(port: int) -> None:
        a, b = await connect(port), await connect(port)
        token = (await a.login("alice"))["result"]["token"]
        placed = await b.call("add_order", token=token, **RESTING)
        assert placed["success"], placed
        order_id = placed["result"]["order_id"]
        sub = await b.call("subscribe", channel="executions", token=token)
        assert sub["success"], sub
        snap = await b.recv()
        assert [o["order_id"] for o in snap["data"]] == [order_id]
        # The order is alice's: her own login on A sees it too.
        assert await _open_orders(a) == [order_id]
        c = await connect(port)
        for bogus in ("0" * 32, token[:-1], token + "0", ""):
            assert (await c.call("add_order", token=bogus, **RESTING))["error"] == NO_SESSION
            assert (await c.call("cancel_all", token=bogus))["error"] == NO_SESSION
        bad_sub = await c.call("subscribe", channel="executions", token="0" * 32)
        assert bad_sub["error"] == NO_SESSION
        # A token that is not text is a mistyped field, not a missing session.
        mistyped = await c.call("add_order", token=12345, **RESTING)
        assert mistyped["error"] == f"{INVALID_ARGUMENTS}token 12345: must be text", mistyped
        cancel = await b.call("cancel_order", token=token, order_id=[order_id])
        assert cancel["success"] and cancel["result"]["count"] == 1, cancel
        # Using a token (even for a subscription) does not log B in: a call with
        # neither a login nor a token is still refused there.
        bare = await b.call("add_order", **RESTING)
        assert bare.get("error") == NO_SESSION, bare
        for x in (a, b, c):
            await x.ws.close()

    with live_server(tmp_path / "data") as (port, _):
        run_within(scenario(port))


def test_a_token_expires_15_minutes_after_its_last_use_on_the_exchange_clock(
    tmp_path: Path,
) -> None:
    """Proves token expiry is idle time on the exchange clock, and each use extends it.

    The clock only moves by the operator's ``clock_advance``. A token used
    14 minutes after login still works, and again 14 minutes after that
    (28 minutes after login, 14 after its last use); 15 minutes and a second
    after its last use it is ``ESession:Invalid session``, and so is the
    login of the connection that made the token, unused for 29 minutes.
    """

    async def scenario(port: int) -> None:
        ops, alice, b = await connect(port), await connect(port), await connect(port)
        assert (await ops.login("ops"))["success"]
        token = (await alice.login("alice"))["result"]["token"]

        async def advance(seconds: int) -> None:
            moved = await ops.call("clock_advance", seconds=seconds)
            assert moved["success"], moved

        await advance(14 * 60)
        assert (await b.call("cancel_all", token=token))["success"]  # a use
        await advance(14 * 60)
        placed = await b.call("add_order", token=token, **RESTING)  # 28 min after login
        assert placed["success"], placed
        await advance(15 * 60 + 1)
        assert (await b.call("cancel_all", token=token))["error"] == NO_SESSION
        assert (await b.call("add_order", token=token, **RESTING))["error"] == NO_SESSION
        sub = await b.call("subscribe", channel="balances", token=token)
        assert sub["error"] == NO_SESSION
        # alice's own login lapsed too (28 minutes unused): it is refused like the token.
        assert (await alice.call("cancel_all"))["error"] == NO_SESSION
        # Nothing was cancelled by the refused calls: the order is still alice's.
        assert (await alice.login("alice"))["success"]
        assert await _open_orders(alice) == [placed["result"]["order_id"]]
        for c in (ops, alice, b):
            await c.ws.close()

    with live_server(tmp_path / "data") as (port, _):
        run_within(scenario(port))


def test_every_private_method_and_channel_needs_a_session(tmp_path: Path) -> None:
    """Proves every private method and the executions/balances channels refuse a caller
    with neither a login nor a token (``ESession:Invalid session``), with or without a
    bogus token, while public ones (ping, book) still work on that connection.
    """

    async def scenario(port: int) -> None:
        c = await connect(port)
        wrong = []
        for method in (*TRADING_METHODS, *OPERATOR_METHODS):
            for extra in ({}, {"token": "f" * 32}):
                answer = await c.call(method, **_params(method), **extra)
                if answer.get("error") != NO_SESSION:
                    wrong.append(f"{method} {extra}: {json.dumps(answer)}")
        for channel in ("executions", "balances"):
            for extra in ({}, {"token": "f" * 32}):
                answer = await c.call("subscribe", channel=channel, **extra)
                if answer.get("error") != NO_SESSION:
                    wrong.append(f"subscribe {channel} {extra}: {json.dumps(answer)}")
        assert (await c.call("ping"))["method"] == "pong"
        book = await c.call("subscribe", channel="book", symbol=["AAPLx/USD"])
        assert book["success"], book
        assert not wrong, "\n".join(wrong)
        await c.ws.close()

    with live_server(tmp_path / "data") as (port, _):
        run_within(scenario(port))


# --------------------------------------------------------------------------- roles


def test_the_role_matrix_of_every_method(tmp_path: Path) -> None:
    """Proves each method in WS_API.md is allowed exactly to its roles, and a refusal does nothing.

    Trading methods are for ``trader`` (alice) and ``market_maker`` (mm): each
    succeeds for them on their own orders and is ``EGeneral:Permission denied``
    for the operator, even when the operator names alice's live order. The
    operator methods and ``clock_advance`` succeed for ``ops`` and are denied to
    both trading roles, even with damaging params (halt AAPLx, kill bob's
    account, withdraw bob's dollars); afterwards alice's order is still open and
    bob can still trade AAPLx. Every mismatch is listed at once.
    """

    async def scenario(port: int) -> None:
        clients = {name: await connect(port) for name in ("alice", "mm", "ops", "bob")}
        for name, client in clients.items():
            assert (await client.login(name))["success"]
        wrong: list[str] = []

        def expect(role: str, method: str, answer: dict[str, Any], allowed: bool) -> None:
            ok = answer.get("success") is True if allowed else answer.get("error") == DENIED
            if not ok:
                want = "success" if allowed else DENIED
                wrong.append(f"{role} {method}: expected {want}, got {json.dumps(answer)}")

        async def allowed(role: str, method: str, order_id: str = "O0") -> dict[str, Any]:
            answer = await clients[role].call(method, **_params(method, order_id))
            expect(role, method, answer, True)
            return answer

        def new_id(answer: dict[str, Any]) -> str:
            return str(answer.get("result", {}).get("order_id", "O0"))

        # Trading methods, allowed: each role works on its own orders.
        for role in ("alice", "mm"):
            order_id = new_id(await allowed(role, "add_order"))
            await allowed(role, "amend_order", order_id)
            edited_id = new_id(await allowed(role, "edit_order", order_id))
            await allowed(role, "cancel_order", edited_id)
            await allowed(role, "batch_cancel", new_id(await allowed(role, "add_order")))
            batch = await allowed(role, "batch_add")
            if batch.get("success"):
                assert len(batch["result"]["orders"]) == 2, batch
            await allowed(role, "cancel_all")
            await allowed(role, "cancel_all_orders_after")
        # Trading methods, denied to the operator, even on alice's live order.
        live = await clients["alice"].call("add_order", **_params("add_order"))
        assert live["success"], live
        live_id = live["result"]["order_id"]
        for method in TRADING_METHODS:
            answer = await clients["ops"].call(method, **_params(method, live_id))
            expect("ops", method, answer, False)
        timeout = await clients["ops"].call("cancel_all_orders_after", timeout=30)
        expect("ops", "cancel_all_orders_after(30)", timeout, False)
        # Operator methods, denied to both trading roles, even when they would do harm.
        harmful: dict[str, dict[str, Any]] = {
            "halt": {"symbol": "AAPLx/USD", "reason": "not yours"},
            "set_reference_price": {"symbol": "AAPLx/USD", "price": "1.00"},
            "withdraw": {"account": "bob", "asset": "USD", "amount": "999999.00"},
            "kill_switch": {"account": "bob", "enabled": True},
            "corporate_action": {"symbol": "AAPLx/USD", "kind": "delist"},
            "mass_cancel": {"account": "alice"},
        }
        for role in ("alice", "mm"):
            for method in OPERATOR_METHODS:
                params = harmful.get(method, _params(method))
                expect(role, method, await clients[role].call(method, **params), False)
        # Operator methods, allowed to the operator.
        for method in OPERATOR_METHODS:
            await allowed("ops", method)
        # Nothing the refused calls asked for happened.
        assert live_id in await _open_orders(clients["alice"])
        bob_order = await clients["bob"].call("add_order", **RESTING)
        assert bob_order["success"], bob_order
        assert not wrong, "\n".join(wrong)
        for client in clients.values():
            await client.ws.close()

    with live_server(tmp_path / "data") as (port, _):
        run_within(scenario(port))


# --------------------------------------------------------------------------- dead man's switch


def test_the_dead_man_switch_survives_a_reconnect_and_fires_on_the_exchange_clock(
    tmp_path: Path,
) -> None:
    """Proves ``cancel_all_orders_after`` outlives the connection that armed it.

    alice arms 60 s and disconnects: nothing is cancelled (the demo accounts do
    not cancel on disconnect). A new connection's executions snapshot still
    lists both orders; 59 s later on the exchange clock nothing has happened;
    at 61 s both orders are cancelled with reason ``dead_man_switch``, pushed
    on the new connection's executions channel.
    """

    async def scenario(port: int) -> None:
        ops, first = await connect(port), await connect(port)
        assert (await ops.login("ops"))["success"]
        assert (await first.login("alice"))["success"]
        ids = []
        spy = {**RESTING, "symbol": "SPYx/USD", "side": "sell", "limit_price": "600.00"}
        for order in (RESTING, spy):
            placed = await first.call("add_order", **order)
            assert placed["success"], placed
            ids.append(placed["result"]["order_id"])
        armed = await first.call("cancel_all_orders_after", timeout=60)
        assert armed["success"], armed
        result = armed["result"]
        assert _seconds(result["triggerTime"]) - _seconds(result["currentTime"]) == 60
        await first.ws.close()
        await first.ws.wait_closed()

        second = await connect(port)
        assert (await second.login("alice"))["success"]
        assert await _open_orders(second) == sorted(ids)  # nothing cancelled on disconnect
        assert (await ops.call("clock_advance", seconds=59))["success"]
        assert _cancelled(await pushes_until_pong(second)) == {}
        assert (await ops.call("clock_advance", seconds=2))["success"]
        fired = _cancelled(await pushes_until_pong(second))
        assert fired == dict.fromkeys(ids, "dead_man_switch")
        assert await _open_orders(second) == []
        for c in (ops, second):
            await c.ws.close()

    with live_server(tmp_path / "data") as (port, _):
        run_within(scenario(port))


def test_rearming_the_dead_man_switch_postpones_it_and_timeout_zero_disables_it(
    tmp_path: Path,
) -> None:
    """Proves a new ``cancel_all_orders_after`` replaces the deadline and 0 disarms it.

    Armed for 60 s, re-armed for 60 s after 50 s (from another connection):
    nothing at 100 s, the order cancelled (``dead_man_switch``) at 111 s.
    Armed for 30 s then disarmed with 0: nothing happens 10 minutes later.
    """

    async def scenario(port: int) -> None:
        ops, a, b = await connect(port), await connect(port), await connect(port)
        assert (await ops.login("ops"))["success"]
        assert (await a.login("alice"))["success"]
        assert (await b.login("alice"))["success"]
        await _open_orders(b)  # subscribe b to executions

        async def advance(seconds: int) -> list[dict[str, Any]]:
            assert (await ops.call("clock_advance", seconds=seconds))["success"]
            return await pushes_until_pong(b)

        order_id = (await a.call("add_order", **RESTING))["result"]["order_id"]
        assert (await a.call("cancel_all_orders_after", timeout=60))["success"]
        assert _cancelled(await advance(50)) == {}
        rearmed = await b.call("cancel_all_orders_after", timeout=60)
        assert rearmed["success"], rearmed
        assert _cancelled(await advance(50)) == {}  # 100 s after the first arming
        assert _cancelled(await advance(11)) == {order_id: "dead_man_switch"}

        kept = (await a.call("add_order", **RESTING))["result"]["order_id"]
        assert (await a.call("cancel_all_orders_after", timeout=30))["success"]
        disarmed = await a.call("cancel_all_orders_after", timeout=0)
        assert disarmed["success"], disarmed
        assert _cancelled(await advance(600)) == {}
        assert await _open_orders(b) == [kept]
        for c in (ops, a, b):
            await c.ws.close()

    with live_server(tmp_path / "data") as (port, _):
        run_within(scenario(port))


# --------------------------------------------------------------------------- flow control


async def _stalled_client(port: int) -> ClientConnection:
    """A client that reads nothing: a 4 KiB receive buffer, no compression, a 1-frame queue.

    The receive buffer is set before connecting, so the TCP window it
    advertises stays small; with ``max_queue=1`` the websockets client stops
    reading the socket as soon as one frame waits to be consumed.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return await websockets.connect(
        f"ws://127.0.0.1:{port}/v2", sock=sock, compression=None, max_queue=1
    )


def test_a_slow_consumer_is_closed_with_1013_and_the_others_carry_on(tmp_path: Path) -> None:
    """Proves a subscriber that stops reading is cut with 1013 "slow consumer", with no gap.

    How it is made deterministic: the server counts what it owes a
    connection, in its transport's buffer and in the kernel's send queue
    (bytes written and not yet taken by the client); the rest can only sit
    in the stalled client's own buffers, which are bounded: its receive
    buffer is 4 KiB (set before connecting) and its websockets reader stops
    after one queued frame (at most one 256 KiB socket read). Compression is
    off so bytes on the wire are bytes queued. Three accounts place 475
    orders each on distinct AAPLx levels (from 15 connections, under the
    rate limit): a depth-1000 book snapshot is then about 40 KB and alice's
    executions snapshot about 80 KB. The stalled client, with alice's token,
    sends in one write (within the rate limit's bucket) alternate
    subscriptions to both, enough to be owed more than 5 MiB, sizes measured
    on a watcher that reads; the server reads the burst before it owes any
    snapshot (it stops reading a connection only once 1 MiB of its output
    waits untaken), so the queue must pass 4 MiB. A client that sends the
    very same requests, spaced (10 ms or more, so that no pipeline batch
    yields more than a few snapshots), and reads is served all of them, so
    what cuts the other one is not reading. Reading afterwards, the stalled
    client finds an unbroken prefix of its answers and snapshots (written
    before the cut), then the close 1013 "slow consumer". A watcher
    subscribed to the same book, and a trader, keep working, and the
    watcher's sequence has no gap; the book update the trader causes never
    reaches the stalled client.
    """

    async def scenario(port: int) -> None:
        tokens = {}
        for name in ("alice", "bob", "mm"):
            c = await connect(port)
            tokens[name] = (await c.login(name))["result"]["token"]
            await c.ws.close()

        async def fill(k: int) -> None:
            # Connection k places 95 orders for one account on levels of its own.
            name = ("alice", "bob", "mm")[k % 3]
            c = await connect(port)
            for i in range(95):
                j = (k // 3) * 95 + i  # 0..474 for each account
                if name == "mm":
                    side, ticks = ("buy" if j % 2 else "sell"), 500 + j // 2
                else:
                    side, ticks = ("buy" if name == "alice" else "sell"), j + 1
                price = 23000 - ticks if side == "buy" else 23000 + ticks
                placed = await c.call(
                    "add_order", token=tokens[name], symbol="AAPLx/USD", side=side,
                    order_qty="0.01", limit_price=f"{price / 100:.2f}",
                )  # fmt: skip
                assert placed["success"], placed
            await c.ws.close()

        await asyncio.gather(*(fill(k) for k in range(15)))
        book = {"channel": "book", "symbol": ["AAPLx/USD"], "depth": 1000}
        mine = {"channel": "executions", "token": tokens["alice"]}
        watcher = await connect(port)
        sizes = []
        for params in (book, mine):
            assert (await watcher.call("subscribe", **params))["success"]
            snapshot = await watcher.recv()
            sizes.append(len(json.dumps(snapshot, separators=(",", ":"))))
            if snapshot["channel"] == "book":
                [data] = snapshot["data"]
                assert (len(data["bids"]), len(data["asks"])) == (712, 713)
            else:
                assert len(snapshot["data"]) == 475
        # What the server counts (its transport and the kernel's send queue) must pass
        # 4 MiB; the stalled client's own buffers hold at most 4 KiB plus one read.
        owed = 4 * 1024 * 1024 + 1024 * 1024
        requests = 2 * math.ceil(owed / sum(sizes))
        assert requests <= 100  # one burst, within the rate limit's bucket

        # The reader's requests are spaced, so that one batch never holds more than a
        # few snapshots (a reader keeps up) and the bucket (100, +50/s) never runs dry.
        gap = max(0.01, (requests - 80) / (50 * requests))

        def frame(i: int) -> str:
            params = book if i % 2 else mine
            return json.dumps({"method": "subscribe", "params": params, "req_id": i})

        async def ask(ws: Any) -> None:
            for i in range(1, requests + 1):
                await ws.send(frame(i))
                await asyncio.sleep(gap)

        async def burst(ws: Any) -> None:
            # In one write: the server reads the whole burst before any snapshot is
            # owed, so its read pause (1 MiB untaken) holds none of it back.
            send_burst(ws, [frame(i) for i in range(1, requests + 1)])

        async def read_all(ws: Any) -> int:
            got = 0
            while got < requests:
                msg = json.loads(await ws.recv())
                if "channel" not in msg:
                    assert msg["success"] and msg["req_id"] == got + 1, msg
                    got += 1
            return got

        slow, reader = await _stalled_client(port), await connect(port)
        done = await asyncio.gather(burst(slow), ask(reader.ws), read_all(reader.ws))
        assert done[2] == requests  # the client that reads was served everything
        await reader.ws.close()

        # The others carry on: a new level reaches the watcher, in sequence.
        trader = await connect(port)
        assert (await trader.login("bob"))["success"]
        placed = await trader.call("add_order", **{**RESTING, "limit_price": "225.10"})
        assert placed["success"], placed
        update = await watcher.recv()
        while update.get("channel") != "book":  # heartbeats while the watcher was idle
            update = await watcher.recv()
        assert update["data"][0]["sequence"] == 2
        assert update["data"][0]["bids"] == [{"price": 225.1, "qty": 0.01}]
        assert (await watcher.call("ping"))["method"] == "pong"

        # The stalled client, reading now: an unbroken prefix of its answers and
        # snapshots, no update (that level came after it was cut), then the close.
        answered: list[int] = []
        snapshots = 0
        try:
            while True:
                msg = json.loads(await asyncio.wait_for(slow.recv(), 10))
                assert msg.get("channel") == "status" or msg.get("type") != "update", msg
                if msg.get("channel") == "book":
                    assert msg["data"][0]["sequence"] == 1 and len(msg["data"][0]["bids"]) == 712
                    snapshots += 1
                elif msg.get("channel") == "executions":
                    assert msg["sequence"] == 1 and len(msg["data"]) == 475
                    snapshots += 1
                elif "channel" not in msg:
                    assert msg["success"], msg
                    answered.append(msg["req_id"])
        except websockets.ConnectionClosed as e:
            assert e.rcvd is not None, "closed without a close frame"
            assert (e.rcvd.code, e.rcvd.reason) == (1013, "slow consumer")
        assert answered == list(range(1, len(answered) + 1))  # a prefix: nothing skipped
        assert answered and snapshots in (len(answered), len(answered) - 1)
        for c in (watcher, trader):
            await c.ws.close()

    with live_server(tmp_path / "data") as (port, _):
        run_within(scenario(port))


def test_rate_limited_trading_requests_are_answered_place_nothing_and_limit_one_connection(
    tmp_path: Path,
) -> None:
    """Proves the default 50/s, burst 100 bucket on trading requests, per connection.

    90 pings then 60 add_orders are sent at once on connection A: every request
    gets exactly one answer; the pings and at least 10 orders are accepted, and
    some orders are ``EAPI:Rate limit exceeded`` (they arrive faster than one
    token per 20 ms comes back). The open orders are exactly the accepted ones
    (a refused request places nothing). Connection B of the same account is not
    limited by A's bucket, and A, still open, is served again once it refills.
    (test_ws_gateway.py covers a burst of pings; this covers orders.)
    """

    async def scenario(port: int) -> None:
        a, b = await connect(port), await connect(port)
        token = (await b.login("alice"))["result"]["token"]
        for i in range(1, 91):
            await a.ws.send(json.dumps({"method": "ping", "req_id": i}))
        for i in range(91, 151):
            order = {**RESTING, "token": token, "cl_ord_id": f"burst-{i}"}
            await a.ws.send(json.dumps({"method": "add_order", "params": order, "req_id": i}))
        answers: dict[int, dict[str, Any]] = {}
        for _ in range(150):
            msg = await a.recv()
            assert msg["req_id"] not in answers, msg
            answers[msg["req_id"]] = msg
        assert sorted(answers) == list(range(1, 151))
        assert all(answers[i]["method"] == "pong" for i in range(1, 91))
        orders = [answers[i] for i in range(91, 151)]
        limited = [m for m in orders if m.get("error") == "EAPI:Rate limit exceeded"]
        placed = [m["result"]["order_id"] for m in orders if m["success"]]
        assert limited and len(placed) >= 10, orders  # 10 tokens were left after the pings
        assert len(limited) + len(placed) == 60, orders
        assert (await b.call("add_order", **RESTING))["success"]  # B has its own bucket
        opened = await _open_orders(b)
        assert len(opened) == len(placed) + 1 and set(placed) <= set(opened)
        await asyncio.sleep(0.2)  # 10 tokens come back at 50/s
        assert (await a.call("ping"))["method"] == "pong"
        for c in (a, b):
            await c.ws.close()

    with live_server(tmp_path / "data") as (port, _):
        run_within(scenario(port))
