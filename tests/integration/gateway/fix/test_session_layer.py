"""The session layer against a real FIX engine: jspurefix logs on to a real ``tokex serve``.

One server and one jspurefix process for the module; each test has sessions
of its own (SenderCompIDs S1, S2, ...), so the tests do not share sequence
numbers. jspurefix runs its own session logic (it answers our ResendRequests,
TestRequests and Logouts itself); where a test needs a message jspurefix
would never send (a wrong CompID, a bad checksum) it writes the bytes itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.gateway.fix.driver import Driver, config_text, server, stamp, tags

SESSIONS = {
    f"s{i}": [{"sender_comp_id": f"S{i}", "password": f"pw{i}", "cancel_on_disconnect": False}]
    for i in range(1, 14)
}
SESSIONS["s13"][0]["reset_on_logon"] = True
ORDER = {
    "Symbol": "AAPLx/USD",
    "Side": "1",
    "OrderQty": "1",
    "OrdType": "2",
    "Price": "200.00",
    "TimeInForce": "1",
}


@pytest.fixture(scope="module")
def fix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Driver, int]]:
    tmp: Path = tmp_path_factory.mktemp("fix-session")
    with server(tmp / "data", config_text(SESSIONS)) as (_, port, _proc):
        driver = Driver()
        try:
            yield driver, port
        finally:
            driver.close()


def _logon(d: Driver, port: int, n: int, **kw: object) -> dict[str, object]:
    return d.connect(f"s{n}", port, f"S{n}", f"pw{n}", f"s{n}-key", validate=True, **kw)


def _order(clid: str) -> dict[str, str]:
    return {**ORDER, "ClOrdID": clid, "TransactTime": stamp()}


def test_logon_test_request_heartbeats_and_logout(fix: tuple[Driver, int]) -> None:
    d, port = fix
    ready = _logon(d, port, 1, heartbtint=1)
    assert ready["next_target_seq"] == 2  # our Logon was 1
    logon = d.received("s1", "A")
    assert (tags(logon)[108], tags(logon)[98], tags(logon)[141]) == ("1", "0", "Y")
    d.send("s1", "1", {"TestReqID": "are you there"})
    assert tags(d.received("s1", "0", t112="are you there"))[112] == "are you there"
    # Idle for a HeartBtInt: the exchange sends its own Heartbeat (no TestReqID).
    beat = d.wait_for("rx", session="s1", type="0", timeout=5, pred=lambda e: 112 not in tags(e))
    assert beat["seq"] >= 3
    d.cmd("logout", session="s1")
    assert d.received("s1", "5")
    assert d.wait_for("stopped", session="s1")["error"] is None


def test_logout_and_logon_again_carry_the_numbers_on(fix: tuple[Driver, int]) -> None:
    d, port = fix
    _logon(d, port, 2)
    d.send("s2", "D", _order("keep-1"))
    d.received("s2", "8", t150="0")
    d.cmd("logout", session="s2")
    stopped = d.wait_for("stopped", session="s2")
    d.drop("s2")
    ready = _logon(d, port, 2, reset_seq=False)
    logon = d.received("s2", "A")
    assert logon["seq"] == stopped["next_target_seq"]  # our numbers went on
    assert 141 not in tags(logon) or tags(logon)[141] == "N"
    assert ready["next_sender_seq"] == stopped["next_sender_seq"] + 1  # theirs were accepted
    d.send("s2", "D", _order("keep-2"))
    assert d.received("s2", "8", t150="0")["seq"] == logon["seq"] + 1
    d.none_received("s2", "2")  # nobody asked for a resend: no gap either way
    d.cmd("logout", session="s2")
    d.wait_for("stopped", session="s2")


def test_a_wrong_password_gets_a_logout_with_the_reason(fix: tuple[Driver, int]) -> None:
    d, port = fix
    d.cmd(
        "connect",
        session="s3",
        port=port,
        sender="S3",
        target="TOKEX",
        username="s3-key",
        password="wrong",
        heartbtint=30,
    )
    logout = d.received("s3", "5")
    assert tags(logout)[58] == "Logon refused: wrong Username (553) or Password (554)"
    assert d.wait_for("stopped", session="s3")
    d.cmd(
        "connect",
        session="s3b",
        port=port,
        sender="S3",
        target="TOKEX",
        username="s4-key",
        password="pw3",
        heartbtint=30,
    )
    assert tags(d.received("s3b", "5"))[58].startswith("Logon refused")
    d.wait_for("stopped", session="s3b")


def test_unknown_or_wrong_comp_ids_get_a_logout_saying_so(fix: tuple[Driver, int]) -> None:
    d, port = fix
    d.cmd(
        "connect",
        session="nobody",
        port=port,
        sender="NOBODY",
        target="TOKEX",
        username="x",
        password="y",
        heartbtint=30,
    )
    logout = tags(d.received("nobody", "5"))
    assert logout[58] == "Logon refused: SenderCompID (49) 'NOBODY' is not a session of TOKEX"
    assert (logout[49], logout[56], logout[34]) == ("TOKEX", "NOBODY", "1")
    d.wait_for("stopped", session="nobody")
    d.cmd(
        "connect",
        session="wrongtarget",
        port=port,
        sender="S4",
        target="NOTUS",
        username="s4-key",
        password="pw4",
        heartbtint=30,
    )
    assert (
        tags(d.received("wrongtarget", "5"))[58] == "Logon refused: TargetCompID (56) must be TOKEX"
    )
    d.wait_for("stopped", session="wrongtarget")


def test_a_second_connection_of_a_logged_on_session_is_refused(fix: tuple[Driver, int]) -> None:
    d, port = fix
    _logon(d, port, 5)
    d.cmd(
        "connect",
        session="s5-again",
        port=port,
        sender="S5",
        target="TOKEX",
        username="s5-key",
        password="pw5",
        heartbtint=30,
    )
    d.wait_for("stopped", session="s5-again")
    d.none_received("s5-again", "A", seconds=0.1)
    d.send("s5", "1", {"TestReqID": "still here"})  # the first connection is untouched
    d.received("s5", "0", t112="still here")


def test_a_garbled_message_takes_no_number(fix: tuple[Driver, int]) -> None:
    """2d/3b: a bad checksum is ignored; the next message shows the gap; jspurefix fills it."""
    d, port = fix
    _logon(d, port, 6)
    bad = d.send_raw("s6", "8=FIX.4.4|9=0|35=0|49=S6|56=TOKEX|34={seq}|52={now}|10=000|", fix=False)
    d.send("s6", "1", {"TestReqID": "after garbage"})
    resend = d.received("s6", "2")
    assert tags(resend)[7] == str(bad["seq"])  # the garbled one's number is still expected
    gap_fill = d.wait_for("tx", session="s6", type="4")
    # jspurefix fills the gap past its TestRequest too (it resends nothing), so that one
    # is skipped as FIX says; the session is in sequence again and answers the next.
    assert int(tags(gap_fill)[36]) == bad["seq"] + 2
    d.send("s6", "1", {"TestReqID": "in sequence"})
    d.received("s6", "0", t112="in sequence")


def test_a_gap_is_asked_for_and_filled(fix: tuple[Driver, int]) -> None:
    """2b/10a: a message beyond the expected number gets a ResendRequest; the GapFill closes it."""
    d, port = fix
    _logon(d, port, 7)
    status = d.cmd("status", session="s7")
    ahead = status["next_sender_seq"] + 3
    d.send("s7", "D", _order("gap-1"), header={"MsgSeqNum": ahead})
    resend = d.received("s7", "2")
    assert (tags(resend)[7], tags(resend)[16]) == (str(status["next_sender_seq"]), "0")
    gap_fill = d.wait_for("tx", session="s7", type="4")
    assert tags(gap_fill)[123] == "Y"
    # jspurefix's GapFill skipped past the order (it resends no application message):
    # the session is in sequence again and takes the next order.
    d.send("s7", "D", _order("gap-2"))
    assert tags(d.received("s7", "8", t150="0"))[11] == "gap-2"


def test_a_number_too_low_ends_the_session(fix: tuple[Driver, int]) -> None:
    d, port = fix
    _logon(d, port, 8)
    d.send("s8", "0", {}, header={"MsgSeqNum": 1}, advance=False)
    logout = d.received("s8", "5")
    assert tags(logout)[58].startswith("MsgSeqNum too low, expecting")
    d.wait_for("stopped", session="s8")


def test_a_stale_sending_time_is_rejected_and_logged_out(fix: tuple[Driver, int]) -> None:
    d, port = fix
    _logon(d, port, 9)
    seq = d.send("s9", "0", {}, sending_time="20200101-00:00:00.000")
    reject = d.received("s9", "3")
    assert (tags(reject)[45], tags(reject)[373]) == (str(seq), "10")
    assert tags(d.received("s9", "5"))[58] == "SendingTime accuracy problem"
    d.wait_for("stopped", session="s9")


def test_a_wrong_comp_id_after_logon_is_rejected_and_logged_out(fix: tuple[Driver, int]) -> None:
    d, port = fix
    _logon(d, port, 10)
    sent = d.send_raw("s10", "8=FIX.4.4|9=0|35=0|49=SOMEONE|56=TOKEX|34={seq}|52={now}|10=000|")
    reject = d.received("s10", "3")
    assert (tags(reject)[45], tags(reject)[373]) == (str(sent["seq"]), "9")
    assert tags(d.received("s10", "5"))[58] == "CompID problem"
    d.wait_for("stopped", session="s10")


def test_message_types_and_fields_that_are_not_right_are_rejected(fix: tuple[Driver, int]) -> None:
    d, port = fix
    _logon(d, port, 11)
    seq = d.send("s11", "R", {"QuoteReqID": "q", "NoRelatedSym": [{"Symbol": "AAPLx/USD"}]})
    business = d.received("s11", "j")
    assert (tags(business)[45], tags(business)[372], tags(business)[380]) == (str(seq), "R", "3")
    d.send_raw("s11", "8=FIX.4.4|9=0|35=ZZ|49=S11|56=TOKEX|34={seq}|52={now}|10=000|")
    assert tags(d.received("s11", "3", t373="11"))[372] == "ZZ"
    cases = [
        ("11=X|54=1|60={now}|38=1|40=2|44=200|55=AAPLx/USD|9999=1|", "0", "9999"),
        ("54=1|60={now}|38=1|40=2|44=200|55=AAPLx/USD|", "1", "11"),
        ("11=X|54=Q|60={now}|38=1|40=2|44=200|55=AAPLx/USD|", "5", "54"),
        ("11=X|54=1|60={now}|38=lots|40=2|44=200|55=AAPLx/USD|", "6", "38"),
        ("11=X|54=1|60={now}|38=1|40=2|40=2|44=200|55=AAPLx/USD|", "13", "40"),
        ("11=X|54=1|60={now}|38=1|40=2|44=|55=AAPLx/USD|", "4", "44"),
    ]
    for body, reason, tag in cases:
        raw = "8=FIX.4.4|9=0|35=D|49=S11|56=TOKEX|34={seq}|52={now}|" + body + "10=000|"
        sent = d.send_raw("s11", raw)
        reject = d.received("s11", "3", t45=str(sent["seq"]))
        assert (tags(reject)[373], tags(reject)[371]) == (reason, tag), reject["raw"]
    # Every Reject used up the number: the session is in sequence and takes an order.
    d.send("s11", "D", _order("after-rejects"))
    assert tags(d.received("s11", "8", t150="0"))[11] == "after-rejects"
    d.none_received("s11", "2")


def test_a_resend_request_gets_the_reports_again(fix: tuple[Driver, int]) -> None:
    """8: jspurefix, told it missed our last two messages, asks; we resend them PossDup."""
    d, port = fix
    _logon(d, port, 12)
    d.send("s12", "D", _order("r-1"))
    first = d.received("s12", "8", t150="0")
    d.send("s12", "D", _order("r-2"))
    second = d.received("s12", "8", t150="0")
    d.cmd("set_seq", session="s12", next_target_seq=first["seq"])
    d.send("s12", "1", {"TestReqID": "poke"})  # our Heartbeat now looks too high to jspurefix
    request = d.wait_for("tx", session="s12", type="2")
    assert tags(request)[7] == str(first["seq"])
    again = [d.received("s12", "8", t43="Y") for _ in range(2)]
    assert [tags(m)[11] for m in again] == ["r-1", "r-2"]
    assert [m["seq"] for m in again] == [first["seq"], second["seq"]]
    assert tags(again[0])[122] == tags(first)[52]  # OrigSendingTime: when it first went out
    heartbeat = d.received("s12", "4")  # the Heartbeat and TestRequest answer: a GapFill
    assert tags(heartbeat)[123] == "Y"


def test_reset_on_logon_starts_both_sides_at_one(fix: tuple[Driver, int]) -> None:
    d, port = fix
    _logon(d, port, 13)
    d.send("s13", "0", {})
    d.cmd("logout", session="s13")
    d.wait_for("stopped", session="s13")
    d.drop("s13")
    _logon(d, port, 13, reset_seq=False)
    logon = d.received("s13", "A")
    assert (logon["seq"], tags(logon)[141]) == (1, "Y")
