"""The data directory's other two files: the genesis (what the engine is built from) and snapshots.

Genesis (``genesis.tkx``): the assets, instruments, accounts, fee account and
schedule start an engine is built from, msgpack-encoded behind a magic, a
length and a CRC-32. Balances are not in it: they arrive as Deposit commands
through the journal like everything else. Written once, atomically.

Snapshots (``snapshots/<last seq>.snap``): the whole engine (books in queue
order, orders, risk, sessions, timers, counters) as explicit data, the
versioned schema of :mod:`engine.snapshot` in MessagePack, behind a header
with the last sequence number it covers, the length and a CRC-32. Reading one
decodes data against that schema and runs nothing it names: a snapshot file
is never code, and either build of the engine (pure or compiled) loads what
the other wrote. A snapshot is written to a temporary name, fsynced and
renamed, so a crash leaves either the old set of snapshots or the new one;
one that fails its checks when read is reported and skipped.
:func:`write_snapshot_in_background` forks: the child writes while the parent
goes on at once (the operating system copies pages only as the parent
changes them), so the engine stops only for the ``fork`` call.

A snapshot of another schema (header version 1 held a pickle, written by
tokex before the schema existed; a payload of another format number) is
refused with a :class:`SnapshotError` naming it: recovery then falls back to
an older snapshot or to the genesis and the journal (docs/JOURNAL.md).
"""

from __future__ import annotations

import gc
import os
import struct
import zlib
from pathlib import Path

import msgspec

from engine import snapshot as engine_snapshot
from engine.engine import Engine
from model.instrument import Instrument
from node.journal import fsync_dir
from risk.accounts import AccountSpec
from risk.money import Asset
from risk.risk import Risk

__all__ = [
    "Genesis",
    "SnapshotError",
    "read_genesis",
    "read_snapshot",
    "snapshot_name",
    "snapshots",
    "write_genesis",
    "write_snapshot",
    "write_snapshot_in_background",
]

_GENESIS_MAGIC = b"TKXG"
_SNAPSHOT_MAGIC = b"TKXS"
_HEADER = struct.Struct("<4sHxxQQI")  # magic, version, pad, seq (0 for genesis), length, CRC
_VERSION = {_GENESIS_MAGIC: 1, _SNAPSHOT_MAGIC: 2}
"""The container's version per kind of file. Snapshots: 1 held a pickle (no longer
read), 2 holds :mod:`engine.snapshot`'s schema (its own format number inside)."""


class SnapshotError(Exception):
    """A genesis or snapshot file that cannot be used (named, with the reason)."""


class Genesis(msgspec.Struct, frozen=True, kw_only=True):
    """Everything an engine is built from, before any command."""

    assets: list[Asset]
    instruments: list[Instrument]
    accounts: list[AccountSpec]
    fee_account: str = "fees"
    start_ts: int | None = None
    """The schedule's start (ns since the epoch, UTC); None runs without a schedule."""

    def build(self) -> Engine:
        """A fresh engine in the state before the first command."""
        risk = Risk(self.assets, self.instruments, self.accounts, fee_account=self.fee_account)
        return Engine(self.instruments, risk, self.start_ts)


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def _pack(magic: bytes, seq: int, payload: bytes) -> bytes:
    return _HEADER.pack(magic, _VERSION[magic], seq, len(payload), zlib.crc32(payload)) + payload


def _unpack(path: Path, magic: bytes) -> tuple[int, bytes]:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SnapshotError(f"{path}: cannot be read ({e.strerror})") from None
    if len(data) < _HEADER.size:
        raise SnapshotError(f"{path}: shorter than its header")
    got, version, seq, length, crc = _HEADER.unpack_from(data, 0)
    if got != magic:
        raise SnapshotError(f"{path}: not a tokex {magic.decode()} file")
    if magic == _SNAPSHOT_MAGIC and version == 1:
        raise SnapshotError(
            f"{path}: a pickled snapshot written by an older tokex (version 1); this version "
            f"reads only explicit snapshots (version {_VERSION[magic]}): recovery uses an "
            "older snapshot or the genesis and the journal"
        )
    if version != _VERSION[magic]:
        raise SnapshotError(
            f"{path}: version {version} of a tokex {magic.decode()} file; this tokex reads "
            f"version {_VERSION[magic]}"
        )
    payload = data[_HEADER.size :]
    if len(payload) != length:
        raise SnapshotError(f"{path}: {len(payload)} bytes where the header says {length}")
    if zlib.crc32(payload) != crc:
        raise SnapshotError(f"{path}: the checksum does not match")
    return seq, payload


def write_genesis(data: Path, genesis: Genesis) -> None:
    """Create ``data`` and its genesis file; refuses if one is there already."""
    data.mkdir(parents=True, exist_ok=True)
    path = data / "genesis.tkx"
    if path.exists():
        raise FileExistsError(f"{path}: a data directory is there already")
    _write_atomically(path, _pack(_GENESIS_MAGIC, 0, msgspec.msgpack.encode(genesis)))


def read_genesis(data: Path) -> Genesis:
    """The genesis of the data directory ``data`` (SnapshotError if missing or damaged)."""
    path = data / "genesis.tkx"
    if not path.exists():
        raise SnapshotError(f"{path}: missing (is {data} a tokex data directory?)")
    _, payload = _unpack(path, _GENESIS_MAGIC)
    try:
        return msgspec.msgpack.decode(payload, type=Genesis)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise SnapshotError(f"{path}: not a genesis ({e})") from None


def snapshot_name(seq: int) -> str:
    return f"{seq:020d}.snap"


def snapshots(data: Path) -> list[tuple[int, Path]]:
    """The snapshot files of ``data`` as (last seq, path), newest first (by name only)."""
    folder = data / "snapshots"
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob("*.snap"):
        stem = path.name[: -len(".snap")]
        if stem.isdigit():
            found.append((int(stem), path))
    return sorted(found, reverse=True)


def write_snapshot(data: Path, engine: Engine) -> Path:
    """Write a snapshot of ``engine`` (covering up to ``engine.last_seq``); return its path."""
    folder = data / "snapshots"
    folder.mkdir(parents=True, exist_ok=True)
    payload = engine_snapshot.encode(engine)
    path = folder / snapshot_name(engine.last_seq)
    _write_atomically(path, _pack(_SNAPSHOT_MAGIC, engine.last_seq, payload))
    return path


def write_snapshot_in_background(data: Path, engine: Engine) -> int:
    """Fork a child that writes a snapshot of ``engine`` as it is now; return its pid.

    The caller reaps it (``os.waitpid``); exit status 0 means the snapshot is
    durable. The parent is stopped only for the fork itself.
    """
    pid = os.fork()
    if pid == 0:  # the child: write, then leave without running any parent cleanup
        status = 1
        try:
            write_snapshot(data, engine)
            status = 0
        finally:
            os._exit(status)
    return pid


def read_snapshot(path: Path) -> Engine:
    """The engine in a snapshot file (SnapshotError if it fails any check)."""
    seq, payload = _unpack(path, _SNAPSHOT_MAGIC)
    # Decoding makes a container per order; none is garbage, so the collector
    # (which would walk the growing heap again and again) waits till the end.
    collecting = gc.isenabled()
    gc.disable()
    try:
        engine = engine_snapshot.decode(payload)
    except engine_snapshot.SnapshotFormatError as e:
        raise SnapshotError(f"{path}: cannot be loaded: {e}") from None
    finally:
        if collecting:
            gc.enable()
    if engine.last_seq != seq:
        raise SnapshotError(
            f"{path}: holds the engine at seq {engine.last_seq}, the header says {seq}"
        )
    return engine
