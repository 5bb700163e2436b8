"""The FIX 4.4 dictionary tokex carries agrees with the specification's XML (jspurefix's copy)."""

from __future__ import annotations

import gateway.fix.spec_data as data
from gateway.fix.spec import DEFINED_TAGS, MESSAGES, MSG_TYPES
from tests.integration.gateway.fix.fix44_xml import Dictionary, render


def test_the_data_module_is_what_the_specification_says() -> None:
    spec = Dictionary()
    assert spec.layouts() == data.LAYOUTS
    assert spec.used_fields(spec.layouts()) == data.FIELDS
    assert spec.tags() == DEFINED_TAGS
    assert set(spec.messages) == MSG_TYPES
    for _, _, values in spec.fields.values():
        assert all(" " not in v for v in values)  # values are kept space-separated


def test_the_generator_reproduces_the_data_module() -> None:
    namespace: dict[str, object] = {}
    exec(compile(render(Dictionary()), "spec_data", "exec"), namespace)
    assert namespace["LAYOUTS"] == data.LAYOUTS
    assert namespace["FIELDS"] == data.FIELDS


def test_every_message_tokex_takes_has_a_layout() -> None:
    assert set("DFGqiHV") <= MESSAGES.keys()
    assert MESSAGES["D"].required >= {11, 54, 60, 40}
    assert MESSAGES["V"].groups[267].delimiter == 269
    assert MESSAGES["i"].groups[296].groups[295].delimiter == 299
