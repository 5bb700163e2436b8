"""``model.order.TextIndex``: risk's accounts by their text, a dict to whoever reads it.

In the compiled build it is model/_order.pyx's open-addressing table, which
keeps a short one-byte text inside its slot and hashes it cheaply; in the
pure build it is ``dict`` itself. Either way every operation risk, the
snapshots and the tests use must give what a dict of the same entries
gives, iteration order included. Texts are looked up as new objects (a
command's account is a string of its own), of every length around the
16-character slot, of every character width, and texts that share their
first 16 characters or differ only past them. Runs on both builds.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.build import COMPILED
from model.order import TextIndex

# Texts of one, two and four bytes a character, empty, NUL and 0xff
# characters (the slot's zero padding and the top byte), lengths around 16.
TEXTS = st.one_of(
    st.text(alphabet="ab\x00\xff", max_size=20),
    st.text(alphabet="aĀ", max_size=18),
    st.text(alphabet="a\U0001f600", max_size=18),
    st.builds(
        lambda n, tail: "acct" + str(n) + tail, st.integers(0, 10**6), st.text("xy", max_size=14)
    ),
)


def _fresh(text: str) -> str:
    """An equal text that is another object, as a decoded command's is (Python
    shares its empty and one-character texts, so those stay the same object)."""
    return "".join(list(text))


def _check_same(index: Any, ref: dict[str, object]) -> None:
    assert len(index) == len(ref)
    assert list(index) == list(ref)
    assert list(index.keys()) == list(ref)
    assert index.keys() == ref.keys()
    assert list(index.values()) == list(ref.values())
    assert list(index.items()) == list(ref.items())
    assert index == ref and ref == index
    assert (index != ref) is False
    for key in ref:
        probe = _fresh(key)
        assert probe in index and index[probe] is ref[key] and index.get(probe) is ref.get(key)


@settings(max_examples=300)
@given(st.lists(st.tuples(st.sampled_from(["set", "get", "setdefault"]), TEXTS), max_size=200))
def test_every_operation_gives_what_a_dict_gives(ops: list[tuple[str, str]]) -> None:
    index: Any = TextIndex()
    ref: dict[str, object] = {}
    for op, text in ops:
        probe = _fresh(text)
        if op == "set":
            value = object()
            index[text] = value
            ref[text] = value
        elif op == "get":
            assert index.get(probe) is ref.get(probe)
            assert (probe in index) == (probe in ref)
        else:
            value = object()
            assert index.setdefault(probe, value) is ref.setdefault(probe, value)
        if len(ref) < 20:
            _check_same(index, ref)
    _check_same(index, ref)


def test_many_accounts_and_their_neighbours() -> None:
    # Enough entries for several doublings and long probe runs; texts that
    # share their first 16 characters, or are one another's prefixes.
    index: Any = TextIndex()
    ref: dict[str, object] = {}
    texts = [f"acct{n}" for n in range(20_000)]
    texts += [f"market-maker-{n:04d}" for n in range(300)]  # 17 characters
    texts += ["x" * 16 + tail for tail in ("", "a", "b", "ab")]
    texts += ["x" * n for n in range(1, 16)]
    for text in texts:
        value = object()
        index[text] = value
        ref[text] = value
    _check_same(index, ref)
    for missing in ("acct20000", "acct-1", "x" * 17, "market-maker-0300", "", "acct1\x00"):
        assert missing not in index and index.get(missing) is None


def test_misses_and_the_default() -> None:
    index: Any = TextIndex()
    index["acct1"] = 1
    sentinel = object()
    assert index.get("acct2") is None and index.get(1) is None and 1 not in index
    assert index.get("acct2", sentinel) is sentinel
    with pytest.raises(KeyError):
        index["acct2"]
    with pytest.raises(KeyError):
        index[None]


def test_a_key_that_is_not_text_is_refused_in_the_compiled_build() -> None:
    index: Any = TextIndex()
    if COMPILED:
        with pytest.raises(TypeError, match="must be a str"):
            index[5] = 1
        with pytest.raises(TypeError, match="never removed"):
            del index["acct1"]
        assert len(index) == 0
    else:
        index[5] = 1  # a dict takes anything
        assert index[5] == 1


def test_copies_and_pickles_as_itself() -> None:
    index: Any = TextIndex()
    for n in range(50):
        index[f"acct{n}"] = n
    for clone in (pickle.loads(pickle.dumps(index)), copy.deepcopy(index), copy.copy(index)):
        assert type(clone) is type(index)
        assert list(clone.items()) == list(index.items())
        clone["new"] = 1
        assert "new" not in index


def test_risk_keeps_its_accounts_in_one() -> None:
    from risk.accounts import AccountSpec
    from risk.money import Asset
    from risk.risk import Risk

    risk = Risk([Asset("USD", 2)], [], [AccountSpec(id="alice"), AccountSpec(id="bob")])
    assert type(risk.accounts) is TextIndex
    assert list(risk.accounts) == ["alice", "bob", "fees"]
    assert risk.accounts[_fresh("bob")].id == "bob"


@pytest.mark.skipif(not COMPILED, reason="the compiled table's own hash")
def test_texts_are_told_apart_when_every_hash_collides() -> None:
    # A table whose texts of one length all share a hash: only the words kept
    # in the slot (up to 16 one-byte characters) and, past them or for wider
    # characters, the texts themselves tell entries apart.
    from model import _order  # type: ignore[attr-defined]

    index: Any = _order._colliding_index()
    ref: dict[str, object] = {}
    texts = [f"acct{n:05d}" for n in range(300)]  # 9 characters: differ in the second word
    texts += [f"{n:03d}acct-1234567" for n in range(100)]  # 16: differ in the first word
    texts += ["x" * 16 + f"{n:03d}" for n in range(100)]  # 19: differ past the slot
    texts += ["Ā" + f"{n:03d}" for n in range(100)]  # two bytes a character
    for text in texts:
        value = object()
        index[text] = value
        ref[text] = value
    _check_same(index, ref)
    for missing in ("acct00300", "100acct-1234567", "x" * 16 + "100", "Ā100", "acct0000"):
        assert missing not in index
