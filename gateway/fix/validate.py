"""A framed message checked against the FIX 4.4 dictionary (:mod:`gateway.fix.spec`).

:func:`validate` answers a :class:`Problem` (the SessionRejectReason a Reject
carries, the tag at fault and a text) or the message's repeating groups, read
by their layouts. The checks and their order are QuickFIX's, so a client sees
the reasons it would see from a QuickFIX acceptor:

* fields in their part: every header field before the body, the trailer
  last (14 otherwise);
* for each field: a tag FIX 4.4 defines (0), a value (4), the value's data
  format (6), an enumerated value (5), a field of this message (2), once
  (13);
* each repeating group: instances starting with its delimiter, members in
  the group's order (15), as many as its NumInGroup field says (16);
* every required field present (1), in the header, the body and each group
  instance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gateway.fix.codec import Message
from gateway.fix.spec import DEFINED_TAGS, FIELD_TYPES, FIELD_VALUES, HEADER, TRAILER, Layout

__all__ = [
    "REASON_TEXT",
    "Group",
    "Problem",
    "valid_format",
    "validate",
]

REASON_TEXT = {
    0: "Invalid tag number",
    1: "Required tag missing",
    2: "Tag not defined for this message type",
    4: "Tag specified without a value",
    5: "Value is incorrect (out of range) for this tag",
    6: "Incorrect data format for value",
    9: "CompID problem",
    10: "SendingTime accuracy problem",
    11: "Invalid MsgType",
    13: "Tag appears more than once",
    14: "Tag specified out of required order",
    15: "Repeating group fields out of order",
    16: "Incorrect NumInGroup count for repeating group",
}
"""QuickFIX's text for each SessionRejectReason (373), sent in Text (58)."""


@dataclass(frozen=True)
class Problem:
    """Why a message is rejected: SessionRejectReason ``reason`` about ``tag`` (0: none)."""

    reason: int
    tag: int = 0
    text: str = ""

    @property
    def message(self) -> str:
        """The Reject's Text: QuickFIX's words for the reason, and what was wrong."""
        words = REASON_TEXT.get(self.reason, "Other")
        return f"{words}: {self.text}" if self.text else words


@dataclass
class Group:
    """One instance of a repeating group: its fields (first occurrence) and nested groups."""

    fields: dict[int, str] = field(default_factory=dict)
    groups: dict[int, list[Group]] = field(default_factory=dict)

    def get(self, tag: int) -> str | None:
        return self.fields.get(tag)


_INT = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_TIMESTAMP = re.compile(r"[0-9]{8}-[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?")
_TIME = re.compile(r"[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?")
_DATE = re.compile(r"[0-9]{8}")
_MONTH_YEAR = re.compile(r"[0-9]{6}(?:[0-9]{2}|w[1-5])?")
_UNSIGNED = frozenset({"LENGTH", "NUMINGROUP", "SEQNUM", "TAGNUM", "DAYOFMONTH"})
_DECIMALS = frozenset({"FLOAT", "PRICE", "QTY", "AMT", "PRICEOFFSET", "PERCENTAGE"})


def _date_ok(text: str) -> bool:
    month, day = int(text[4:6]), int(text[6:8])
    return 1 <= month <= 12 and 1 <= day <= 31


def valid_format(kind: str, value: str) -> bool:
    """Whether ``value`` is written as FIX data type ``kind`` requires."""
    if kind == "STRING" or kind == "MULTIPLEVALUESTRING":
        return True
    if kind in _UNSIGNED:
        return value.isdecimal() and value.isascii()
    if kind == "INT":
        return _INT.fullmatch(value) is not None
    if kind in _DECIMALS:
        return _DECIMAL.fullmatch(value) is not None
    if kind == "CHAR":
        return len(value) == 1
    if kind == "BOOLEAN":
        return value == "Y" or value == "N"
    if kind == "UTCTIMESTAMP":
        if _TIMESTAMP.fullmatch(value) is None or not _date_ok(value):
            return False
        return int(value[9:11]) < 24 and int(value[12:14]) < 60 and int(value[15:17]) <= 60
    if kind == "UTCTIMEONLY":
        return _TIME.fullmatch(value) is not None
    if kind in ("UTCDATEONLY", "LOCALMKTDATE", "UTCDATE"):
        return _DATE.fullmatch(value) is not None and _date_ok(value)
    if kind == "MONTHYEAR":
        return _MONTH_YEAR.fullmatch(value) is not None
    return True  # DATA, EXCHANGE, CURRENCY, COUNTRY and the other text types


def _check_value(tag: int, value: str) -> Problem | None:
    """The checks every field gets wherever it is: defined, has a value, format, enum."""
    if tag not in DEFINED_TAGS:
        return Problem(0, tag, f"tag {tag} is not a FIX 4.4 field")
    if value == "":
        return Problem(4, tag, f"tag {tag} has no value")
    kind = FIELD_TYPES.get(tag)
    if kind is None:
        return None  # a FIX field this message does not carry: reason 2 follows
    if not valid_format(kind, value):
        return Problem(6, tag, f"tag {tag} {value!r} is not a {kind}")
    allowed = FIELD_VALUES.get(tag)
    if allowed is not None:
        words = value.split(" ") if kind == "MULTIPLEVALUESTRING" else (value,)
        for word in words:
            if word not in allowed:
                return Problem(5, tag, f"tag {tag} {value!r} is not one of its values")
    return None


def validate(message: Message, body: Layout | None) -> Problem | dict[int, list[Group]]:
    """Check ``message`` (framed) against the header, ``body`` and trailer layouts.

    Returns the first :class:`Problem`, or the body's repeating groups by
    their NumInGroup tag. BeginString, BodyLength, MsgType and CheckSum were
    checked by the framing. ``body`` None (a MsgType tokex does not take):
    the header only.
    """
    fields = message.fields
    end = len(fields) - 1  # CheckSum, last: the parser saw to it
    i = 3
    header_pos = HEADER.position
    seen: set[int] = {8, 9, 35}
    groups: dict[int, list[Group]] = {}
    # The header: the standard fields, in any order, before the first body field.
    while i < end and fields[i][0] in header_pos:
        tag, value = fields[i]
        problem = _check_value(tag, value)
        if problem is not None:
            return problem
        if tag in seen:
            return Problem(13, tag, f"tag {tag} appears more than once")
        seen.add(tag)
        if tag in HEADER.groups:
            found = _group(fields, i, end, HEADER.groups[tag])
            if isinstance(found, Problem):
                return found
            i = found[0]
            continue
        i += 1
    missing = HEADER.required - seen
    if missing:
        tag = min(missing)
        return Problem(1, tag, f"tag {tag} is missing from the header")
    if body is None:
        return groups
    trailer_pos = TRAILER.position
    body_pos = body.position
    while i < end:
        tag, value = fields[i]
        problem = _check_value(tag, value)
        if problem is not None:
            return problem
        if tag in header_pos or tag in trailer_pos:
            return Problem(14, tag, f"tag {tag} is out of its header or trailer")
        if tag not in body_pos:
            return Problem(2, tag, f"tag {tag} is not a field of MsgType {message.msg_type}")
        if tag in seen:
            return Problem(13, tag, f"tag {tag} appears more than once")
        seen.add(tag)
        layout = body.groups.get(tag)
        if layout is None:
            i += 1
            continue
        found = _group(fields, i, end, layout)
        if isinstance(found, Problem):
            return found
        i, groups[tag] = found
    missing = body.required - seen
    if missing:
        tag = min(missing)
        return Problem(1, tag, f"tag {tag} is required in MsgType {message.msg_type}")
    return groups


def _group(
    fields: list[tuple[int, str]], i: int, end: int, layout: Layout
) -> Problem | tuple[int, list[Group]]:
    """Read the group whose NumInGroup field is ``fields[i]``; where it ends and its instances."""
    count_tag, count_text = fields[i]
    count = int(count_text)  # a NUMINGROUP: its format was checked
    i += 1
    instances: list[Group] = []
    position = layout.position
    delimiter = layout.delimiter
    while i < end and fields[i][0] == delimiter:
        instance = Group()
        instances.append(instance)
        last = -1
        while i < end:
            tag, value = fields[i]
            at = position.get(tag)
            if at is None or (tag == delimiter and instance.fields):
                break  # the group (or this instance) ends here
            problem = _check_value(tag, value)
            if problem is not None:
                return problem
            if tag in instance.fields:
                return Problem(13, tag, f"tag {tag} appears twice in one group {count_tag} entry")
            if at < last:
                return Problem(15, tag, f"tag {tag} is out of order in group {count_tag}")
            last = at
            instance.fields[tag] = value
            inner = layout.groups.get(tag)
            if inner is None:
                i += 1
                continue
            found = _group(fields, i, end, inner)
            if isinstance(found, Problem):
                return found
            i, instance.groups[tag] = found
        missing = layout.required - instance.fields.keys()
        if missing:
            tag = min(missing)
            return Problem(1, tag, f"tag {tag} is required in each group {count_tag} entry")
    if len(instances) != count:
        return Problem(
            16, count_tag, f"group {count_tag} says {count} entries, {len(instances)} follow"
        )
    return i, instances
