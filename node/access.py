"""Login nonces and session tokens, kept durable across restarts (``DATA/access.sqlite``).

Every gateway shares one :class:`AccessStore` through the node's interface
(:meth:`node.interface.Node.login` and :meth:`node.interface.Node.session`),
so a nonce used on the WebSocket API is used for the REST API too, and a
captured ``login`` is refused after any restart, SIGKILL included:

* a nonce must be greater than every nonce used before with the same API
  key; it is taken in memory at once (a replay racing on another
  connection is refused) and written, with the session token the login
  issues, **before** the login is answered;
* a token expires :data:`TOKEN_TTL_NS` of exchange-clock time after its last
  use. Only its SHA-256 digest is stored, never the token, so the file does
  not hand out sessions. Its last use is written back lazily (at most once
  every :data:`TOUCH_NS` per token, without waiting), so after a restart a
  token may expire up to that much earlier than it would have, never later.

Writes are grouped: everything asked for in one turn of the event loop goes
into one SQLite transaction, committed (``synchronous=FULL`` in WAL mode: an
fsync) in a worker thread while the loop goes on; what arrives meanwhile
waits for the next transaction (group commit, like the journal's). Reads
never touch the file: the store keeps everything in memory and loads it
when it opens. SQLite (the standard library's) gives atomic, durable
updates in place, so the file never needs compacting by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from node.interface import NonceUsed

__all__ = ["MAX_NONCE", "TOKEN_TTL_NS", "TOUCH_NS", "AccessStore"]

TOKEN_TTL_NS = 15 * 60 * 10**9
"""A token (and a connection's login) lapses this long after its last use."""
TOUCH_NS = 60 * 10**9
"""A token's last use is written back when it has moved on by this much."""
MAX_NONCE = 2**63 - 1
_SWEEP = 10_000
"""Tokens held in memory before the expired ones are forgotten (and deleted from the file)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS nonces (api_key TEXT PRIMARY KEY, nonce INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tokens (
    digest BLOB PRIMARY KEY, account TEXT NOT NULL, last_used INTEGER NOT NULL
) WITHOUT ROWID;
"""


@dataclass
class _Token:
    account: str
    last_used: int
    written: int
    """The last use the file holds."""


@dataclass
class _Batch:
    """What one transaction writes, and whom to answer once it is durable."""

    nonces: dict[str, int] = field(default_factory=dict)
    tokens: dict[bytes, tuple[str, int]] = field(default_factory=dict)
    dropped: list[bytes] = field(default_factory=list)
    done: list[Callable[[Exception | None], None]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.nonces or self.tokens or self.dropped)


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class AccessStore:
    """Nonces per API key and session tokens, in memory and in ``path`` (SQLite, WAL).

    :meth:`open` loads the file (creating it); :meth:`start` starts the
    writer on the running loop; :meth:`login` and :meth:`session` are called
    on that loop; :meth:`close` writes what is pending and closes the file.
    """

    def __init__(self, path: Path, ttl_ns: int = TOKEN_TTL_NS) -> None:
        self.path = path
        self.ttl_ns = ttl_ns
        self.nonces: dict[str, int] = {}
        self.tokens: dict[bytes, _Token] = {}
        """By the token's digest."""
        self._known: dict[str, bytes] = {}
        """Token -> digest, for the tokens seen since the start (hashed once)."""
        self._db: sqlite3.Connection | None = None
        self._next = _Batch()
        self._wake = asyncio.Event()
        self._busy = False
        self._task: asyncio.Task[None] | None = None

    # ---------------------------------------------------------------- file

    def open(self) -> None:
        """Create or read the file; everything it holds comes into memory."""
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(_SCHEMA)
        self.nonces = dict(db.execute("SELECT api_key, nonce FROM nonces"))
        self.tokens = {
            d: _Token(account, used, used)
            for d, account, used in db.execute("SELECT digest, account, last_used FROM tokens")
        }
        self._db = db

    def _write(self, batch: _Batch) -> None:
        """One transaction (in a worker thread): the nonces, the tokens, the forgotten tokens."""
        db = self._db
        assert db is not None
        db.execute("BEGIN")
        try:
            db.executemany(
                "INSERT INTO nonces VALUES (?, ?) ON CONFLICT(api_key)"
                " DO UPDATE SET nonce = max(nonce, excluded.nonce)",
                batch.nonces.items(),
            )
            db.executemany(
                "INSERT INTO tokens VALUES (?, ?, ?) ON CONFLICT(digest)"
                " DO UPDATE SET last_used = max(last_used, excluded.last_used)",
                ((d, a, t) for d, (a, t) in batch.tokens.items()),
            )
            db.executemany("DELETE FROM tokens WHERE digest = ?", ((d,) for d in batch.dropped))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    async def start(self) -> None:
        """Start the writer task on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._writer(), name="access")

    async def _writer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._next = self._next, _Batch()
            if batch.empty:
                continue
            self._busy = True
            error: Exception | None = None
            try:
                await loop.run_in_executor(None, self._write, batch)
            except Exception as e:  # the disk: the logins waiting are told, the server goes on
                error = e
            finally:
                self._busy = False
            for answer in batch.done:
                answer(error)

    async def close(self) -> None:
        """Write what is pending, stop the writer, close the file."""
        while self._busy or not self._next.empty:
            self._wake.set()
            await asyncio.sleep(0.005)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._db is not None:
            self._db.close()
            self._db = None

    # ---------------------------------------------------------------- use

    def login(
        self,
        api_key: str,
        nonce: int,
        account: str,
        now: int,
        on_done: Callable[[str], None],
        on_error: Callable[[Exception], None],
    ) -> None:
        """Take ``nonce`` for ``api_key`` and issue a token for ``account``.

        Raises :class:`NonceUsed` at once (nothing changes) if ``nonce`` is not
        greater than every nonce used with the key. Otherwise ``on_done(token)``
        runs once the nonce and the token are durable; ``on_error`` if the
        file cannot be written (the nonce stays used, the token is withdrawn).
        """
        if not 0 < nonce <= MAX_NONCE:
            raise ValueError(f"nonce {nonce}: must be 1 to {MAX_NONCE}")
        if nonce <= self.nonces.get(api_key, 0):
            raise NonceUsed(f"nonce {nonce} of {api_key}: not above {self.nonces[api_key]}")
        self.nonces[api_key] = nonce
        token = secrets.token_hex(16)
        key = digest(token)
        self._known[token] = key
        if len(self.tokens) >= _SWEEP:
            self._sweep(now)
        self.tokens[key] = _Token(account, now, now)
        batch = self._next
        batch.nonces[api_key] = max(nonce, batch.nonces.get(api_key, 0))
        batch.tokens[key] = (account, now)

        def written(error: Exception | None) -> None:
            if error is None:
                on_done(token)
            else:
                self.tokens.pop(key, None)
                self._known.pop(token, None)
                on_error(error)

        batch.done.append(written)
        self._wake.set()

    def use_nonce(
        self,
        api_key: str,
        nonce: int,
        on_done: Callable[[], None],
        on_error: Callable[[Exception], None],
    ) -> None:
        """Take ``nonce`` for ``api_key`` without a session (a signed REST call).

        The same rule and the same store as :meth:`login`: :class:`NonceUsed`
        at once if it is not above every nonce used with the key (by a login
        or a REST call, before any restart); ``on_done()`` once it is durable.
        """
        if not 0 < nonce <= MAX_NONCE:
            raise ValueError(f"nonce {nonce}: must be 1 to {MAX_NONCE}")
        if nonce <= self.nonces.get(api_key, 0):
            raise NonceUsed(f"nonce {nonce} of {api_key}: not above {self.nonces[api_key]}")
        self.nonces[api_key] = nonce
        batch = self._next
        batch.nonces[api_key] = max(nonce, batch.nonces.get(api_key, 0))

        def written(error: Exception | None) -> None:
            if error is None:
                on_done()
            else:
                on_error(error)

        batch.done.append(written)
        self._wake.set()

    def session(self, token: str, now: int) -> str | None:
        """The account ``token`` acts for, marking it used at ``now``; None if unknown or lapsed."""
        key = self._known.get(token)
        if key is None:
            key = digest(token)
            if key not in self.tokens:
                return None
            self._known[token] = key
        held = self.tokens.get(key)
        if held is None:
            self._known.pop(token, None)
            return None
        if now - held.last_used > self.ttl_ns:
            del self.tokens[key]
            del self._known[token]
            self._next.dropped.append(key)
            return None
        if now > held.last_used:
            held.last_used = now
            if now - held.written >= TOUCH_NS:
                held.written = now
                self._next.tokens[key] = (held.account, now)
                self._wake.set()
        return held.account

    def _sweep(self, now: int) -> None:
        expired = [k for k, t in self.tokens.items() if now - t.last_used > self.ttl_ns]
        for key in expired:
            del self.tokens[key]
        self._known = {t: k for t, k in self._known.items() if k in self.tokens}
        self._next.dropped += expired
