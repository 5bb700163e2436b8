"""The session layer against the FIX 4.4 session-level test cases, one row per case.

Each row scripts a counterparty (:class:`tests.unit.gateway.fix.peer.Peer`)
through a logon and then the stimulus of one test case from the FIX 4.4
"Session-level Test Cases and Expected Behaviors" (the ids are the
specification's), and states the expected answer: the MsgTypes sent back,
fields of the first of them, the MsgSeqNum expected next, whether the
session disconnects. The expectations are QuickFIX's acceptor's where the
specification leaves a choice (docs/FIX.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from gateway.fix.codec import Message, encode, split_fields
from gateway.fix.session import Deliver, Disconnect, LoggedOn, Reset, Session, SessionSettings
from gateway.fix.times import format_timestamp
from tests.unit.gateway.fix.peer import NOW, SETTINGS, Peer, logon_body, types

ORDER = "11=C1\x0155=AAPLx/USD\x0154=1\x0160=20261204-10:00:00\x0138=1\x0140=2\x0144=230\x01"
POSS_DUP = f"43=Y\x01122={format_timestamp(NOW - 10**9)}\x01"


@dataclass
class Case:
    """A stimulus after logon and what the session must do."""

    name: str
    stimulus: Callable[[Peer], list[Message]]
    sent: list[str]
    """MsgTypes the session sends in answer, in order."""
    fields: dict[int, str] = field(default_factory=dict)
    """Fields of the first message sent."""
    next_in: int | None = None
    disconnects: bool = False
    logged_on: bool = True
    """Whether a Logon precedes the stimulus."""


def _then(*steps: Callable[[Peer], list[Message]]) -> Callable[[Peer], list[Message]]:
    """Several steps; the answers to the last one."""

    def run(peer: Peer) -> list[Message]:
        out: list[Message] = []
        for step in steps:
            out = step(peer)
        return out

    return run


def _raw(data: Callable[[Peer], bytes]) -> Callable[[Peer], list[Message]]:
    return lambda p: p.deliver(data(p))


def _take(peer: Peer) -> int:
    """The counterparty's next MsgSeqNum, used up."""
    peer.seq += 1
    return peer.seq - 1


def _first(msg_type: str, body: str = "", **kw: object) -> Callable[[Peer], list[Message]]:
    """The first message of a connection, with no Logon before it."""

    def run(peer: Peer) -> list[Message]:
        peer.session.connect(peer.mono)
        return peer.send(msg_type, body, **kw)

    return run


CASES = [
    # 1S: logon
    Case("1S-a valid Logon", lambda p: p.logon(), ["A"], {108: "30", 98: "0"}, 2, logged_on=False),
    Case(
        "1S-a Logon MsgSeqNum too high: answer, then ResendRequest",
        lambda p: (p.session.connect(p.mono), p.send("A", logon_body(), seq=5))[1],
        ["A", "2"],
        {34: "1"},
        1,
        logged_on=False,
    ),
    Case(
        "1S-a Logon with ResetSeqNumFlag",
        lambda p: p.logon(reset=True),
        ["A"],
        {141: "Y", 34: "1"},
        2,
        logged_on=False,
    ),
    Case(
        "1S-c wrong Password: Logout with the reason, disconnect",
        lambda p: p.logon(password="nope"),
        ["5"],
        {58: "Logon refused: wrong Username (553) or Password (554)"},
        1,
        disconnects=True,
        logged_on=False,
    ),
    Case(
        "1S-c wrong TargetCompID: Logout with the reason, disconnect",
        _first("A", logon_body(), target="NOTUS"),
        ["5"],
        {58: "Logon refused: TargetCompID (56) must be TOKEX"},
        disconnects=True,
        logged_on=False,
    ),
    Case(
        "1S-d HeartBtInt out of range",
        lambda p: p.logon(heartbeat=0),
        ["5"],
        {58: "Logon refused: HeartBtInt (108) must be 1 to 300"},
        disconnects=True,
        logged_on=False,
    ),
    Case(
        "1S-d EncryptMethod other than 0",
        _first("A", logon_body().replace("98=0", "98=1")),
        ["5"],
        {58: "Logon refused: EncryptMethod (98) must be 0"},
        disconnects=True,
        logged_on=False,
    ),
    Case(
        "1S-d Logon with a stale SendingTime: disconnect, no answer",
        _first("A", logon_body(), sending=NOW - 200 * 10**9),
        [],
        next_in=1,
        disconnects=True,
        logged_on=False,
    ),
    Case(
        "1S-d Logon missing HeartBtInt: disconnect, no answer",
        _first("A", "98=0\x01553=client-key\x01554=secret\x01"),
        [],
        disconnects=True,
        logged_on=False,
    ),
    Case(
        "1S-e first message not a Logon: disconnect, no answer",
        _first("D", ORDER),
        [],
        next_in=1,
        disconnects=True,
        logged_on=False,
    ),
    # 2: MsgSeqNum and header
    Case("2a MsgSeqNum as expected", lambda p: p.send("0"), [], next_in=3),
    Case(
        "2b MsgSeqNum too high: ResendRequest from the expected number",
        lambda p: p.send("0", seq=5),
        ["2"],
        {7: "2", 16: "0"},
        2,
    ),
    Case(
        "2b a second message beyond the gap asks nothing more",
        _then(lambda p: p.send("0", seq=5), lambda p: p.send("0", seq=6)),
        [],
        next_in=2,
    ),
    Case(
        "2c MsgSeqNum too low without PossDup: Logout, disconnect",
        lambda p: p.send("0", seq=1),
        ["5"],
        {58: "MsgSeqNum too low, expecting 2 but received 1"},
        2,
        disconnects=True,
    ),
    Case(
        "2d garbled message: ignored, its number not taken",
        _then(
            _raw(lambda p: p.build("0").replace(b"10=", b"10=9")),
            lambda p: p.send("0", seq=2),
        ),
        [],
        next_in=3,
    ),
    Case(
        "2e PossDup with a number already taken: ignored",
        lambda p: p.send("0", seq=1, header=POSS_DUP),
        [],
        next_in=2,
    ),
    Case(
        "2f PossDup with OrigSendingTime after SendingTime: Reject 10, Logout",
        lambda p: p.send("0", header=f"43=Y\x01122={format_timestamp(NOW + 10**9)}\x01"),
        ["3", "5"],
        {373: "10", 45: "2"},
        3,
    ),
    Case(
        "2g PossDup without OrigSendingTime: Reject 1 (122), number taken",
        lambda p: p.send("0", header="43=Y\x01"),
        ["3"],
        {373: "1", 371: "122"},
        3,
    ),
    Case(
        "2i wrong BeginString: Logout",
        lambda p: p.send("0", begin="FIX.4.2"),
        ["5"],
        {58: "Incorrect BeginString"},
        3,
    ),
    Case(
        "2k wrong SenderCompID: Reject 9, Logout",
        lambda p: p.send("0", sender="OTHER"),
        ["3", "5"],
        {373: "9", 45: "2"},
        3,
    ),
    Case(
        "2k wrong TargetCompID: Reject 9, Logout",
        lambda p: p.send("0", target="NOTUS"),
        ["3", "5"],
        {373: "9"},
        3,
    ),
    Case(
        "2m wrong BodyLength: garbled, ignored",
        _raw(lambda p: p.build("0").replace(b"9=", b"9=1", 1)),
        [],
        next_in=2,
    ),
    Case(
        "2n SendingTime 119 s off: taken",
        lambda p: p.send("0", sending=NOW - 119 * 10**9),
        [],
        next_in=3,
    ),
    Case(
        "2o SendingTime 121 s off: Reject 10, Logout",
        lambda p: p.send("0", sending=NOW + 121 * 10**9),
        ["3", "5"],
        {373: "10"},
        3,
    ),
    Case(
        "2q MsgType that FIX 4.4 does not define: Reject 11",
        lambda p: p.send("ZZ"),
        ["3"],
        {373: "11", 372: "ZZ"},
        3,
    ),
    Case(
        "2r MsgType tokex does not take: BusinessMessageReject 3",
        lambda p: p.send("R", "131=Q1\x01146=1\x0155=AAPLx/USD\x01"),
        ["j"],
        {380: "3", 372: "R", 45: "2"},
        3,
    ),
    Case(
        "2t MsgType not the third field: garbled",
        _raw(lambda p: p.build("0").replace(b"35=0\x0149=CLIENT", b"49=CLIENT\x0135=0")),
        [],
        next_in=2,
    ),
    Case(
        "3b wrong CheckSum: garbled",
        _raw(lambda p: p.build("0")[:-4] + b"000\x01"),
        [],
        next_in=2,
    ),
    Case(
        "3c a broken tag: garbled",
        _raw(lambda p: p.build("0", "1x2=3\x01")),
        [],
        next_in=2,
    ),
    Case(
        "3d CheckSum not the last field: garbled",
        _raw(lambda p: p.build("0").replace(b"52=", b"10=000\x0152=", 1)),
        [],
        next_in=2,
    ),
    # 4-7: heartbeats, test requests
    Case("4a nothing sent for HeartBtInt: Heartbeat", lambda p: p.tick(30.0), ["0"], next_in=2),
    Case(
        "4b TestRequest: Heartbeat with its TestReqID",
        lambda p: p.send("1", "112=ping 1, with spaces\x01"),
        ["0"],
        {112: "ping 1, with spaces"},
        3,
    ),
    Case(
        "5 Heartbeat (with a TestReqID unasked)", lambda p: p.send("0", "112=x\x01"), [], next_in=3
    ),
    Case(
        "6 silence past 1.2 HeartBtInt: TestRequest",
        _then(lambda p: p.tick(20.0), lambda p: p.tick(17.0)),
        ["1"],
        next_in=2,
    ),
    Case(
        "6 no answer to the TestRequest: disconnect",
        _then(lambda p: p.tick(20.0), lambda p: p.tick(17.0), lambda p: p.tick(36.0)),
        [],
        disconnects=True,
    ),
    Case(
        "7 Reject received: its number taken, nothing sent",
        lambda p: p.send("3", "45=1\x01"),
        [],
        next_in=3,
    ),
    # 10, 11: SequenceReset
    Case(
        "10a GapFill beyond the expected number: ResendRequest",
        lambda p: p.send("4", "123=Y\x0136=20\x01", seq=10, header=POSS_DUP),
        ["2"],
        {7: "2", 16: "0"},
        2,
    ),
    Case(
        "10b GapFill at the expected number: moves it",
        lambda p: p.send("4", "123=Y\x0136=20\x01", header=POSS_DUP),
        [],
        next_in=20,
    ),
    Case(
        "10c GapFill below the expected number with PossDup: ignored",
        lambda p: p.send("4", "123=Y\x0136=20\x01", seq=1, header=POSS_DUP),
        [],
        next_in=2,
    ),
    Case(
        "10d GapFill below the expected number without PossDup: Logout",
        lambda p: p.send("4", "123=Y\x0136=20\x01", seq=1),
        ["5"],
        {58: "MsgSeqNum too low, expecting 2 but received 1"},
        2,
        disconnects=True,
    ),
    Case(
        "10e GapFill that does not move on: Reject 5",
        lambda p: p.send("4", "123=Y\x0136=2\x01", header=POSS_DUP),
        ["3"],
        {373: "5", 371: "36"},
        2,
    ),
    Case(
        "11a Reset mode: NewSeqNo above, MsgSeqNum ignored",
        lambda p: p.send("4", "36=50\x01", seq=999),
        [],
        next_in=50,
    ),
    Case(
        "11b Reset mode: NewSeqNo equal, nothing changes",
        lambda p: p.send("4", "36=2\x01"),
        [],
        next_in=2,
    ),
    Case(
        "11c Reset mode: NewSeqNo below, Reject 5, never lowered",
        _then(
            lambda p: p.send("0"), lambda p: p.send("0"), lambda p: p.send("4", "36=2\x01", seq=1)
        ),
        ["3"],
        {373: "5", 45: "1"},
        4,
    ),
    # 12, 13: logout
    Case(
        "13a Logout answering ours: disconnect, nothing sent",
        _then(
            lambda p: (p.session.logout("bye", p.now, p.mono), p.take())[1], lambda p: p.send("5")
        ),
        [],
        disconnects=True,
    ),
    Case(
        "12 our Logout unanswered: disconnect after the timeout",
        _then(
            lambda p: (p.session.logout("bye", p.now, p.mono), p.take())[1], lambda p: p.tick(2.5)
        ),
        [],
        disconnects=True,
    ),
    Case(
        "13b unsolicited Logout: answer it, disconnect",
        lambda p: p.send("5"),
        ["5"],
        {},
        3,
        disconnects=True,
    ),
    # 14: validation of fields
    Case(
        "14a undefined tag: Reject 0",
        lambda p: p.send("D", ORDER + "9999=1\x01"),
        ["3"],
        {373: "0", 371: "9999"},
        3,
    ),
    Case(
        "14b required tag missing: Reject 1",
        lambda p: p.send("D", ORDER.replace("11=C1\x01", "")),
        ["3"],
        {373: "1", 371: "11"},
        3,
    ),
    Case(
        "14b header field missing (52): Reject 1",
        _raw(lambda p: encode(f"35=0\x0149=CLIENT\x0156=TOKEX\x0134={_take(p)}\x01", "")),
        ["3"],
        {373: "1", 371: "52"},
        3,
    ),
    Case(
        "14c tag not of this MsgType: Reject 2",
        lambda p: p.send("D", ORDER + "108=30\x01"),
        ["3"],
        {373: "2", 371: "108"},
        3,
    ),
    Case(
        "14d tag without a value: Reject 4",
        lambda p: p.send("D", ORDER.replace("55=AAPLx/USD", "55=")),
        ["3"],
        {373: "4", 371: "55"},
        3,
    ),
    Case(
        "14e value out of its range: Reject 5",
        lambda p: p.send("D", ORDER.replace("54=1", "54=Z")),
        ["3"],
        {373: "5", 371: "54"},
        3,
    ),
    Case(
        "14f wrong data format: Reject 6",
        lambda p: p.send("D", ORDER.replace("38=1", "38=1e5")),
        ["3"],
        {373: "6", 371: "38"},
        3,
    ),
    Case(
        "14f impossible date: Reject 6",
        lambda p: p.send("D", ORDER.replace("20261204", "20261304")),
        ["3"],
        {373: "6", 371: "60"},
        3,
    ),
    Case(
        "14g header field in the body: Reject 14",
        lambda p: p.send("D", ORDER + "50=X\x01"),
        ["3"],
        {373: "14", 371: "50"},
        3,
    ),
    Case(
        "14h tag twice: Reject 13",
        lambda p: p.send("D", ORDER + "40=2\x01"),
        ["3"],
        {373: "13", 371: "40"},
        3,
    ),
    Case(
        "14i NumInGroup count wrong: Reject 16",
        lambda p: p.send(
            "V", "262=M\x01263=0\x01264=1\x01267=3\x01269=0\x01269=1\x01146=1\x0155=AAPLx/USD\x01"
        ),
        ["3"],
        {373: "16", 371: "267"},
        3,
    ),
    Case(
        "14j group fields out of order: Reject 15",
        lambda p: p.send("D", ORDER + "453=1\x01448=P\x01452=1\x01447=D\x01"),
        ["3"],
        {373: "15", 371: "447"},
        3,
    ),
    Case(
        "15 header and body fields in another order: taken",
        lambda p: p.send(
            "D",
            "55=AAPLx/USD\x0140=2\x0111=C9\x0154=2\x0144=231\x0138=2\x0160=20261204-10:00:00\x01",
        ),
        [],
        next_in=3,
    ),
    Case(
        "21 a repeating group of zero entries: taken",
        lambda p: p.send("D", ORDER + "453=0\x01"),
        [],
        next_in=3,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_session_level_case(case: Case) -> None:
    peer = Peer()
    if case.logged_on:
        assert types(peer.logon()) == ["A"]
        peer.actions.clear()
    sent = case.stimulus(peer)
    assert types(sent) == case.sent, [m.raw for m in sent]
    if case.fields:
        first = sent[0]
        assert {t: first.get(t) for t in case.fields} == case.fields
    if case.next_in is not None:
        assert peer.session.next_in == case.next_in
    assert any(isinstance(a, Disconnect) for a in peer.actions) == case.disconnects
    assert peer.session.connected != case.disconnects
    for message in sent:  # everything the session sends is well framed, numbered in order
        assert message.get(49) == "TOKEX" and message.get(56) == "CLIENT"


@pytest.mark.parametrize(
    ("good", "bad", "code"),
    [("54=1", "54=Z", "5"), ("38=1", "38=x", "6"), ("44=230", "44=", "4"), ("40=2", "40=Q", "5")],
)
def test_a_message_of_a_shape_seen_before_still_has_its_values_checked(
    good: str, bad: str, code: str
) -> None:
    """The shape cache skips the structure, never the values (14d-f on a repeated shape)."""
    peer = Peer()
    peer.logon()
    assert peer.send("D", ORDER) == []
    (reject,) = peer.send("D", ORDER.replace(good, bad))
    assert reject.get(373) == code and reject.get(371) == bad.split("=")[0]


def test_a_valid_logon_logs_on_and_numbers_continue() -> None:
    peer = Peer()
    peer.logon()
    assert any(isinstance(a, LoggedOn) for a in peer.actions)
    peer.send("D", ORDER)
    (deliver,) = [a for a in peer.actions if isinstance(a, Deliver)]
    assert deliver.message.get(11) == "C1"
    assert (peer.session.next_in, peer.session.next_out) == (3, 2)


def test_a_gap_is_filled_and_the_queued_messages_then_taken_in_order() -> None:
    """2b: what came after the gap is held until the gap is filled, then processed in order."""
    peer = Peer()
    peer.logon()
    assert types(peer.send("D", ORDER, seq=4)) == ["2"]
    assert types(peer.send("D", ORDER.replace("C1", "C2"), seq=5)) == []
    assert not [a for a in peer.actions if isinstance(a, Deliver)]
    # The counterparty resends 2 (an order) and gap-fills 3.
    peer.send("D", ORDER.replace("C1", "C0"), seq=2, header=POSS_DUP)
    peer.send("4", "123=Y\x0136=4\x01", seq=3, header=POSS_DUP)
    orders = [a.message.get(11) for a in peer.actions if isinstance(a, Deliver)]
    assert orders == ["C0", "C1", "C2"]
    assert peer.session.next_in == 6


def test_a_resend_request_gets_the_stored_application_messages_and_gap_fills() -> None:
    """8: application messages again (PossDup, OrigSendingTime), admin ones as GapFill."""
    stored: dict[int, bytes] = {}
    session = Session(
        SETTINGS, history=lambda b, e: [(s, stored[s]) for s in range(b, e + 1) if s in stored]
    )
    peer = Peer(session)
    peer.logon()  # our Logon is 1
    for i in range(3):  # execution reports 2, 3, 4
        out = session.send_app("8", f"37=O{i}\x0117=E{i}\x01", peer.now)
        stored[out.seq] = out.raw
    session.outbox.clear()
    peer.tick(30.0)  # a Heartbeat: 5
    peer.now += 5 * 10**9
    sent = peer.send("2", "7=1\x0116=0\x01")
    assert [(m.msg_type, m.get(34)) for m in sent] == [
        ("4", "1"),
        ("8", "2"),
        ("8", "3"),
        ("8", "4"),
        ("4", "5"),
    ]
    assert sent[0].get(36) == "2" and sent[0].get(123) == "Y" and sent[0].get(43) == "Y"
    assert sent[-1].get(36) == "6"
    resent = sent[1]
    assert resent.get(43) == "Y" and resent.get(37) == "O0"
    assert resent.get(122) != resent.get(52)
    assert session.next_out == 6  # resending takes no new numbers


def test_a_report_that_may_have_gone_before_says_so_and_keeps_saying_it_when_resent() -> None:
    """PossResend (97=Y): a report made again after the store lost it in a machine crash."""
    stored: dict[int, bytes] = {}
    session = Session(
        SETTINGS, history=lambda b, e: [(s, stored[s]) for s in range(b, e + 1) if s in stored]
    )
    peer = Peer(session)
    peer.logon()  # our Logon is 1
    out = session.send_app("8", "37=O1\x0117=E1\x01", peer.now, poss_resend=True)
    plain = session.send_app("8", "37=O2\x0117=E2\x01", peer.now)
    stored[out.seq], stored[plain.seq] = out.raw, plain.raw
    session.outbox.clear()
    first = [(t, v) for t, v in split_fields(out.raw.decode()) or []]
    assert [t for t, _ in first[:8]] == [8, 9, 35, 49, 56, 34, 97, 52] and first[6][1] == "Y"
    peer.now += 5 * 10**9
    sent = peer.send("2", "7=2\x0116=3\x01")
    assert [(m.msg_type, m.get(34), m.get(43), m.get(97)) for m in sent] == [
        ("8", "2", "Y", "Y"),
        ("8", "3", "Y", None),
    ]
    assert [(m.get(37), m.get(17)) for m in sent] == [("O1", "E1"), ("O2", "E2")]
    assert sent[0].get(122) == next(v for t, v in first if t == 52)


def test_their_resend_request_is_answered_while_ours_is_outstanding() -> None:
    """20: we asked for a gap; their ResendRequest (itself beyond the gap) is answered first."""
    peer = Peer()
    peer.logon()
    assert types(peer.send("0", seq=4)) == ["2"]
    sent = peer.send("2", "7=1\x0116=0\x01", seq=5)
    assert types(sent) == ["4"]
    peer.send("4", "123=Y\x0136=4\x01", seq=2, header=POSS_DUP)
    assert peer.session.next_in == 6


def test_reset_on_logon_starts_both_sides_at_one() -> None:
    session = Session(
        SessionSettings("TOKEX", "CLIENT", "client-key", "secret", reset_on_logon=True), 7, 9
    )
    peer = Peer(session)
    sent = peer.logon()
    assert (sent[0].get(34), sent[0].get(141)) == ("1", "Y")
    assert any(isinstance(a, Reset) for a in peer.actions)
    assert (session.next_in, session.next_out) == (2, 2)


def test_numbers_continue_across_logout_and_logon() -> None:
    """Sequence continuity: a new connection of the same session carries on from where it was."""
    session = Session(SETTINGS)
    peer = Peer(session)
    peer.logon()
    peer.send("0")
    peer.send("5")
    assert not session.connected
    session.send_app("8", "37=O1\x01", peer.now)  # a report while it is away keeps its number
    assert [m.get(34) for m in peer.take()] == ["3"]
    sent = peer.logon()
    assert sent[0].get(34) == "4"
    assert session.next_in == 5


def test_timers_heartbeat_only_when_idle() -> None:
    peer = Peer()
    peer.logon()
    assert peer.tick(29.0) == []
    peer.send("0")
    assert types(peer.tick(1.5)) == ["0"]  # 30.5 s since our Logon went out
    assert peer.tick(10.0) == []


def test_no_logon_within_the_timeout_disconnects() -> None:
    peer = Peer()
    peer.session.connect(peer.mono)
    peer.tick(11.0)
    assert any(isinstance(a, Disconnect) for a in peer.actions)


def test_a_second_logon_on_a_logged_on_session_disconnects() -> None:
    peer = Peer()
    peer.logon()
    peer.send("A", logon_body())
    assert any(isinstance(a, Disconnect) for a in peer.actions)


def test_a_message_without_msgseqnum_is_refused_with_a_logout() -> None:
    peer = Peer()
    peer.logon()
    head = f"35=0\x0149=CLIENT\x0156=TOKEX\x0152={format_timestamp(NOW)}\x01"
    sent = peer.deliver(encode(head, ""))
    assert types(sent) == ["5"]
    assert any(isinstance(a, Disconnect) for a in peer.actions)
