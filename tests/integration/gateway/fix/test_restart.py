"""A FIX session survives the FIX gateway being killed: SIGKILL, restart, logon, resend.

Three ways to lose it: the server in one process (``--workers 0``), the node
of a server with a gateway worker (the worker dies with it), and the FIX
worker alone (the node starts it again; the server stays up).

jspurefix keeps its own sequence numbers across the lost connection; the
exchange keeps its own in its session store. A fill that happens while the
session is away (after the restart) takes the next number and waits in the
store; when the session logs on again, jspurefix sees our Logon ahead of what
it has, asks for the gap, and gets the fill report again with PossDupFlag
and OrigSendingTime. The order itself came back from the journal.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import struct
import subprocess
import time
import zlib
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gateway.fix.codec import Message, Parser, encode
from gateway.fix.times import format_timestamp
from tests.integration.gateway.fix.driver import (
    Driver,
    Event,
    config_text,
    server,
    stamp,
    tags,
)
from tests.integration.gateway.ws.client import connect

KILLS = ["server", "node-with-worker", "fix-worker"]


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the processes whose parent is ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            if ppid != pid:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                found.append((int(entry), f.read().replace(b"\0", b" ").decode()))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _fix_worker(proc: subprocess.Popen[str]) -> int:
    """The pid of the server's FIX worker."""
    for pid, command in _children(proc.pid):
        if "tokex.worker" in command and "--fix-port" in command:
            return pid
    raise AssertionError(f"no FIX worker under {proc.pid}: {_children(proc.pid)}")


def _wait_listening(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class _Lifecycle:
    """A server whose FIX gateway is killed one of the :data:`KILLS` ways, then back."""

    def __init__(self, kill: str, data: Path, config: str) -> None:
        self.kill, self.data, self.config = kill, data, config
        self.workers = 0 if kill == "server" else 1
        self._server: AbstractContextManager[tuple[int, int, subprocess.Popen[str]]] | None = None
        self.port = 0

    def start(self) -> int:
        self._server = server(self.data, self.config, self.workers)
        _, self.port, self.proc = self._server.__enter__()
        return self.port

    def lose(self, d: Driver, session: str) -> dict[str, object]:
        """SIGKILL what :attr:`kill` names; ``session``'s event of its connection gone."""
        if self.kill == "fix-worker":
            worker = _fix_worker(self.proc)
            os.kill(worker, signal.SIGKILL)
        else:
            if self.workers:
                worker = _fix_worker(self.proc)
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            if self.workers:
                _wait_gone(worker)  # the worker dies with its node (PR_SET_PDEATHSIG)
        return d.wait_for("stopped", session=session, timeout=15)

    def back(self) -> int:
        """The FIX port once the gateway is back (the same port if only the worker died)."""
        if self.kill == "fix-worker":
            _wait_listening(self.port)
            return self.port
        self.stop()
        return self.start()

    def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            server.__exit__(None, None, None)


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while os.path.exists(f"/proc/{pid}") and _state(pid) != "Z":
        assert time.monotonic() < deadline, f"process {pid} outlived its node"
        time.sleep(0.02)


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0].decode()
    except OSError:
        return "gone"


ACCOUNTS = {
    "r": [{"sender_comp_id": "R", "password": "r-fix", "cancel_on_disconnect": False}],
    "s": [{"sender_comp_id": "S", "password": "s-fix"}],
}


def _order(clid: str, side: str, tif: str) -> dict[str, str]:
    return {
        "ClOrdID": clid,
        "Symbol": "AAPLx/USD",
        "Side": side,
        "TransactTime": stamp(),
        "OrderQty": "1",
        "OrdType": "2",
        "Price": "227.00",
        "TimeInForce": tif,
    }


WITH_ALICE = {
    **ACCOUNTS,
    "alice": [{"sender_comp_id": "ALICE", "password": "alice-fix"}],
}
"""R and a WebSocket trader, alice, who takes R's resting buy (:func:`_alice_sells`)."""


def _r_rests(d: Driver, port: int, clid: str) -> Event:
    """R logs on (numbers from 1) and rests a buy, ``clid``; its acknowledgement."""
    d.connect("R", port, "R", "r-fix", "r-key", validate=True)
    d.send("R", "D", _order(clid, "1", "1"))
    return d.received("R", "8", t11=clid)


def _r_back(d: Driver, port: int) -> Event:
    """R logs on again with its numbers where they were; our Logon."""
    d.connect("R", port, "R", "r-fix", "r-key", validate=True, reset_seq=False)
    return d.received("R", "A")


async def _alice_sells(ws_port: int) -> dict[str, Any]:
    """alice sells 1 AAPLx at 227.00 IOC over WebSocket; the answer (once durable)."""
    ws = await connect(ws_port)
    assert (await ws.login("alice"))["success"]
    placed = await ws.call(
        "add_order",
        symbol="AAPLx/USD",
        side="sell",
        order_type="limit",
        order_qty="1",
        limit_price="227.00",
        time_in_force="ioc",
    )
    await ws.ws.close()
    return placed


@pytest.mark.parametrize("kill", KILLS)
def test_a_resend_request_after_a_sigkill_and_restart(tmp_path: Path, kill: str) -> None:
    server = _Lifecycle(kill, tmp_path / "data", config_text(ACCOUNTS))
    d = Driver()
    try:
        port = server.start()
        new = _r_rests(d, port, "rest-1")
        assert tags(new)[150] == "0"
        lost = server.lose(d, "R")
        assert lost["next_target_seq"] == new["seq"] + 1
        d.drop("R")
        port = server.back()
        d.connect("S", port, "S", "s-fix", "s-key", validate=True)
        d.send("S", "D", _order("take-1", "2", "3"))
        taker = tags(d.received("S", "8", t11="take-1", t150="F"))
        assert taker[39] == "2"  # the resting order was there after the restart
        ready = d.connect("R", port, "R", "r-fix", "r-key", validate=True, reset_seq=False)
        logon = d.received("R", "A")
        assert logon["seq"] == new["seq"] + 2  # the fill, stored while R was away, is +1
        request = tags(d.wait_for("tx", session="R", type="2"))
        assert request[7] == str(new["seq"] + 1)
        fill = d.received("R", "8", t150="F")
        got = tags(fill)
        assert fill["seq"] == new["seq"] + 1
        assert (got[43], got[11], got[39], got[17]) == ("Y", "rest-1", "2", taker[17])
        assert got[122] != got[52]
        assert ready["next_sender_seq"] == lost["next_sender_seq"] + 1  # theirs went on too
        # In sequence again: an order goes through and is answered at the next number.
        d.send("R", "H", {"ClOrdID": "rest-1", "Symbol": "AAPLx/USD", "Side": "1"})
        status = d.received("R", "8", t150="I")
        assert status["seq"] == logon["seq"] + 1
        assert tags(status)[58] == "EOrder:Unknown order"  # filled: no longer open
    finally:
        d.close()
        server.stop()


@pytest.mark.parametrize("kill", KILLS)
def test_cancel_on_disconnect_covers_a_server_killed_under_the_session(
    tmp_path: Path, kill: str
) -> None:
    """The session's orders go when the gateway comes back: it was not connected then."""
    accounts = {
        "c": [
            {"sender_comp_id": "C", "password": "c-fix"},  # market maker: cancel on disconnect
            {"sender_comp_id": "CDC", "password": "c-dc", "drop_copy": True},
        ]
    }
    server = _Lifecycle(kill, tmp_path / "data", config_text(accounts))
    d = Driver()
    try:
        port = server.start()
        d.connect("C", port, "C", "c-fix", "c-key", validate=True)
        d.send("C", "D", _order("left-open", "1", "1"))
        order_id = tags(d.received("C", "8", t11="left-open"))[37]
        server.lose(d, "C")
        d.drop("C")
        port = server.back()
        d.connect("C", port, "C", "c-fix", "c-key", validate=True, reset_seq=False)
        d.wait_for("tx", session="C", type="2")  # the cancel came while it was away
        cancel = tags(d.received("C", "8", t43="Y"))
        assert (cancel[37], cancel[150], cancel[11]) == (order_id, "4", "left-open")
        d.connect("CDC", port, "CDC", "c-dc", "c-key", validate=True)
        d.send("CDC", "H", {"ClOrdID": "left-open", "Symbol": "AAPLx/USD", "Side": "1"})
        refused = tags(d.received("CDC", "8", t150="I"))
        assert refused[58] == "EOrder:Unknown order"  # not open any more
    finally:
        d.close()
        server.stop()


@pytest.mark.parametrize("workers", [0, 1], ids=["in-node", "in-worker"])
def test_a_graceful_stop_logs_out_and_stores_the_cancels_for_the_next_logon(
    tmp_path: Path, workers: int
) -> None:
    """SIGTERM: the session is logged out, its orders are cancelled (cancel-on-disconnect),
    and the cancel's report, made while the server stopped, waits in the store."""
    accounts = {"c": [{"sender_comp_id": "C", "password": "c-fix"}]}
    data, config = tmp_path / "data", config_text(accounts)
    d = Driver()
    try:
        with server(data, config, workers) as (_, port, proc):
            d.connect("C", port, "C", "c-fix", "c-key", validate=True)
            d.send("C", "D", _order("open-at-stop", "1", "1"))
            order_id = tags(d.received("C", "8", t11="open-at-stop"))[37]
            proc.send_signal(signal.SIGTERM)
            logout = d.received("C", "5", timeout=15)
            assert "shutting down" in tags(logout)[58]
            assert proc.wait(timeout=30) == 0
            d.wait_for("stopped", session="C", timeout=15)
        d.drop("C")
        with server(data, config, workers) as (_, port, _proc):
            d.connect("C", port, "C", "c-fix", "c-key", validate=True, reset_seq=False)
            d.wait_for("tx", session="C", type="2")  # the cancel came after the Logout
            cancel = tags(d.received("C", "8", t43="Y"))
            assert (cancel[37], cancel[150], cancel[11]) == (order_id, "4", "open-at-stop")
    finally:
        d.close()


def test_a_fill_while_no_fix_worker_runs_is_reported_by_the_next_one(tmp_path: Path) -> None:
    """The FIX worker is stopped (it hears nothing more), a WebSocket client fills the
    session's order, the worker is killed: the next FIX worker reads the journal from
    where its store's reports stop and makes the fill's report, resent at the logon."""
    d = Driver()
    try:
        with server(tmp_path / "data", config_text(WITH_ALICE), 1) as (ws_port, port, proc):
            new = _r_rests(d, port, "rest-gap")
            worker = _fix_worker(proc)
            os.kill(worker, signal.SIGSTOP)

            placed = asyncio.run(_alice_sells(ws_port))
            assert placed["success"], placed  # durable: the fill is in the journal
            os.kill(worker, signal.SIGKILL)
            d.wait_for("stopped", session="R", timeout=15)
            d.drop("R")
            _wait_listening(port)
            logon = _r_back(d, port)
            assert logon["seq"] == new["seq"] + 2  # the fill's report took the next number
            d.wait_for("tx", session="R", type="2")
            fill = tags(d.received("R", "8", t150="F"))
            assert (fill[43], fill[11], fill[39]) == ("Y", "rest-gap", "2")
    finally:
        d.close()


def _frames_end(path: Path) -> int:
    """Where the store's frames end (a zero length, or the end of the file)."""
    data = path.read_bytes()
    pos = 0
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "little")
        if length == 0 or pos + 8 + length > len(data):
            break
        pos += 8 + length
    return pos


def test_reports_a_crash_kept_out_of_the_store_are_made_at_the_next_start(tmp_path: Path) -> None:
    """In the node (``--workers 0``) a crash between the journal's sync of a batch and the
    store's leaves the batch durable and its reports unmade, never sent. The store is cut
    back here to where it stood before such a batch (a fill while the session was away),
    as the crash would leave it: the next start reads the journal from the store's mark
    and makes the fill's report, resent at the next logon."""
    data, config = tmp_path / "data", config_text(WITH_ALICE)
    store = data / "fix" / "sessions.log"
    d = Driver()
    try:
        with server(data, config) as (ws_port, port, _proc):
            new = _r_rests(d, port, "rest-cut")
            d.cmd("logout", session="R")
            d.received("R", "5")
            d.wait_for("stopped", session="R")
            before = _frames_end(store)  # the mark covers the order: its ack's commit set it

            placed = asyncio.run(_alice_sells(ws_port))
            assert placed["success"], placed  # the fill is in the journal
        with open(store, "r+b") as f:
            f.truncate(before)  # what the store held before the fill: its report is gone
        d.drop("R")
        with server(data, config) as (_, port, _proc):
            logon = _r_back(d, port)
            assert logon["seq"] == new["seq"] + 3  # the Logout was +1, the fill's report +2
            d.wait_for("tx", session="R", type="2")
            fill = tags(d.received("R", "8", t150="F"))
            assert (fill[43], fill[11], fill[39]) == ("Y", "rest-cut", "2")
    finally:
        d.close()


def _as_if_another_boot(path: Path) -> None:
    """Rewrite the boot id of the store's last B frame (its CRC too): the process that
    left the store ran under an earlier boot of the machine, as after a power cut."""
    data = bytearray(path.read_bytes())
    pos, last = 0, -1
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "little")
        if length == 0 or pos + 8 + length > len(data):
            break
        if msgspec.msgpack.decode(bytes(data[pos + 8 : pos + 8 + length]))[0] == "B":
            last = pos
        pos += 8 + length
    assert last >= 0, "no B frame in the store"
    length = int.from_bytes(data[last : last + 4], "little")
    kind, boot = msgspec.msgpack.decode(bytes(data[last + 8 : last + 8 + length]))
    other = boot[::-1] if boot[::-1] != boot else boot + "x"
    body = msgspec.msgpack.encode((kind, other))
    data[last:] = struct.pack("<II", len(body), zlib.crc32(body)) + body + data[last + 8 + length :]
    path.write_bytes(bytes(data))


def test_after_a_machine_crash_numbers_jump_and_lost_reports_come_again_as_poss_resend(
    tmp_path: Path,
) -> None:
    """The store is synced beside the sending, not before it: a power cut can take
    frames of messages the counterparty already has. Here R gets its fill report live;
    then the store is cut back to before it, under a boot id of an earlier boot, as a
    power cut would leave it. The next start goes on from R's synced reservation (no
    number R saw is used again), and makes the fill's report again from the journal,
    with PossResend (97=Y): R's resend request gets a gap fill and that report."""
    data, config = tmp_path / "data", config_text(WITH_ALICE)
    store = data / "fix" / "sessions.log"
    d = Driver()
    try:
        with server(data, config) as (ws_port, port, _proc):
            new = _r_rests(d, port, "rest-power")
            # A state a power cut can leave: a prefix of what was written, R's
            # reservation in it (the Logon went only once that was synced).
            before = _frames_end(store)
            placed = asyncio.run(_alice_sells(ws_port))
            assert placed["success"], placed
            live = tags(d.received("R", "8", t150="F"))
            assert (live[11], live[39]) == ("rest-power", "2") and 97 not in live
        d.wait_for("stopped", session="R")
        with open(store, "r+b") as f:
            f.truncate(before)  # the power cut: what was not synced is gone
        _as_if_another_boot(store)
        d.drop("R")
        with server(data, config) as (_, port, _proc):
            logon = _r_back(d, port)
            assert logon["seq"] > new["seq"] + 1000  # past the reservation, nothing reused
            d.wait_for("tx", session="R", type="2")
            gap = tags(d.received("R", "4"))
            assert gap.get(123) == "Y" and int(gap[36]) <= logon["seq"]
            again = tags(d.received("R", "8", t150="F"))
            assert (again[43], again[97], again[11], again[39]) == ("Y", "Y", "rest-power", "2")
            assert again[17] == live[17]  # the same execution, by its ExecID
    finally:
        d.close()


class _Resender:
    """R over a plain socket, as a FIX engine that resends what it is asked for.

    jspurefix answers every ResendRequest with a gap fill and never resends an
    application message; QuickFIX and most engines resend them, with
    PossDupFlag (43=Y) and OrigSendingTime (122). This client sends exactly
    the bytes such an engine would, framed by tokex's own codec.
    """

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.parser = Parser()
        self.got: list[Message] = []

    def send(self, msg_type: str, seq: int, body: str, resent_from: str | None = None) -> None:
        now = format_timestamp(time.time_ns())
        head = f"35={msg_type}\x0149=R\x0156=TOKEX\x0134={seq}\x01"
        if resent_from is not None:
            head += f"43=Y\x01122={resent_from}\x01"
        self.sock.sendall(encode(head + f"52={now}\x01", body))

    def order(self, seq: int, clid: str, price: str, resent_from: str | None = None) -> str:
        when = format_timestamp(time.time_ns())
        body = f"11={clid}\x0155=AAPLx/USD\x0154=1\x0160={when}\x0138=1\x0140=2\x01"
        self.send("D", seq, body + f"44={price}\x0159=1\x01", resent_from)
        return when

    def expect(self, msg_type: str, **want: str) -> dict[int, str]:
        """The first message of ``msg_type`` (read or still to come) whose tags match."""
        deadline = time.monotonic() + 10
        while True:
            for i, message in enumerate(self.got):
                fields = message.index
                if message.msg_type == msg_type and all(
                    fields.get(int(tag[1:])) == value for tag, value in want.items()
                ):
                    del self.got[i]
                    return fields
            left = deadline - time.monotonic()
            assert left > 0, f"no {msg_type} {want} in {self.got}"
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            assert data, f"closed before a {msg_type} {want} came; got {self.got}"
            self.got += [m for m in self.parser.feed(data) if isinstance(m, Message)]

    def close(self) -> None:
        self.sock.close()


def test_after_a_machine_crash_a_resent_order_is_answered_not_placed_twice(tmp_path: Path) -> None:
    """The store counts R's messages and is synced now and then, beside the sending: a
    power cut can take the count of orders that were journaled and answered. R's next
    Logon then shows a gap, and R resends those orders (PossDupFlag). The one filled
    since is answered as a duplicate (OrdRejReason 6), not placed again; the one still
    open gets its status and is R's again, so R's disconnect cancels it."""
    data = tmp_path / "data"
    config = config_text(
        {
            "r": [{"sender_comp_id": "R", "password": "r-fix", "cancel_on_disconnect": True}],
            "alice": [{"sender_comp_id": "ALICE", "password": "alice-fix"}],
        }
    )
    store = data / "fix" / "sessions.log"
    logon = "98=0\x01108=30\x01553=r-key\x01554=r-fix\x01"
    with server(data, config) as (ws_port, port, proc):
        r = _Resender(port)
        r.send("A", 1, logon)
        r.expect("A")
        before = _frames_end(store)  # R's count: 2 next; the power cut takes what follows
        filled_at = r.order(2, "lost-filled", "227.00")
        r.expect("8", t11="lost-filled", t150="0")
        open_at = r.order(3, "lost-open", "226.00")
        r.expect("8", t11="lost-open", t150="0")
        placed = asyncio.run(_alice_sells(ws_port))
        assert placed["success"], placed
        r.expect("8", t11="lost-filled", t150="F", t39="2")
        proc.send_signal(signal.SIGKILL)  # no logout, no cancel on disconnect
        proc.wait(timeout=10)
        r.close()
    with open(store, "r+b") as f:
        f.truncate(before)
    _as_if_another_boot(store)
    with server(data, config) as (_ws_port, port, _proc):
        r = _Resender(port)
        r.send("A", 4, logon)
        r.expect("A")
        asked = r.expect("2")
        assert (asked[7], asked[16]) == ("2", "0")  # the gap: 2 and 3, as the store lost them
        r.order(2, "lost-filled", "227.00", resent_from=filled_at)
        r.order(3, "lost-open", "226.00", resent_from=open_at)
        duplicate = r.expect("8", t11="lost-filled")
        assert (duplicate[150], duplicate[39], duplicate.get(103)) == ("8", "8", "6"), duplicate
        status = r.expect("8", t11="lost-open")
        assert (status[150], status[39]) == ("I", "0"), status
        # Placed once: the filled one is not open again.
        r.send("H", 5, "11=lost-filled\x0155=AAPLx/USD\x0154=1\x01")
        assert r.expect("8", t11="lost-filled")[39] == "8"  # unknown: not open
        r.close()  # the connection drops: R's open order is cancelled
        again = _Resender(port)
        again.send("A", 6, logon)
        again.expect("A")
        seq, deadline = 7, time.monotonic() + 10
        while True:  # the cancel is queued when the server sees the drop: ask until it is in
            again.send("H", seq, "11=lost-open\x0155=AAPLx/USD\x0154=1\x01")
            answer = again.expect("8", t11="lost-open", t150="I")
            if answer[39] == "8":  # not open: cancelled
                break
            assert time.monotonic() < deadline, answer
            seq += 1
            time.sleep(0.1)
        again.close()
