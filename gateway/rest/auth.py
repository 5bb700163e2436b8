"""Kraken's REST request signing and rate-limit counter (REST_API.md, authentication).

``API-Sign`` is base64(HMAC-SHA512(base64-decoded secret, URI path +
SHA256(nonce + POST body))). The nonce itself is checked and taken by the
node (:meth:`node.interface.Node.use_nonce`), shared with the WebSocket
``login``. Pure: no clock of its own (times are passed in).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

__all__ = ["RATE_DECAY", "RATE_MAX", "RateCounter", "decode_secret", "signature", "verify"]

RATE_MAX = 20
"""The counter's ceiling (Kraken's intermediate and pro tiers)."""
RATE_DECAY = 1.0
"""Points the counter loses per second."""


def decode_secret(secret: str) -> bytes | None:
    """The secret's bytes, or None if it is not valid base64 (no REST for that account)."""
    try:
        raw = base64.b64decode(secret.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None
    return raw or None


def signature(secret: bytes, path: str, nonce: str, body: bytes) -> str:
    """The ``API-Sign`` of a request to ``path`` whose body (with its ``nonce``) is ``body``."""
    digest = hashlib.sha256(nonce.encode() + body).digest()
    mac = hmac.new(secret, path.encode() + digest, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


def verify(secret: bytes, path: str, nonce: str, body: bytes, given: str) -> bool:
    """Whether ``given`` is the request's ``API-Sign`` (compared in constant time)."""
    expected = signature(secret, path, nonce, body)
    return hmac.compare_digest(expected.encode(), given.strip().encode())


@dataclass
class RateCounter:
    """One API key's counter: each call adds its cost; it decays by RATE_DECAY a second."""

    value: float = 0.0
    at: float = 0.0

    def take(self, cost: int, now: float) -> bool:
        """Add ``cost`` if that stays within RATE_MAX (True); otherwise change nothing."""
        self.value = max(0.0, self.value - (now - self.at) * RATE_DECAY)
        self.at = now
        if self.value + cost > RATE_MAX:
            return False
        self.value += cost
        return True
