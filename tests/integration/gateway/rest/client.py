"""A minimal Kraken REST client for the tests, signing as REST_API.md describes.

Written from the description (base64(HMAC-SHA512(base64-decoded secret,
path + SHA256(nonce + body)))), not from the server's code.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import urllib.parse
import urllib.request
from typing import Any

from tests.integration.gateway.ws.client import demo_secret

STEP = 20.0
"""Seconds any one step of a client library's test may take: a client that never
answers fails the test, never hangs it."""


async def within(awaitable: Any, what: str, timeout: float = STEP) -> Any:
    """``await awaitable``, failing with ``what`` if it takes longer than ``timeout``."""
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except TimeoutError:
        raise AssertionError(f"{what}: no answer within {timeout:g} s") from None


_last = 0


def millis() -> int:
    """A nonce in milliseconds, above every one this process handed out."""
    global _last
    _last = max(time.time_ns() // 1_000_000, _last + 1)
    return _last


def used(nonce: int) -> None:
    """A nonce used elsewhere (a WebSocket login): the next ones handed out are above it."""
    global _last
    _last = max(_last, nonce)


class Rest:
    def __init__(self, port: int, account: str | None = None, secret: str | None = None) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.key = f"{account}-key" if account else ""
        self.secret = secret if secret is not None else (demo_secret(account) if account else "")

    def public(self, method: str, **params: Any) -> dict[str, Any]:
        query = urllib.parse.urlencode(params)
        url = f"{self.base}/0/public/{method}" + (f"?{query}" if query else "")
        with urllib.request.urlopen(url, timeout=15) as answer:
            assert answer.status == 200
            return json.loads(answer.read())  # type: ignore[no-any-return]

    def private(
        self, method: str, nonce: int | None = None, sign_with: str | None = None, **params: Any
    ) -> dict[str, Any]:
        global _last
        path = f"/0/private/{method}"
        nonce = millis() if nonce is None else nonce
        _last = max(_last, nonce)  # the next nonce handed out is above this one
        body = urllib.parse.urlencode({"nonce": nonce, **params}).encode()
        digest = hashlib.sha256(str(nonce).encode() + body).digest()
        secret = base64.b64decode(sign_with if sign_with is not None else self.secret)
        mac = hmac.new(secret, path.encode() + digest, hashlib.sha512)
        request = urllib.request.Request(
            self.base + path,
            data=body,
            headers={
                "API-Key": self.key,
                "API-Sign": base64.b64encode(mac.digest()).decode(),
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        with urllib.request.urlopen(request, timeout=15) as answer:
            assert answer.status == 200
            return json.loads(answer.read())  # type: ignore[no-any-return]

    def ok(self, method: str, **params: Any) -> Any:
        """A private call that must succeed: its result."""
        answer = self.private(method, **params)
        assert answer["error"] == [], (method, params, answer)
        return answer["result"]
