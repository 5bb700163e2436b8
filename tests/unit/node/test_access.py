"""The access store (node/access.py): nonces and session tokens on a real SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from node.access import MAX_NONCE, TOKEN_TTL_NS, TOUCH_NS, AccessStore
from node.interface import NonceUsed

T0 = 1_795_446_000 * 10**9
MINUTE = 60 * 10**9


async def _login(store: AccessStore, key: str, nonce: int, now: int = T0) -> str:
    """Log in and wait until the nonce and token are durable; the token."""
    done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    store.login(key, nonce, key.removesuffix("-key"), now, done.set_result, done.set_exception)
    return await done


def _with_store(path: Path, body: Callable[[AccessStore], Awaitable[None]]) -> None:
    async def main() -> None:
        store = AccessStore(path)
        store.open()
        await store.start()
        try:
            await body(store)
        finally:
            await store.close()

    asyncio.run(main())


def test_nonces_increase_per_key_and_survive_reopening(tmp_path: Path) -> None:
    """Proves a nonce must exceed every earlier one of its key, before and after a reopen."""
    path = tmp_path / "access.sqlite"

    async def first(store: AccessStore) -> None:
        await _login(store, "alice-key", 100)
        with pytest.raises(NonceUsed):
            store.login("alice-key", 100, "alice", T0, print, print)
        with pytest.raises(NonceUsed):
            store.login("alice-key", 99, "alice", T0, print, print)
        await _login(store, "bob-key", 5)  # keys are independent
        for bad in (0, -1, MAX_NONCE + 1):
            with pytest.raises(ValueError, match="must be 1 to"):
                store.login("bob-key", bad, "bob", T0, print, print)

    async def second(store: AccessStore) -> None:
        for key, used in (("alice-key", 100), ("bob-key", 5)):
            with pytest.raises(NonceUsed):
                store.login(key, used, key[:-4], T0, print, print)
        await _login(store, "alice-key", 101)
        await _login(store, "bob-key", MAX_NONCE)

    _with_store(path, first)
    _with_store(path, second)


def test_tokens_survive_reopening_lapse_when_idle_and_are_stored_only_as_digests(
    tmp_path: Path,
) -> None:
    """Proves token sessions: 15 minutes after last use, across reopens, digests on disk.

    A token used 14 minutes after its login is written back (it moved by
    more than TOUCH_NS), so after a reopen it is still good 14 minutes after
    that use; a token used 30 s after login is not written back, so after a
    reopen it lapses 15 minutes after its login (never later than in memory).
    The token text never appears in the file; a lapsed token is deleted.
    """
    path = tmp_path / "access.sqlite"
    tokens: dict[str, str] = {}

    async def first(store: AccessStore) -> None:
        tokens["kept"] = await _login(store, "alice-key", 1)
        tokens["short"] = await _login(store, "bob-key", 1)
        assert store.session(tokens["kept"], T0 + 14 * MINUTE) == "alice"
        assert store.session(tokens["short"], T0 + MINUTE // 2) == "bob"
        assert store.session("f" * 32, T0) is None

    async def second(store: AccessStore) -> None:
        assert store.session(tokens["kept"], T0 + 28 * MINUTE) == "alice"
        assert store.session(tokens["short"], T0 + TOKEN_TTL_NS + 1) is None
        assert store.session(tokens["short"], T0) is None  # forgotten, not just lapsed

    _with_store(path, first)
    assert TOUCH_NS < 14 * MINUTE
    _with_store(path, second)
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert all(t.encode() not in raw for t in tokens.values())


def test_a_login_that_cannot_be_written_is_refused_and_its_token_withdrawn(
    tmp_path: Path,
) -> None:
    """Proves nothing is answered as logged in unless it is durable.

    The store's file connection is closed under it (a write then fails for
    real): the login's ``on_error`` runs, its token never works, and the
    nonce stays used (a failure never reopens a nonce to replay).
    """

    async def body(store: AccessStore) -> None:
        assert store._db is not None
        store._db.close()
        failed: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()
        issued: list[str] = []
        store.login("alice-key", 7, "alice", T0, issued.append, failed.set_result)
        error = await failed
        assert error is not None and not issued
        assert not store.tokens
        with pytest.raises(NonceUsed):
            store.login("alice-key", 7, "alice", T0, print, print)
        store._db = None  # closed already

    _with_store(tmp_path / "access.sqlite", body)
