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
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter

from gateway.fix.codec import Message
from gateway.fix.spec import DEFINED_TAGS, FIELD_TYPES, FIELD_VALUES, HEADER, TRAILER, Layout
from gateway.fix.times import parse_timestamp

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
_SECOND = re.compile(r"[0-9]{8}-[0-9]{2}:[0-9]{2}:[0-9]{2}")
_TIME = re.compile(r"[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?")
_DATE = re.compile(r"[0-9]{8}")
_MONTH_YEAR = re.compile(r"[0-9]{6}(?:[0-9]{2}|w[1-5])?")
_UNSIGNED = frozenset({"LENGTH", "NUMINGROUP", "SEQNUM", "TAGNUM", "DAYOFMONTH"})
_DECIMALS = frozenset({"FLOAT", "PRICE", "QTY", "AMT", "PRICEOFFSET", "PERCENTAGE"})


def _date_ok(text: str) -> bool:
    month, day = int(text[4:6]), int(text[6:8])
    return 1 <= month <= 12 and 1 <= day <= 31


_seconds: dict[str, bool] = {}
"""UTCTimestamp seconds (``YYYYMMDD-HH:MM:SS``) already judged: timestamps share them."""


def _second_ok(value: str) -> bool:
    if _SECOND.fullmatch(value) is None or not _date_ok(value):
        return False
    if int(value[9:11]) >= 24 or int(value[12:14]) >= 60 or int(value[15:17]) > 60:
        return False
    if int(value[6:8]) <= 28:
        return True
    try:
        parse_timestamp(value)  # a day that does not exist (February 30)
    except ValueError:
        return False
    return True


def _timestamp_ok(value: str) -> bool:
    second = value[:17]
    ok = _seconds.get(second)
    if ok is None:
        ok = _second_ok(second)
        if len(_seconds) >= 100_000:
            _seconds.clear()
        _seconds[second] = ok
    if not ok:
        return False
    fraction = value[17:]
    if not fraction:
        return True
    digits = fraction[1:]
    return fraction[0] == "." and 0 < len(digits) <= 9 and digits.isdecimal() and digits.isascii()


def _unsigned(value: str) -> bool:
    return value.isdecimal() and value.isascii()


def _char(value: str) -> bool:
    return len(value) == 1


def _boolean(value: str) -> bool:
    return value == "Y" or value == "N"


def _date(value: str) -> bool:
    return _DATE.fullmatch(value) is not None and _date_ok(value)


_FORMAT: dict[str, Callable[[str], bool]] = {
    **dict.fromkeys(_UNSIGNED, _unsigned),
    **dict.fromkeys(_DECIMALS, lambda v: _DECIMAL.fullmatch(v) is not None),
    "INT": lambda v: _INT.fullmatch(v) is not None,
    "CHAR": _char,
    "BOOLEAN": _boolean,
    "UTCTIMESTAMP": _timestamp_ok,
    "UTCTIMEONLY": lambda v: _TIME.fullmatch(v) is not None,
    "UTCDATEONLY": _date,
    "LOCALMKTDATE": _date,
    "UTCDATE": _date,
    "MONTHYEAR": lambda v: _MONTH_YEAR.fullmatch(v) is not None,
}
"""The format check of each FIX data type (any text passes the others: STRING, DATA...)."""


def valid_format(kind: str, value: str) -> bool:
    """Whether ``value`` is written as FIX data type ``kind`` requires."""
    check = _FORMAT.get(kind)
    return check is None or check(value)


# Each field's checks, looked up once per field: (format check, enumerated values, several).
_CHECKS: dict[int, tuple[Callable[[str], bool] | None, frozenset[str] | None, bool]] = {
    tag: (_FORMAT.get(kind), FIELD_VALUES.get(tag), kind == "MULTIPLEVALUESTRING")
    for tag, kind in FIELD_TYPES.items()
}


def _check_value(tag: int, value: str) -> Problem | None:
    """The checks every field gets wherever it is: defined, has a value, format, enum."""
    checks = _CHECKS.get(tag)
    if checks is None:
        if tag not in DEFINED_TAGS:
            return Problem(0, tag, f"tag {tag} is not a FIX 4.4 field")
        if value == "":
            return Problem(4, tag, f"tag {tag} has no value")
        return None  # a FIX field this message does not carry: reason 2 follows
    if value == "":
        return Problem(4, tag, f"tag {tag} has no value")
    check, allowed, several = checks
    if check is not None and not check(value):
        return Problem(6, tag, f"tag {tag} {value!r} is not a {FIELD_TYPES[tag]}")
    if allowed is not None:
        if several:
            if not allowed.issuperset(value.split(" ")):
                return Problem(5, tag, f"tag {tag} {value!r} is not one of its values")
        elif value not in allowed:
            return Problem(5, tag, f"tag {tag} {value!r} is not one of its values")
    return None


_Plan = tuple[tuple[int, "Callable[[str], bool] | None", "frozenset[str] | None", bool], ...]
_SHAPES: dict[tuple[str, tuple[int, ...]], _Plan] = {}
_MAX_SHAPES = 4096
_tag_of = itemgetter(0)


def validate(message: Message, body: Layout | None) -> Problem | dict[int, list[Group]]:
    """Check ``message`` (framed) against the header, ``body`` and trailer layouts.

    Returns the first :class:`Problem`, or the body's repeating groups by
    their NumInGroup tag. BeginString, BodyLength, MsgType and CheckSum were
    checked by the framing. ``body`` None (a MsgType tokex does not take):
    the header only.

    A client sends the same few shapes of message (the same tags in the same
    order) again and again: once a shape without repeating groups has passed,
    later messages of that shape only need their values checked.
    """
    fields = message.fields
    shape = (message.msg_type, tuple(map(_tag_of, fields)))
    plan = _SHAPES.get(shape)
    if plan is not None:
        for i, check, allowed, several in plan:
            value = fields[i][1]
            if (
                not value
                or (check is not None and not check(value))
                or (
                    allowed is not None
                    and (
                        not allowed.issuperset(value.split(" "))
                        if several
                        else value not in allowed
                    )
                )
            ):
                return _check_value(fields[i][0], value) or Problem(5, fields[i][0])
        return {}
    found = _validate(message, body)
    if not found and len(_SHAPES) < _MAX_SHAPES:
        _SHAPES[shape] = tuple(
            (i, *_CHECKS.get(tag, (None, None, False)))
            for i, (tag, _) in enumerate(fields[3:-1], 3)
        )
    return found


def _validate(message: Message, body: Layout | None) -> Problem | dict[int, list[Group]]:
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
