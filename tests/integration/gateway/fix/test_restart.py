"""A FIX session survives the server being killed: SIGKILL, restart, logon, resend.

jspurefix keeps its own sequence numbers across the lost connection; the
exchange keeps its own in its session store. A fill that happens while the
session is away (after the restart) takes the next number and waits in the
store; when the session logs on again, jspurefix sees our Logon ahead of what
it has, asks for the gap, and gets the fill report again with PossDupFlag
and OrigSendingTime. The order itself came back from the journal.
"""

from __future__ import annotations

import signal
from pathlib import Path

from tests.integration.gateway.fix.driver import Driver, config_text, server, stamp, tags

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


def test_a_resend_request_after_a_sigkill_and_restart(tmp_path: Path) -> None:
    data, config = tmp_path / "data", config_text(ACCOUNTS)
    d = Driver()
    try:
        with server(data, config) as (_, port, proc):
            d.connect("R", port, "R", "r-fix", "r-key", validate=True)
            d.send("R", "D", _order("rest-1", "1", "1"))
            new = d.received("R", "8", t11="rest-1")
            assert tags(new)[150] == "0"
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            lost = d.wait_for("stopped", session="R", timeout=15)
        assert lost["next_target_seq"] == new["seq"] + 1
        d.drop("R")
        with server(data, config) as (_, port, _proc):
            d.connect("S", port, "S", "s-fix", "s-key", validate=True)
            d.send("S", "D", _order("take-1", "2", "3"))
            taker = tags(d.received("S", "8", t11="take-1", t150="F"))
            assert taker[39] == "2"  # the resting order was there after the restart
            ready = d.connect("R", port, "R", "r-fix", "r-key", validate=True, reset_seq=False)
            logon = d.received("R", "A")
            assert logon["seq"] == new["seq"] + 2  # the fill, stored while R was away, is +1
            assert ready["next_sender_seq"] == lost["next_sender_seq"] + 1  # theirs went on too
            request = tags(d.wait_for("tx", session="R", type="2"))
            assert request[7] == str(new["seq"] + 1)
            fill = d.received("R", "8", t150="F")
            got = tags(fill)
            assert fill["seq"] == new["seq"] + 1
            assert (got[43], got[11], got[39], got[17]) == ("Y", "rest-1", "2", taker[17])
            assert got[122] != got[52]
            # In sequence again: an order goes through and is answered at the next number.
            d.send("R", "H", {"ClOrdID": "rest-1", "Symbol": "AAPLx/USD", "Side": "1"})
            status = d.received("R", "8", t150="I")
            assert status["seq"] == logon["seq"] + 1
            assert tags(status)[58] == "EOrder:Unknown order"  # filled: no longer open
    finally:
        d.close()


def test_cancel_on_disconnect_covers_a_server_killed_under_the_session(tmp_path: Path) -> None:
    """The session's orders go when the server comes back: it was not connected then."""
    accounts = {
        "c": [
            {"sender_comp_id": "C", "password": "c-fix"},  # market maker: cancel on disconnect
            {"sender_comp_id": "CDC", "password": "c-dc", "drop_copy": True},
        ]
    }
    data, config = tmp_path / "data", config_text(accounts)
    d = Driver()
    try:
        with server(data, config) as (_, port, proc):
            d.connect("C", port, "C", "c-fix", "c-key", validate=True)
            d.send("C", "D", _order("left-open", "1", "1"))
            order_id = tags(d.received("C", "8", t11="left-open"))[37]
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            d.wait_for("stopped", session="C", timeout=15)
        d.drop("C")
        with server(data, config) as (_, port, _proc):
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
