"""jspurefix, a third-party FIX engine from npm, driven as the client of the FIX tests.

``driver.js`` runs jspurefix 5.11.4 (pinned in ``package.json`` and
``package-lock.json``, installed by ``make fix-client``) as one long-lived
Node process: JSON lines in on stdin (connect, send, send_raw, logout,
disconnect, status), JSON lines out on stdout (what each session sent and
received, ready, stopped). jspurefix does the FIX session work itself (logon,
sequence numbers, heartbeats, test requests, resend requests, gap fills);
the tests only tell it what to send.

:class:`Driver` is the Python end: :meth:`Driver.cmd` sends a command and
waits for its reply, :meth:`Driver.wait_for` takes the first event that
matches (and keeps the others for later calls). :func:`server` starts a real
``tokex serve`` on port 0 with a configuration of FIX sessions.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.integration.gateway.ws.client import demo_secret

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
INSTALLED = HERE / "node_modules" / "jspurefix" / "package.json"

Event = dict[str, Any]


def tags(event: Event) -> dict[int, str]:
    """A received or sent message's fields by tag (the first occurrence of each)."""
    out: dict[int, str] = {}
    for tag, value in event["fields"]:
        out.setdefault(int(tag), value)
    return out


def all_tags(event: Event, tag: int) -> list[str]:
    """Every value of ``tag`` in the message, in order (repeating groups)."""
    return [value for t, value in event["fields"] if int(t) == tag]


class Driver:
    """One ``node driver.js`` process and the events it has printed."""

    def __init__(self) -> None:
        if not INSTALLED.exists():
            raise RuntimeError("jspurefix is not installed: run `make fix-client`")
        env = {**os.environ, "JSPUREFIX_LOG": os.environ.get("JSPUREFIX_LOG", "error")}
        self.proc = subprocess.Popen(
            ["node", str(HERE / "driver.js")],
            cwd=HERE,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=sys.stderr,
            text=True,
            bufsize=1,
            env=env,
        )
        self.events: list[Event] = []
        self.cond = threading.Condition()
        self.ids = itertools.count(1)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        hello = self.wait_for("hello", timeout=30)
        assert hello["jspurefix"] == "5.11.4", hello

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            with self.cond:
                self.events.append(event)
                self.cond.notify_all()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.cmd("quit", timeout=5)
                self.proc.wait(timeout=5)
            except (RuntimeError, subprocess.TimeoutExpired, BrokenPipeError, TimeoutError):
                self.proc.kill()
                self.proc.wait()

    def cmd(self, name: str, timeout: float = 10, **args: Any) -> Event:
        """Send command ``name`` and wait for its reply; raise if it failed."""
        ident = next(self.ids)
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": name, "id": ident, **args}) + "\n")
        self.proc.stdin.flush()
        reply = self.wait_for("reply", timeout=timeout, pred=lambda e: e.get("id") == ident)
        if not reply.get("ok"):
            raise RuntimeError(f"driver {name}: {reply.get('error')}")
        return reply

    def wait_for(
        self,
        event: str,
        *,
        session: str | None = None,
        type: str | None = None,
        timeout: float = 10,
        pred: Callable[[Event], bool] | None = None,
    ) -> Event:
        """Take (remove) the first event of kind ``event`` that matches; wait up to ``timeout``."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i, e in enumerate(self.events):
                    if (
                        e.get("event") == event
                        and (session is None or e.get("session") == session)
                        and (type is None or e.get("type") == type)
                        and (pred is None or pred(e))
                    ):
                        return self.events.pop(i)
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(e.get("event"), e.get("session"), e.get("type")) for e in self.events]
                    raise TimeoutError(
                        f"no {event} {type or ''} for {session or 'any session'} in {timeout}s;"
                        f" pending: {seen[-20:]}"
                    )
                self.cond.wait(left)

    def received(self, session: str, type: str, timeout: float = 10, **match: str) -> Event:
        """The next message of ``type`` ``session`` received with the given tag values.

        ``match`` keys are ``t<tag>`` (``t150="0"``).
        """
        wanted = {int(k[1:]): v for k, v in match.items()}

        def fits(e: Event) -> bool:
            got = tags(e)
            return all(got.get(t) == v for t, v in wanted.items())

        return self.wait_for("rx", session=session, type=type, timeout=timeout, pred=fits)

    def none_received(self, session: str, type: str, seconds: float = 0.5) -> None:
        """Assert that ``session`` receives no message of ``type`` within ``seconds``."""
        try:
            got = self.wait_for("rx", session=session, type=type, timeout=seconds)
        except TimeoutError:
            return
        raise AssertionError(f"{session} received an unexpected {type}: {got['raw']}")

    def drop(self, session: str) -> None:
        """Forget every event of ``session`` seen so far."""
        with self.cond:
            self.events = [e for e in self.events if e.get("session") != session]

    def connect(
        self, session: str, port: int, sender: str, password: str, username: str, **kw: Any
    ) -> Event:
        """Log ``session`` on as ``sender`` to TOKEX; the ``ready`` event."""
        args = {"heartbtint": 30, "reset_seq": True, **kw}
        self.cmd(
            "connect",
            session=session,
            port=port,
            sender=sender,
            target="TOKEX",
            username=username,
            password=password,
            **args,
        )
        return self.wait_for("ready", session=session, timeout=15)

    def send(self, session: str, type: str, fields: dict[str, Any], **kw: Any) -> int:
        """Send a message of ``type`` (fields by name or tag); its MsgSeqNum."""
        reply = self.cmd("send", session=session, type=type, fields=fields, **kw)
        return int(reply["seq"])

    def send_raw(self, session: str, raw: str, fix: bool = True) -> Event:
        """Write ``raw`` (``|`` for SOH, ``{seq}`` the next MsgSeqNum, ``{now}`` the time)."""
        return self.cmd("send_raw", session=session, raw=raw, fix=fix)


def stamp() -> str:
    """Now as a FIX UTCTimestamp (TransactTime of the orders the tests send)."""
    ns = time.time_ns()
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns // 10**6 % 1000:03d}"


_BASE = """
[exchange]
name = "tokex-fix-test"
fee_account = "fees"
fsync = "batch"
rate_limit = { per_second = 1000, burst = 1000 }

[[assets]]
id = "USD"
precision = 2
[[assets]]
id = "AAPLx"
precision = 8
[[assets]]
id = "SPYx"
precision = 8

[[instruments]]
symbol = "AAPLx/USD"
base = "AAPLx"
quote = "USD"
price_increment = "0.01"
qty_increment = "0.0001"
qty_min = "0.0001"
cost_min = "1.00"
schedule = "24/7"
reference_price = "230.00"

[[instruments]]
symbol = "SPYx/USD"
base = "SPYx"
quote = "USD"
price_increment = "0.01"
qty_increment = "0.0001"
qty_min = "0.0001"
cost_min = "1.00"
schedule = "24/7"
reference_price = "590.00"

[[fee_tiers]]
name = "default"
maker_bps = 10
taker_bps = 25
"""


def config_text(accounts: dict[str, list[dict[str, Any]]]) -> str:
    """A test configuration: market_maker ``accounts`` (id -> its FIX sessions), funded.

    Each account's API key is ``<id>-key`` and its secret the one the
    WebSocket test client signs with (the demo config's where the demo has
    the account); a session is a dict of the ``fix`` table's keys.
    """
    lines = [_BASE]
    for account, sessions in accounts.items():
        lines += [
            "[[accounts]]",
            f'id = "{account}"',
            'role = "market_maker"',
            f'api_key = "{account}-key"',
            f'secret = "{demo_secret(account)}"',
            'balances = { USD = "10000000.00", AAPLx = "10000", SPYx = "10000" }',
        ]
        for session in sessions:
            lines.append("[[accounts.fix]]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in session.items()]
        lines.append("")
    return "\n".join(lines)


HTTP_PORTS: dict[int, int] = {}
"""The console and metrics port of each server :func:`server` started, by process id."""


@contextmanager
def server(
    data: Path, config: str, workers: int = 0
) -> Iterator[tuple[int, int, subprocess.Popen[str]]]:
    """``tokex serve`` on ``config`` (TOML text) with ports 0 and the system clock.

    ``workers`` > 0: gateway worker processes, the FIX gateway in worker 0.

    Yields (WebSocket port, FIX port, process); the HTTP port is in
    :data:`HTTP_PORTS`. The system clock because FIX checks SendingTime
    against the exchange's clock and jspurefix stamps its own. The server's
    stderr goes to ``<data>.log``.
    """
    path = data.parent / f"{data.name}.toml"
    path.write_text(config, encoding="utf-8")
    command = [sys.executable, "-m", "tokex.cli", "serve", "--data", str(data)]
    command += ["--config", str(path), "--ws-port", "0", "--fix-port", "0", "--http-port", "0"]
    command += ["--workers", str(workers)]
    log = (data.parent / f"{data.name}.log").open("a", encoding="utf-8")
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        ws = re.search(r"ws://127\.0\.0\.1:(\d+)/v2", first)
        fix = re.search(r"tcp://127\.0\.0\.1:(\d+)", first)
        http = re.search(r"http://127\.0\.0\.1:(\d+)/", first)
        assert ws and fix and http, first + (data.parent / f"{data.name}.log").read_text()
        HTTP_PORTS[proc.pid] = int(http.group(1))
        yield int(ws.group(1)), int(fix.group(1)), proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        log.close()
