"""Words the Kraken dialects share (WebSocket and REST): order ids and market status."""

from __future__ import annotations

__all__ = ["STATUS", "order_id_text"]


def order_id_text(order_id: int) -> str:
    """An order id as the wire shows it (``O17``)."""
    return f"O{order_id}"


STATUS = {
    "regular": "online",
    "extended": "limit_only",
    "overnight": "limit_only",
    "weekend": "limit_only",
    "closed": "cancel_only",
    "halted": "cancel_only",
    "auction": "auction",
}
"""Kraken's word for each phase (WS_API.md, instrument channel; REST ``AssetPairs``)."""
