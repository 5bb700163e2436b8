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

from model.commands import MARKET_KINDS, STOP_KINDS

cdef object BPS = 10_000


cdef object c_admit(object risk, object c, Order order, Py_ssize_t open_orders,
                    bint duplicate, bint take):
    cdef bint buy, market
    cdef Py_ssize_t i
    cdef list funds
    account = c.account
    acct = risk.accounts.get(account)
    if acct is None:
        return "unknown_account", f"account {account!r}: not known"
    if not acct.trading:
        why = "kill switch on" if acct.killed else "trading disabled"
        return "account_disabled", f"account {account!r}: {why}"
    m = risk.markets[c.symbol]
    qty = c.qty
    if qty > m.qty_max:
        return "invalid_arguments", f"order_qty {qty}: above qty_max {m.qty_max}"
    if qty < m.qty_min:
        return "order_minimum", f"order_qty {qty}: below qty_min {m.qty_min}"
    buy = c.side == "buy"
    price = c.price
    order_type = c.order_type
    market = order_type in MARKET_KINDS
    high = m.high
    if market and high is None:
        return "price_band", "limit_price: no reference price to cap a market order"
    num = m.num
    den = m.den
    cash_qty = c.cash_qty
    if cash_qty is not None:
        worth = cash_qty
        num = den = 1
    else:
        worth = (m.reference if market or price is None else price) * qty
    cost_min = m.cost_min
    if cost_min and worth * num < cost_min * den:
        return "cost_minimum", f"order cost below cost_min {cost_min}"
    if market:
        cap = high if buy else m.low
        if price is None or (price > cap if buy else price < cap):
            price = cap
        order.price = price
    elif order_type not in STOP_KINDS:
        if buy:
            if high is not None and price > high:
                return "price_band", f"limit_price {price}: above the band edge {high}"
        else:
            low = m.low
            if low is not None and price < low:
                return "price_band", f"limit_price {price}: below the band edge {low}"
    limit = acct.max_order_notional
    if limit is not None and worth * num * m.div > limit * den:
        return "max_notional", f"order notional above the account limit {limit}"
    if open_orders >= acct.max_open_orders:
        return "orders_limit", f"open orders: at the limit of {acct.max_open_orders}"
    if duplicate:
        return "duplicate_cl_ord_id", f"cl_ord_id {c.cl_ord_id!r}: already open"
    if buy:
        if cash_qty is not None:
            hold = cash_qty
        else:
            hold = -(-(price * qty * (BPS + acct.max_bps) * m.num) // (m.den * BPS))
        i = m.qi
    else:
        hold = qty * m.lot_units
        i = m.bi
    funds = acct.funds
    now = funds[i + 1]
    if funds[i] - now < hold:
        asset = m.quote if buy else m.base
        return "insufficient_funds", f"{asset}: available below the {hold} needed"
    order.hold = hold
    if take:
        funds[i + 1] = now + hold
    return None


cdef void c_reserve(object risk, Order order) except *:
    m = risk.markets[order.symbol]
    cdef Py_ssize_t i = m.qi if order.side == "buy" else m.bi
    cdef list funds = risk.accounts[order.account].funds
    funds[i + 1] = funds[i + 1] + order.hold


cdef void c_release(object risk, Order order) except *:
    cdef long long hold = order.hold
    cdef Py_ssize_t i
    cdef list funds
    if hold:
        m = risk.markets[order.symbol]
        i = m.qi if order.side == "buy" else m.bi
        funds = risk.accounts[order.account].funds
        funds[i + 1] = funds[i + 1] - hold
        order.hold = 0


cdef tuple c_fill(object risk, Order taker, Order maker, long long price, long long qty,
                  long long taker_left):
    cdef Order buyer, seller
    cdef list f
    cdef Py_ssize_t qi, bi
    m = risk.markets[taker.symbol]
    accounts = risk.accounts
    tacct = accounts[taker.account]
    macct = accounts[maker.account]
    if taker.side == "buy":
        buyer, bacct, bbps, left = taker, tacct, tacct.taker_bps, taker_left
        seller, sacct, sbps = maker, macct, macct.maker_bps
    else:
        buyer, bacct, bbps = maker, macct, macct.maker_bps
        left = maker.shown + maker.hidden
        seller, sacct, sbps = taker, tacct, tacct.taker_bps
    num = m.num
    den = m.den
    scale = den * BPS
    worth = price * <object>qty
    qi = m.qi
    bi = m.bi
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
        worst = -(-(((cost + rest) * BPS + fee + rest * bacct.max_bps) * num) // scale)
        hold = worst - total
    f = bacct.funds
    f[qi] = f[qi] - paid
    f[qi + 1] = f[qi + 1] - (buyer.hold - hold)
    buyer.hold = hold
    units = qty * m.lot_units
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
    f = sacct.funds
    f[bi] = f[bi] - units
    f[bi + 1] = f[bi + 1] - units
    seller.hold -= units
    f[qi] = f[qi] + got
    fees = accounts[risk.fee_account].funds
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
