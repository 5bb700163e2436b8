"""Fuzzing the WebSocket gateway's decoding path against a real ``tokex serve``.

Each test starts one server (demo config, simulated clock) and drives it from
a hypothesis loop run on one event loop: arbitrary frames (bytes and text,
and valid requests cut or spliced), arbitrary JSON values (and objects naming
a real method with arbitrary params), and near-valid requests (a valid
request of every kind with one field mutated: wrong type, huge or negative
numbers, NaN-like strings, raw numbers such as ``1e400``, deep nesting,
unicode, strings up to the frame limit, fields missing or added).

The property, for every message: exactly one answer comes back, a JSON
object with ``success`` true or false and, when false, an error WS_API.md
documents (``EGeneral:Invalid JSON`` when the frame is not a JSON object; an
undocumented ``EGeneral:Internal error`` fails), echoing the ``req_id``; the
connection stays open. After the run the server still answers ``ping`` and
places a valid order. Answers that need no pipeline may overtake earlier
ones (docs/WS.md), and a subscription is answered once the batch before it
is published, after that batch's other answers; so each message is followed
by a barrier, a ``subscribe`` (to TSLAx trades, no snapshot), whose answer
comes after every answer to the message before it.
"Exactly one" is the count of answers that arrive before the barrier's.

The server is stateful, so examples are not shrunk (a replay would meet
another state): a failure names the exact frame. Runs are derandomized with
no example database, so CI sees the same examples every time. The operator
methods are fuzzed except ``clock_advance`` (a valid year-long jump would
just run a year of timers); its arguments are in the table test below, with
the inputs that broke the gateway before.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.integration.gateway.ws.client import (
    Client,
    connect,
    is_documented_error,
    live_server,
    login_params,
)

ANSWER_TIMEOUT = 3.0
MAX_FRAME = 64 * 1024
RESTING = {"symbol": "AAPLx/USD", "side": "buy", "order_qty": "0.01", "limit_price": "220.00"}
PER_CONNECTION = 40
"""Examples per connection: 2 requests each, under the burst of 100 (the rate limit)."""

FUZZ_SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=False,
)


class RawJson(str):
    """A JSON fragment written as it is (``1e400``, ``NaN``, 3000 nested brackets)."""


def dump(value: object) -> str:
    """``value`` as JSON text, UTF-8 unescaped, with :class:`RawJson` fragments verbatim."""
    if isinstance(value, RawJson):
        return str(value)
    if isinstance(value, dict):
        items = (json.dumps(str(k), ensure_ascii=False) + ":" + dump(v) for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dump(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


class _TooDeep:
    """A frame nested deeper than Python's json reads: its answer is not predicted."""


def _strict_json(text: str | bytes) -> object:
    """Python's reading of a frame, refusing NaN and Infinity as JSON does (ValueError)."""

    def refuse(name: str) -> object:
        raise ValueError(name)

    try:
        return json.loads(text, parse_constant=refuse)
    except RecursionError:
        return _TooDeep()


# --------------------------------------------------------------------------- strategies

_LONG = {"x": 56_000, "é": 28_000, "€": 18_000, "😀": 14_000, "\x00": 9_000, '"': 28_000}
"""Characters and how many of each fit in a frame under 64 KiB (UTF-8, JSON-escaped)."""

long_strings = st.sampled_from(sorted(_LONG)).flatmap(
    lambda c: st.integers(1_000, _LONG[c]).map(lambda n: c * n)
)
deep_nesting = st.tuples(st.integers(1, 3_000), st.sampled_from(["[]", "{}"])).map(
    lambda t: RawJson(
        "[" * t[0] + "]" * t[0] if t[1] == "[]" else '{"a":' * t[0] + "1" + "}" * t[0]
    )
)
raw_numbers = st.one_of(
    st.sampled_from(
        [
            "1e400",
            "-1e400",
            "1e-400",
            "1E+2",
            "-0",
            "-0.0",
            "0.1e1",
            "123456789012345678901234567890.123456789",
            "230.000000000000000000000000000001",
            "NaN",
            "Infinity",
            "-Infinity",
            "01",
            "1.",
            ".5",
            "+1",
        ]
    ),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
).map(RawJson)
weird_strings = st.sampled_from(
    [
        "",
        " ",
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "inf",
        "1e400",
        "-1e400",
        "1e-400",
        "-0",
        "0x10",
        "1_000",
        " 1",
        "1 ",
        "0.000000000000000000001",
        "230.0000000000000000001",
        "-230.00",
        "99999999999999999999999999",
        "true",
        "null",
        "O",
        "O-1",
        "O18446744073709551616",
        "AAPLx/usd",
        "AAPLx/USD ",
        "2026-13-40T25:61:61Z",
        "2026-11-23T15:00:00",
        "9999-12-31T23:59:59Z",
        "\x00",
        "\u202e",
        "ﷺ",
        "\U0001d518\U0001d52b\U0001d526",
    ]
)
huge_ints = st.sampled_from(
    [0, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 2**64 + 1, -(2**63) - 1, 10**30, -(10**30)]
)
weird = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    huge_ints,
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=30).map(str),
    weird_strings,
    raw_numbers,
    st.text(max_size=40),
    long_strings,
    deep_nesting,
    st.lists(st.one_of(st.integers(), st.text(max_size=5), st.none()), max_size=4),
    st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=5)), max_size=3),
)

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=30),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=25,
)

METHODS = [
    "ping",
    "login",
    "add_order",
    "batch_add",
    "amend_order",
    "edit_order",
    "cancel_order",
    "batch_cancel",
    "cancel_all",
    "cancel_all_orders_after",
    "subscribe",
    "unsubscribe",
    "halt",
    "resume",
    "set_reference_price",
    "corporate_action",
    "deposit",
    "withdraw",
    "kill_switch",
]
FIELDS = [
    "symbol",
    "side",
    "order_type",
    "order_qty",
    "limit_price",
    "time_in_force",
    "expire_time",
    "post_only",
    "display_qty",
    "triggers",
    "cash_order_qty",
    "cl_ord_id",
    "order_userref",
    "stp_type",
    "validate",
    "order_id",
    "orders",
    "timeout",
    "channel",
    "depth",
    "snapshot",
    "snap_orders",
    "token",
    "api_key",
    "nonce",
    "signature",
    "account",
    "asset",
    "amount",
    "enabled",
    "reason",
    "auction_seconds",
    "price",
    "kind",
    "ratio",
    "multiplier",
    "effective_time",
]
methodish = st.fixed_dictionaries(
    {"method": st.sampled_from(METHODS)},
    optional={
        "params": st.dictionaries(
            st.one_of(st.sampled_from(FIELDS), st.text(max_size=10)), json_values, max_size=6
        ),
        "req_id": json_values,
    },
)


# --------------------------------------------------------------------------- the valid requests


@dataclass
class Context:
    """What the valid requests refer to: a live order, the operator's token, a counter."""

    order_id: str = "O1"
    ops_token: str = ""
    n: int = 0


def _bases(ctx: Context) -> list[tuple[str, dict[str, Any]]]:
    """One valid request of every kind the fuzzer mutates (alice's connection; ops by token)."""
    ctx.n += 1
    clid = f"fz-{ctx.n}"
    ops = {"token": ctx.ops_token}
    order = {**RESTING, "order_type": "limit", "time_in_force": "gtc", "cl_ord_id": clid}
    return [
        ("ping", {}),
        ("login", login_params("alice")),
        (
            "add_order",
            {**order, "order_userref": 7, "post_only": False, "stp_type": "cancel_newest"},
        ),
        ("add_order", {**order, "time_in_force": "gtd", "expire_time": "2026-12-01T00:00:00Z"}),
        (
            "add_order",
            {
                **order,
                "order_type": "stop-loss-limit",
                "side": "sell",
                "triggers": {"price": "210.00"},
                "limit_price": "209.00",
            },
        ),
        ("add_order", {**order, "order_qty": "0.05", "display_qty": "0.01"}),
        ("add_order", {**order, "validate": True}),
        (
            "add_order",
            {
                "symbol": "AAPLx/USD",
                "side": "buy",
                "order_type": "market",
                "cash_order_qty": "5.00",
            },
        ),
        (
            "batch_add",
            {
                "symbol": "AAPLx/USD",
                "orders": [dict(RESTING), {**RESTING, "limit_price": "220.01", "cl_ord_id": clid}],
            },
        ),
        ("amend_order", {"order_id": ctx.order_id, "limit_price": "220.02", "order_qty": "0.02"}),
        ("amend_order", {"cl_ord_id": "live", "display_qty": "0.01", "post_only": True}),
        (
            "edit_order",
            {
                "order_id": ctx.order_id,
                "symbol": "AAPLx/USD",
                "order_qty": "0.03",
                "limit_price": "220.03",
            },
        ),
        ("cancel_order", {"order_id": [ctx.order_id], "cl_ord_id": ["nope"], "order_userref": [7]}),
        ("batch_cancel", {"orders": [ctx.order_id, "nope"]}),
        ("cancel_all", {"symbol": "AAPLx/USD"}),
        ("cancel_all_orders_after", {"timeout": 0}),
        (
            "subscribe",
            {"channel": "book", "symbol": ["AAPLx/USD", "SPYx/USD"], "depth": 10, "snapshot": True},
        ),
        ("subscribe", {"channel": "trade", "symbol": ["AAPLx/USD"], "snapshot": False}),
        ("subscribe", {"channel": "ticker", "symbol": ["AAPLx/USD"]}),
        ("subscribe", {"channel": "instrument"}),
        ("subscribe", {"channel": "executions", "snap_orders": True}),
        ("subscribe", {"channel": "balances"}),
        ("unsubscribe", {"channel": "book", "symbol": ["AAPLx/USD"], "depth": 10}),
        ("halt", {**ops, "symbol": "NVDAx/USD", "reason": "fuzz"}),
        ("resume", {**ops, "symbol": "NVDAx/USD", "auction_seconds": 0}),
        ("set_reference_price", {**ops, "symbol": "NVDAx/USD", "price": "140.00"}),
        (
            "corporate_action",
            {
                **ops,
                "symbol": "NVDAx/USD",
                "kind": "split",
                "ratio": "2",
                "effective_time": "2030-01-01T00:00:00Z",
            },
        ),
        (
            "corporate_action",
            {
                **ops,
                "symbol": "NVDAx/USD",
                "kind": "dividend",
                "multiplier": "1.01",
                "effective_time": "2030-01-01T00:00:00Z",
            },
        ),
        ("deposit", {**ops, "account": "bob", "asset": "USD", "amount": "1.00"}),
        ("withdraw", {**ops, "account": "bob", "asset": "USD", "amount": "1.00"}),
        ("kill_switch", {**ops, "account": "bob", "enabled": False}),
    ]


def _slots(node: object) -> Iterator[tuple[dict[Any, Any] | list[Any], Any]]:
    """Every (container, key) holding a value inside ``node``, outermost first."""
    if isinstance(node, dict):
        for key in list(node):
            yield node, key
            yield from _slots(node[key])
    elif isinstance(node, list):
        for index in range(len(node)):
            yield node, index
            yield from _slots(node[index])


def _retyped(value: object) -> object:
    """The same value in another JSON type (number <-> string, and so on)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return [value]
        return RawJson(value) if math.isfinite(number) and value.strip() == value else number
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values())
    return 0


def mutate(data: st.DataObject, message: dict[str, Any]) -> str:
    """Change one thing in ``message`` (drawn from ``data``); return the frame's text."""
    slots = list(_slots(message))
    kind = data.draw(st.sampled_from(["replace", "replace", "delete", "extra", "wrap", "retype"]))
    if kind == "extra":
        dicts = [message] + [c[k] for c, k in slots if isinstance(c[k], dict)]
        target = data.draw(st.sampled_from(dicts))
        key = data.draw(st.one_of(st.sampled_from(FIELDS), st.text(max_size=20)))
        target[key] = data.draw(weird)
    else:
        container, key = data.draw(st.sampled_from(slots))
        if kind == "delete":
            del container[key]
        elif kind == "replace":
            container[key] = data.draw(weird)
        elif kind == "wrap":
            wrap: Callable[[Any], Any] = data.draw(
                st.sampled_from([lambda v: [v], lambda v: {"value": v}, lambda v: [[[[v]]]]])
            )
            container[key] = wrap(container[key])
        else:
            container[key] = _retyped(container[key])
    return dump(message)


# ----------------------------------------------------------------------- exchanging messages


@dataclass
class Fuzzer:
    """One server, alice's connections in turn (a new one every PER_CONNECTION examples)."""

    port: int
    ctx: Context = field(default_factory=Context)
    client: Client | None = None
    used: int = 0
    barriers: int = 0
    answers: int = 0

    async def start(self) -> None:
        ops = await connect(self.port)
        self.ctx.ops_token = (await ops.login("ops"))["result"]["token"]
        await ops.ws.close()

    async def _client(self) -> Client:
        if self.client is None or self.used >= PER_CONNECTION:
            if self.client is not None:
                # The old connection stayed open all along: it still answers.
                assert (await self.client.call("ping"))["method"] == "pong"
                await self.client.ws.close()
            self.client = await connect(self.port)
            assert (await self.client.login("alice"))["success"]
            live = await self.client.call("add_order", **RESTING, cl_ord_id="live")
            if live["success"]:
                self.ctx.order_id = live["result"]["order_id"]
            self.used = 0
        self.used += 1
        return self.client

    async def exchange(self, frame: str | bytes) -> None:
        """Send ``frame``, then a barrier; check exactly one good answer came before it."""
        client = await asyncio.wait_for(self._client(), ANSWER_TIMEOUT)
        self.barriers += 1
        barrier = f"barrier-{self.barriers}"
        after = {"channel": "trade", "symbol": ["TSLAx/USD"], "snapshot": False}
        shown = (frame if isinstance(frame, str) else repr(frame))[:400]
        try:
            await client.ws.send(frame)
            await client.ws.send(
                json.dumps({"method": "subscribe", "params": after, "req_id": barrier})
            )
            answers = []
            async with asyncio.timeout(ANSWER_TIMEOUT):
                while True:
                    msg = json.loads(await client.ws.recv())
                    if "channel" in msg:
                        continue  # a push (snapshots of fuzzed subscriptions, heartbeats)
                    if msg.get("req_id") == barrier:
                        break
                    answers.append(msg)
        except (TimeoutError, websockets.ConnectionClosed) as e:
            raise AssertionError(f"no answer ({type(e).__name__}: {e}) to {shown}") from None
        per_symbol = [
            a
            for a in answers[:-1]
            if a.get("success") is True
            and a.get("method") in ("subscribe", "unsubscribe")
            and isinstance(a.get("result", {}).get("symbol"), str)
        ]
        # A subscription to N symbols is answered N times, once per symbol (Kraken's shape).
        assert len(answers) == 1 + len(per_symbol), f"{len(answers)} answers to {shown}: {answers}"
        if per_symbol:
            sent = json.loads(frame)["params"]["symbol"]
            assert [a["result"]["symbol"] for a in answers] == sent, (shown, answers)
        answer = answers[-1]
        assert isinstance(answer, dict) and isinstance(answer.get("success"), bool), (shown, answer)
        if answer["success"] is False:
            assert is_documented_error(answer.get("error")), (shown, answer)
        try:
            doc = _strict_json(frame)
        except ValueError:
            doc = None
        if isinstance(doc, _TooDeep):
            pass  # valid JSON nested thousands deep: Invalid JSON or Invalid arguments
        elif not isinstance(doc, dict):
            assert answer.get("error") == "EGeneral:Invalid JSON", (shown, answer)
        elif answer.get("error") != "EGeneral:Invalid JSON":
            assert answer.get("req_id") == doc.get("req_id"), (shown, answer)  # echoed
        self.answers += 1

    async def healthy(self) -> None:
        """After the run: ping, and a valid order from a new connection is placed."""
        if self.client is not None:
            assert (await self.client.call("ping"))["method"] == "pong"
            await self.client.ws.close()
        c = await connect(self.port)
        assert (await c.call("ping"))["method"] == "pong"
        assert (await c.login("alice"))["success"]
        assert (await c.call("cancel_all"))["success"]
        placed = await c.call("add_order", **RESTING)
        assert placed["success"], placed
        await c.ws.close()


def _run(tmp_path: Path, fuzz: Callable[[Fuzzer, Callable[[Any], Any]], None]) -> Fuzzer:
    """Start a server and an event loop; run ``fuzz`` (hypothesis) with them; check health."""
    loop = asyncio.new_event_loop()
    try:
        with live_server(tmp_path / "data") as (port, _):
            fuzzer = Fuzzer(port)
            loop.run_until_complete(asyncio.wait_for(fuzzer.start(), 10))
            fuzz(fuzzer, loop.run_until_complete)
            loop.run_until_complete(asyncio.wait_for(fuzzer.healthy(), 10))
    finally:
        loop.close()
    return fuzzer


# --------------------------------------------------------------------------- the tests


def _spliced(data: st.DataObject) -> str:
    """A valid request's text, cut short or with a few characters put in or taken out."""
    method, params = data.draw(st.sampled_from(_bases(Context(ops_token="t"))))
    text = json.dumps({"method": method, "params": params, "req_id": 1})
    at = data.draw(st.integers(0, len(text)))
    how = data.draw(st.sampled_from(["cut", "insert", "delete"]))
    if how == "cut":
        return text[:at]
    if how == "insert":
        return text[:at] + data.draw(st.text(min_size=1, max_size=3)) + text[at:]
    return text[:at] + text[at + data.draw(st.integers(1, 5)) :]


def test_arbitrary_frames_are_each_answered_once_and_the_connection_stays(tmp_path: Path) -> None:
    """Proves any frame, binary or text, JSON or not, gets exactly one documented answer.

    80 examples: random bytes (binary frames), random text, and valid requests
    cut short or spliced (mostly malformed JSON: ``EGeneral:Invalid JSON``).
    The connection is never closed, and the server is healthy afterwards.
    """

    def fuzz(fuzzer: Fuzzer, run: Callable[[Any], Any]) -> None:
        @settings(FUZZ_SETTINGS, max_examples=80)
        @given(st.data())
        def frames(data: st.DataObject) -> None:
            kind = data.draw(st.sampled_from(["bytes", "text", "utf-8 bytes", "spliced"]))
            frame: str | bytes
            if kind == "bytes":
                frame = data.draw(st.binary(max_size=2_048))
            elif kind == "text":
                frame = data.draw(st.text(max_size=2_048))
            elif kind == "utf-8 bytes":
                frame = data.draw(st.text(max_size=200)).encode()
            else:
                frame = _spliced(data)
            run(fuzzer.exchange(frame))

        frames()

    fuzzer = _run(tmp_path, fuzz)
    assert fuzzer.answers == 80


def test_arbitrary_json_values_are_each_answered_once(tmp_path: Path) -> None:
    """Proves any JSON value, and any object naming a real method, gets one documented answer.

    100 examples: arbitrary JSON (non-objects are ``EGeneral:Invalid JSON``),
    and objects with a real ``method`` and arbitrary ``params`` and ``req_id``
    (the ``req_id`` is echoed). The connection stays; the server is healthy after.
    """

    def fuzz(fuzzer: Fuzzer, run: Callable[[Any], Any]) -> None:
        @settings(FUZZ_SETTINGS, max_examples=100)
        @given(st.one_of(json_values, methodish, methodish))
        def values(value: object) -> None:
            run(fuzzer.exchange(dump(value)))

        values()

    fuzzer = _run(tmp_path, fuzz)
    assert fuzzer.answers == 100


def test_near_valid_requests_with_one_field_mutated_are_each_answered_once(
    tmp_path: Path,
) -> None:
    """Proves a valid request of every kind with one thing changed gets one documented answer.

    220 examples over add_order (limit, gtd, stop, iceberg, validate, cash
    market), batch_add, amend_order, edit_order, cancel_order, batch_cancel,
    cancel_all, cancel_all_orders_after, subscribe/unsubscribe (book, trade,
    ticker, instrument, executions, balances), login and the operator methods
    (by the operator's token). One value anywhere in the message (``method``,
    ``params``, ``req_id`` or nested) is replaced, deleted, wrapped, retyped,
    or a field is added. The connection stays; the server is healthy after.
    """

    def fuzz(fuzzer: Fuzzer, run: Callable[[Any], Any]) -> None:
        @settings(FUZZ_SETTINGS, max_examples=220)
        @given(st.data())
        def near_valid(data: st.DataObject) -> None:
            method, params = data.draw(st.sampled_from(_bases(fuzzer.ctx)))
            message: dict[str, Any] = {"method": method, "params": params, "req_id": fuzzer.ctx.n}
            frame = mutate(data, message)
            if len(frame.encode()) >= MAX_FRAME - 512:
                frame = dump({**message, "params": "(too long)"})
            run(fuzzer.exchange(frame))

        near_valid()

    fuzzer = _run(tmp_path, fuzz)
    assert fuzzer.answers == 220


# --------------------------------------------------------------------------- known inputs

_NESTED = RawJson("[" * 3000 + "]" * 3000)


@dataclass(frozen=True)
class Case:
    name: str
    account: str
    method: str
    params: dict[str, Any]
    expect: str
    """The answer's error must start with this ("" means success)."""


CASES = [
    Case(
        "subscribe, a list inside symbol",
        "alice",
        "subscribe",
        {"channel": "book", "symbol": [["AAPLx/USD"]]},
        "EGeneral:Invalid arguments:",
    ),
    Case(
        "subscribe trade, an object inside symbol",
        "alice",
        "subscribe",
        {"channel": "trade", "symbol": [{"a": 1}]},
        "EGeneral:Invalid arguments:",
    ),
    Case(
        "unsubscribe, a list inside symbol",
        "alice",
        "unsubscribe",
        {"channel": "book", "symbol": [["AAPLx/USD"]]},
        "EGeneral:Invalid arguments:",
    ),
    Case(
        "add_order, order_type a list",
        "alice",
        "add_order",
        {**RESTING, "order_type": ["limit"]},
        "EGeneral:Invalid arguments:",
    ),
    Case(
        "add_order, time_in_force an object",
        "alice",
        "add_order",
        {**RESTING, "time_in_force": {}},
        "EGeneral:Invalid arguments:",
    ),
    Case(
        "add_order, stp_type a list",
        "alice",
        "add_order",
        {**RESTING, "stp_type": []},
        "EGeneral:Invalid arguments:",
    ),
    Case(
        "batch_add, an order_type a list",
        "alice",
        "batch_add",
        {"symbol": "AAPLx/USD", "orders": [{**RESTING, "order_type": ["limit"]}, dict(RESTING)]},
        "EGeneral:Invalid arguments:",
    ),
    Case(
        "add_order, cash_order_qty 1e400",
        "alice",
        "add_order",
        {"symbol": "AAPLx/USD", "side": "buy", "order_type": "market", "cash_order_qty": "1e400"},
        "EGeneral:Invalid arguments:",
    ),
    Case(
        "add_order, order_qty nested 3000 deep",
        "alice",
        "add_order",
        {**RESTING, "order_qty": _NESTED},
        "EGeneral:Invalid",
    ),
    Case(
        "deposit, amount 1e400",
        "ops",
        "deposit",
        {"account": "bob", "asset": "USD", "amount": "1e400"},
        "EGeneral:Invalid arguments:",
    ),
    Case(
        "deposit, amount 10**35",
        "ops",
        "deposit",
        {"account": "bob", "asset": "USD", "amount": 10**35},
        "EGeneral:Invalid arguments:",
    ),
    Case(
        "withdraw, amount 1e400",
        "ops",
        "withdraw",
        {"account": "bob", "asset": "USD", "amount": "1e400"},
        "EGeneral:Invalid arguments:",
    ),
    Case(
        "withdraw, more than available",
        "ops",
        "withdraw",
        {"account": "bob", "asset": "USD", "amount": "99999999999.00"},
        "EFunding:Insufficient funds",
    ),
    Case(
        "cancel_order, cl_ord_id an object",
        "alice",
        "cancel_order",
        {"cl_ord_id": [{"a": 1}]},
        "EGeneral:Invalid arguments:",
    ),
    Case(
        "add_order, cl_ord_id a list",
        "alice",
        "add_order",
        {**RESTING, "cl_ord_id": [1]},
        "EGeneral:Invalid arguments:",
    ),
    Case(
        "add_order, order_userref 10**26",
        "alice",
        "add_order",
        {**RESTING, "order_userref": 10**26},
        "EGeneral:Invalid arguments:",
    ),
    Case(
        "add_order, gtd in the year 9999",
        "alice",
        "add_order",
        {**RESTING, "time_in_force": "gtd", "expire_time": "9999-12-31T23:59:59Z"},
        "EGeneral:Invalid arguments:",
    ),
    Case(
        "cancel_order, an order id over 64 bits (never issued: unknown, WS_API.md)",
        "alice",
        "cancel_order",
        {"order_id": ["O" + "9" * 29]},
        "EOrder:Unknown order",
    ),
    Case(
        "clock_advance, 1e30 seconds",
        "ops",
        "clock_advance",
        {"seconds": 1e30},
        "EGeneral:Invalid arguments:",
    ),
    Case(
        "clock_advance, a string",
        "ops",
        "clock_advance",
        {"seconds": "1"},
        "EGeneral:Invalid arguments:",
    ),
    Case(
        "clock_advance, negative",
        "ops",
        "clock_advance",
        {"seconds": -1},
        "EGeneral:Invalid arguments:",
    ),
    Case(
        "clock_advance, true",
        "ops",
        "clock_advance",
        {"seconds": True},
        "EGeneral:Invalid arguments:",
    ),
    Case(
        "clock_advance, NaN",
        "ops",
        "clock_advance",
        {"seconds": RawJson("NaN")},
        "EGeneral:Invalid JSON",
    ),
    Case(
        "add_order, a price with more places than the grid (JSON number)",
        "alice",
        "add_order",
        {**RESTING, "limit_price": RawJson("220.0000000000000000001")},
        "EGeneral:Invalid arguments:limit_price",
    ),
    Case(
        "add_order, a quantity with more places than the grid (JSON number)",
        "alice",
        "add_order",
        {**RESTING, "order_qty": RawJson("0.010000000000000000001")},
        "EGeneral:Invalid arguments:order_qty",
    ),
    Case(
        "add_order, a quantity of 1e-400 (JSON number)",
        "alice",
        "add_order",
        {**RESTING, "order_qty": RawJson("1e-400")},
        "EGeneral:Invalid arguments:order_qty",
    ),
    Case(
        "add_order, a price in exponent form is read exactly (JSON number)",
        "alice",
        "add_order",
        {**RESTING, "limit_price": RawJson("2.2000E+2"), "cl_ord_id": "exact-1"},
        "",
    ),
    Case(
        "add_order, limit_price ' 220.00' as a string",
        "alice",
        "add_order",
        {**RESTING, "limit_price": " 220.00"},
        "EGeneral:Invalid arguments:limit_price",
    ),
    Case(
        "add_order, limit_price '220.00 ' as a string",
        "alice",
        "add_order",
        {**RESTING, "limit_price": "220.00 "},
        "EGeneral:Invalid arguments:limit_price",
    ),
    Case(
        "add_order, limit_price '+220' as a string",
        "alice",
        "add_order",
        {**RESTING, "limit_price": "+220"},
        "EGeneral:Invalid arguments:limit_price",
    ),
    Case(
        "add_order, limit_price '2.2e2' as a string",
        "alice",
        "add_order",
        {**RESTING, "limit_price": "2.2e2"},
        "EGeneral:Invalid arguments:limit_price",
    ),
    Case(
        "add_order, limit_price '220.' as a string",
        "alice",
        "add_order",
        {**RESTING, "limit_price": "220."},
        "EGeneral:Invalid arguments:limit_price",
    ),
    Case(
        "add_order, limit_price '.5' as a string",
        "alice",
        "add_order",
        {**RESTING, "limit_price": ".5"},
        "EGeneral:Invalid arguments:limit_price",
    ),
    Case(
        "add_order, limit_price '220,00' as a string",
        "alice",
        "add_order",
        {**RESTING, "limit_price": "220,00"},
        "EGeneral:Invalid arguments:limit_price",
    ),
    Case(
        "add_order, limit_price '٢٢٠' as a string",
        "alice",
        "add_order",
        {**RESTING, "limit_price": "٢٢٠"},
        "EGeneral:Invalid arguments:limit_price",
    ),
    Case(
        "add_order, limit_price '0x10' as a string",
        "alice",
        "add_order",
        {**RESTING, "limit_price": "0x10"},
        "EGeneral:Invalid arguments:limit_price",
    ),
    Case(
        "add_order, limit_price '-220' as a string",
        "alice",
        "add_order",
        {**RESTING, "limit_price": "-220"},
        "EGeneral:Invalid arguments:limit_price",
    ),
    Case(
        "add_order, limit_price 'Infinity' as a string",
        "alice",
        "add_order",
        {**RESTING, "limit_price": "Infinity"},
        "EGeneral:Invalid arguments:limit_price",
    ),
    Case(
        "add_order, limit_price '' as a string",
        "alice",
        "add_order",
        {**RESTING, "limit_price": ""},
        "EGeneral:Invalid arguments:limit_price",
    ),
    Case(
        "add_order, order_qty '1e2' as a string",
        "alice",
        "add_order",
        {**RESTING, "order_qty": "1e2"},
        "EGeneral:Invalid arguments:order_qty",
    ),
    Case(
        "deposit, amount '+1.00' as a string",
        "ops",
        "deposit",
        {"account": "bob", "asset": "USD", "amount": "+1.00"},
        "EGeneral:Invalid arguments:amount",
    ),
    Case(
        "deposit, amount 1.001 (JSON number, off the cent)",
        "ops",
        "deposit",
        {"account": "bob", "asset": "USD", "amount": RawJson("1.001")},
        "EGeneral:Invalid arguments:amount",
    ),
    Case(
        "clock_advance, 1e-10 seconds (below a nanosecond)",
        "ops",
        "clock_advance",
        {"seconds": RawJson("1e-10")},
        "EGeneral:Invalid arguments:seconds",
    ),
    Case(
        "add_order, expire_time true on a GTC order",
        "alice",
        "add_order",
        {**RESTING, "expire_time": True},
        "EGeneral:Invalid arguments:expire_time",
    ),
    Case(
        "add_order, expire_time on an IOC order",
        "alice",
        "add_order",
        {**RESTING, "time_in_force": "ioc", "expire_time": "2026-11-24T00:00:00Z"},
        "EGeneral:Invalid arguments:expire_time",
    ),
    Case(
        "add_order, triggers on a limit order",
        "alice",
        "add_order",
        {**RESTING, "triggers": {"price": "221.00"}},
        "EGeneral:Invalid arguments:triggers",
    ),
    Case(
        "add_order, triggers with a reference",
        "alice",
        "add_order",
        {
            **RESTING,
            "order_type": "stop-loss-limit",
            "triggers": {"price": "221.00", "reference": "index"},
        },
        "EGeneral:Invalid arguments:triggers",
    ),
    Case(
        "add_order, display_qty on a limit order",
        "alice",
        "add_order",
        {**RESTING, "display_qty": "0.01"},
        "EGeneral:Invalid arguments:display_qty",
    ),
    Case(
        "add_order, a parameter it does not take",
        "alice",
        "add_order",
        {**RESTING, "margin": False},
        "EGeneral:Invalid arguments:margin",
    ),
    Case(
        "add_order, post_only a string",
        "alice",
        "add_order",
        {**RESTING, "post_only": "true"},
        "EGeneral:Invalid arguments:post_only",
    ),
    Case(
        "add_order, order_userref a string",
        "alice",
        "add_order",
        {**RESTING, "order_userref": "7"},
        "EGeneral:Invalid arguments:",
    ),
    Case(
        "add_order, token a number",
        "alice",
        "add_order",
        {**RESTING, "token": 12345},
        "EGeneral:Invalid arguments:token",
    ),
    Case(
        "add_order, token an object",
        "alice",
        "add_order",
        {**RESTING, "token": {"t": "x"}},
        "EGeneral:Invalid arguments:token",
    ),
    Case(
        "amend_order, trigger_price on a plain limit order",
        "alice",
        "amend_order",
        {"cl_ord_id": "exact-1", "trigger_price": "221.00"},
        "EGeneral:Invalid arguments:trigger_price",
    ),
    Case(
        "amend_order, display_qty on a plain limit order",
        "alice",
        "amend_order",
        {"cl_ord_id": "exact-1", "display_qty": "0.01"},
        "EGeneral:Invalid arguments:display_qty",
    ),
    Case(
        "amend_order, both order_id and cl_ord_id",
        "alice",
        "amend_order",
        {"order_id": "O1", "cl_ord_id": "exact-1", "order_qty": "0.02"},
        "EGeneral:Invalid arguments:",
    ),
    Case(
        "amend_order, a price with more places than the grid",
        "alice",
        "amend_order",
        {"cl_ord_id": "exact-1", "limit_price": RawJson("220.001")},
        "EGeneral:Invalid arguments:limit_price",
    ),
    Case(
        "amend_order, the order's own quantity, exactly (JSON number)",
        "alice",
        "amend_order",
        {"cl_ord_id": "exact-1", "order_qty": RawJson("0.0200")},
        "",
    ),
    Case(
        "cancel_all, a parameter it does not take",
        "alice",
        "cancel_all",
        {"symbol": "AAPLx/USD", "everything": True},
        "EGeneral:Invalid arguments:everything",
    ),
    Case(
        "subscribe, book with a parameter it does not take",
        "alice",
        "subscribe",
        {"channel": "book", "symbol": ["AAPLx/USD"], "levels": 10},
        "EGeneral:Invalid arguments:levels",
    ),
    Case(
        "subscribe, executions by the operator",
        "ops",
        "subscribe",
        {"channel": "executions"},
        "EGeneral:Permission denied",
    ),
    Case(
        "subscribe, balances by the operator",
        "ops",
        "subscribe",
        {"channel": "balances"},
        "EGeneral:Permission denied",
    ),
    Case(
        "corporate_action, a multiplier on a split",
        "ops",
        "corporate_action",
        {
            "symbol": "TSLAx/USD",
            "kind": "split",
            "ratio": "2",
            "multiplier": "2",
            "effective_time": "2027-06-01T00:00:00Z",
        },
        "EGeneral:Invalid arguments:multiplier",
    ),
    Case(
        "halt, a parameter it does not take",
        "ops",
        "halt",
        {"symbol": "NVDAx/USD", "minutes": 5},
        "EGeneral:Invalid arguments:minutes",
    ),
]


def test_known_hostile_inputs_are_refused_and_the_exchange_keeps_running(tmp_path: Path) -> None:
    """Proves each input in CASES gets its documented answer and leaves the exchange working.

    Inputs that once crashed a handler (connection closed 1011), froze the
    pipeline, or got the wrong error. After each, a new connection must still
    get a pong and place (then cancel) a valid order within 2 s. A case that
    freezes the server is reported, the server killed and a fresh one started
    for the next case; every mismatch is listed at the end.
    """
    wrong: list[str] = []

    async def one(port: int, case: Case) -> tuple[str | None, bool]:
        """(what was wrong with the answer, or None; whether the exchange still works)."""
        problem = None
        c = await connect(port)
        params = dict(case.params)
        if case.account == "ops":
            assert (await c.login("ops"))["success"]
        else:
            assert (await c.login("alice"))["success"]
        frame = dump({"method": case.method, "params": params, "req_id": 1})
        try:
            await c.ws.send(frame)
            async with asyncio.timeout(2):
                while True:
                    answer = json.loads(await c.ws.recv())
                    if "channel" not in answer:
                        break
            error = answer.get("error", "")
            ok = answer.get("success") is True if not case.expect else error.startswith(case.expect)
            if not ok:
                problem = f"got {json.dumps(answer)[:300]}"
        except (TimeoutError, websockets.ConnectionClosed) as e:
            problem = f"no answer: {type(e).__name__}: {e}"
        await c.ws.close()
        try:
            d = await connect(port)
            assert (await asyncio.wait_for(d.call("ping"), 2))["method"] == "pong"
            assert (await asyncio.wait_for(d.login("bob"), 2))["success"]
            placed = await asyncio.wait_for(d.call("add_order", **RESTING), 2)
            cancelled = await asyncio.wait_for(d.call("cancel_all"), 2)
            alive = bool(placed["success"] and cancelled["success"])
            await d.ws.close()
        except (TimeoutError, websockets.ConnectionClosed, AssertionError):
            alive = False
        return problem, alive

    with ExitStack() as stack:
        proc = None
        port = 0
        loop = asyncio.new_event_loop()
        stack.callback(loop.close)
        for n, case in enumerate(CASES):
            if proc is None:
                port, proc = stack.enter_context(live_server(tmp_path / f"data-{n}"))
            problem, alive = loop.run_until_complete(asyncio.wait_for(one(port, case), 15))
            if problem is not None:
                wrong.append(f"{case.name}: {case.method} {dump(case.params)[:200]}: {problem}")
            if not alive:
                wrong.append(f"{case.name}: the exchange stopped working (orders hang); killed")
                proc.kill()
                proc.wait()
                proc = None
    assert not wrong, "\n".join(wrong)
