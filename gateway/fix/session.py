"""The FIX 4.4 session layer of one session, sans I/O: messages and clock ticks in,
messages to send and actions out.

A :class:`Session` is one counterparty's session (its CompIDs, credentials,
sequence numbers), alive for as long as the server runs, connected or not.
The transport feeds it (:meth:`Session.receive` for each framed message,
:meth:`Session.tick` on a timer) and drains what it produced:
:attr:`Session.outbox` (:class:`Outgoing` messages, stamped and encoded, in
order) and :attr:`Session.actions` (:class:`Deliver` an application message,
:class:`LoggedOn`, :class:`Reset`, :class:`Disconnect`). It never touches a
socket, a file or a clock: the exchange time (``now``, ns, for SendingTime
and its accuracy check) and a monotonic time (``mono``, seconds, for the
heartbeat timers) come in with every call. Messages sent while the
counterparty is away still take their sequence numbers; the transport stores
them and they are resent when the counterparty asks (FIX's queued messages).

The rules are the FIX 4.4 session rules as QuickFIX's acceptor applies them
(docs/FIX.md has the table): validation first (Reject with a
SessionRejectReason, consuming the number when it is the expected one), then
SendingTime within 120 s (Reject 10 and Logout), CompIDs (Reject 9 and
Logout), PossDup resends (OrigSendingTime required and not after
SendingTime), then the sequence number: too high, queue it and ask for the
gap once; too low without PossDup, Logout and disconnect; too low with
PossDup, ignore it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from gateway.fix.codec import Message, encode, render
from gateway.fix.spec import MESSAGES, MSG_TYPES
from gateway.fix.times import format_timestamp, parse_timestamp
from gateway.fix.validate import Group, Problem, validate

__all__ = [
    "BEGIN_STRING",
    "Deliver",
    "Disconnect",
    "LoggedOn",
    "Outgoing",
    "Reset",
    "Session",
    "SessionSettings",
]

BEGIN_STRING = "FIX.4.4"
ADMIN = frozenset("012345A")
LOGON_TIMEOUT_S = 10.0
"""A connection that sends no Logon within this is closed (QuickFIX's LogonTimeout)."""
LOGOUT_TIMEOUT_S = 2.0
"""After our Logout, the counterparty's answer is awaited this long (QuickFIX's LogoutTimeout)."""
TEST_REQUEST_AFTER = 1.2
"""Silence (in heartbeat intervals) that earns a TestRequest; 2.4 of them, a disconnect."""

_POSS_RESEND = "97=Y\x01"
"""PossResend (97): a message that may have been sent before under another number."""


@dataclass(frozen=True)
class SessionSettings:
    """One session's identity and options (the account's ``fix`` table)."""

    our_comp_id: str
    their_comp_id: str
    username: str
    password: str
    reset_on_logon: bool = False
    heartbeat_max: int = 300
    max_latency_ns: int = 120 * 10**9


class Outgoing(NamedTuple):
    """A message to send: its sequence number, type and bytes.

    ``app``: an application message, kept for resending. ``resend``: a
    message sent again (PossDup) or a GapFill, which takes no new number.
    """

    seq: int
    msg_type: str
    raw: bytes
    app: bool = False
    resend: bool = False


class Deliver(NamedTuple):
    """An application message, in sequence, for the application; ``groups`` by NumInGroup tag."""

    message: Message
    groups: dict[int, list[Group]]


@dataclass(frozen=True)
class LoggedOn:
    """The Logon was accepted and answered."""


@dataclass(frozen=True)
class Reset:
    """Both sequence numbers went back to 1: what was stored for resending is void."""


@dataclass(frozen=True)
class Disconnect:
    """Close the connection once the outbox is written; ``reason`` for the log."""

    reason: str


Action = Deliver | LoggedOn | Reset | Disconnect
History = Callable[[int, int], list[tuple[int, bytes]]]
"""The application messages this session sent with numbers from ``begin`` to ``end``."""

_AWAY, _LOGON, _ACTIVE, _LOGOUT_SENT = "away", "awaiting logon", "active", "logout sent"


class Session:
    """The session layer of one FIX session (see the module docstring for the contract)."""

    def __init__(
        self,
        settings: SessionSettings,
        next_in: int = 1,
        next_out: int = 1,
        history: History | None = None,
    ) -> None:
        self.settings = settings
        self.next_in = next_in
        """The MsgSeqNum expected next from the counterparty."""
        self.next_out = next_out
        """The MsgSeqNum of our next message."""
        self.history: History = history or (lambda begin, end: [])
        self.outbox: list[Outgoing] = []
        self.actions: list[Action] = []
        self.status = _AWAY
        self.heartbeat = 30
        self._queue: dict[int, Message | None] = {}
        self._resend_to: int | None = None  # while our ResendRequest is outstanding: its end
        self._now = 0
        self._mono = 0.0
        self._connected_at = 0.0
        self._last_received = 0.0
        self._last_sent = 0.0
        self._test_requests = 0
        self._logout_sent_at = 0.0

    # ------------------------------------------------------------ state

    @property
    def logged_on(self) -> bool:
        return self.status in (_ACTIVE, _LOGOUT_SENT)

    @property
    def connected(self) -> bool:
        return self.status != _AWAY

    @property
    def in_step(self) -> bool:
        """Logged on with no gap outstanding: every number the counterparty used before
        its Logon has been processed (resent or gap-filled)."""
        return self.logged_on and self._resend_to is None and not self._queue

    def connect(self, mono: float) -> None:
        """A connection was accepted for this session; its Logon comes next."""
        self.status = _LOGON
        self._connected_at = self._last_received = self._last_sent = mono
        self._queue.clear()
        self._resend_to = None
        self._test_requests = 0

    def disconnected(self) -> None:
        """The connection is gone (either side closed it)."""
        self.status = _AWAY
        self._queue.clear()
        self._resend_to = None

    # ------------------------------------------------------------ sending

    def _send(
        self, msg_type: str, body: str, app: bool = False, poss_resend: bool = False
    ) -> Outgoing:
        s = self.settings
        seq = self.next_out
        self.next_out = seq + 1
        header = (
            f"35={msg_type}\x0149={s.our_comp_id}\x0156={s.their_comp_id}\x01"
            f"34={seq}\x01{_POSS_RESEND if poss_resend else ''}52={format_timestamp(self._now)}\x01"
        )
        out = Outgoing(seq, msg_type, encode(header, body), app)
        self.outbox.append(out)
        if self.connected:
            self._last_sent = self._mono
        return out

    def send_app(self, msg_type: str, body: str, now: int, poss_resend: bool = False) -> Outgoing:
        """Stamp and encode an application message (sent now, or kept for a resend if away);
        ``poss_resend``: it may have been sent before under another number (97=Y)."""
        self._now = now
        return self._send(msg_type, body, app=True, poss_resend=poss_resend)

    def logout(self, text: str, now: int, mono: float) -> None:
        """Start a Logout (the server is stopping); the counterparty's answer closes it."""
        self._now, self._mono = now, mono
        if self.logged_on and self.status != _LOGOUT_SENT:
            self._logout(text)

    def _logout(self, text: str = "") -> None:
        self._send("5", f"58={text}\x01" if text else "")
        self.status = _LOGOUT_SENT
        self._logout_sent_at = self._mono

    def _disconnect(self, reason: str) -> None:
        self.actions.append(Disconnect(reason))
        self.disconnected()

    def _reject(self, message: Message, problem: Problem) -> None:
        """Reject (3) ``message``; it uses up its number if it is the one expected."""
        seq = message.seq
        body = [(45, str(seq))]
        if problem.tag:
            body.append((371, str(problem.tag)))
        body += [(372, message.msg_type), (373, str(problem.reason)), (58, problem.message)]
        self._send("3", render(body))
        if message.msg_type not in ("A", "4") and seq == self.next_in:
            self.next_in += 1

    def _business_reject(self, message: Message, reason: int, text: str) -> None:
        """BusinessMessageReject (j) ``message``, which uses up its number."""
        body = [(45, str(message.seq)), (372, message.msg_type), (380, str(reason)), (58, text)]
        self._send("j", render(body), app=True)
        self.next_in += 1

    # ------------------------------------------------------------ receiving

    def receive(self, message: Message, now: int, mono: float) -> None:
        """Take one framed message from the counterparty."""
        self._now, self._mono = now, mono
        if self.status == _LOGON:
            self._on_logon(message)
        elif self.logged_on:
            self._next(message)
            self._drain_queue()

    def _drain_queue(self) -> None:
        """Process queued (too high) messages that are now in sequence."""
        queue = self._queue
        while queue and self.logged_on:
            for seq in [s for s in queue if s < self.next_in]:
                del queue[seq]
            if self.next_in not in queue:
                return
            queued = queue.pop(self.next_in)
            if queued is None:  # taken already (a Logon or ResendRequest): only its number
                self.next_in += 1
            else:
                self._next(queued)

    def _next(self, message: Message) -> None:
        msg_type = message.msg_type
        if message.begin_string != BEGIN_STRING:
            if msg_type == "5":
                self._on_logout(message)
            else:
                self._logout("Incorrect BeginString")
                self.next_in += 1
            return
        if message.seq <= 0:
            self._logout("MsgSeqNum (34) missing or not a positive number")
            self._disconnect("a message without a valid MsgSeqNum")
            return
        if msg_type not in MSG_TYPES:
            self._reject(message, Problem(11, 35, f"MsgType {msg_type!r} is not FIX 4.4"))
            return
        found = validate(message, MESSAGES.get(msg_type))
        if isinstance(found, Problem):
            self._reject(message, found)
            return
        if msg_type == "0":
            if self._verify(message):
                self.next_in += 1
        elif msg_type == "1":
            if self._verify(message):
                self._send("0", f"112={message.get(112)}\x01")
                self.next_in += 1
        elif msg_type == "2":
            self._on_resend_request(message)
        elif msg_type == "3":
            if self._verify(message):
                self.next_in += 1
        elif msg_type == "4":
            self._on_sequence_reset(message)
        elif msg_type == "5":
            self._on_logout(message)
        elif msg_type == "A":
            self._disconnect("a second Logon on a logged-on session")
        elif self._verify(message):
            if msg_type in MESSAGES:
                self.actions.append(Deliver(message, found))
                self.next_in += 1
            else:
                self._business_reject(message, 3, "Unsupported Message Type")

    def _verify(self, message: Message, too_high: bool = True, too_low: bool = True) -> bool:
        """The checks after validation; False when the message goes no further."""
        s = self.settings
        sending = parse_timestamp(message.get(52) or "")
        if abs(self._now - sending) > s.max_latency_ns:
            self._reject(
                message, Problem(10, 52, f"SendingTime {message.get(52)} is over 120 s off")
            )
            self._logout("SendingTime accuracy problem")
            return False
        if message.get(49) != s.their_comp_id or message.get(56) != s.our_comp_id:
            self._reject(message, Problem(9, 0, f"{message.get(49)} to {message.get(56)}"))
            self._logout("CompID problem")
            return False
        poss_dup = message.get(43) == "Y"
        if poss_dup and message.msg_type != "4":
            original = message.get(122)
            if original is None:
                self._reject(message, Problem(1, 122, "OrigSendingTime (122) is required"))
                return False
            if parse_timestamp(original) > sending:
                self._reject(message, Problem(10, 122, "OrigSendingTime is after SendingTime"))
                self._logout("SendingTime accuracy problem")
                return False
        self._last_received = self._mono
        self._test_requests = 0
        seq = message.seq
        if too_high and seq > self.next_in:
            self._queue_too_high(seq, message)
            return False
        if too_low and seq < self.next_in:
            if not poss_dup:
                text = f"MsgSeqNum too low, expecting {self.next_in} but received {seq}"
                self._logout(text)
                self._disconnect(text)
            return False  # a PossDup resend of what was taken: ignored
        if self._resend_to is not None and seq == self.next_in and seq >= self._resend_to:
            self._resend_to = None  # the gap we asked for is filled
        return True

    def _queue_too_high(self, seq: int, message: Message | None) -> None:
        """Hold a message ahead of a gap; ask for the gap unless a request is outstanding.

        The request asks for everything from the expected number on (16=0);
        it is satisfied once the expected number passes the gap it saw.
        """
        self._queue[seq] = message
        if self._resend_to is not None:
            return  # already asked, from before this message on
        self._send("2", f"7={self.next_in}\x0116=0\x01")
        self._resend_to = seq - 1

    # ------------------------------------------------------------ admin messages

    def _on_logon(self, message: Message) -> None:
        """The first message: it must be a valid Logon (the transport checked its CompIDs)."""
        s = self.settings
        if message.msg_type != "A" or message.begin_string != BEGIN_STRING:
            self._disconnect("the first message is not a FIX.4.4 Logon")
            return
        found = validate(message, MESSAGES["A"])
        if isinstance(found, Problem):
            self._disconnect(f"an invalid Logon: {found.message}")
            return
        sending = parse_timestamp(message.get(52) or "")
        if abs(self._now - sending) > s.max_latency_ns:
            self._disconnect(f"Logon SendingTime {message.get(52)} is over 120 s off")
            return
        if message.get(56) != s.our_comp_id:
            self._refuse(f"Logon refused: TargetCompID (56) must be {s.our_comp_id}")
            return
        if message.get(553) != s.username or message.get(554) != s.password:
            self._refuse("Logon refused: wrong Username (553) or Password (554)")
            return
        if message.get(98) != "0":
            self._refuse("Logon refused: EncryptMethod (98) must be 0")
            return
        heartbeat = int(message.get(108) or "0")
        if not 1 <= heartbeat <= s.heartbeat_max:
            self._refuse(f"Logon refused: HeartBtInt (108) must be 1 to {s.heartbeat_max}")
            return
        reset = message.get(141) == "Y" or s.reset_on_logon
        if reset:
            self.next_in = self.next_out = 1
            self.actions.append(Reset())
        seq = message.seq
        if seq < self.next_in:
            text = f"MsgSeqNum too low, expecting {self.next_in} but received {seq}"
            self._refuse(text)
            return
        self.heartbeat = heartbeat
        self.status = _ACTIVE
        self._last_received = self._mono
        self._send("A", f"98=0\x01108={heartbeat}\x01" + ("141=Y\x01" if reset else ""))
        self.actions.append(LoggedOn())
        if seq > self.next_in:
            self._queue_too_high(seq, None)
        else:
            self.next_in += 1

    def _refuse(self, text: str) -> None:
        """Answer a Logon with a Logout saying why, and disconnect (QuickFIX's RejectLogon)."""
        self._send("5", f"58={text}\x01")
        self._disconnect(text)

    def _on_logout(self, message: Message) -> None:
        if not self._verify(message, too_high=False, too_low=False):
            return
        if message.seq == self.next_in:
            self.next_in += 1
        if self.status != _LOGOUT_SENT:
            self._send("5", "")
            self._disconnect("Logout requested by the counterparty")
        else:
            self._disconnect("Logout confirmed")

    def _on_sequence_reset(self, message: Message) -> None:
        gap_fill = message.get(123) == "Y"
        if not self._verify(message, too_high=gap_fill, too_low=gap_fill):
            return
        new = int(message.get(36) or "0")
        seq = message.seq
        if new < self.next_in or (gap_fill and new <= seq):
            problem = Problem(5, 36, f"NewSeqNo {new} would not move MsgSeqNum on from {seq}")
            self._reject(message, problem)
            return
        self.next_in = new

    def _on_resend_request(self, message: Message) -> None:
        if not self._verify(message, too_high=False, too_low=False):
            return
        seq = message.seq
        self._resend(int(message.get(7) or "0"), int(message.get(16) or "0"))
        if seq == self.next_in:
            self.next_in += 1
        elif seq > self.next_in:
            # Answered already; its number is taken once the gap before it is filled.
            self._queue_too_high(seq, None)

    def _resend(self, begin: int, end: int) -> None:
        """Send again what was sent from ``begin`` to ``end`` (0: the last one sent).

        Application messages go again with PossDupFlag and OrigSendingTime;
        admin messages and numbers with nothing stored are covered by
        SequenceReset-GapFill, so the counterparty's sequence moves on.
        """
        last = self.next_out - 1
        if end == 0 or end > last:
            end = last
        if begin < 1 or begin > end:
            return
        current = begin
        for seq, raw in self.history(begin, end):
            if seq > current:
                self._gap_fill(current, seq)
            self._resend_one(seq, raw)
            current = seq + 1
        if current <= end:
            self._gap_fill(current, end + 1)

    def _gap_fill(self, begin: int, new: int) -> None:
        s = self.settings
        now = format_timestamp(self._now)
        header = (
            f"35=4\x0149={s.our_comp_id}\x0156={s.their_comp_id}\x0134={begin}\x01"
            f"43=Y\x0152={now}\x01122={now}\x01"
        )
        self.outbox.append(
            Outgoing(begin, "4", encode(header, f"123=Y\x0136={new}\x01"), False, True)
        )

    def _resend_one(self, seq: int, raw: bytes) -> None:
        s = self.settings
        fields = _fields_of(raw)
        msg_type = fields[2][1]
        original = next(v for t, v in fields if t == 52)
        # Our messages carry 8, 9, 35, 49, 56, 34, then 97 (PossResend) or not, then 52
        # before the body.
        poss_resend = fields[6][0] == 97
        header = (
            f"35={msg_type}\x0149={s.our_comp_id}\x0156={s.their_comp_id}\x0134={seq}\x01"
            f"43=Y\x01{_POSS_RESEND if poss_resend else ''}52={format_timestamp(self._now)}\x01"
            f"122={original}\x01"
        )
        body = render(fields[8 if poss_resend else 7 : -1])
        self.outbox.append(Outgoing(seq, msg_type, encode(header, body), True, True))

    # ------------------------------------------------------------ timers

    def tick(self, now: int, mono: float) -> None:
        """Run the timers: logon and logout timeouts, heartbeats, TestRequests, silence."""
        self._now, self._mono = now, mono
        if self.status == _LOGON:
            if mono - self._connected_at >= LOGON_TIMEOUT_S:
                self._disconnect(f"no Logon within {LOGON_TIMEOUT_S:.0f} s")
            return
        if self.status == _LOGOUT_SENT and mono - self._logout_sent_at >= LOGOUT_TIMEOUT_S:
            self._disconnect("no answer to our Logout")
            return
        if not self.logged_on:
            return
        interval = self.heartbeat
        silent = mono - self._last_received
        if silent >= 2 * TEST_REQUEST_AFTER * interval:
            self._disconnect(f"nothing received for {silent:.1f} s (HeartBtInt {interval})")
        elif silent >= TEST_REQUEST_AFTER * (self._test_requests + 1) * interval:
            self._send("1", f"112=TEST{self._test_requests + 1}\x01")
            self._test_requests += 1
        elif mono - self._last_sent >= interval and not self._test_requests:
            self._send("0", "")


def _fields_of(raw: bytes) -> list[tuple[int, str]]:
    """The fields of a message this session itself encoded (so well formed)."""
    return [
        (int(tag), value)
        for tag, _, value in (p.partition("=") for p in raw.decode("latin-1").split("\x01")[:-1])
    ]
