"""FIX tag=value framing, sans I/O: bytes in, messages out; messages in, bytes out.

:class:`Parser` takes the bytes of a TCP stream in pieces of any size
(:meth:`Parser.feed`) and returns each complete message as a
:class:`Message`, or as :class:`Garbled` when it cannot be a FIX message.
It never reads a socket and never waits: what it holds is an incomplete
message, kept until the rest arrives.

Framing, as the FIX session rules read it (and QuickFIX does):

* a message starts at ``8=``; anything before it is skipped up to the next
  ``8=FIX``;
* its second field is ``9=`` BodyLength and its third ``35=`` MsgType;
* it ends at its first trailer, ``<SOH>10=nnn<SOH>`` (three digits);
* it is good when BodyLength counts exactly the bytes from after the ``9=``
  field through the SOH before ``10=``, CheckSum is the sum of every byte
  before ``10=`` modulo 256, and every field is ``tag=value`` with a decimal
  tag.

Anything else is :class:`Garbled`: the session drops it without consuming
a sequence number. A message of a correct BodyLength is framed by it, so a
value may contain a trailer-like text (a data field); a message whose
BodyLength is wrong ends at its first trailer, so one bad length never
swallows the messages after it. A message that grows past ``max_size``
without a trailer is dropped up to the next ``8=FIX``.

:func:`encode` builds a message with its BodyLength and CheckSum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from zlib import adler32

from model.build import COMPILED

__all__ = ["SOH", "Garbled", "Message", "Parser", "checksum", "encode", "render"]

SOH = "\x01"
_SOH = 1
_TRAILER = b"\x0110="
_START = b"8="
_BEGIN = b"8=FIX"
MAX_MESSAGE = 64 * 1024
"""The largest message taken (bytes); a longer run without a trailer is dropped."""

# Length fields whose next field is raw data that may hold SOH (FIX 4.4 DATA).
DATA_FIELDS = {90: 91, 93: 89, 95: 96, 212: 213, 348: 349, 350: 351, 352: 353, 354: 355}
DATA_FIELDS.update({356: 357, 358: 359, 360: 361, 362: 363, 364: 365, 445: 446, 618: 619})
DATA_FIELDS.update({621: 622})


class Message:
    """One framed message: its fields in order (``(tag, value)``, the header's and trailer's too).

    Values are the bytes as sent, decoded one to one (latin-1), so they
    encode back to exactly the same bytes.
    """

    __slots__ = ("_first", "_seq", "fields", "raw")

    def __init__(self, fields: list[tuple[int, str]], raw: bytes) -> None:
        self.fields = fields
        self.raw = raw
        self._first: dict[int, str] | None = None
        self._seq = -1

    @property
    def seq(self) -> int:
        """MsgSeqNum (34), or 0 when it is missing or not a number."""
        seq = self._seq
        if seq < 0:
            text = self.index.get(34)
            seq = int(text) if text and text.isdecimal() and text.isascii() else 0
            self._seq = seq
        return seq

    @property
    def msg_type(self) -> str:
        return self.fields[2][1]

    @property
    def begin_string(self) -> str:
        return self.fields[0][1]

    @property
    def index(self) -> dict[int, str]:
        """Each tag's first value (what :meth:`get` reads; read it once for many lookups)."""
        first = self._first
        if first is None:
            # dict() keeps the last value of a key: reversed, that is the first occurrence.
            first = self._first = dict(reversed(self.fields))
        return first

    def get(self, tag: int) -> str | None:
        """The value of ``tag``'s first occurrence, or None."""
        return self.index.get(tag)

    def __repr__(self) -> str:
        return f"Message({self.raw.decode('latin-1').replace(SOH, '|')!r})"


@dataclass(frozen=True)
class Garbled:
    """Bytes that were meant as a message and cannot be one; ``why`` says which rule failed."""

    raw: bytes
    why: str


def checksum(data: bytes | bytearray | memoryview) -> int:
    """FIX CheckSum: the sum of the bytes modulo 256.

    Summed in C by zlib's Adler-32, whose low 16 bits are 1 plus the sum of
    the bytes modulo 65,521: the plain sum for up to 256 bytes (256 x 255 is
    65,280), so longer data goes 256 bytes at a time; the high 16 bits add
    multiples of 65,536, nothing modulo 256. Python's ``sum`` over the bytes
    took 1.2-1.3 us for a 230-300 byte message against 0.3-0.6 here, and a
    message is summed once when read and once when written.
    """
    if len(data) <= 256:
        return (adler32(data) - 1) & 255
    total = 0
    for start in range(0, len(data), 256):
        total += adler32(data[start : start + 256]) - 1
    return total & 255


def _digits(data: bytes | bytearray, start: int, end: int) -> int | None:
    """The unsigned decimal number in ``data[start:end]``, or None if it is not one."""
    text = data[start:end]
    if not text or not text.isdigit():  # bytes.isdigit: ASCII digits only
        return None
    return int(text)


class Parser:
    """Splits a byte stream into FIX messages; feed it whatever the socket gave."""

    def __init__(self, max_size: int = MAX_MESSAGE) -> None:
        self._buf = bytearray()
        self._max = max_size

    @property
    def pending(self) -> int:
        """Bytes held for a message not yet complete."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Message | Garbled]:
        """Take ``data``; return every message it completed, in order."""
        buf = self._buf
        buf += data
        out: list[Message | Garbled] = []
        pos = 0
        size = len(buf)
        while pos < size:
            found = self._next(buf, pos)
            if found is None:
                break
            item, pos = found
            if item is not None:
                out.append(item)
        if pos:
            del buf[:pos]  # once per read, not per message
        return out

    def _next(self, buf: bytearray, pos: int) -> tuple[Message | Garbled | None, int] | None:
        """The next message (or garbage) from ``pos`` and where it ends; None: wait for more."""
        if not buf.startswith(_START, pos):
            start = buf.find(_BEGIN, pos)
            if start < 0:
                # Noise; keep a tail that may be the beginning of "8=FIX".
                keep = max(pos, len(buf) - len(_BEGIN) + 1)
                return None if keep == pos else (None, keep)
            return None, start
        first = buf.find(b"\x01", pos)
        inner = buf.find(_BEGIN, pos + 1, first if first >= 0 else len(buf))
        if inner > 0:
            return None, inner  # "8=" of noise right before a message: skip to the message
        if first < 0:
            return self._wait(buf, pos)
        second = buf.find(b"\x01", first + 1)
        if second < 0:
            return self._wait(buf, pos)
        if buf[first + 1 : first + 3] != b"9=":
            why = "BodyLength (9) is not the second field"
            return self._garbled_to_trailer(buf, pos, first, why)
        length = _digits(buf, first + 3, second)
        if length is None:
            return self._garbled_to_trailer(buf, pos, first, "BodyLength (9) is not a number")
        body = second + 1
        end = body + length
        if (
            len(buf) >= end + 7
            and buf[end - 1] == _SOH
            and buf[end : end + 3] == b"10="
            and buf[end + 6] == _SOH
        ):
            return self._complete(buf, pos, end), end + 7
        # The length does not lead to a trailer: the message ends at its first one.
        trailer = _find_trailer(buf, body - 1)
        if trailer < 0:
            return self._wait(buf, pos)
        stop = trailer + 8
        why = f"BodyLength (9) is {length}, the body has {trailer + 1 - body} bytes"
        return Garbled(bytes(buf[pos:stop]), why), stop

    def _complete(self, buf: bytearray, pos: int, end: int) -> Message | Garbled:
        raw = bytes(buf[pos : end + 7])
        cut = end - pos
        sent = _digits(raw, cut + 3, cut + 6)
        if sent is None or sent != checksum(memoryview(raw)[:cut]):
            return Garbled(raw, f"CheckSum (10) {raw[cut + 3 : cut + 6]!r} is wrong")
        text = raw.decode("latin-1")
        fields = split_fields(text)
        if fields is None:
            return Garbled(raw, "a field is not tag=value with a number for its tag")
        if len(fields) < 4 or fields[2][0] != 35:
            return Garbled(raw, "MsgType (35) is not the third field")
        return Message(fields, raw)

    def _garbled_to_trailer(
        self, buf: bytearray, pos: int, after: int, why: str
    ) -> tuple[Message | Garbled | None, int] | None:
        trailer = _find_trailer(buf, after)
        if trailer < 0:
            return self._wait(buf, pos)
        return Garbled(bytes(buf[pos : trailer + 8]), why), trailer + 8

    def _wait(self, buf: bytearray, pos: int) -> tuple[Message | Garbled | None, int] | None:
        """Wait for the rest, unless what is held already passed ``max_size``."""
        if len(buf) - pos <= self._max:
            return None
        # Drop the run that grew too long without ending, up to the next "8=FIX".
        nxt = buf.find(_BEGIN, pos + 1)
        stop = nxt if nxt > 0 else len(buf)
        return Garbled(bytes(buf[pos:stop]), f"no trailer within {self._max} bytes"), stop


def _find_trailer(buf: bytearray, pos: int) -> int:
    """Where the first complete ``<SOH>10=nnn<SOH>`` from ``pos`` starts (its SOH); -1."""
    while True:
        at = buf.find(_TRAILER, pos)
        if at < 0 or len(buf) < at + 8:
            return -1
        if buf[at + 7] == _SOH and buf[at + 4 : at + 7].isdigit():
            return at
        pos = at + 1


_TAG_NUMBERS = {str(n): n for n in range(1, 10_000) if n not in DATA_FIELDS}
"""Tags as text (no leading zero) to their numbers; the data-length ones take the slow path."""


def split_fields(text: str) -> list[tuple[int, str]] | None:
    """``tag=value<SOH>...`` as a list of (tag, value); None if a field is not one.

    The value of a data field (one that follows its length field, such as
    RawData after RawDataLength) is taken by that length, SOH and all.
    """
    parts = text.split(SOH)
    parts.pop()  # after the last SOH
    fields: list[tuple[int, str]] = []
    append = fields.append
    numbers = _TAG_NUMBERS
    for part in parts:
        tag, sep, value = part.partition("=")
        number = numbers.get(tag)
        if number is None or not sep:
            if not sep or not tag.isdecimal() or not tag.isascii() or tag[0] == "0":
                return None
            number = int(tag)
            if number in DATA_FIELDS:
                return _split_with_data(text)
        append((number, value))
    return fields


def _split_with_data(text: str) -> list[tuple[int, str]] | None:
    """:func:`split_fields` for a message with data fields: walk it field by field."""
    fields: list[tuple[int, str]] = []
    pos, size, data_len, data_tag = 0, len(text), -1, 0
    while pos < size:
        eq = text.find("=", pos)
        if eq < 0:
            return None
        tag = text[pos:eq]
        if not tag.isdecimal() or not tag.isascii() or tag[0] == "0":
            return None
        number = int(tag)
        if number == data_tag and data_len >= 0:
            end = eq + 1 + data_len
            if end >= size or text[end] != SOH:
                return None
        else:
            end = text.find(SOH, eq + 1)
            if end < 0:
                return None
        value = text[eq + 1 : end]
        fields.append((number, value))
        data_len, data_tag = -1, 0
        if number in DATA_FIELDS and value.isdecimal() and value.isascii():
            data_len, data_tag = int(value), DATA_FIELDS[number]
        pos = end + 1
    return fields


def render(fields: list[tuple[int, str]] | tuple[tuple[int, str], ...]) -> str:
    """Fields as ``tag=value<SOH>...`` text."""
    return "".join([f"{tag}={value}\x01" for tag, value in fields])


def encode(header: str, body: str, begin_string: str = "FIX.4.4") -> bytes:
    """A whole message: ``8``, ``9`` (BodyLength), ``header`` and ``body`` fields, ``10``.

    ``header`` starts with ``35=``; both are rendered ``tag=value<SOH>`` text.
    Text is written one character per byte (latin-1), so values a FIX client
    sent come back byte for byte; text beyond latin-1 is written in UTF-8.
    """
    text = header + body
    try:
        data = text.encode("latin-1")
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    head = f"8={begin_string}\x019={len(data)}\x01".encode("ascii")
    whole = head + data
    return whole + b"10=%03d\x01" % checksum(whole)


PURE_NEXT = Parser._next
"""The pure build's ``Parser._next``, which the compiled one is held to (tests)."""

if COMPILED and not TYPE_CHECKING:
    # The compiled build (model/build.py): gateway/fix/_codec.pyx frames each good
    # message in one pass and leaves every other position to Parser._next above.
    from gateway.fix import _codec

    Parser._next = _codec.next_item  # type: ignore[method-assign]
