"""Cheap wire clients for the end-to-end load generator: WebSocket and HTTP/1.1 on asyncio.

A general-purpose client library spends most of a load generator's CPU on
framing, masking and per-message futures; on a two-core machine that CPU is
taken from the server being measured. These two protocols do the minimum:

* :class:`WsConnection`: the RFC 6455 client handshake, then text frames out
  and in. Outgoing frames are masked (the RFC requires it) with one random key
  per connection, applied as one big-integer XOR per frame (a single C-level
  operation, no Python loop). Several frames due at the same instant go out in
  one ``transport.write``. Incoming frames are split out of the byte stream
  and handed, payload only, to ``on_text``; pings are answered, a close frame
  is recorded (code and reason) and answered. No extensions are negotiated,
  so nothing is compressed.
* :class:`HttpConnection`: HTTP/1.1 keep-alive with pipelining. Requests are
  written as they are due, without waiting for earlier answers (the server
  answers them in order, one at a time, as HTTP/1.1 requires); responses are
  split by ``Content-Length`` and handed to ``on_response`` with their status
  code.

Neither parses JSON: the load generator (:mod:`bench.wsload`) does, with
msgspec, only the fields it needs.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import Callable
from typing import cast

__all__ = ["HttpConnection", "WsClosed", "WsConnection"]

_U16 = struct.Struct("!H")
_U64 = struct.Struct("!Q")


class WsClosed(ConnectionError):
    """The server closed the WebSocket (``code`` and ``reason`` as it sent them)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"closed by the server: {code} {reason}")
        self.code = code
        self.reason = reason


class WsConnection(asyncio.Protocol):
    """A WebSocket client connection; ``on_text(payload)`` receives every text message."""

    def __init__(self, host: str, port: int, path: str, on_text: Callable[[bytes], None]) -> None:
        self.host, self.port, self.path = host, port, path
        self.on_text = on_text
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.close_code: int | None = None
        self.close_reason = ""
        self._buf = bytearray()
        self._handshaken = False
        self._fragments: list[bytes] = []
        key = os.urandom(4)
        self._key = key
        self._mask_block = key * 16_384  # 64 KiB: the largest frame the server takes
        self._key_text = base64.b64encode(os.urandom(16)).decode()

    # ------------------------------------------------------------ asyncio hooks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {self._key_text}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.lost.done():
            self.lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        if not self._handshaken:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end])
            del buf[: end + 4]
            if not head.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(ConnectionError(f"handshake refused: {head[:200]!r}"))
                assert self.transport is not None
                self.transport.close()
                return
            self._handshaken = True
            self.opened.set_result(None)
        self._frames()

    # ------------------------------------------------------------ frames

    def _frames(self) -> None:
        buf = self._buf
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = _U16.unpack_from(buf, pos + 2)[0]
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = _U64.unpack_from(buf, pos + 2)[0]
                head = 10
            if size - pos < head + length:
                break
            payload = bytes(buf[pos + head : pos + head + length])
            pos += head + length
            self._frame(b0 & 0x80, b0 & 0x0F, payload)
        if pos:
            del buf[:pos]

    def _frame(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode == 0x1 and fin:
            self.on_text(payload)
        elif opcode in (0x0, 0x1):  # a fragmented message (websockets does not fragment text)
            self._fragments.append(payload)
            if fin:
                whole, self._fragments = b"".join(self._fragments), []
                self.on_text(whole)
        elif opcode == 0x9:  # ping
            self._write(0xA, payload)
        elif opcode == 0x8:  # close: remember why, answer, let the server end TCP
            if len(payload) >= 2:
                self.close_code = _U16.unpack_from(payload)[0]
                self.close_reason = payload[2:].decode(errors="replace")
            else:
                self.close_code = 1005
            self._write(0x8, payload[:2])

    def frame(self, payload: bytes, opcode: int = 0x1) -> bytes:
        """One masked client frame carrying ``payload`` (text unless ``opcode`` says otherwise)."""
        n = len(payload)
        if n < 126:
            head = bytes((0x80 | opcode, 0x80 | n))
        elif n < 65_536:
            head = bytes((0x80 | opcode, 0x80 | 126)) + _U16.pack(n)
        else:
            head = bytes((0x80 | opcode, 0x80 | 127)) + _U64.pack(n)
        masked = (
            int.from_bytes(payload, "big") ^ int.from_bytes(self._mask_block[:n], "big")
        ).to_bytes(n, "big")
        return head + self._key + masked

    def _write(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.frame(payload, opcode))

    def send_frames(self, frames: list[bytes]) -> None:
        """Write already built frames (see :meth:`frame`) in one system call."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(frames))

    def send_text(self, payload: bytes) -> None:
        self._write(0x1, payload)

    def close(self) -> None:
        """Send a normal close (1000) and drop the TCP connection."""
        if self.transport is not None and not self.transport.is_closing():
            self._write(0x8, _U16.pack(1000))
            self.transport.close()


class HttpConnection(asyncio.Protocol):
    """An HTTP/1.1 keep-alive client connection; ``on_response(status, body)`` per response."""

    def __init__(self, on_response: Callable[[int, bytes], None]) -> None:
        self.on_response = on_response
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buf = bytearray()
        self._need = -1  # body bytes still wanted by the response being read, -1: in headers
        self._status = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        self.opened.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        pos = 0
        while True:
            if self._need < 0:
                end = buf.find(b"\r\n\r\n", pos)
                if end < 0:
                    break
                head = bytes(buf[pos:end]).lower()
                self._status = int(head[9:12])
                at = head.find(b"content-length:")
                if at < 0:
                    raise ConnectionError(f"response without content-length: {head[:200]!r}")
                line_end = head.find(b"\r\n", at)
                self._need = int(head[at + 15 : line_end if line_end >= 0 else len(head)])
                pos = end + 4
            if len(buf) - pos < self._need:
                break
            body = bytes(buf[pos : pos + self._need])
            pos += self._need
            self._need = -1
            self.on_response(self._status, body)
        if pos:
            del buf[:pos]

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
