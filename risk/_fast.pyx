# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=False
"""The compiled build's versions of :class:`risk.risk.Risk`'s per-order steps.

``admit``, ``reserve``, ``release`` and ``fill`` line by line as in
risk/risk.py (the reference: read that first), with the order record typed
(model/_order.pyx) so its quantities are C integers. Money stays Python
integers: every product and quotient is computed exactly as in the pure build,
so the cumulative venue-favour rounding of MARKET_RULES section 6 is the same
bit for bit (the property tests compare both builds on long random flows).

The engine's compiled core calls the ``c_`` functions directly; the ``def``
wrappers replace the methods of :class:`~risk.risk.Risk` in the compiled build.
"""

from model._order cimport Order
from model._slots cimport slot, slot_offset

from model.commands import MARKET_KINDS, STOP_KINDS, NewOrder

# risk.risk imports this module at its end, with Market and Risk defined.
from risk.accounts import Account
from risk.risk import Market, Risk

cdef object BPS = 10_000

# Offsets of the slots read on every order (model/_slots.h): the command's
# fields, risk's markets and accounts.
cdef Py_ssize_t C_ACCOUNT = slot_offset(NewOrder, "account")
cdef Py_ssize_t C_SYMBOL = slot_offset(NewOrder, "symbol")
cdef Py_ssize_t C_SIDE = slot_offset(NewOrder, "side")
cdef Py_ssize_t C_QTY = slot_offset(NewOrder, "qty")
cdef Py_ssize_t C_PRICE = slot_offset(NewOrder, "price")
cdef Py_ssize_t C_ORDER_TYPE = slot_offset(NewOrder, "order_type")
cdef Py_ssize_t C_CASH_QTY = slot_offset(NewOrder, "cash_qty")
cdef Py_ssize_t R_ACCOUNTS = slot_offset(Risk, "accounts")
cdef Py_ssize_t R_MARKETS = slot_offset(Risk, "markets")
cdef Py_ssize_t R_FEE_ACCOUNT = slot_offset(Risk, "fee_account")
cdef Py_ssize_t M_QTY_MAX = slot_offset(Market, "qty_max")
cdef Py_ssize_t M_QTY_MIN = slot_offset(Market, "qty_min")
cdef Py_ssize_t M_HIGH = slot_offset(Market, "high")
cdef Py_ssize_t M_LOW = slot_offset(Market, "low")
cdef Py_ssize_t M_NUM = slot_offset(Market, "num")
cdef Py_ssize_t M_DEN = slot_offset(Market, "den")
cdef Py_ssize_t M_REFERENCE = slot_offset(Market, "reference")
cdef Py_ssize_t M_COST_MIN = slot_offset(Market, "cost_min")
cdef Py_ssize_t M_DIV = slot_offset(Market, "div")
cdef Py_ssize_t M_QI = slot_offset(Market, "qi")
cdef Py_ssize_t M_BI = slot_offset(Market, "bi")
cdef Py_ssize_t M_LOT_UNITS = slot_offset(Market, "lot_units")
cdef Py_ssize_t A_TRADING = slot_offset(Account, "trading")
cdef Py_ssize_t A_MAX_NOTIONAL = slot_offset(Account, "max_order_notional")
cdef Py_ssize_t A_MAX_OPEN = slot_offset(Account, "max_open_orders")
cdef Py_ssize_t A_MAX_BPS = slot_offset(Account, "max_bps")
cdef Py_ssize_t A_TAKER_BPS = slot_offset(Account, "taker_bps")
cdef Py_ssize_t A_MAKER_BPS = slot_offset(Account, "maker_bps")
cdef Py_ssize_t A_FUNDS = slot_offset(Account, "funds")


cdef object c_admit(object risk, object c, Order order, Py_ssize_t open_orders,
                    bint duplicate, bint take):
    # ``c`` is a NewOrder (or its subclass BatchOrder): its slots are read by offset.
    cdef bint buy, market
    cdef Py_ssize_t i
    cdef list funds
    account = slot(c, C_ACCOUNT)
    acct = (<dict>slot(risk, R_ACCOUNTS)).get(account)
    if acct is None:
        return "unknown_account", f"account {account!r}: not known"
    if not slot(acct, A_TRADING):
        why = "kill switch on" if acct.killed else "trading disabled"
        return "account_disabled", f"account {account!r}: {why}"
    m = (<dict>slot(risk, R_MARKETS))[slot(c, C_SYMBOL)]
    qty = slot(c, C_QTY)
    if qty > slot(m, M_QTY_MAX):
        return "invalid_arguments", f"order_qty {qty}: above qty_max {m.qty_max}"
    if qty < slot(m, M_QTY_MIN):
        return "order_minimum", f"order_qty {qty}: below qty_min {m.qty_min}"
    buy = slot(c, C_SIDE) == "buy"
    price = slot(c, C_PRICE)
    order_type = slot(c, C_ORDER_TYPE)
    market = order_type in MARKET_KINDS
    high = slot(m, M_HIGH)
    if market and high is None:
        return "price_band", "limit_price: no reference price to cap a market order"
    num = slot(m, M_NUM)
    den = slot(m, M_DEN)
    cash_qty = slot(c, C_CASH_QTY)
    if cash_qty is not None:
        worth = cash_qty
        num = den = 1
    else:
        worth = (slot(m, M_REFERENCE) if market or price is None else price) * qty
    cost_min = slot(m, M_COST_MIN)
    if cost_min and worth * num < cost_min * den:
        return "cost_minimum", f"order cost below cost_min {cost_min}"
    if market:
        cap = high if buy else slot(m, M_LOW)
        if price is None or (price > cap if buy else price < cap):
            price = cap
        order.price = price
    elif order_type not in STOP_KINDS:
        if buy:
            if high is not None and price > high:
                return "price_band", f"limit_price {price}: above the band edge {high}"
        else:
            low = slot(m, M_LOW)
            if low is not None and price < low:
                return "price_band", f"limit_price {price}: below the band edge {low}"
    limit = slot(acct, A_MAX_NOTIONAL)
    if limit is not None and worth * num * slot(m, M_DIV) > limit * den:
        return "max_notional", f"order notional above the account limit {limit}"
    if open_orders >= <Py_ssize_t>slot(acct, A_MAX_OPEN):
        return "orders_limit", f"open orders: at the limit of {acct.max_open_orders}"
    if duplicate:
        return "duplicate_cl_ord_id", f"cl_ord_id {c.cl_ord_id!r}: already open"
    if buy:
        if cash_qty is not None:
            hold = cash_qty
        else:
            hold = -(
                -(price * qty * (BPS + slot(acct, A_MAX_BPS)) * slot(m, M_NUM))
                // (slot(m, M_DEN) * BPS)
            )
        i = slot(m, M_QI)
    else:
        hold = qty * slot(m, M_LOT_UNITS)
        i = slot(m, M_BI)
    funds = slot(acct, A_FUNDS)
    now = funds[i + 1]
    if funds[i] - now < hold:
        asset = m.quote if buy else m.base
        return "insufficient_funds", f"{asset}: available below the {hold} needed"
    order.hold = hold
    if take:
        funds[i + 1] = now + hold
    return None


cdef void c_reserve(object risk, Order order) except *:
    m = (<dict>slot(risk, R_MARKETS))[order.symbol]
    cdef Py_ssize_t i = slot(m, M_QI) if order.side == "buy" else slot(m, M_BI)
    cdef list funds = slot((<dict>slot(risk, R_ACCOUNTS))[order.account], A_FUNDS)
    funds[i + 1] = funds[i + 1] + order.hold


cdef void c_release(object risk, Order order) except *:
    cdef long long hold = order.hold
    cdef Py_ssize_t i
    cdef list funds
    if hold:
        m = (<dict>slot(risk, R_MARKETS))[order.symbol]
        i = slot(m, M_QI) if order.side == "buy" else slot(m, M_BI)
        funds = slot((<dict>slot(risk, R_ACCOUNTS))[order.account], A_FUNDS)
        funds[i + 1] = funds[i + 1] - hold
        order.hold = 0


cdef tuple c_fill(object risk, Order taker, Order maker, long long price, long long qty,
                  long long taker_left):
    cdef Order buyer, seller
    cdef list f
    cdef Py_ssize_t qi, bi
    cdef dict accounts = slot(risk, R_ACCOUNTS)
    m = (<dict>slot(risk, R_MARKETS))[taker.symbol]
    tacct = accounts[taker.account]
    macct = accounts[maker.account]
    if taker.side == "buy":
        buyer, bacct, bbps, left = taker, tacct, slot(tacct, A_TAKER_BPS), taker_left
        seller, sacct, sbps = maker, macct, slot(macct, A_MAKER_BPS)
    else:
        buyer, bacct, bbps = maker, macct, slot(macct, A_MAKER_BPS)
        left = maker.shown + maker.hidden
        seller, sacct, sbps = taker, tacct, slot(tacct, A_TAKER_BPS)
    num = slot(m, M_NUM)
    den = slot(m, M_DEN)
    scale = den * BPS
    worth = price * <object>qty
    qi = slot(m, M_QI)
    bi = slot(m, M_BI)
    # Buyer: pays the rounded-up cumulative total; its hold shrinks to what
    # its rest can still cost.
    cost = buyer.cost + worth
    fee = buyer.fee + worth * bbps
    buyer.cost = cost
    buyer.fee = fee
    total = -(-((cost * BPS + fee) * num) // scale)
    paid = total - buyer.paid
    buyer.paid = total
    notional = -(-(cost * num) // den)
    quote = notional - buyer.notional
    buyer.notional = notional
    if buyer.cash_qty:
        hold = buyer.hold - paid
    else:
        rest = buyer.price * left
        worst = -(-(((cost + rest) * BPS + fee + rest * slot(bacct, A_MAX_BPS)) * num) // scale)
        hold = worst - total
    f = slot(bacct, A_FUNDS)
    f[qi] = f[qi] - paid
    f[qi + 1] = f[qi + 1] - (buyer.hold - hold)
    buyer.hold = hold
    units = qty * slot(m, M_LOT_UNITS)
    f[bi] = f[bi] + units
    # Seller: receives the rounded-down cumulative net; its base hold shrinks
    # by what it delivered.
    cost = seller.cost + worth
    fee = seller.fee + worth * sbps
    seller.cost = cost
    seller.fee = fee
    total = ((cost * BPS - fee) * num) // scale
    got = total - seller.paid
    seller.paid = total
    f = slot(sacct, A_FUNDS)
    f[bi] = f[bi] - units
    f[bi + 1] = f[bi + 1] - units
    seller.hold -= units
    f[qi] = f[qi] + got
    cdef list fees = slot(accounts[slot(risk, R_FEE_ACCOUNT)], A_FUNDS)
    fees[qi] = fees[qi] + (paid - got)
    if taker is buyer:
        return quote, paid - quote, quote - got
    return quote, quote - got, paid - quote


# ------------------------------------------------- methods of risk.risk.Risk

def admit(self, c, Order order, Py_ssize_t open_orders, bint duplicate, bint take=False):
    """Risk.admit, compiled (see risk/risk.py)."""
    return c_admit(self, c, order, open_orders, duplicate, take)


def reserve(self, Order order):
    """Risk.reserve, compiled (see risk/risk.py)."""
    c_reserve(self, order)


def release(self, Order order):
    """Risk.release, compiled (see risk/risk.py)."""
    c_release(self, order)


def fill(self, Order taker, Order maker, long long price, long long qty, long long taker_left):
    """Risk.fill, compiled (see risk/risk.py)."""
    return c_fill(self, taker, maker, price, qty, taker_left)
