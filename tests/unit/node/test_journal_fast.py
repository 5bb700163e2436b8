"""The compiled journal reader's own decoding of new orders and cancels (node/_journal.pyx).

``take_records`` reads a ``NewOrder`` or ``CancelOrder`` record's msgpack
itself and hands every other payload to msgspec's decoder. The property
held here: whatever the payload, the reader's own result is either nothing
(msgspec decides) or exactly the command msgspec decodes, value and type of
every field; and for every record the writer makes of these two commands
it is the command. Only the compiled build has the reader (skipped in the
pure build, whose scan is msgspec's alone).
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model import build
from model.commands import CancelOrder, Command, NewOrder
from node.journal import decode_command, encode_command
from tests.journal_files import cancel_orders, new_orders, one_of_each

pytestmark = pytest.mark.skipif(not build.COMPILED, reason="the compiled build's reader")

if build.COMPILED:
    from node._journal import ENABLED, fast_decode


def _typed(command: Command) -> tuple[Any, ...]:
    """The command's class and each field as (type, value): False is not 0 here."""
    fields = msgspec.structs.astuple(command)
    return (type(command), *((type(v), v) for v in fields))


def _msgspec(payload: bytes) -> Command | None:
    try:
        return decode_command(payload)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def test_the_reader_knows_the_commands_fields() -> None:
    # Off when NewOrder's or CancelOrder's fields change: bring _journal.pyx in line.
    assert ENABLED


@settings(max_examples=400)
@given(st.one_of(new_orders(), cancel_orders()))
def test_every_new_order_and_cancel_is_read_as_msgspec_reads_it(command: Command) -> None:
    payload = encode_command(command)
    fast = fast_decode(payload, command.seq)
    assert fast is not None
    assert _typed(fast) == _typed(decode_command(payload)) == _typed(command)


def test_a_record_whose_seq_is_not_the_expected_one_goes_to_msgspec() -> None:
    command = NewOrder(7, 1, "a", "AAPLx/USD", "buy", 1, 100)
    assert fast_decode(encode_command(command), 8) is None
    assert fast_decode(encode_command(command), 7) == command


def test_every_other_command_goes_to_msgspec() -> None:
    for command in one_of_each():
        fast = fast_decode(encode_command(command), command.seq)
        if type(command) in (NewOrder, CancelOrder):
            assert fast == command
        else:
            assert fast is None  # BatchOrder, a NewOrder subclass, too


def _payload(tag: str, fields: dict[str, Any]) -> bytes:
    return msgspec.msgpack.encode({"type": tag, **fields})


ORDER = msgspec.structs.asdict(NewOrder(3, 10, "acct1", "AAPLx/USD", "sell", 5, 100))
CANCEL = msgspec.structs.asdict(CancelOrder(3, 10, "acct1", 2))


@pytest.mark.parametrize(
    ("tag", "fields"),
    [
        ("new_order", dict(reversed(ORDER.items()))),  # another key order
        ("new_order", {k: v for k, v in ORDER.items() if k != "cash_qty"}),  # a field left out
        ("new_order", {**ORDER, "extra": 1}),  # an unknown field (msgspec ignores it)
        ("new_order", {**ORDER, "qty": 1 << 63}),  # past 64 signed bits
        ("new_order", {**ORDER, "qty": 0}),  # a rule broken
        ("new_order", {**ORDER, "qty": "5"}),  # text for an int
        ("new_order", {**ORDER, "qty": 5.0}),  # a float for an int
        ("new_order", {**ORDER, "post_only": 0}),  # an int for a bool
        ("new_order", {**ORDER, "side": "hold"}),  # not one of the literal's words
        ("new_order", {**ORDER, "account": None}),  # nil for text
        ("new_order", {**ORDER, "seq": True}),  # a bool for an int
        ("cancel_order", {**CANCEL, "order_id": None}),  # no id named
        ("cancel_order", {**CANCEL, "order_id": -2}),
        ("cancel_order", dict(reversed(CANCEL.items()))),
    ],
)
def test_what_the_reader_does_not_take_goes_to_msgspec(tag: str, fields: dict[str, Any]) -> None:
    payload = _payload(tag, fields)
    assert fast_decode(payload, 3) is None
    decoded = _msgspec(payload)
    if decoded is not None:  # msgspec reads some of them (another key order, an extra field)
        assert decoded.seq == 3


def test_invalid_utf8_in_a_text_goes_to_msgspec() -> None:
    payload = encode_command(NewOrder(3, 10, "acct\u00e9", "AAPLx/USD", "buy", 5, 100))
    damaged = payload.replace("acct\u00e9".encode(), b"acct\xff\xfe")
    assert fast_decode(damaged, 3) is None
    assert _msgspec(damaged) is None


@settings(max_examples=400)
@given(st.one_of(new_orders(), cancel_orders()), st.data())
def test_a_damaged_payload_is_read_as_msgspec_reads_it_or_left_to_it(
    command: Command, data: st.DataObject
) -> None:
    payload = bytearray(encode_command(command))
    cut = data.draw(st.integers(0, len(payload)))
    at = data.draw(st.integers(0, len(payload) - 1))
    payload[at] = data.draw(st.integers(0, 255))
    for damaged in (bytes(payload), bytes(payload[:cut]), bytes(payload) + b"\x00"):
        fast = fast_decode(damaged, command.seq)
        if fast is not None:
            decoded = _msgspec(damaged)
            assert decoded is not None and _typed(fast) == _typed(decoded)


def test_recurring_texts_are_one_object_and_other_texts_are_decoded_afresh() -> None:
    first = fast_decode(encode_command(NewOrder(1, 1, "acct9", "AAPLx/USD", "buy", 1, 1)), 1)
    again = fast_decode(encode_command(CancelOrder(2, 2, "acct9", 1)), 2)
    assert first is not None and again is not None
    assert again.account is first.account == "acct9"
    wide = fast_decode(encode_command(CancelOrder(3, 3, "k\u00e4t\u00e9", 1)), 3)
    assert wide is not None and wide.account == "k\u00e4t\u00e9"
