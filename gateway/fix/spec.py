"""The FIX 4.4 dictionary the gateway validates against, built from :mod:`gateway.fix.spec_data`.

* :data:`DEFINED_TAGS`: every tag FIX 4.4 defines (a tag outside it is an
  invalid tag number, SessionRejectReason 0);
* :data:`MSG_TYPES`: every MsgType FIX 4.4 defines (another is an invalid
  MsgType, 11; a defined one tokex does not take is a BusinessMessageReject,
  BusinessRejectReason 3);
* :data:`MESSAGES`: the layout of each message tokex takes in (and of the
  standard header and trailer): which fields it may carry (2 when not), which
  it must (1), its repeating groups;
* :data:`FIELD_TYPES` and :data:`FIELD_VALUES`: each field's FIX data type
  (6 on a value of the wrong format) and enumerated values (5 on another).

Messages tokex sends are not checked against it: they are built from tokex's
own state (``gateway/fix/reports.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.fix.spec_data import FIELDS, LAST_TAG, LAYOUTS, UNUSED_TAGS
from gateway.fix.spec_data import MSG_TYPES as _MSG_TYPES

__all__ = [
    "DEFINED_TAGS",
    "FIELD_TYPES",
    "FIELD_VALUES",
    "HEADER",
    "MESSAGES",
    "MSG_TYPES",
    "TRAILER",
    "Layout",
]


@dataclass
class Layout:
    """The fields of a message body, header, trailer or one repeating group instance.

    ``order`` lists the fields in the specification's order (for a group, its
    first one is the delimiter that starts each instance); ``groups`` maps a
    NumInGroup tag to the layout of its instances.
    """

    order: tuple[int, ...] = ()
    required: frozenset[int] = frozenset()
    groups: dict[int, Layout] = field(default_factory=dict)
    position: dict[int, int] = field(default_factory=dict)
    """Each field's index in ``order`` (group members must keep it)."""

    @property
    def delimiter(self) -> int:
        return self.order[0]


def _parse(text: str) -> Layout:
    """A layout string (``11! 453[448 447] 55``) as a :class:`Layout`."""
    tokens = text.replace("[", " [ ").replace("]", " ] ").split()
    pos = 0

    def block() -> Layout:
        nonlocal pos
        order: list[int] = []
        required: set[int] = set()
        groups: dict[int, Layout] = {}
        while pos < len(tokens) and tokens[pos] != "]":
            token = tokens[pos]
            pos += 1
            tag = int(token.rstrip("!"))
            order.append(tag)
            if token.endswith("!"):
                required.add(tag)
            if pos < len(tokens) and tokens[pos] == "[":
                pos += 1
                groups[tag] = block()
                pos += 1  # the closing bracket
        return Layout(
            tuple(order), frozenset(required), groups, {t: i for i, t in enumerate(order)}
        )

    return block()


DEFINED_TAGS: frozenset[int] = frozenset(range(1, LAST_TAG + 1)) - {
    int(t) for t in UNUSED_TAGS.split()
}
MSG_TYPES: frozenset[str] = frozenset(_MSG_TYPES.split())
HEADER = _parse(LAYOUTS["header"])
TRAILER = _parse(LAYOUTS["trailer"])
MESSAGES: dict[str, Layout] = {
    k: _parse(v) for k, v in LAYOUTS.items() if k not in ("header", "trailer")
}
FIELD_TYPES: dict[int, str] = {tag: kind for tag, (kind, _) in FIELDS.items()}
FIELD_VALUES: dict[int, frozenset[str]] = {
    tag: frozenset(values.split()) for tag, (_, values) in FIELDS.items() if values
}
