# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=False
"""The compiled build's versions of :class:`risk.risk.Risk`'s per-order steps.

``admit``, ``reserve``, ``release`` and ``fill`` line by line as in
risk/risk.py (the reference: read that first), with the order record typed
(model/_order.pyx) so its quantities are C integers; ``c_reamend`` is
``check_amend`` then ``rehold`` for a resting limit order's new price. Money
is exact: the admission of a limit or market order (no cash size), an
amend's new hold and every fill are computed on 128-bit C integers with
each step checked for overflow (model/_i128.h), and on Python's
unbounded integers, as in the pure build, whenever a step would overflow or
a value is past 64 bits. Either way the result is the same exact integer,
so the cumulative venue-favour rounding of MARKET_RULES section 6 is the
same bit for bit (the property tests compare both builds on long random
flows). The C paths decide only the common outcome (admitted, settled);
anything else (a refusal and its text) is left to the exact path, which
runs from the start and changes nothing before it answers. Balances and
holds (``Account.funds``, an ``array('q')``) are read and written in place
through the pointer the account's record keeps to the array's items
(``_funds``; the record, its rates and limits as C integers, is in
model/_order.pyx), never boxed; a sum past 64 bits is never wrapped
(``_add_at``, ``_fill_c``).

The engine's compiled core calls the ``c_`` functions directly; the ``def``
wrappers replace the methods of :class:`~risk.risk.Risk` in the compiled build.
"""

from model._i128 cimport (
    add128,
    as_ll,
    ceildiv128,
    fits64,
    floordiv128,
    from_i128,
    mul128,
    sub128,
    tokex_i128,
)
from model._order cimport Account as CAccount, Order, TextIndex, text_slot_value
from model._slots cimport slot, slot_ll, slot_none, slot_offset, slot_set

# BUILD_HASH: model.build.source_hash() of the sources this build was made from
# (model/_build_hash.pxd); model.build checks it for every compiled module.
from model._build_hash cimport tokex_build_hash

BUILD_HASH = tokex_build_hash.decode("ascii").partition(":")[2]

from model.commands import (
    MARKET_KINDS as _MARKET_KINDS,
    STOP_KINDS as _STOP_KINDS,
    NewOrder as _NewOrder,
)

# risk.risk imports this module at its end, with Market and Risk defined.
from risk.risk import Market as _Market, Risk as _Risk

# Held in C variables set once here: from Python 3.12 on a module global read
# by name is a dict lookup on every use (engine/_core.pyx says more). Never rebound.
cdef object MARKET_KINDS = _MARKET_KINDS
cdef object STOP_KINDS = _STOP_KINDS
cdef object NewOrder = _NewOrder
cdef object Market = _Market
cdef object Risk = _Risk

cdef object BPS = 10_000
cdef long long C_BPS = 10_000

# Offsets of the slots read on every order (model/_slots.h): the command's
# fields and risk's markets (an account is a typed record: model/_order.pyx).
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
cdef Py_ssize_t M_BAND_BPS = slot_offset(Market, "band_bps")


cdef inline long long *_funds(object acct) except NULL:
    """The account's balances and holds (``Account.funds``, an ``array('q')``) as
    C integers, read and written in place: no boxed int per step. The record
    (model/_order.pyx) keeps the pointer, and a buffer on the array so that
    the array cannot be resized under it."""
    cdef long long *fp = (<CAccount?>acct).fp
    if fp == NULL:
        raise TypeError(f"account {acct.id!r}: has no funds (made without __init__)")
    return fp


cdef int _add_at(object acct, long long *f, Py_ssize_t i, tokex_i128 d) except -1:
    """``acct.funds[i] += d`` in place. A sum past 64 bits is written as the pure
    build writes it, through the array's own item assignment, so it raises the
    same OverflowError there (a broken invariant: balances are at most
    MAX_UNITS and a hold never passes its balance); it never wraps."""
    cdef tokex_i128 r = 0
    if add128(f[i], d, &r) and fits64(r):
        f[i] = <long long>r
    else:
        funds = (<CAccount?>acct).funds_
        funds[i] = funds[i] + from_i128(d)
    return 0


cdef inline bint _worth_ok(object acct, object m, tokex_i128 worth, long long num,
                           long long den) except -1:
    """The checks on an order's worth (price x qty), on C integers: at least the
    market's cost_min and, if the account has one, within its max_order_notional.
    False if either fails or a value is past 64 bits or a step past 128 (the
    exact path then decides)."""
    cdef long long v = 0
    cdef tokex_i128 a = 0, b = 0
    if not slot_ll(m, M_COST_MIN, &v):
        return False
    if v:
        if not mul128(worth, num, &a) or not mul128(v, den, &b) or a < b:
            return False
    limit = (<CAccount?>acct).max_order_notional
    if limit is not None:
        if not as_ll(limit, &v) or not mul128(worth, num, &a) or not mul128(v, den, &b):
            return False
        if not slot_ll(m, M_DIV, &v) or not mul128(a, v, &a) or a > b:
            return False
    return True


cdef int _admit_plain(object c, object acct, object m, Order order, Py_ssize_t open_orders,
                      bint take, bint market, tokex_i128 *need) except -1:
    """A limit or market order's admission on C integers (no cash size): 1 if
    admitted (its hold computed, and taken with ``take``; a market order's
    protection price capped to the band); 2 if every check but the funds
    passed and the funds fall short of ``need`` (a market order's price
    capped, as the exact path leaves it); 0 if the exact path must decide (a
    check failed, or a value is past 64 bits or a step past 128). Changes
    nothing else."""
    # Out-parameters of as_ll and the checked steps: set before any read.
    cdef long long qty = 0, price = 0, v = 0, num = 0, den = 0, lot = 0
    cdef long long bal = 0, now = 0, ref = 0
    cdef tokex_i128 worth = 0, a = 0, b = 0, hold = 0
    cdef Py_ssize_t i
    cdef bint buy
    cdef long long *funds
    cdef str side
    cdef CAccount rec = <CAccount?>acct
    if not rec.trading:
        return 0
    if not slot_ll(c, C_QTY, &qty):
        return 0
    if not slot_ll(m, M_QTY_MAX, &v) or qty > v:
        return 0
    if not slot_ll(m, M_QTY_MIN, &v) or qty < v:
        return 0
    side = slot(c, C_SIDE)
    buy = side == "buy"
    edge = slot(m, M_HIGH) if buy else slot(m, M_LOW)
    given = slot(c, C_PRICE)
    if market:
        # Judged at the reference; trades no further than the band edge.
        if edge is None or not as_ll(edge, &v) or not slot_ll(m, M_REFERENCE, &ref):
            return 0
        if given is None:
            price = v
        else:
            if not as_ll(given, &price):
                return 0
            if price > v if buy else price < v:
                price = v
        worth = <tokex_i128>ref * qty  # |ref|, |qty| < 2**63: the product fits
    else:
        if not as_ll(given, &price):
            return 0
        if edge is not None:
            if not as_ll(edge, &v) or (price > v if buy else price < v):
                return 0
        worth = <tokex_i128>price * qty
    if not slot_ll(m, M_NUM, &num) or not slot_ll(m, M_DEN, &den) or den <= 0:
        return 0
    if not _worth_ok(acct, m, worth, num, den):
        return 0
    if open_orders >= rec.max_open_orders:
        return 0
    if buy:
        a = <tokex_i128>price * qty
        if not mul128(a, C_BPS + <tokex_i128>rec.max_bps, &a):
            return 0
        if not mul128(a, num, &a):
            return 0
        hold = ceildiv128(a, <tokex_i128>den * C_BPS)
        i = slot(m, M_QI)
    else:
        if not slot_ll(m, M_LOT_UNITS, &lot) or not mul128(qty, lot, &hold):
            return 0
        i = slot(m, M_BI)
    funds = _funds(acct)
    bal = funds[i]
    now = funds[i + 1]
    if not fits64(hold) or not fits64(now + hold):
        return 0
    if market:
        order.price = price
    if <tokex_i128>bal - now < hold:
        need[0] = hold
        return 2
    order.hold = <long long>hold
    if take:
        funds[i + 1] = <long long>(now + hold)
    return 1


cdef object c_account_get(object risk, object account):
    """``risk.accounts.get(account)``."""
    if type(account) is not str:
        return None
    return (<TextIndex?>slot(risk, R_ACCOUNTS)).get_c(<str>account)


cdef TextIndex c_accounts(object risk):
    """``risk.accounts``: the compiled build's table (model/_order.pyx)."""
    return <TextIndex?>slot(risk, R_ACCOUNTS)


cdef object c_admit(object risk, object c, Order order, Py_ssize_t open_orders,
                    bint duplicate, bint take):
    # ``c`` is a NewOrder (or its subclass BatchOrder): its slots are read by offset.
    return c_admit_at(
        risk, c, c_account_get(risk, slot(c, C_ACCOUNT)), order, open_orders,
        duplicate, take
    )


cdef object c_admit_at(object risk, object c, object acct, Order order, Py_ssize_t open_orders,
                       bint duplicate, bint take, object m=None):
    """:func:`c_admit` with the command's account already looked up in
    ``risk.accounts`` (``acct``: None if there is none), and its market if the
    caller has it (``m``: ``risk.markets[c.symbol]``, or None to look it up)."""
    cdef bint buy, market
    cdef Py_ssize_t i
    cdef str order_type
    cdef int admitted
    cdef tokex_i128 need = 0
    account = slot(c, C_ACCOUNT)
    if acct is not None:
        order.acct = acct  # the record's account, for its holds and fills from here on
    if acct is not None and not duplicate:
        # The common orders first, on C integers (see _admit_plain).
        order_type = slot(c, C_ORDER_TYPE)
        market = order_type == "market"
        if m is None:
            m = (<dict>slot(risk, R_MARKETS)).get(slot(c, C_SYMBOL))
        if (
            m is not None
            and (market or order_type == "limit" or order_type == "iceberg")
            and slot_none(c, C_CASH_QTY)
        ):
            admitted = _admit_plain(c, acct, m, order, open_orders, take, market, &need)
            if admitted == 1:
                return None
            if admitted == 2:
                # The exact path's refusal, with the hold it would compute.
                asset = m.quote if slot(c, C_SIDE) == "buy" else m.base
                text = f"{asset}: available below the {from_i128(need)} needed"
                return "insufficient_funds", text
    if acct is None:
        return "unknown_account", f"account {account!r}: not known"
    if not (<CAccount?>acct).trading:
        why = "kill switch on" if acct.killed else "trading disabled"
        return "account_disabled", f"account {account!r}: {why}"
    if m is None:
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
    limit = (<CAccount?>acct).max_order_notional
    if limit is not None and worth * num * slot(m, M_DIV) > limit * den:
        return "max_notional", f"order notional above the account limit {limit}"
    if open_orders >= (<CAccount?>acct).max_open_orders:
        return "orders_limit", f"open orders: at the limit of {acct.max_open_orders}"
    if duplicate:
        return "duplicate_cl_ord_id", f"cl_ord_id {c.cl_ord_id!r}: already open"
    if buy:
        if cash_qty is not None:
            hold = cash_qty
        else:
            hold = -(
                -(price * qty * (BPS + (<CAccount?>acct).max_bps) * slot(m, M_NUM))
                // (slot(m, M_DEN) * BPS)
            )
        i = slot(m, M_QI)
    else:
        hold = qty * slot(m, M_LOT_UNITS)
        i = slot(m, M_BI)
    funds = (<CAccount?>acct).funds_
    now = funds[i + 1]
    if funds[i] - now < hold:
        asset = m.quote if buy else m.base
        return "insufficient_funds", f"{asset}: available below the {hold} needed"
    order.hold = hold
    if take:
        funds[i + 1] = now + hold
    return None


cdef int c_reamend(object risk, Order order, long long qty, long long price,
                   long long leaves, bint stop=False) except -1:
    """Risk.check_amend then Risk.rehold for a resting limit order's new price, on C
    integers: 1 if both pass (the hold re-sized), 0 if the exact path must decide
    (a check failed, or a value is past 64 bits or a step past 128). Changes
    nothing unless it returns 1.

    With ``stop``, for a waiting stop's new price (its limit, or a market
    stop's protection price), as check_amend judges a stop: no band check,
    and a market stop's worth taken at the reference, not at the price."""
    cdef long long v = 0, num = 0, den = 0, cost = 0, fee = 0, mbps = 0, held, bal = 0, now = 0
    cdef long long ref = 0
    cdef tokex_i128 worth, a = 0, b = 0, rest, new = 0, more
    cdef Py_ssize_t i
    cdef bint buy = order.side == "buy"
    cdef long long *funds
    m = c_market(risk, order.symbol)
    acct = c_order_account(risk, order)
    # check_amend: size, band (the price changed), cost and notional (the order of
    # the checks is the exact path's concern: here any failure hands over).
    if not slot_ll(m, M_QTY_MAX, &v) or qty > v:
        return 0
    if not slot_ll(m, M_QTY_MIN, &v) or qty < v:
        return 0
    if not slot_ll(m, M_NUM, &num) or not slot_ll(m, M_DEN, &den) or den <= 0:
        return 0
    worth = <tokex_i128>price * qty  # |price|, |qty| < 2**63: the product fits
    if not stop:
        edge = slot(m, M_HIGH) if buy else slot(m, M_LOW)
        if edge is not None:
            if not as_ll(edge, &v) or (price > v if buy else price < v):
                return 0
    elif order.order_type in MARKET_KINDS:
        if not slot_ll(m, M_REFERENCE, &ref):
            return 0
        worth = <tokex_i128>ref * qty  # |ref| < 2**63 too
    if not _worth_ok(acct, m, worth, num, den):
        return 0
    # rehold: Pair.buy_hold for a buy, the base quantity for a sell.
    if buy:
        if not as_ll(order.cost, &cost) or not as_ll(order.fee, &fee):
            return 0
        mbps = (<CAccount?>acct).max_bps
        rest = <tokex_i128>price * leaves
        if not add128(cost, rest, &a) or not mul128(a, C_BPS, &a) or not add128(a, fee, &a):
            return 0
        if not mul128(rest, mbps, &b) or not add128(a, b, &a) or not mul128(a, num, &a):
            return 0
        new = ceildiv128(a, <tokex_i128>den * C_BPS)
        if not mul128(cost, C_BPS, &a) or not add128(a, fee, &a) or not mul128(a, num, &a):
            return 0
        new -= ceildiv128(a, <tokex_i128>den * C_BPS)
        i = slot(m, M_QI)
    else:
        if not slot_ll(m, M_LOT_UNITS, &v) or not mul128(leaves, v, &new):
            return 0
        i = slot(m, M_BI)
    held = order.hold
    more = new - held
    funds = _funds(acct)
    bal = funds[i]
    now = funds[i + 1]
    if more > 0 and <tokex_i128>bal - now < more:
        return 0
    if not fits64(new) or not fits64(now + more):
        return 0
    funds[i + 1] = <long long>(now + more)
    order.hold = <long long>new
    return 1


cdef void c_reserve(object risk, Order order) except *:
    c_reserve_in(risk, c_market(risk, order.symbol), order)


cdef void c_reserve_in(object risk, object m, Order order) except *:
    """``c_reserve`` with the order's market ``m`` already at hand (the engine
    keeps each book's: engine/_core.pyx ``_book_market``)."""
    cdef Py_ssize_t i = slot(m, M_QI) if order.side == "buy" else slot(m, M_BI)
    acct = c_order_account(risk, order)
    _add_at(acct, _funds(acct), i + 1, order.hold)


cdef void c_release(object risk, Order order) except *:
    if order.hold:
        c_release_in(risk, c_market(risk, order.symbol), order)


cdef void c_release_in(object risk, object m, Order order) except *:
    """``c_release`` with the order's market ``m`` already at hand."""
    cdef long long hold = order.hold
    cdef Py_ssize_t i
    if hold:
        i = slot(m, M_QI) if order.side == "buy" else slot(m, M_BI)
        acct = c_order_account(risk, order)
        _add_at(acct, _funds(acct), i + 1, -<tokex_i128>hold)
        order.hold = 0


cdef tuple _fill_c(object m, object tacct, object macct, object fees,
                   Order taker, Order maker, long long price, long long qty,
                   long long taker_left):
    """:func:`c_fill` on C integers, or None (nothing changed) if a value is past
    64 bits or a step past 128: the exact path then settles the fill."""
    cdef Order buyer, seller
    cdef long long num = 0, den = 0, lot = 0, bbps = 0, sbps = 0, mbps = 0, v = 0, left
    cdef tokex_i128 worth, scale, bcost = 0, bfee = 0, btotal, paid, bnotional, quote, hold
    cdef tokex_i128 rest, a = 0, b = 0, units = 0, scost = 0, sfee = 0, stotal, got
    cdef tokex_i128 old_hold, seller_hold
    cdef tokex_i128 b_quote, b_quote_held, b_base, s_base, s_base_held, s_quote, f_quote
    cdef long long *bf
    cdef long long *sf
    cdef long long *ff
    cdef Py_ssize_t qi, bi
    if taker.side == "buy":
        buyer, bacct, left = taker, tacct, taker_left
        seller, sacct = maker, macct
        bbps = (<CAccount?>tacct).taker_bps
        sbps = (<CAccount?>macct).maker_bps
    else:
        buyer, bacct, left = maker, macct, maker.shown + maker.hidden
        seller, sacct = taker, tacct
        bbps = (<CAccount?>macct).maker_bps
        sbps = (<CAccount?>tacct).taker_bps
    if not slot_ll(m, M_NUM, &num) or not slot_ll(m, M_DEN, &den) or den <= 0:
        return None
    if not slot_ll(m, M_LOT_UNITS, &lot):
        return None
    mbps = (<CAccount?>bacct).max_bps
    scale = <tokex_i128>den * C_BPS
    worth = <tokex_i128>price * qty  # |price|, |qty| < 2**63: the product fits
    # Buyer: the rounded-up cumulative total, and the hold of what its rest can still cost.
    if not as_ll(buyer.cost, &v) or not add128(v, worth, &bcost):
        return None
    if not as_ll(buyer.fee, &v) or not mul128(worth, bbps, &a) or not add128(v, a, &bfee):
        return None
    if not mul128(bcost, C_BPS, &a) or not add128(a, bfee, &a) or not mul128(a, num, &a):
        return None
    btotal = ceildiv128(a, scale)
    if not mul128(bcost, num, &a):
        return None
    bnotional = ceildiv128(a, den)
    # The order's 64-bit fields must hold their new values (the exact path
    # then raises OverflowError on them, as it should: a bug to surface).
    if not fits64(btotal) or not fits64(bnotional):
        return None
    paid = btotal - buyer.paid
    quote = bnotional - buyer.notional
    old_hold = buyer.hold
    if buyer.cash_qty:
        hold = old_hold - paid
    else:
        rest = <tokex_i128>buyer.price * left
        if not add128(bcost, rest, &a) or not mul128(a, C_BPS, &a) or not add128(a, bfee, &a):
            return None
        if not mul128(rest, mbps, &b) or not add128(a, b, &a) or not mul128(a, num, &a):
            return None
        hold = ceildiv128(a, scale) - btotal
    if not mul128(qty, lot, &units):
        return None
    # Seller: the rounded-down cumulative net.
    if not as_ll(seller.cost, &v) or not add128(v, worth, &scost):
        return None
    if not as_ll(seller.fee, &v) or not mul128(worth, sbps, &a) or not add128(v, a, &sfee):
        return None
    if not mul128(scost, C_BPS, &a) or not sub128(a, sfee, &a) or not mul128(a, num, &a):
        return None
    stotal = floordiv128(a, scale)
    if not fits64(stotal) or not fits64(units) or not fits64(hold):
        return None
    got = stotal - seller.paid
    seller_hold = seller.hold - units
    if not fits64(seller_hold):
        return None
    # The seven balances and holds the fill moves, each checked to fit 64 bits
    # before anything is written (buyer, seller and fee account are three
    # accounts: no trade between two orders of one account ever prints, and the
    # fee account places no orders). None of these steps can pass 128 bits:
    # every term is within 66. If one would not fit (balances are at most
    # MAX_UNITS, so only a broken invariant gets here), the exact path settles
    # the fill as the pure build does and raises where it raises.
    qi = slot(m, M_QI)
    bi = slot(m, M_BI)
    if bacct is sacct or fees is bacct or fees is sacct or qi == bi:
        return None
    bf = _funds(bacct)
    sf = _funds(sacct)
    ff = _funds(fees)
    b_quote = bf[qi] - paid
    b_quote_held = bf[qi + 1] + (hold - old_hold)
    b_base = bf[bi] + units
    s_base = sf[bi] - units
    s_base_held = sf[bi + 1] - units
    s_quote = sf[qi] + got
    f_quote = ff[qi] + (paid - got)
    if not (fits64(b_quote) and fits64(b_quote_held) and fits64(b_base) and fits64(s_base)
            and fits64(s_base_held) and fits64(s_quote) and fits64(f_quote)):
        return None
    buyer.cost = from_i128(bcost)
    buyer.fee = from_i128(bfee)
    buyer.paid = <long long>btotal
    buyer.notional = <long long>bnotional
    buyer.hold = <long long>hold
    seller.cost = from_i128(scost)
    seller.fee = from_i128(sfee)
    seller.paid = <long long>stotal
    seller.hold = <long long>seller_hold
    bf[qi] = <long long>b_quote
    bf[qi + 1] = <long long>b_quote_held
    bf[bi] = <long long>b_base
    sf[bi] = <long long>s_base
    sf[bi + 1] = <long long>s_base_held
    sf[qi] = <long long>s_quote
    ff[qi] = <long long>f_quote
    if taker is buyer:
        return from_i128(quote), from_i128(paid - quote), from_i128(quote - got)
    return from_i128(quote), from_i128(quote - got), from_i128(paid - quote)


cdef object c_market(object risk, str symbol):
    """risk.markets[symbol]."""
    return (<dict>slot(risk, R_MARKETS))[symbol]


cdef int c_set_reference(object m, object price) except -1:
    """``Risk.set_reference`` for the market ``m`` (already looked up): the same
    edges, by the same arithmetic on Python's integers (``ceil_div`` is
    ``-(-a // b)``)."""
    slot_set(m, M_REFERENCE, price)
    if price <= 0:
        slot_set(m, M_LOW, None)
        slot_set(m, M_HIGH, None)
        return 0
    bps = slot(m, M_BAND_BPS)
    slot_set(m, M_LOW, -(-(price * (BPS - bps)) // BPS))
    slot_set(m, M_HIGH, price * (BPS + bps) // BPS)
    return 0


cdef object c_account(object risk, str account):
    """``risk.accounts[account]``."""
    cdef TextIndex accounts = c_accounts(risk)
    cdef Py_ssize_t at = accounts.find_slot(account)
    if at < 0:
        raise KeyError(account)
    return text_slot_value(accounts, at)


cdef object c_order_account(object risk, Order order):
    """``risk.accounts[order.account]``, kept in the record after the first look-up.

    A new order's account is found once, by the command's text, when it is
    admitted (c_admit_at keeps it in the record); its holds, fills, amends
    and cancel then reach the account through the record, which is already
    being read, instead of a look-up in the table of accounts (a slot and
    the entry's value: two cache misses on a large table, for every cancel
    and every maker's fill). A record made elsewhere (a snapshot's, the pure
    paths') looks its account up the first time. Accounts are made with risk
    and never replaced (risk/risk.py), so the kept one stays the account."""
    acct = order.acct
    if acct is None:
        acct = c_account(risk, order.account)
        order.acct = acct
    return acct


cdef object c_fee_account(object risk):
    """The venue's fee account, which every fill pays."""
    return c_account(risk, slot(risk, R_FEE_ACCOUNT))


cdef tuple c_fill(object risk, Order taker, Order maker, long long price, long long qty,
                  long long taker_left):
    return c_fill_at(
        c_market(risk, taker.symbol),
        c_order_account(risk, taker),
        c_fee_account(risk),
        c_order_account(risk, maker),
        taker, maker, price, qty, taker_left,
    )


cdef tuple c_fill_at(object m, object tacct, object fees, object macct, Order taker,
                     Order maker, long long price, long long qty, long long taker_left):
    """Risk.fill with the taker's market and account, the fee account and the maker's
    account already looked up: the matcher looks up the first three once per
    incoming order rather than once per fill."""
    cdef Order buyer, seller
    cdef Py_ssize_t qi, bi
    r = _fill_c(m, tacct, macct, fees, taker, maker, price, qty, taker_left)
    if r is not None:
        return r
    if taker.side == "buy":
        buyer, bacct, bbps, left = taker, tacct, (<CAccount?>tacct).taker_bps, taker_left
        seller, sacct, sbps = maker, macct, (<CAccount?>macct).maker_bps
    else:
        buyer, bacct, bbps = maker, macct, (<CAccount?>macct).maker_bps
        left = maker.shown + maker.hidden
        seller, sacct, sbps = taker, tacct, (<CAccount?>tacct).taker_bps
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
        worst = -(-(((cost + rest) * BPS + fee + rest * (<CAccount?>bacct).max_bps) * num) // scale)
        hold = worst - total
    f = (<CAccount?>bacct).funds_
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
    f = (<CAccount?>sacct).funds_
    f[bi] = f[bi] - units
    f[bi + 1] = f[bi + 1] - units
    seller.hold -= units
    f[qi] = f[qi] + got
    f = (<CAccount?>fees).funds_
    f[qi] = f[qi] + (paid - got)
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
