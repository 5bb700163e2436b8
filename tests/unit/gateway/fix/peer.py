"""A scripted FIX counterparty for the session-layer unit tests (no sockets).

:class:`Peer` writes messages as a client engine would (its own MsgSeqNum
counter, SendingTime on the test's clock) and hands them, framed by the real
:class:`gateway.fix.codec.Parser`, to a :class:`gateway.fix.session.Session`;
it returns what the session sent back, framed the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.fix.codec import Garbled, Message, Parser, encode
from gateway.fix.session import Action, Session, SessionSettings
from gateway.fix.times import format_timestamp

NOW = 1_796_400_000 * 10**9  # 2026-12-04, on the exchange clock the tests pretend to have
SETTINGS = SessionSettings("TOKEX", "CLIENT", "client-key", "secret")


def logon_body(heartbeat: int = 30, reset: bool = False, password: str = "secret") -> str:
    return (
        f"98=0\x01108={heartbeat}\x01"
        + ("141=Y\x01" if reset else "")
        + f"553=client-key\x01554={password}\x01"
    )


def frame(data: bytes) -> Message:
    """``data`` framed by the real parser: one good message."""
    (item,) = Parser().feed(data)
    assert isinstance(item, Message), item
    return item


@dataclass
class Peer:
    """The counterparty of ``session``; ``now`` (exchange ns) and ``mono`` (s) are its clocks."""

    session: Session = field(default_factory=lambda: Session(SETTINGS))
    seq: int = 1
    now: int = NOW
    mono: float = 1000.0
    sent: list[Message] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)

    def build(
        self,
        msg_type: str,
        body: str = "",
        *,
        seq: int | None = None,
        sending: int | None = None,
        header: str = "",
        sender: str = "CLIENT",
        target: str = "TOKEX",
        begin: str = "FIX.4.4",
    ) -> bytes:
        """A message's bytes; takes the next MsgSeqNum unless ``seq`` is given."""
        if seq is None:
            seq = self.seq
            self.seq += 1
        when = format_timestamp(self.now if sending is None else sending)
        head = f"35={msg_type}\x0149={sender}\x0156={target}\x0134={seq}\x0152={when}\x01{header}"
        return encode(head, body, begin)

    def deliver(self, data: bytes) -> list[Message]:
        """Feed ``data`` (framed by the parser) to the session; what it sent back."""
        for item in Parser().feed(data):
            if isinstance(item, Garbled):
                continue  # the transport drops garbage before the session sees it
            self.session.receive(item, self.now, self.mono)
        return self.take()

    def send(self, msg_type: str, body: str = "", **kw: object) -> list[Message]:
        return self.deliver(self.build(msg_type, body, **kw))  # type: ignore[arg-type]

    def take(self) -> list[Message]:
        out = [frame(o.raw) for o in self.session.outbox]
        self.session.outbox.clear()
        self.actions += self.session.actions
        self.session.actions.clear()
        self.sent += out
        return out

    def tick(self, seconds: float) -> list[Message]:
        self.mono += seconds
        self.now += int(seconds * 1e9)
        self.session.tick(self.now, self.mono)
        return self.take()

    def logon(self, **kw: object) -> list[Message]:
        """Connect and log on (heartbeat 30 unless given); the session's answer."""
        self.session.connect(self.mono)
        return self.send("A", logon_body(**kw))  # type: ignore[arg-type]


def types(messages: list[Message]) -> list[str]:
    return [m.msg_type for m in messages]
