"""The WebSocket dialect's request parsing: :mod:`gateway.requests` (shared with the REST API).

Kept under this name for the WebSocket gateway's modules and their tests.
"""

from gateway.requests import (
    ADD_FIELDS,
    AMEND_FIELDS,
    BATCH_FIELDS,
    CANCEL_FIELDS,
    EDIT_FIELDS,
    RequestError,
    exact,
    only,
    parse_amend,
    parse_batch,
    parse_batch_cancel,
    parse_cancel_after,
    parse_cancels,
    parse_edit,
    parse_flag,
    parse_new_order,
    parse_operator,
    parse_order_ref,
    parse_time,
)

__all__ = [
    "ADD_FIELDS",
    "AMEND_FIELDS",
    "BATCH_FIELDS",
    "CANCEL_FIELDS",
    "EDIT_FIELDS",
    "RequestError",
    "exact",
    "only",
    "parse_amend",
    "parse_batch",
    "parse_batch_cancel",
    "parse_cancel_after",
    "parse_cancels",
    "parse_edit",
    "parse_flag",
    "parse_new_order",
    "parse_operator",
    "parse_order_ref",
    "parse_time",
]
