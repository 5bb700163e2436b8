"""The FIX 4.4 data dictionary as jspurefix ships it (QuickFIX's ``FIX44.xml``), read into
the shapes of :mod:`gateway.fix.spec`.

tokex's FIX gateway validates messages against the FIX 4.4 specification's
fields, message layouts and enumerations, which it carries as data in
``gateway/fix/spec.py``. That module was written from this reading of the
specification's XML form, and ``test_spec.py`` checks that the two still
agree, so a slip in the hand-kept data cannot hide. Run this file to print
the data module afresh::

    .venv/bin/python -m tests.integration.gateway.fix.fix44_xml > gateway/fix/spec_data.py
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
XML = HERE / "node_modules" / "jspurefix" / "data" / "FIX44.xml"

# The inbound messages tokex validates in full (the rest of FIX 4.4 is answered
# as unsupported): the session layer and the order-entry and market-data requests.
INBOUND = ("0", "1", "2", "3", "4", "5", "A", "j", "D", "F", "G", "q", "i", "H", "V")


class Dictionary:
    """What the XML says: every field's type and values, message layouts, MsgTypes."""

    def __init__(self, path: Path = XML) -> None:
        root = ET.parse(path).getroot()
        self.fields: dict[str, tuple[int, str, tuple[str, ...]]] = {}
        for f in root.iter("field"):
            if f.get("number") is None:
                continue
            values = tuple(v.get("enum", "") for v in f.findall("value"))
            self.fields[f.get("name", "")] = (int(f.get("number", "0")), f.get("type", ""), values)
        self.components = {c.get("name", ""): c for c in root.find("components") or ()}
        self.messages = {m.get("msgtype", ""): m for m in root.find("messages") or ()}
        self.header = root.find("header")
        self.trailer = root.find("trailer")

    def tags(self) -> set[int]:
        return {number for number, _, _ in self.fields.values()}

    def layout(self, node: ET.Element | None, required: bool = True) -> list[str]:
        """``node``'s fields as layout tokens: ``N``, ``N!`` (required), ``N[...]`` (group).

        Components are flattened; a field is required when it is and every
        component between it and its message or group is too.
        """
        out: list[str] = []
        for child in node if node is not None else ():
            req = required and child.get("required") == "Y"
            name = child.get("name", "")
            if child.tag == "field":
                out.append(f"{self.fields[name][0]}{'!' if req else ''}")
            elif child.tag == "group":
                inner = " ".join(self.layout(child, True))
                out.append(f"{self.fields[name][0]}{'!' if req else ''}[{inner}]")
            elif child.tag == "component":
                out.extend(self.layout(self.components[name], req))
        return out

    def layouts(self) -> dict[str, str]:
        found = {"header": " ".join(self.layout(self.header))}
        found["trailer"] = " ".join(self.layout(self.trailer))
        for msg_type in INBOUND:
            found[msg_type] = " ".join(self.layout(self.messages[msg_type]))
        return found

    def used_fields(self, layouts: dict[str, str]) -> dict[int, tuple[str, str]]:
        """Type and values of every field the layouts name: ``{tag: (type, "v1 v2 ...")}``."""
        by_tag = {number: (kind, values) for number, kind, values in self.fields.values()}
        tags = set()
        for text in layouts.values():
            for token in text.replace("[", " ").replace("]", " ").split():
                tags.add(int(token.rstrip("!")))
        return {t: (by_tag[t][0], " ".join(by_tag[t][1])) for t in sorted(tags)}


def _wrap(text: str, indent: str, width: int = 96) -> list[str]:
    """A long string as adjacent string literals, each line under ``width``."""
    lines, line = [], ""
    for word in text.split(" "):
        if line and len(indent) + len(line) + len(word) + 4 > width:
            lines.append(f'{indent}"{line} "')
            line = ""
        line = f"{line} {word}" if line else word
    lines.append(f'{indent}"{line}"')
    return lines


def render(d: Dictionary) -> str:
    """The text of ``gateway/fix/spec_data.py``."""
    tags = sorted(d.tags())
    gaps = [t for t in range(1, tags[-1] + 1) if t not in set(tags)]
    layouts = d.layouts()
    out = [
        '"""FIX 4.4 as data: the fields, MsgTypes and message layouts tokex validates against.',
        "",
        "Facts of the FIX 4.4 specification (field numbers, types, enumerated values",
        "and which fields each message may and must carry), kept as data and read",
        "by :mod:`gateway.fix.spec`. Checked against the specification's XML form by",
        "``tests/integration/gateway/fix/test_spec.py``.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        f"LAST_TAG = {tags[-1]}",
        '"""FIX 4.4 defines the tags 1 to LAST_TAG, except :data:`UNUSED_TAGS`."""',
        "",
        "UNUSED_TAGS = (",
        *_wrap(" ".join(map(str, gaps)), "    "),
        ")",
        "",
        "MSG_TYPES = (",
        *_wrap(" ".join(sorted(d.messages)), "    "),
        ")",
        '"""Every MsgType FIX 4.4 defines."""',
        "",
        "LAYOUTS = {",
    ]
    for key, text in layouts.items():
        out.append(f'    "{key}": (')
        out.extend(_wrap(text, "        "))
        out.append("    ),")
    out += [
        "}",
        '"""Each message\'s fields: ``N`` optional, ``N!`` required, ``N[...]`` a repeating group',
        "(counted by N, delimited by its first member).",
        '"""',
        "",
        "FIELDS = {",
    ]
    for tag, (kind, values) in d.used_fields(layouts).items():
        line = f'    {tag}: ("{kind}", "{values}"),'
        if len(line) <= 100:
            out.append(line)
        else:
            out += [f"    {tag}: (", f'        "{kind}",', *_wrap(values, "        "), "    ),"]
    out += [
        "}",
        '"""Type and enumerated values (space-separated; empty: any) of each field."""',
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(render(Dictionary()))
