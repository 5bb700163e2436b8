"""Execution reports and the other answers tokex sends, built from its own state (pure).

:class:`Tracked` is the FIX view of one order of an account that has FIX
sessions: what an ExecutionReport restates on every event (OrderQty, CumQty,
AvgPx, the ClOrdID...). The engine's events carry what changed; the gateway
keeps these records up to date from them (``gateway/fix/application.py``), so
every report states the order exactly as of its event, even when several
events of one order arrive in one batch.

Numbers are written with the instrument's precision, never in exponent form,
from integer ticks, lots and asset units (:class:`Numbers`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gateway.fix.codec import render
from gateway.fix.times import format_timestamp
from model.commands import NewOrder
from model.instrument import Instrument
from node.interface import OrderView

__all__ = [
    "FIX_ORD_TYPE",
    "FIX_TIF",
    "Numbers",
    "Tracked",
    "cancel_reject",
    "execution_report",
    "ord_rej_reason",
    "tracked_order",
    "tracked_view",
]

FIX_ORD_TYPE = {
    "market": "1",
    "limit": "2",
    "iceberg": "2",
    "stop-loss": "3",
    "stop-loss-limit": "4",
    "take-profit": "J",
    "take-profit-limit": "4",
}
"""OrdType (40) of each order type (FIX 4.4 has no take-profit-limit: it shows as 4)."""

FIX_TIF = {"day": "0", "gtc": "1", "ioc": "3", "fok": "4", "gtd": "6"}
"""TimeInForce (59) of each time in force."""

_ORD_REJ_REASON = {
    "unknown_symbol": "1",
    "market_closed": "2",
    "halted": "2",
    "max_notional": "3",
    "orders_limit": "3",
    "insufficient_funds": "3",
    "unknown_order": "5",
    "duplicate_cl_ord_id": "6",
    "order_minimum": "13",
    "cost_minimum": "13",
    "limit_only": "11",
}


_CACHED = 100_000
"""Prices (and quantities) an instrument keeps written, at most."""


def ord_rej_reason(reason: str) -> str:
    """OrdRejReason (103) for an engine refusal (99, other, for the rest)."""
    return _ORD_REJ_REASON.get(reason, "99")


class Numbers:
    """One instrument's prices and quantities as FIX text, from ticks and lots (exact)."""

    __slots__ = (
        "_lot",
        "_price_digits",
        "_prices",
        "_qty_digits",
        "_qtys",
        "_tick",
        "inst",
        "quote_digits",
    )

    def __init__(self, inst: Instrument, quote_precision: int) -> None:
        self.inst = inst
        self._price_digits = inst.price_precision
        self._qty_digits = inst.qty_precision
        self._tick = int(inst.price_increment.scaleb(self._price_digits))
        self._lot = int(inst.qty_increment.scaleb(self._qty_digits))
        self.quote_digits = quote_precision
        # The same few prices and sizes come back in report after report.
        self._prices: dict[int, str] = {}
        self._qtys: dict[int, str] = {}

    def price(self, ticks: int) -> str:
        text = self._prices.get(ticks)
        if text is None:
            text = _fixed(ticks * self._tick, self._price_digits)
            if len(self._prices) < _CACHED:
                self._prices[ticks] = text
        return text

    def qty(self, lots: int) -> str:
        text = self._qtys.get(lots)
        if text is None:
            text = _fixed(lots * self._lot, self._qty_digits)
            if len(self._qtys) < _CACHED:
                self._qtys[lots] = text
        return text

    def money(self, units: int) -> str:
        """An amount of the quote asset, from its smallest units."""
        return _fixed(units, self.quote_digits)

    def average(self, cost: int, lots: int) -> str:
        """AvgPx: ``cost`` (ticks x lots) over ``lots``, to four places past the tick's."""
        if not lots:
            return "0"
        places = self._price_digits + 4
        exact = Decimal(cost * self._tick) / Decimal(lots).scaleb(self._price_digits)
        return f"{exact.quantize(Decimal(1).scaleb(-places)).normalize():f}"


def _fixed(units: int, digits: int) -> str:
    """``units`` of 10**-digits as a decimal string with exactly ``digits`` places."""
    if not digits:
        return str(units)
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 10**digits)
    return f"{sign}{whole}.{frac:0{digits}d}"


@dataclass
class Tracked:
    """An order of a FIX account as its reports state it.

    ``qty`` and ``cum`` count what the order's predecessors filled too when it
    replaced one (FIX's OrderQty and CumQty run across a cancel/replace);
    ``cost`` is the sum of price x qty over those fills (ticks x lots).
    """

    order_id: int
    symbol: str
    side: str
    """FIX Side (54): 1 buy, 2 sell."""
    ord_type: str
    tif: str
    qty: int
    price: int | None
    stop_px: int | None
    expire_ts: int | None
    display: int | None
    post_only: bool
    cl_ord_id: str | None
    cum: int = 0
    cost: int = 0
    stopped: bool = False
    """A stop not triggered yet."""
    carried: int = 0
    """What the orders it replaced had filled (in ``qty`` and ``cum``, not in the engine's)."""

    @property
    def leaves(self) -> int:
        return self.qty - self.cum

    @property
    def status(self) -> str:
        """OrdStatus (39) while open: 0 new, 1 partially filled."""
        return "1" if self.cum else "0"


def _text(value: str | None) -> str | None:
    """A client's id as a FIX value: an SOH in it (a WebSocket id may hold one) would end it."""
    return value.replace("\x01", "\ufffd") if value is not None and "\x01" in value else value


def tracked_order(order_id: int, order: NewOrder) -> Tracked:
    """A new order as its reports will state it."""
    return Tracked(
        order_id,
        order.symbol,
        "1" if order.side == "buy" else "2",
        FIX_ORD_TYPE[order.order_type],
        FIX_TIF[order.tif],
        order.qty,
        order.price,
        order.trigger_price,
        order.expire_ts,
        order.display_qty,
        order.post_only,
        _text(order.cl_ord_id),
        stopped=order.trigger_price is not None,
    )


def tracked_view(order: OrderView) -> Tracked:
    """An open order the gateway has not followed from its start (found after a restart)."""
    return Tracked(
        order.order_id,
        order.symbol,
        "1" if order.side == "buy" else "2",
        FIX_ORD_TYPE[order.order_type],
        FIX_TIF[order.tif],
        order.qty,
        order.price or None,
        order.trigger_price or None,
        order.expire_ts,
        order.display_qty or None,
        order.post_only,
        _text(order.cl_ord_id),
        order.filled,
        order.cost,
        stopped=order.stop,
    )


def execution_report(
    t: Tracked,
    n: Numbers,
    exec_id: str,
    exec_type: str,
    ord_status: str,
    when: str,
    *,
    leaves: int | None = None,
    cl_ord_id: str | None = None,
    orig_cl_ord_id: str | None = None,
    fill: tuple[int, int, str, int] | None = None,
    text: str | None = None,
    extra: tuple[tuple[int, str], ...] = (),
) -> str:
    """The body of an ExecutionReport (8) on order ``t`` as of now.

    ``fill``: (LastQty lots, LastPx ticks, LastLiquidityInd, commission
    units). ``leaves``: LeavesQty when it is not what is left to fill (0 on a
    cancel). ``cl_ord_id``: the ClOrdID of the request answered, when it is
    not the order's own (a cancel request's).
    """
    clid = cl_ord_id if cl_ord_id is not None else t.cl_ord_id
    # Built as text directly: one report per order event is the gateway's busiest output.
    out = f"37=O{t.order_id}\x01"
    if clid is not None:
        out += f"11={clid}\x01"
    if orig_cl_ord_id is not None:
        out += f"41={orig_cl_ord_id}\x01"
    out += f"17={exec_id}\x01150={exec_type}\x0139={ord_status}\x01"
    for tag, value in extra:
        out += f"{tag}={value}\x01"
    out += f"55={t.symbol}\x0154={t.side}\x0138={n.qty(t.qty)}\x0140={t.ord_type}\x01"
    if t.price is not None:
        out += f"44={n.price(t.price)}\x01"
    if t.stop_px is not None:
        out += f"99={n.price(t.stop_px)}\x01"
    out += f"59={t.tif}\x01"
    if t.expire_ts is not None and t.tif == "6":
        out += f"126={format_timestamp(t.expire_ts)}\x01"
    if t.post_only:
        out += "18=6\x01"
    if t.display is not None:
        out += f"111={n.qty(t.display)}\x01"
    if fill is not None:
        last_qty, last_px, liquidity, fee = fill
        out += (
            f"32={n.qty(last_qty)}\x0131={n.price(last_px)}\x01851={liquidity}\x01"
            f"12={n.money(fee)}\x0113=3\x01"
        )
    out += (
        f"151={n.qty(t.leaves if leaves is None else leaves)}\x0114={n.qty(t.cum)}\x01"
        f"6={n.average(t.cost, t.cum)}\x0160={when}\x01"
    )
    if text:
        out += f"58={text}\x01"
    return out


def cancel_reject(
    order_id: int | None,
    cl_ord_id: str,
    orig_cl_ord_id: str,
    ord_status: str,
    response_to: str,
    reason: str,
    text: str,
    when: str,
) -> str:
    """The body of an OrderCancelReject (9): ``response_to`` 1 (cancel) or 2 (replace)."""
    fields = [
        (37, "NONE" if order_id is None else f"O{order_id}"),
        (11, cl_ord_id),
        (41, orig_cl_ord_id),
        (39, ord_status),
        (60, when),
        (434, response_to),
        (102, reason),
        (58, text),
    ]
    return render(fields)
