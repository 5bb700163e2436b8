"""The words every gateway gives for an engine refusal (WS_API.md's error strings).

Shared by all gateways so a refusal reads the same everywhere: the
WebSocket and REST APIs send these strings as errors, FIX puts them in
Text (58).
"""

from __future__ import annotations

__all__ = [
    "BUSY",
    "ERRORS",
    "INTERNAL",
    "PERMISSION_DENIED",
    "RATE_LIMITED",
    "UNAVAILABLE",
    "error_for",
]

ERRORS = {
    "insufficient_funds": "EOrder:Insufficient funds",
    "unknown_order": "EOrder:Unknown order",
    "post_only": "EOrder:Post only order",
    "order_minimum": "EOrder:Order minimum not met",
    "cost_minimum": "EOrder:Cost minimum not met",
    "orders_limit": "EOrder:Orders limit exceeded",
    "price_band": "EOrder:Price band exceeded",
    "limit_only": "EOrder:Limit orders only",
    "market_closed": "EOrder:Market closed",
    "halted": "EOrder:Trading halted",
    "duplicate_cl_ord_id": "EOrder:Duplicate cl_ord_id",
    "account_disabled": "EOrder:Account disabled",
    "max_notional": "EOrder:Max notional exceeded",
}
"""Engine reject reasons and the error string a client gets for each."""


BUSY = "EService:Busy"
"""The pipeline is full: nothing was queued."""
UNAVAILABLE = "EService:Unavailable"
"""The exchange is shutting down (followed by ``:<why>``)."""
RATE_LIMITED = "EAPI:Rate limit exceeded"
PERMISSION_DENIED = "EGeneral:Permission denied"
INTERNAL = "EGeneral:Internal error"
"""A bug answered: the request did nothing it could not finish."""


def error_for(reason: str, text: str) -> str:
    """The error string for an engine refusal (``invalid_arguments`` carries its text)."""
    if reason in ERRORS:
        return ERRORS[reason]
    return f"EGeneral:Invalid arguments:{text or reason}"
