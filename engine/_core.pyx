# cython: language_level=3, boundscheck=False, wraparound=False
"""The compiled build's hot paths of the engine: new orders, cancels, amends, matching.

Each function here stands in for the method of the same name in the pure
build and follows it step by step: ``process`` for :meth:`Engine.process`
(engine/engine.py, with its plain GTC limit fast path, and here also the
market and limit IOC orders of regular hours), ``_on_cancel``,
``_on_amend`` (a resting limit order's new price) and ``_match`` for the
methods of those names (engine/engine.py, engine/matching.py). Read those
first: the comments there explain the steps. The state is the pure build's
(books, levels, heaps, deques, the order indexes); what changes is that the
order record is a typed extension class (model/_order.pyx) whose quantities
are C integers, the risk steps are C functions on exact 128-bit arithmetic
(risk/_fast.pyx), the engine's, books' and commands' slots are read by
offset (model/_slots.h), and locals are C integers. A path here either
completes or, before it has changed anything, hands the command to the pure
build's method; every other command handler, and everything rare (stops,
auctions, corporate actions, reference windows), runs the pure build's code
on the same state.
"""

from heapq import heapify as _heapify, heappop as _heappop, heappush as _heappush

from cpython.set cimport PySet_Contains, PySet_GET_SIZE
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from cpython.long cimport PyLong_FromLongLong
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF
from model._i128 cimport add128, as_ll, fits64, from_i128, tokex_i128
from model._order cimport (
    Level,
    LevelIndex,
    Order,
    OrderIndex,
    TextIndex,
    level_at,
    level_popleft,
    level_push,
    text_slot_key,
    text_slot_pos,
    text_slot_value,
)
from model._slots cimport (
    shape,
    shape_init,
    shape_new,
    slot,
    slot_ll,
    slot_none,
    slot_offset,
    slot_set,
)
from risk._fast cimport (
    c_accounts,
    c_admit_at,
    c_fee_account,
    c_fill_at,
    c_order_account,
    c_reamend,
    c_release_in,
    c_reserve_in,
    c_set_reference,
)

# BUILD_HASH: model.build.source_hash() of the sources this build was made from
# (model/_build_hash.pxd); model.build checks it for every compiled module.
from model._build_hash cimport tokex_build_hash

BUILD_HASH = tokex_build_hash.decode("ascii").partition(":")[2]

# ``a == b`` for two words of the commands' and orders' vocabulary ("limit",
# "buy", "regular"...), inline: identity first (the words are mostly interned),
# then length, kind and bytes. Cython's own str comparison is a function the C
# compiler stopped inlining once the module had many call sites, which cost
# peer-flow about 60 instructions a command. Anything but two exact str
# objects (None, a subclass) takes Python's comparison.
cdef extern from *:
    """
    static inline __attribute__((always_inline)) int tokex_same_str(PyObject *a, PyObject *b) {
        Py_ssize_t n;
        if (a == b) return 1;
        if (!PyUnicode_CheckExact(a) || !PyUnicode_CheckExact(b))
            return PyObject_RichCompareBool(a, b, Py_EQ);
        n = PyUnicode_GET_LENGTH(a);
        if (n != PyUnicode_GET_LENGTH(b) || PyUnicode_KIND(a) != PyUnicode_KIND(b)) return 0;
        return memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)n * PyUnicode_KIND(a)) == 0;
    }
    """
    bint _is "tokex_same_str"(object a, object b) except -1

# The timers' scan (_next_due) and the band-edge watch (_check_edge_c) read
# slots without taking a reference (``tokex_at``: the slot's value, NULL if
# it was never set) and instants as C integers. An instant is a time in ns
# since the epoch, about 1.7e18: past 2**60, so three 30-bit digits on 3.11
# (one tag and three digits from 3.12 on), where tokex_ll's in-place reads
# stop and PyLong_AsLongLongAndOverflow is called (about 70 instructions).
# ``tokex_instant`` reads a positive three-digit int below 2**63 in place and
# leaves every other value to tokex_ll: the same answer, 1 and the value if
# it is an exact int that fits a long long, else 0.
cdef extern from *:
    """
    static inline PyObject *tokex_at(PyObject *o, Py_ssize_t off) {
        return *(PyObject **)((char *)o + off);
    }
    static inline int tokex_instant(PyObject *o, long long *out) {
    #if PyLong_SHIFT == 30
        if (PyLong_CheckExact(o)) {
            const digit *d = NULL;
    #if PY_VERSION_HEX >= 0x030C0000
            if (((PyLongObject *)o)->long_value.lv_tag == ((uintptr_t)3 << _PyLong_NON_SIZE_BITS))
                d = ((PyLongObject *)o)->long_value.ob_digit;
    #else
            if (Py_SIZE(o) == 3)
                d = ((PyLongObject *)o)->ob_digit;
    #endif
            if (d != NULL && d[2] < ((digit)1 << 3)) {  /* 3 + 60 bits: below 2**63 */
                *out = (long long)d[0] | ((long long)d[1] << 30) | ((long long)d[2] << 60);
                return 1;
            }
        }
    #endif
        return tokex_ll(o, out);
    }
    """
    PyObject *_at "tokex_at"(PyObject *o, Py_ssize_t off)
    bint _instant "tokex_instant"(PyObject *o, long long *out)

from libc.limits cimport LLONG_MIN
from libc.stdlib cimport qsort

# A level's price and live lots, for the auction indication (_lots_c, _uncross_c).
ctypedef struct PriceLots:
    long long price
    tokex_i128 lots

from engine.auction import Uncross as _Uncross, uncross_price as _uncross_price
from engine.book import (
    COMPACT_SLACK as _COMPACT_SLACK,
    BookSide as _BookSide,
    OrderBook as _OrderBook,
)
from engine.matching import NO_LIMIT as _NO_LIMIT, Matcher as _Matcher
from engine.stops import StopBook as _StopBook
from engine.events import (
    IcebergRefilled as _IcebergRefilled,
    OrderAccepted as _OrderAccepted,
    OrderAmended as _OrderAmended,
    OrderCancelled as _OrderCancelled,
    OrderExpired as _OrderExpired,
    OrderRejected as _OrderRejected,
    OrderTriggered as _OrderTriggered,
    ReferencePriceSet as _ReferencePriceSet,
    TradeExecuted as _TradeExecuted,
)
from engine.reference import WINDOW_NS as _WINDOW_NS, ReferenceWindow as _ReferenceWindow
from model.commands import (
    STOP_KINDS as _STOP_KINDS,
    AmendOrder as _AmendOrder,
    ReplaceOrder as _ReplaceOrder,
    CancelOrder as _CancelOrder,
    CommandError as _CommandError,
    NewOrder as _NewOrder,
    RunTimers as _RunTimers,
)
from risk.risk import Market as _Market, Risk as _Risk

# The classes, constants and functions the paths below use, held in C
# variables set once here. A module global read by name is a dict lookup on
# every use from Python 3.12 on (Cython caches it against the module dict's
# version tag only before 3.12); a C variable is one load. None of these is
# ever rebound.
cdef object heapify = _heapify
cdef object heappop = _heappop
cdef object heappush = _heappush
cdef object uncross_price = _uncross_price
cdef object BookSide = _BookSide
cdef object OrderBook = _OrderBook
cdef object StopBook = _StopBook
cdef object Matcher = _Matcher
cdef object IcebergRefilled = _IcebergRefilled
cdef object OrderAccepted = _OrderAccepted
cdef object OrderAmended = _OrderAmended
cdef object OrderCancelled = _OrderCancelled
cdef object OrderExpired = _OrderExpired
cdef object OrderRejected = _OrderRejected
cdef object OrderTriggered = _OrderTriggered
cdef object TradeExecuted = _TradeExecuted
cdef object ReferencePriceSet = _ReferencePriceSet
cdef object ReferenceWindow = _ReferenceWindow
cdef object WINDOW_NS = _WINDOW_NS
cdef object STOP_KINDS = _STOP_KINDS
cdef object AmendOrder = _AmendOrder
cdef object ReplaceOrder = _ReplaceOrder
cdef object CancelOrder = _CancelOrder
cdef object CommandError = _CommandError
cdef object NewOrder = _NewOrder
cdef object Market = _Market


cdef long long COMPACT_SLACK = _COMPACT_SLACK

# The events the compiled paths make most, built in place (model/_slots.h,
# tokex_shape_new) instead of by calling their class: each helper takes every
# field in the class's order and gives the same object the call would. If
# msgspec ever lays a class out otherwise, its shape's type is NULL and the
# helper calls the class. tests/unit/engine/test_events_fast.py holds both.
cdef shape ACCEPTED, CANCELLED, REJECTED, TRADE, AMENDED
shape_init(&ACCEPTED, OrderAccepted)
shape_init(&CANCELLED, OrderCancelled)
shape_init(&REJECTED, OrderRejected)
shape_init(&TRADE, TradeExecuted)
shape_init(&AMENDED, OrderAmended)
# Which classes are built in place (for the tests).
FAST_EVENTS = frozenset(
    cls.__name__
    for cls, fast in (
        (OrderAccepted, ACCEPTED.type != NULL),
        (OrderCancelled, CANCELLED.type != NULL),
        (OrderRejected, REJECTED.type != NULL),
        (TradeExecuted, TRADE.type != NULL),
        (OrderAmended, AMENDED.type != NULL),
    )
    if fast
)


cdef inline object _accepted(seq, ts, order_id, order, replaces):
    if ACCEPTED.type == NULL:
        return OrderAccepted(seq, ts, order_id, order, replaces)
    return shape_new(&ACCEPTED, <PyObject *>seq, <PyObject *>ts, <PyObject *>order_id,
                     <PyObject *>order, <PyObject *>replaces)


cdef inline object _cancelled(seq, ts, order_id, account, symbol, leaves, reason):
    if CANCELLED.type == NULL:
        return OrderCancelled(seq, ts, order_id, account, symbol, leaves, reason)
    return shape_new(&CANCELLED, <PyObject *>seq, <PyObject *>ts, <PyObject *>order_id,
                     <PyObject *>account, <PyObject *>symbol, <PyObject *>leaves,
                     <PyObject *>reason)


cdef inline object _rejected(seq, ts, account, reason, text, order_id, cl_ord_id):
    if REJECTED.type == NULL:
        return OrderRejected(seq, ts, account, reason, text, order_id, cl_ord_id)
    return shape_new(&REJECTED, <PyObject *>seq, <PyObject *>ts, <PyObject *>account,
                     <PyObject *>reason, <PyObject *>text, <PyObject *>order_id,
                     <PyObject *>cl_ord_id)


cdef inline object _trade(seq, ts, trade_id, symbol, price, qty, taker_side, taker_order_id,
                          taker_account, taker_leaves, maker_order_id, maker_account,
                          maker_leaves, quote_qty, taker_fee, maker_fee):
    if TRADE.type == NULL:
        return TradeExecuted(
            seq, ts, trade_id, symbol, price, qty, taker_side, taker_order_id, taker_account,
            taker_leaves, maker_order_id, maker_account, maker_leaves, quote_qty, taker_fee,
            maker_fee,
        )
    return shape_new(&TRADE, <PyObject *>seq, <PyObject *>ts, <PyObject *>trade_id,
                     <PyObject *>symbol, <PyObject *>price, <PyObject *>qty,
                     <PyObject *>taker_side, <PyObject *>taker_order_id,
                     <PyObject *>taker_account, <PyObject *>taker_leaves,
                     <PyObject *>maker_order_id, <PyObject *>maker_account,
                     <PyObject *>maker_leaves, <PyObject *>quote_qty, <PyObject *>taker_fee,
                     <PyObject *>maker_fee)


cdef inline object _amended(seq, ts, order_id, account, symbol, qty, price, leaves, display_qty,
                            trigger_price, priority_kept):
    if AMENDED.type == NULL:
        return OrderAmended(
            seq, ts, order_id, account, symbol, qty, price, leaves, display_qty, trigger_price,
            priority_kept,
        )
    return shape_new(&AMENDED, <PyObject *>seq, <PyObject *>ts, <PyObject *>order_id,
                     <PyObject *>account, <PyObject *>symbol, <PyObject *>qty,
                     <PyObject *>price, <PyObject *>leaves, <PyObject *>display_qty,
                     <PyObject *>trigger_price, <PyObject *>priority_kept)


def _shape_fast(cls):
    """Whether ``cls`` is of the shape built in place (model/_slots.h): for the tests."""
    cdef shape probe
    if shape_init(&probe, cls) != 1:
        return False
    Py_DECREF(<object>probe.type)  # the reference shape_init took
    return True


def _build_event(cls, tuple f):
    """The helper's object for ``cls(*f)`` (every field given): for the tests."""
    if cls is OrderAccepted:
        return _accepted(f[0], f[1], f[2], f[3], f[4])
    if cls is OrderCancelled:
        return _cancelled(f[0], f[1], f[2], f[3], f[4], f[5], f[6])
    if cls is OrderRejected:
        return _rejected(f[0], f[1], f[2], f[3], f[4], f[5], f[6])
    if cls is TradeExecuted:
        return _trade(f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10], f[11],
                      f[12], f[13], f[14], f[15])
    if cls is OrderAmended:
        return _amended(f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10])
    raise TypeError(f"{cls!r}: not built in place")

cdef long long NO_LIMIT = _NO_LIMIT
cdef int PRIORITY_SHIFT = 32

# Offsets of the slots read on every command (model/_slots.h): the command's
# fields (read once each), and the book's sides and levels.
cdef Py_ssize_t C_SEQ = slot_offset(NewOrder, "seq")
cdef Py_ssize_t C_TS = slot_offset(NewOrder, "ts")
cdef Py_ssize_t C_ACCOUNT = slot_offset(NewOrder, "account")
cdef Py_ssize_t C_SYMBOL = slot_offset(NewOrder, "symbol")
cdef Py_ssize_t C_SIDE = slot_offset(NewOrder, "side")
cdef Py_ssize_t C_QTY = slot_offset(NewOrder, "qty")
cdef Py_ssize_t C_PRICE = slot_offset(NewOrder, "price")
cdef Py_ssize_t C_ORDER_TYPE = slot_offset(NewOrder, "order_type")
cdef Py_ssize_t C_TIF = slot_offset(NewOrder, "tif")
cdef Py_ssize_t C_POST_ONLY = slot_offset(NewOrder, "post_only")
cdef Py_ssize_t C_CL_ORD_ID = slot_offset(NewOrder, "cl_ord_id")
cdef Py_ssize_t C_USERREF = slot_offset(NewOrder, "userref")
cdef Py_ssize_t C_STP = slot_offset(NewOrder, "stp")
cdef Py_ssize_t C_EXPIRE_TS = slot_offset(NewOrder, "expire_ts")
cdef Py_ssize_t C_DISPLAY_QTY = slot_offset(NewOrder, "display_qty")
cdef Py_ssize_t C_TRIGGER_PRICE = slot_offset(NewOrder, "trigger_price")
cdef Py_ssize_t C_CASH_QTY = slot_offset(NewOrder, "cash_qty")
cdef Py_ssize_t X_SEQ = slot_offset(CancelOrder, "seq")
cdef Py_ssize_t X_TS = slot_offset(CancelOrder, "ts")
cdef Py_ssize_t X_ACCOUNT = slot_offset(CancelOrder, "account")
cdef Py_ssize_t X_ORDER_ID = slot_offset(CancelOrder, "order_id")
cdef Py_ssize_t A_SEQ = slot_offset(AmendOrder, "seq")
cdef Py_ssize_t A_TS = slot_offset(AmendOrder, "ts")
cdef Py_ssize_t A_ACCOUNT = slot_offset(AmendOrder, "account")
cdef Py_ssize_t A_ORDER_ID = slot_offset(AmendOrder, "order_id")
cdef Py_ssize_t A_QTY = slot_offset(AmendOrder, "qty")
cdef Py_ssize_t A_PRICE = slot_offset(AmendOrder, "price")
cdef Py_ssize_t A_DISPLAY_QTY = slot_offset(AmendOrder, "display_qty")
cdef Py_ssize_t A_TRIGGER_PRICE = slot_offset(AmendOrder, "trigger_price")
cdef Py_ssize_t A_POST_ONLY = slot_offset(AmendOrder, "post_only")
cdef Py_ssize_t RP_SEQ = slot_offset(ReplaceOrder, "seq")
cdef Py_ssize_t RP_TS = slot_offset(ReplaceOrder, "ts")
cdef Py_ssize_t RP_ACCOUNT = slot_offset(ReplaceOrder, "account")
cdef Py_ssize_t RP_ORDER_ID = slot_offset(ReplaceOrder, "order_id")
cdef Py_ssize_t RP_CL_ORD_ID = slot_offset(ReplaceOrder, "cl_ord_id")
cdef Py_ssize_t RP_QTY = slot_offset(ReplaceOrder, "qty")
cdef Py_ssize_t RP_PRICE = slot_offset(ReplaceOrder, "price")
cdef Py_ssize_t RP_DISPLAY_QTY = slot_offset(ReplaceOrder, "display_qty")
cdef Py_ssize_t RP_TRIGGER_PRICE = slot_offset(ReplaceOrder, "trigger_price")
cdef Py_ssize_t RP_POST_ONLY = slot_offset(ReplaceOrder, "post_only")
cdef Py_ssize_t RP_NEW_CL_ORD_ID = slot_offset(ReplaceOrder, "new_cl_ord_id")
cdef Py_ssize_t RP_USERREF = slot_offset(ReplaceOrder, "userref")
cdef Py_ssize_t B_FAST = slot_offset(OrderBook, "fast")
cdef Py_ssize_t B_OPEN = slot_offset(OrderBook, "open")
cdef Py_ssize_t B_LO = slot_offset(OrderBook, "lo")
cdef Py_ssize_t B_HI = slot_offset(OrderBook, "hi")
cdef Py_ssize_t B_BIDS = slot_offset(OrderBook, "bids")
cdef Py_ssize_t B_ASKS = slot_offset(OrderBook, "asks")
cdef Py_ssize_t B_WINDOW = slot_offset(OrderBook, "window")
cdef Py_ssize_t B_SYMBOL = slot_offset(OrderBook, "symbol")
cdef Py_ssize_t B_LAST_PRICE = slot_offset(OrderBook, "last_price")
cdef Py_ssize_t B_STOPS = slot_offset(OrderBook, "stops")
cdef Py_ssize_t T_RISING = slot_offset(StopBook, "rising")
cdef Py_ssize_t T_FALLING = slot_offset(StopBook, "falling")
cdef Py_ssize_t V_ORDER = slot_offset(OrderAccepted, "order")
cdef Py_ssize_t TE_SYMBOL = slot_offset(TradeExecuted, "symbol")
cdef Py_ssize_t OC_SYMBOL = slot_offset(OrderCancelled, "symbol")
cdef Py_ssize_t OA_SYMBOL = slot_offset(OrderAmended, "symbol")
cdef Py_ssize_t S_HEAP = slot_offset(BookSide, "heap")
cdef Py_ssize_t S_LEVELS = slot_offset(BookSide, "levels")
cdef Py_ssize_t S_STALE = slot_offset(BookSide, "stale")
cdef Py_ssize_t S_SIGN = slot_offset(BookSide, "sign")
# The engine's own state (engine/matching.py's Matcher; engine.matching imports
# this module once Matcher is defined). ``hooks`` and the handler table are
# slots of subclasses: bind() reads them once Engine is defined.
cdef Py_ssize_t E_BOOKS = slot_offset(Matcher, "books")
cdef Py_ssize_t E_BY_ACCOUNT = slot_offset(Matcher, "by_account")
cdef Py_ssize_t E_BY_ACCOUNT_AT = slot_offset(Matcher, "_by_account_at")
cdef Py_ssize_t E_BY_ACCOUNT_FOR = slot_offset(Matcher, "_by_account_for")
cdef Py_ssize_t E_BY_CLID = slot_offset(Matcher, "by_clid")
cdef Py_ssize_t E_LAST_SEQ = slot_offset(Matcher, "last_seq")
cdef Py_ssize_t E_NEXT_PRIORITY = slot_offset(Matcher, "next_priority")
cdef Py_ssize_t E_NEXT_TRADE_ID = slot_offset(Matcher, "next_trade_id")
cdef Py_ssize_t E_ORDERS = slot_offset(Matcher, "orders")
cdef Py_ssize_t E_EXPIRIES = slot_offset(Matcher, "expiries")
cdef Py_ssize_t E_RISK = slot_offset(Matcher, "risk")
cdef Py_ssize_t E_HOOKS = -1
cdef Py_ssize_t E_HANDLERS = -1
cdef Py_ssize_t E_SESSIONS = -1
cdef Py_ssize_t E_CALLS = -1
cdef Py_ssize_t P_PHASE = -1
cdef Py_ssize_t P_BOOK = -1
cdef Py_ssize_t P_EDGE_SINCE = -1
cdef Py_ssize_t P_UNTIL = -1
cdef Py_ssize_t P_NEXT_CHANGE = -1
cdef Py_ssize_t B_REFERENCE_TS = slot_offset(OrderBook, "reference_ts")
cdef Py_ssize_t B_MARKET = slot_offset(OrderBook, "_market")
cdef Py_ssize_t B_MARKETS = slot_offset(OrderBook, "_markets")
cdef Py_ssize_t R_MARKETS = slot_offset(_Risk, "markets")
cdef object EDGE_NS = None  # engine.phases.EDGE_NS and STALE_NS (read by bind)
cdef object STALE_NS = None
cdef Py_ssize_t E_ARMED = -1  # Operations.armed, CorporateActions.actions
cdef Py_ssize_t E_SESSION_LIST = -1  # Phases._session_list
cdef Py_ssize_t E_ACTIONS = -1
cdef object PURE_ON_TIMERS = None  # the pure build's CorporateActions._on_timers
cdef Py_ssize_t R_SEQ = slot_offset(_RunTimers, "seq")
cdef Py_ssize_t R_TS = slot_offset(_RunTimers, "ts")
cdef Py_ssize_t M_LOW = slot_offset(Market, "low")
cdef Py_ssize_t M_HIGH = slot_offset(Market, "high")
cdef Py_ssize_t M_REFERENCE = slot_offset(Market, "reference")
cdef Py_ssize_t W_PRINTS = slot_offset(ReferenceWindow, "prints")
cdef Py_ssize_t W_NOTIONAL = slot_offset(ReferenceWindow, "notional")
cdef Py_ssize_t W_LOTS = slot_offset(ReferenceWindow, "lots")
cdef object PURE_ON_AMEND = None
cdef object PURE_INDICATE = None
cdef object NO_REFERENCE = None  # engine.engine._NO_REFERENCE, the refusal's text
cdef object REJECT = None  # engine.engine._reject
cdef object PURE_PHASE_REFUSAL = None
# The offset of each event class's ``symbol`` field (engine.events.event_symbol
# reads it by name), for _after; OrderAccepted's symbol is its command's.
cdef dict EVENT_SYMBOL = {}


def bind(cls, no_reference, reject):
    """Read the offsets of ``cls``'s (engine.engine.Engine's) own slots; called once,
    before its methods are replaced by this module's.

    :func:`process` runs only on instances of ``cls`` (or its subclasses).
    """
    global E_HOOKS, E_HANDLERS, E_SESSIONS, E_CALLS, P_PHASE, P_BOOK, P_EDGE_SINCE
    global PURE_ON_AMEND, PURE_INDICATE, PURE_PHASE_REFUSAL
    global NO_REFERENCE, REJECT, P_UNTIL, P_NEXT_CHANGE, EDGE_NS, STALE_NS
    global E_ARMED, E_ACTIONS, PURE_ON_TIMERS, E_SESSION_LIST
    from engine import events, phases
    from engine.phases import Session

    E_HOOKS = slot_offset(cls, "hooks")
    E_SESSIONS = slot_offset(cls, "sessions")
    E_CALLS = slot_offset(cls, "calls")
    P_PHASE = slot_offset(Session, "phase")
    P_BOOK = slot_offset(Session, "book")
    P_EDGE_SINCE = slot_offset(Session, "edge_since")
    P_UNTIL = slot_offset(Session, "until")
    P_NEXT_CHANGE = slot_offset(Session, "next_change")
    EDGE_NS = phases.EDGE_NS
    STALE_NS = phases.STALE_NS
    E_ARMED = slot_offset(cls, "armed")
    E_SESSION_LIST = slot_offset(cls, "_session_list")
    E_ACTIONS = slot_offset(cls, "actions")
    PURE_ON_TIMERS = cls._on_timers
    E_HANDLERS = slot_offset(cls, "_handlers")
    PURE_ON_AMEND = cls._on_amend
    PURE_INDICATE = cls._indicate
    PURE_PHASE_REFUSAL = cls._phase_refusal
    NO_REFERENCE = no_reference
    REJECT = reject
    for kind in events.Event.__args__:
        if kind is not OrderAccepted and "symbol" in kind.__struct_fields__:
            EVENT_SYMBOL[kind] = slot_offset(kind, "symbol")


cdef inline Order _new_limit(long long seq, str account, str symbol, str side,
                             long long price, long long qty, str stp, object clid,
                             object userref):
    """The record of a plain GTC limit order (``Order(seq, account, ...)`` in engine.py)."""
    cdef Order o = Order.__new__(Order)
    o.order_id = seq
    o.account = account
    o.symbol = symbol
    o.side = side
    o.price = price
    o.qty = qty
    o.shown = qty
    o.stp = stp
    o.cl_ord_id = clid
    o.userref = userref
    o.priority = 0
    o.order_type = "limit"
    o.tif = "gtc"
    o.cost = 0
    o.fee = 0
    return o


cdef inline object _shifted(object seq):
    """``seq << PRIORITY_SHIFT``, on C integers while it fits 63 bits."""
    cdef long long s = 0
    if as_ll(seq, &s) and 0 <= s < (<long long>1 << (63 - PRIORITY_SHIFT)):
        return PyLong_FromLongLong(s << PRIORITY_SHIFT)
    return seq << PRIORITY_SHIFT


cdef inline object _stamp(self, object seq):
    """Matcher.stamp: the next queue priority stamp in command ``seq``."""
    cdef long long s = 0, n = 0
    last = slot(self, E_NEXT_PRIORITY)
    # On C integers while seq << PRIORITY_SHIFT and the next stamp fit 63 bits.
    if (
        as_ll(seq, &s) and 0 <= s < (<long long>1 << (63 - PRIORITY_SHIFT))
        and as_ll(last, &n) and n < (<long long>1 << 62)
    ):
        s <<= PRIORITY_SHIFT
        if s < n:
            s = n
        slot_set(self, E_NEXT_PRIORITY, PyLong_FromLongLong(s + 1))
        return PyLong_FromLongLong(s)
    stamp = seq << PRIORITY_SHIFT
    if stamp < last:
        stamp = last
    slot_set(self, E_NEXT_PRIORITY, stamp + 1)
    return stamp


cdef inline Py_ssize_t _find_account(TextIndex accounts, object account) except -2:
    """The slot of a command's ``account`` in risk's accounts (model/_order.pyx,
    TextIndex.find_slot: the slot holds the entry's key, value and place), or
    -1 (none, or not a text)."""
    return accounts.find_slot(<str>account) if type(account) is str else -1


cdef object _find_c(self, account, order_id, cl_ord_id):
    """Matcher._find: the account's open order by id or cl_ord_id; None if unknown
    or someone else's."""
    cdef long long oid = 0
    cdef Order order
    if order_id is not None:
        if not as_ll(order_id, &oid):
            return None  # no order id is past 64 bits
        found = (<OrderIndex?>slot(self, E_ORDERS)).get_c(oid)
        if found is None:
            return None
        order = found
        if not _is(order.account, account):
            return None
        return order
    if cl_ord_id is not None:
        return (<dict>slot(self, E_BY_CLID)).get((account, cl_ord_id))
    return None


cdef object _mine_at(self, TextIndex accounts, Py_ssize_t pos, object account):
    """``by_account.get(account)`` for the account at ``pos`` in risk's table
    (-1: not in it, and the dict is asked).

    ``by_account`` is a dict of about as many entries as accounts with open
    orders (xstocks: 10,000), and a new order's look-up in it was 6% of
    xstocks' time in samples (the entry and its key are cold). An account's
    place in risk's table never changes (accounts are never removed) and its
    entry in ``by_account``, once made, is never replaced, so the entries are
    also kept in a list by that place (80 KB for 10,000 accounts, which stays
    in cache). The list is for one table: another (a risk put in its place)
    starts it again."""
    cdef list at = slot(self, E_BY_ACCOUNT_AT)
    if pos < 0:
        return (<dict>slot(self, E_BY_ACCOUNT)).get(account)
    if slot(self, E_BY_ACCOUNT_FOR) is not accounts:
        del at[:]
        slot_set(self, E_BY_ACCOUNT_FOR, accounts)
    if pos < len(at):
        mine = at[pos]
        if mine is not None:
            return mine
    mine = (<dict>slot(self, E_BY_ACCOUNT)).get(account)
    if mine is not None:
        if pos >= len(at):
            at.extend([None] * (len(accounts) - len(at)))
        at[pos] = mine
    return mine


cdef inline void _index_plain(self, Order order, object seq, str account, object clid,
                              object mine) except *:
    """Matcher._index for an order with no expiry (``order.order_id`` is ``seq``).

    ``mine`` is the account's entry in the by-account index if the caller has
    it (an account's entry, once made, is never replaced), else None.
    """
    cdef dict by_account
    cdef long long key = order.order_id
    (<OrderIndex?>slot(self, E_ORDERS)).set_c(key, order)
    if mine is None:
        by_account = slot(self, E_BY_ACCOUNT)
        mine = by_account.get(account)
        if mine is None:
            by_account[account] = mine = OrderIndex()
    (<OrderIndex?>mine).set_c(key, order)
    if clid is not None:
        (<dict>slot(self, E_BY_CLID))[(account, clid)] = order


cdef inline Level _level(side, long long key):
    """``side.levels[key]``: KeyError if there is none (a broken invariant)."""
    found = (<LevelIndex?>slot(side, S_LEVELS)).get_c(key)
    if found is None:
        raise KeyError(key)
    return <Level>found


cdef inline void _join(own, Order order, long long own_key) except *:
    """BookSide.add for an order whose side keys its level at ``own_key``."""
    cdef LevelIndex levels = <LevelIndex?>slot(own, S_LEVELS)
    cdef set stale
    cdef Level level
    found = levels.get_c(own_key)
    if found is None:
        # Level(order.price) (model/_order.pyx: no_gc, so never tracked by the
        # collector), and its key into the heap (or back from stale).
        level = Level.__new__(Level)
        level.price = order.price
        levels.set_c(own_key, level)
        key = PyLong_FromLongLong(own_key)  # boxed once for the stale set and the heap
        stale = slot(own, S_STALE)
        if PySet_GET_SIZE(stale) and PySet_Contains(stale, key):
            stale.discard(key)
        else:
            _push_key(slot(own, S_HEAP), key)
    else:
        level = <Level>found
    level_push(level, order)
    level.total += order.shown


cdef void _drop(side, long long key) except *:
    """BookSide.drop_level: forget an empty level; its heap entry goes stale (or
    is popped if on top, with the stale keys that surface under it: the top is
    never stale, book.py)."""
    cdef LevelIndex levels = <LevelIndex?>slot(side, S_LEVELS)
    cdef list heap = slot(side, S_HEAP)
    cdef set stale = slot(side, S_STALE)
    levels.del_c(key)
    if <long long>heap[0] == key:
        _pop_key(heap)
        # BookSide.surface; nothing to ask while the stale set is empty.
        while heap and PySet_GET_SIZE(stale) and PySet_Contains(stale, heap[0]):
            stale.remove(heap[0])
            _pop_key(heap)
    else:
        stale.add(key)
        if len(stale) > levels.used + COMPACT_SLACK:
            heap[:] = levels._ordered(0)  # the keys in the dict's order, as the pure build
            heapify(heap)
            stale.clear()


cdef inline void _remove(side, Order order) except *:
    """BookSide.remove: take a live order out of its level, leaving a tombstone
    in the queue; an emptied level is dropped, and a queue that is mostly
    tombstones compacted. Zeroes ``order.shown``: read its leaves first."""
    cdef long long key = order.price * <long long>slot(side, S_SIGN)
    cdef Level level = _level(side, key)
    level.total -= order.shown
    order.shown = 0
    if not level.total:
        _drop(side, key)
    else:
        level.dead += 1
        if level.dead > COMPACT_SLACK and 2 * level.dead > level.count:
            level.compact_c()


cdef Order _new_order(c, object seq):
    """model.order.order_for: the record of the order ``c`` places."""
    cdef Order o = Order.__new__(Order)
    price = slot(c, C_PRICE)
    qty = slot(c, C_QTY)
    display = slot(c, C_DISPLAY_QTY)
    trigger = slot(c, C_TRIGGER_PRICE)
    cash = slot(c, C_CASH_QTY)
    o.order_id = seq
    o.account = slot(c, C_ACCOUNT)
    o.symbol = slot(c, C_SYMBOL)
    o.side = slot(c, C_SIDE)
    o.price = price if price else 0
    o.qty = qty
    o.shown = qty
    o.stp = slot(c, C_STP)
    o.cl_ord_id = slot(c, C_CL_ORD_ID)
    o.userref = slot(c, C_USERREF)
    o.priority = 0
    o.order_type = slot(c, C_ORDER_TYPE)
    o.tif = slot(c, C_TIF)
    o.display_qty = display if display else 0
    o.expire_ts = slot(c, C_EXPIRE_TS)
    o.post_only = slot(c, C_POST_ONLY)
    o.trigger_price = trigger if trigger else 0
    o.cost = 0
    o.fee = 0
    o.cash_qty = cash if cash else 0
    return o


cdef inline list _refused(self, risk, c, book, acct, Order order, seq, ts, account, clid, mine):
    """Engine._admit for a new order on the compiled paths: its refusal (one
    OrderRejected), or None once it is admitted and its hold taken. ``acct`` is
    the command's account in risk's accounts (None if unknown, or without
    risk); ``mine`` is the account's entry in the by-account index (None if it
    has none, or if the engine runs without risk)."""
    duplicate = clid is not None and (account, clid) in <dict>slot(self, E_BY_CLID)
    if risk is not None:
        refusal = c_admit_at(risk, c, acct, order, (<OrderIndex?>mine).used if mine is not None else 0, duplicate,
                             True, _book_market(book, risk))
        if refusal is not None:
            return [_rejected(seq, ts, account, refusal[0], refusal[1], None, clid)]
    elif duplicate:
        text = f"cl_ord_id {clid!r}: already open"
        return [_rejected(seq, ts, account, "duplicate_cl_ord_id", text, None, clid)]
    return None


cdef object _ioc(self, c, book, object seq, bint market):
    """Engine._on_new_order for a market or limit IOC order in regular hours on a
    book open to the fast path, with no cash size and no reference window: the
    steps of _admit, _place and Matcher._execute for it. None (nothing
    changed) for any other order, which the pure build's steps then take."""
    cdef Order order
    cdef long long limit_key, remaining
    cdef TextIndex accounts
    cdef Py_ssize_t pos, at
    if (
        not slot_none(c, C_CASH_QTY)
        or not slot_none(book, B_WINDOW)
        or not slot(book, B_OPEN)
        or not _is(slot((<dict>slot(self, E_SESSIONS))[slot(c, C_SYMBOL)], P_PHASE), "regular")
    ):
        return None
    ts = slot(c, C_TS)
    account = slot(c, C_ACCOUNT)
    clid = slot(c, C_CL_ORD_ID)
    order = _new_order(c, seq)
    risk = slot(self, E_RISK)
    acct = mine = None
    if risk is not None:
        accounts = c_accounts(risk)
        at = _find_account(accounts, account)
        pos = -1
        if at >= 0:
            pos = text_slot_pos(accounts, at)
            acct = text_slot_value(accounts, at)
            # The table's own text for the account from here on (see process).
            account = order.account = text_slot_key(accounts, at)
        mine = _mine_at(self, accounts, pos, account)
    refused = _refused(self, risk, c, book, acct, order, seq, ts, account, clid, mine)
    if refused is not None:
        return refused
    events = [_accepted(seq, ts, seq, c, None)]
    if _is(order.side, "buy"):
        opp = slot(book, B_ASKS)
    else:
        opp = slot(book, B_BIDS)
    limit_key = order.price * <long long>slot(opp, S_SIGN) if order.price else NO_LIMIT
    remaining = order.shown
    if remaining:
        remaining = _match_c(self, order, book, opp, limit_key, remaining, remaining, events,
                             seq, ts)
    if remaining > 0:
        # A market order cut by the band: stopped at its protection price
        # while liquidity lies beyond it; otherwise the book ran dry.
        best = opp.best()
        reason = "ioc_remainder"
        if (
            market
            and best is not None
            and <long long>best.price * <long long>slot(opp, S_SIGN) > limit_key
        ):
            reason = "price_band"
        events.append(
            _cancelled(seq, ts, seq, account, order.symbol, remaining, reason)
        )
    order.shown = 0
    if risk is not None:
        c_release_in(risk, _book_market(book, risk), order)
    if not slot_none(book, B_LO):
        _run_stops_c(self, book, events, seq, ts)
    return events


# ------------------------------------------------------------------ the general order path
#
# The paths above take the commonest orders whole. Everything else that is
# still an ordinary limit, iceberg or market order (post-only, GTD, DAY, FOK,
# IOC in a book with a reference window, any order outside regular hours or
# in a book that keeps a reference window) ran the pure build's
# _on_new_order, _admit, _place, _execute, _rest and _index, and every
# command in regular hours on a schedule ran the pure _after; those are the
# most of the xstocks workload's time. The functions below are those methods,
# step for step, on the compiled record; the rare branches inside them (a
# volatility pause, a fill-or-kill's dry run, a cash-sized buy's budget,
# auction indications) call the pure build's code as it is.


cdef inline object _book_market(book, risk):
    """``risk.markets[book.symbol]``, kept in the book (OrderBook._market).

    A command reads its book's market several times (its checks, its first
    fill, the reference after its trades, the band-edge watch): a look-up in
    the table of markets each, by the symbol's text. The book keeps the market
    with the table it came from; ``Risk.markets`` is made with the risk and
    never changes (risk/risk.py), so while the engine's risk has that table
    the kept market is the one the table holds. Another risk (a test swaps
    one in) has another table: the market is looked up again and kept."""
    markets = slot(risk, R_MARKETS)
    if slot(book, B_MARKETS) is markets:
        return slot(book, B_MARKET)
    m = (<dict>markets)[slot(book, B_SYMBOL)]
    slot_set(book, B_MARKET, m)
    slot_set(book, B_MARKETS, markets)
    return m


cdef object _best(side):
    """BookSide.best: the best level, or None. The heap's top is never stale
    (book.py), so it is the best level's key; a key with no level (a broken
    invariant) raises KeyError, as the pure method's ``levels[key]`` does."""
    cdef list heap = slot(side, S_HEAP)
    if not heap:
        return None
    return _level(side, <long long>heap[0])


cdef inline bint _crosses(opp, long long price) except -1:
    """engine.matching.crosses: would an order at ``price`` take from ``opp``?"""
    cdef long long sign = slot(opp, S_SIGN)
    best = _best(opp)
    return best is not None and (<Level>best).price * sign <= price * sign


cdef void _index_c(self, Order order) except *:
    """Matcher._index: the open-order indexes (id, account, cl_ord_id, expiry)."""
    cdef dict by_account
    cdef long long key = order.order_id
    (<OrderIndex?>slot(self, E_ORDERS)).set_c(key, order)
    by_account = slot(self, E_BY_ACCOUNT)
    mine = by_account.get(order.account)
    if mine is None:
        by_account[order.account] = mine = OrderIndex()
    (<OrderIndex?>mine).set_c(key, order)
    if order.cl_ord_id is not None:
        (<dict>slot(self, E_BY_CLID))[(order.account, order.cl_ord_id)] = order
    if order.expire_ts is not None:
        _push_expiry(slot(self, E_EXPIRIES), (order.expire_ts, order.order_id))


cdef void _forget_c(self, Order order) except *:
    """Matcher._forget: out of the indexes (an expiry entry goes stale)."""
    cdef long long key = order.order_id
    (<OrderIndex?>slot(self, E_ORDERS)).del_c(key)
    (<OrderIndex?>(<dict>slot(self, E_BY_ACCOUNT))[order.account]).del_c(key)
    if order.cl_ord_id is not None:
        del (<dict>slot(self, E_BY_CLID))[(order.account, order.cl_ord_id)]


cdef void _rest_c(self, Order order, book, long long remaining, seq, bint indexed) except *:
    """Matcher._rest: ``order`` with ``remaining`` lots open to the back of its level."""
    cdef long long display = order.display_qty
    order.filled = order.qty - remaining
    if display and remaining > display:
        order.shown = display
        order.hidden = remaining - display
    else:
        order.shown = remaining
        order.hidden = 0
    order.priority = _stamp(self, seq)
    if _is(order.side, "buy"):
        _join(slot(book, B_BIDS), order, -order.price)
    else:
        _join(slot(book, B_ASKS), order, order.price)
    if not indexed:
        _index_c(self, order)


cdef bint _breaks_band_c(self, book, opp, bint buy, long long limit_key) except -1:
    """Matcher._breaks_band: would the first trade against ``opp`` print outside the band?"""
    best = _best(opp)
    if best is None:
        return False
    price = (<Level>best).price
    if <long long>price * <long long>slot(opp, S_SIGN) > limit_key:
        return False
    risk = slot(self, E_RISK)
    if risk is None:
        return False
    m = _book_market(book, risk)
    low = slot(m, M_LOW)
    high = slot(m, M_HIGH)
    if low is None or high is None:
        return False
    return price < low if buy else price > high


cdef void _execute_c(self, Order order, book, list events, seq, ts, bint indexed) except *:
    """Matcher._execute: trade ``order`` (leaves in ``order.shown``) against the book,
    then rest it or cancel the rest (see engine/matching.py for each branch)."""
    cdef long long limit_key, remaining, budget, sign
    cdef bint market, wait, buy = _is(order.side, "buy")
    cdef str kind = order.order_type
    cdef str tif = order.tif
    opp = slot(book, B_ASKS) if buy else slot(book, B_BIDS)
    sign = slot(opp, S_SIGN)
    # MARKET_KINDS
    market = _is(kind, "market") or _is(kind, "stop-loss") or _is(kind, "take-profit")
    # An order that can wait in the book (not market, IOC or FOK).
    wait = not (market or _is(tif, "ioc") or _is(tif, "fok"))
    limit_key = NO_LIMIT if market and not order.price else order.price * sign
    remaining = order.shown
    budget = remaining
    risk = slot(self, E_RISK)
    reason = None
    if order.cash_qty and risk is not None:
        budget = risk.affordable(
            order, _preview(opp, limit_key, remaining, order.account, order.stp)
        )
    if not slot(book, B_OPEN):
        if wait:
            _rest_c(self, order, book, remaining, seq, indexed)
            return
        reason = "halted"
    elif not slot_none(book, B_WINDOW) and _breaks_band_c(self, book, opp, buy, limit_key):
        self._volatility_pause(book, events, seq, ts)
        if wait:
            _rest_c(self, order, book, remaining, seq, indexed)
            return
        reason = "halted"
    elif _is(tif, "fok") and not _fok_fillable(opp, limit_key, remaining, order.account, order.stp):
        reason = "fok_unfillable"
    else:
        if budget:
            remaining = _match_c(self, order, book, opp, limit_key, remaining, budget, events,
                                 seq, ts)
        if remaining > 0 and not wait:
            best = _best(opp)
            reason = "ioc_remainder"
            if market and best is not None and (<Level>best).price * sign > limit_key:
                reason = "price_band"
    if reason is not None or remaining <= 0:
        if reason is not None:
            events.append(
                _cancelled(
                    seq, ts, order.order_id, order.account, order.symbol, remaining, reason
                )
            )
        order.shown = 0
        if risk is not None:
            c_release_in(risk, _book_market(book, risk), order)
        if indexed:
            _forget_c(self, order)
        return
    _rest_c(self, order, book, remaining, seq, indexed)


def _execute(self, Order order, book, list events, seq, ts, bint indexed):
    """Matcher._execute, compiled (see engine/matching.py)."""
    _execute_c(self, order, book, events, seq, ts, indexed)


def _rest(self, Order order, book, long long remaining, seq, bint indexed):
    """Matcher._rest, compiled (see engine/matching.py)."""
    _rest_c(self, order, book, remaining, seq, indexed)


cdef object _admit_c(self, c, Order order, book, replacing, Py_ssize_t pending):
    """Engine._admit: every check a new order faces, in the rulebook's order; its
    refusal (reason, text) or None. Changes nothing (the hold is computed, not
    taken). ``c`` is a NewOrder or a BatchOrder (its subclass: the same offsets)."""
    cdef Py_ssize_t open_orders, pos, at
    cdef TextIndex accounts
    account = slot(c, C_ACCOUNT)
    risk = slot(self, E_RISK)
    acct = None
    if risk is not None:
        accounts = c_accounts(risk)
        at = _find_account(accounts, account)
        pos = -1
        if at >= 0:
            pos = text_slot_pos(accounts, at)
            acct = text_slot_value(accounts, at)
            if _is(order.account, account):
                # The table's own text for the account in the record (see process).
                account = order.account = text_slot_key(accounts, at)
    clid = slot(c, C_CL_ORD_ID)
    holder = None if clid is None else (<dict>slot(self, E_BY_CLID)).get((account, clid))
    duplicate = holder is not None and holder is not replacing
    if risk is not None:
        mine = _mine_at(self, accounts, pos, account)
        open_orders = ((<OrderIndex?>mine).used if mine is not None else 0) + pending
        if replacing is not None:
            open_orders -= 1
        refusal = c_admit_at(risk, c, acct, order, open_orders, duplicate, False,
                             _book_market(book, risk))
        if refusal is not None:
            return refusal
    elif duplicate:
        return "duplicate_cl_ord_id", f"cl_ord_id {clid!r}: already open"
    if slot(c, C_POST_ONLY) or (slot(book, B_OPEN) and not slot(book, B_FAST)):
        opp = slot(book, B_ASKS) if _is(slot(c, C_SIDE), "buy") else slot(book, B_BIDS)
        if slot(c, C_POST_ONLY):
            if _crosses(opp, slot(c, C_PRICE)):
                return "post_only", "post_only: order would take liquidity"
        if (
            not slot(book, B_FAST)
            and slot(book, B_OPEN)
            and slot(c, C_ORDER_TYPE) not in STOP_KINDS
            and _crosses(opp, slot(c, C_PRICE))
        ):
            # No reference price (market orders were refused by risk already).
            return "price_band", NO_REFERENCE
    return None


def _admit(self, c, Order order, book, replacing, Py_ssize_t pending=0):
    """Engine._admit, compiled (see engine/engine.py)."""
    return _admit_c(self, c, order, book, replacing, pending)


cdef void _place_c(self, c, Order order, book, list events, replaces) except *:
    """Matcher._place: accept a checked new order, take its hold, then match and
    rest it, or park it as a stop."""
    cdef long long at = 0
    seq = slot(c, C_SEQ)
    ts = slot(c, C_TS)
    events.append(_accepted(seq, ts, seq, c, replaces))
    risk = slot(self, E_RISK)
    if risk is not None:
        c_reserve_in(risk, _book_market(book, risk), order)
    if order.order_type in STOP_KINDS:
        order.stop = True
        order.priority = _stamp(self, seq)
        _index_c(self, order)
        _stop_push(slot(book, B_STOPS), order)
        last = slot(book, B_LAST_PRICE)
        if last is not None and slot(book, B_OPEN):
            # Already reached by the last trade price: it triggers at once.
            if as_ll(last, &at):
                _note_prints(book, at, at)
            else:
                book.note_prints(last, last)
            _run_stops_c(self, book, events, seq, ts)
        return
    if not slot(book, B_OPEN):
        # An auction call: orders wait in the book, crossed or not, for the uncross.
        _rest_c(self, order, book, order.shown, seq, False)
        return
    _execute_c(self, order, book, events, seq, ts, False)
    if not slot_none(book, B_LO):
        _run_stops_c(self, book, events, seq, ts)


def _place(self, c, Order order, book, list events, replaces):
    """Matcher._place, compiled (see engine/matching.py)."""
    _place_c(self, c, order, book, events, replaces)


cdef object _new_order_c(self, c, book, seq):
    """Engine._on_new_order for an order in a listed symbol (``book`` is its book):
    the phase's rules, _admit and _place."""
    cdef Order order
    symbol = slot(c, C_SYMBOL)
    phase = slot((<dict>slot(self, E_SESSIONS))[symbol], P_PHASE)
    if not _is(phase, "regular"):
        refusal = _phase_refusal_c(self, phase, symbol, slot(c, C_ORDER_TYPE), slot(c, C_TIF))
        if refusal is not None:
            return [
                _rejected(seq, slot(c, C_TS), slot(c, C_ACCOUNT), refusal[0], refusal[1],
                          None, slot(c, C_CL_ORD_ID))
            ]
    order = _new_order(c, seq)
    refusal = _admit_c(self, c, order, book, None, 0)
    if refusal is not None:
        return [
            _rejected(seq, slot(c, C_TS), slot(c, C_ACCOUNT), refusal[0], refusal[1], None,
                      slot(c, C_CL_ORD_ID))
        ]
    events = []
    _place_c(self, c, order, book, events, None)
    return events


def _after(self, list events, seq, ts):
    """Phases._after, compiled (see engine/phases.py): the band-edge watch of each
    instrument the events name, after the indications of the auction calls they
    name (published by the pure build's Auctions._indicate)."""
    _after_c(self, events, seq, ts)


cdef void _after_c(self, list events, seq, ts) except *:
    cdef dict sessions, calls
    # The symbols the events name, each once (engine.events.event_symbol):
    # nearly always one, so a set is made only for a second.
    first = None
    touched = None
    for event in events:
        # The kinds that come most, by identity; the rest through the table.
        kind = type(event)
        if kind is OrderAccepted:
            symbol = slot(slot(event, V_ORDER), C_SYMBOL)
        elif kind is TradeExecuted:
            symbol = slot(event, TE_SYMBOL)
        elif kind is OrderCancelled:
            symbol = slot(event, OC_SYMBOL)
        elif kind is OrderAmended:
            symbol = slot(event, OA_SYMBOL)
        else:
            off = EVENT_SYMBOL.get(kind)
            if off is None:
                continue
            symbol = slot(event, <Py_ssize_t>off)
        if first is None:
            first = symbol
        elif symbol is not first and symbol != first:
            if touched is None:
                touched = {first}
            touched.add(symbol)
    if first is None:
        return
    calls = slot(self, E_CALLS)
    if calls:
        # Auctions._indicate publishes the indications of the calls the events
        # name (in its own order), and only those: it runs when one of them is
        # named, with the same set the pure method would give it. A call keeps
        # every command in this path (before, the pure _after ran for all of
        # them while any call was open).
        if touched is None:
            if first in calls:
                PURE_INDICATE(self, events, seq, ts, {first})
        else:
            for symbol in touched:
                if symbol in calls:
                    PURE_INDICATE(self, events, seq, ts, touched)
                    break
    sessions = slot(self, E_SESSIONS)
    if touched is None:
        _check_edge_c(self, sessions[first], ts)
    else:
        for symbol in touched:  # independent per instrument: order does not matter
            _check_edge_c(self, sessions[symbol], ts)


cdef inline void _frontier_push(long long *fk, Py_ssize_t *fi, Py_ssize_t *size,
                                long long key, Py_ssize_t at) noexcept:
    """Push (key, at) on the frontier, a binary min-heap of keys in C arrays."""
    cdef Py_ssize_t c = size[0], p
    size[0] = c + 1
    while c:
        p = (c - 1) >> 1
        if fk[p] <= key:
            break
        fk[c] = fk[p]
        fi[c] = fi[p]
        c = p
    fk[c] = key
    fi[c] = at


cdef inline Py_ssize_t _frontier_pop(long long *fk, Py_ssize_t *fi, Py_ssize_t *size) noexcept:
    """Pop the frontier's smallest key and give its index in the side's heap."""
    cdef Py_ssize_t n = size[0] - 1, c = 0, child
    cdef Py_ssize_t top = fi[0], at = fi[n]
    cdef long long key = fk[n]
    size[0] = n
    while True:
        child = 2 * c + 1
        if child >= n:
            break
        if child + 1 < n and fk[child + 1] < fk[child]:
            child += 1
        if key <= fk[child]:
            break
        fk[c] = fk[child]
        fi[c] = fi[child]
        c = child
    fk[c] = key
    fi[c] = at
    return top


def _preview(opp, limit_key, qty, account, stp):
    """engine.matching._preview, compiled: the fills (price, lots) an incoming order
    of ``qty`` would get now, a dry run of the matcher that reads only.

    The pure function copies each level's live orders into a list of tuples and
    appends an iceberg's refills to that list; here the queue is read in place
    and only refills go to a list, read after the queue in the order they were
    made, which is the same walk.

    The pure function also sorts every level key within the limit, which reads
    every level of the side (xstocks: a FOK or cash-sized order read hundreds
    of scattered int objects for the one or two levels it fills from, about
    96 simulated last-level misses a preview). Here the levels come best first
    from a walk of the side's heap, which holds each level's key once
    (book.py: ``set(heap) == set(levels) | stale``, disjoint): a small C heap
    of the walk's frontier (key, index in the side's heap) gives the next
    best key, and a node past the limit is not opened (its children are no
    better). The walk stops where the fills do, so it reads the levels the
    fills reach and their heap neighbours; a stale key (no level) is stepped
    over. The same keys in the same order: the same fills."""
    cdef Order o
    cdef long long need = qty, limit = limit_key, shown, hidden, display, slice_, take, v
    cdef LevelIndex levels = <LevelIndex?>slot(opp, S_LEVELS)
    cdef list heap = slot(opp, S_HEAP)
    cdef list refills
    cdef Level level
    cdef Py_ssize_t i, j, at, n = len(heap), size = 0
    cdef long long *fk
    cdef Py_ssize_t *fi
    fills = []
    if not n or <long long>heap[0] > limit:
        return fills
    # The frontier holds each heap index at most once: n entries at most.
    fk = <long long *>PyMem_Malloc(n * sizeof(long long))
    fi = <Py_ssize_t *>PyMem_Malloc(n * sizeof(Py_ssize_t))
    try:
        if fk == NULL or fi == NULL:
            raise MemoryError()
        _frontier_push(fk, fi, &size, <long long>heap[0], 0)
        while size:
            at = _frontier_pop(fk, fi, &size)
            for i in range(2 * at + 1, min(2 * at + 3, n)):
                v = <long long>heap[i]
                if v <= limit:
                    _frontier_push(fk, fi, &size, v, i)
            found = levels.get_c(<long long>heap[at])
            if found is None:
                continue
            level = <Level>found
            price = level.price
            refills = []
            for j in range(level.count):
                o = level_at(level, j)
                if not o.shown:
                    continue
                if o.account == account:
                    if stp != "cancel_oldest":
                        return fills
                    continue
                shown = o.shown
                take = need if need < shown else shown
                fills.append((price, take))
                need -= take
                if not need:
                    return fills
                hidden = o.hidden
                if hidden:
                    display = o.display_qty
                    slice_ = display if hidden > display else hidden
                    refills.append((o.account, slice_, hidden - slice_, display))
            i = 0
            while i < len(refills):
                acct, shown, hidden, display = refills[i]
                i += 1
                if acct == account:
                    if stp != "cancel_oldest":
                        return fills
                    continue
                take = need if need < shown else shown
                fills.append((price, take))
                need -= take
                if not need:
                    return fills
                if hidden:
                    slice_ = display if hidden > display else hidden
                    refills.append((acct, slice_, hidden - slice_, display))
        return fills
    finally:
        PyMem_Free(fk)
        PyMem_Free(fi)

def _fok_fillable(opp, limit_key, qty, account, stp):
    """engine.matching._fok_fillable, compiled."""
    cdef long long total = 0
    for _, lots in _preview(opp, limit_key, qty, account, stp):
        total += <long long>lots
    return total == qty


def _unbook(self, Order order):
    """Matcher._unbook, compiled: take an open order out of its book or stop book and
    the indexes; return its leaves."""
    return _unbook_c(self, order)


cdef object _unbook_c(self, Order order):
    leaves = order.shown + order.hidden
    book = (<dict>slot(self, E_BOOKS))[order.symbol]
    risk = slot(self, E_RISK)
    if risk is not None:
        c_release_in(risk, _book_market(book, risk), order)
    if order.stop:
        order.stop = False
        order.shown = 0
    else:
        _remove(slot(book, B_BIDS) if _is(order.side, "buy") else slot(book, B_ASKS), order)
    order.hidden = 0
    _forget_c(self, order)
    return leaves


def _run_stops(self, book, list events, seq, ts):
    """Matcher._run_stops, compiled (see engine/matching.py): the same steps, with
    the stop book's pops and risk's band rules called as they are."""
    _run_stops_c(self, book, events, seq, ts)


cdef void _note_prints(book, long long a, long long b) except *:
    """OrderBook.note_prints: widen the range of prints not yet checked against
    the stops (``lo``, ``hi``) to cover ``a`` and ``b``."""
    cdef long long v = 0
    if a > b:
        a, b = b, a
    if slot_none(book, B_LO) or (slot_ll(book, B_LO, &v) and a < v):
        slot_set(book, B_LO, a)
    elif not slot_ll(book, B_LO, &v):  # a bound past 64 bits: Python's comparison
        if a < slot(book, B_LO):
            slot_set(book, B_LO, a)
    if slot_none(book, B_HI) or (slot_ll(book, B_HI, &v) and b > v):
        slot_set(book, B_HI, b)
    elif not slot_ll(book, B_HI, &v):
        if b > slot(book, B_HI):
            slot_set(book, B_HI, b)


cdef void _stop_push(stops, Order order) except *:
    """StopBook.push (engine/stops.py), compiled: the same entry on the same heap
    (``rises_to_trigger`` inlined). Each stop order ran it as two Python
    calls, with OrderBook.note_prints a third."""
    if type(stops) is not StopBook:
        stops.push(order)
        return
    if (<str>order.order_type).startswith("stop-loss") == _is(order.side, "buy"):
        heappush(slot(stops, T_RISING), (order.trigger_price, order.priority, order.order_id))
    else:
        heappush(slot(stops, T_FALLING), (-order.trigger_price, order.priority, order.order_id))


cdef bint _stops_due(stops, low, high) except -1:
    """Whether StopBook.pop_due(low, high, ...) would pop anything: a rising
    stop whose trigger ``high`` reached, or a falling one ``low`` reached (the
    tops of its two heaps). When it would not, it returns [] and changes
    nothing, so the caller need not call it."""
    cdef list rising = slot(stops, T_RISING)
    cdef list falling = slot(stops, T_FALLING)
    if rising and (<tuple>rising[0])[0] <= high:
        return True
    return bool(falling) and -(<tuple>falling[0])[0] >= low


cdef void _run_stops_c(self, book, list events, seq, ts) except *:
    cdef Order order
    stops = slot(book, B_STOPS)
    low = slot(book, B_LO)
    high = slot(book, B_HI)
    while low is not None and high is not None and slot(book, B_OPEN):
        slot_set(book, B_LO, None)
        slot_set(book, B_HI, None)
        if not (len(<list>slot(stops, T_RISING)) or len(<list>slot(stops, T_FALLING))):
            return
        if not _stops_due(stops, low, high):
            return
        risk = slot(self, E_RISK)
        for order in stops.pop_due(low, high, slot(self, E_ORDERS)):
            order.stop = False
            last = book.last_price
            events.append(
                OrderTriggered(
                    seq,
                    ts,
                    order.order_id,
                    order.account,
                    order.symbol,
                    order.trigger_price,
                    last if last else 0,  # ``book.last_price or 0``
                )
            )
            if risk is not None:
                # It enters the book now: the band applies as to a new order,
                # and with no reference price there is no band to trade in.
                if risk.band(order.symbol) is None:
                    self._close(order, "price_band", events, seq, ts)
                    continue
                kind = order.order_type
                if kind == "market" or kind == "stop-loss" or kind == "take-profit":
                    risk.cap_market(order)
                elif risk.band_check(order.symbol, order.side, order.price) is not None:
                    self._close(order, "price_band", events, seq, ts)
                    continue
            _execute_c(self, order, book, events, seq, ts, True)
        low = slot(book, B_LO)
        high = slot(book, B_HI)


def _on_replace(self, c):
    """Engine._on_replace, compiled (see engine/engine.py: every step and its
    reason is explained there). The new order's record, its checks and its
    placing are the compiled _new_order, _admit_c and _place_c; the command's
    fields are read by offset (a ReplaceOrder, or a subclass: the same slots)."""
    cdef Order old, order
    seq = slot(c, RP_SEQ)
    ts = slot(c, RP_TS)
    c_qty = slot(c, RP_QTY)
    c_price = slot(c, RP_PRICE)
    c_display = slot(c, RP_DISPLAY_QTY)
    c_trigger = slot(c, RP_TRIGGER_PRICE)
    c_post_only = slot(c, RP_POST_ONLY)
    found = _find_c(self, slot(c, RP_ACCOUNT), slot(c, RP_ORDER_ID), slot(c, RP_CL_ORD_ID))
    if found is None:
        return [REJECT(c, "unknown_order", "", slot(c, RP_ORDER_ID), slot(c, RP_CL_ORD_ID))]
    old = found
    qty = old.qty if c_qty is None else c_qty
    if qty <= old.filled:
        return [
            REJECT(
                c,
                "invalid_arguments",
                f"order_qty {qty}: at or below the filled {old.filled}",
                old.order_id,
                old.cl_ord_id,
            )
        ]
    new_qty = qty - old.filled
    kind = old.order_type
    display = (old.display_qty or None) if c_display is None else c_display
    trigger = (old.trigger_price or None) if c_trigger is None else c_trigger
    if kind in STOP_KINDS and not old.stop:
        if c_trigger is not None:
            text = f"triggers {c_trigger}: only a waiting stop has a trigger"
            return [REJECT(c, "invalid_arguments", text, old.order_id, old.cl_ord_id)]
        kind, trigger = "limit", None
    if kind == "iceberg" and c_display is None and display and display >= new_qty:
        kind, display = "limit", None
    new_clid = slot(c, RP_NEW_CL_ORD_ID)
    userref = slot(c, RP_USERREF)
    try:
        new = NewOrder(
            seq,
            ts,
            old.account,
            old.symbol,
            old.side,
            new_qty,
            (old.price or None) if c_price is None else c_price,
            kind,
            old.tif,
            old.expire_ts,
            old.post_only if c_post_only is None else c_post_only,
            display,
            trigger,
            old.cl_ord_id if new_clid is None else new_clid,
            old.userref if userref is None else userref,
            old.stp,
        )
    except CommandError as e:
        return [REJECT(c, "invalid_arguments", str(e), old.order_id, old.cl_ord_id)]
    refusal = _phase_refusal_c(
        self, slot((<dict>slot(self, E_SESSIONS))[new.symbol], P_PHASE), new.symbol,
        new.order_type, new.tif,
    )
    if refusal is not None:
        return [REJECT(c, refusal[0], refusal[1], old.order_id, old.cl_ord_id)]
    book = (<dict>slot(self, E_BOOKS))[old.symbol]
    order = _new_order(new, seq)
    held = old.hold
    risk = slot(self, E_RISK)
    if risk is not None:
        c_release_in(risk, _book_market(book, risk), old)
    refusal = _admit_c(self, new, order, book, old, 0)
    if refusal is not None:
        if risk is not None:
            old.hold = held
            c_reserve_in(risk, _book_market(book, risk), old)
        return [REJECT(c, refusal[0], refusal[1], old.order_id, old.cl_ord_id)]
    events = []
    _cancel_open_c(self, old, "replaced", events, seq, ts)
    _place_c(self, new, order, book, events, old.order_id)
    return events


def _indication(self, book):
    """Auctions._indication, compiled (see engine/uncross.py): where ``book`` would
    uncross now, every live lot counting, hidden ones too. An auction call's
    indication is recomputed after every command that touches its book; the
    pure build walks every live order and then runs engine.auction.uncross_price
    in Python over the crossed levels (xstocks: about a hundred a side in the
    most popular book's call, 21 us an indication). Here the crossed levels
    are found through the heaps and the price chosen on C integers
    (_uncross_c): the same answer."""
    cdef PriceLots *bid_lots = NULL
    cdef PriceLots *ask_lots = NULL
    cdef Py_ssize_t nb, na
    cdef long long ref = 0
    bids = slot(book, B_BIDS)
    asks = slot(book, B_ASKS)
    best_bid = _best(bids)
    best_ask = _best(asks)
    if best_bid is None or best_ask is None:
        return None
    bid_price = (<Level>best_bid).price
    ask_price = (<Level>best_ask).price
    if bid_price < ask_price:
        return None
    risk = slot(self, E_RISK)
    if risk is not None:
        reference = _book_market(book, risk).reference
    else:
        reference = self.instruments[slot(book, B_SYMBOL)].reference_price
    try:
        nb = _lots_c(bids, -<long long>ask_price, &bid_lots)
        na = _lots_c(asks, bid_price, &ask_lots)
        if as_ll(reference, &ref):
            return _uncross_c(bid_lots, nb, ask_lots, na, ref)
        return uncross_price(_pairs(bid_lots, nb), _pairs(ask_lots, na), reference)
    finally:
        PyMem_Free(bid_lots)
        PyMem_Free(ask_lots)


cdef Py_ssize_t _lots_c(side, long long limit, PriceLots **out) except -1:
    """engine.uncross._lots: ``(price, live lots)`` of each level of ``side`` whose
    key (the price, negated on the bid side) is at most ``limit`` (the bids at
    or above the best ask, the asks at or below the best bid), into a new
    array at ``*out`` (the caller frees it); returns how many.

    The levels in reach are found through the side's heap, which holds each
    level's key once (``set(heap) == set(levels) | stale``): a node past the
    limit has no child within it, so the walk opens only the nodes within
    the limit and their children and never reads the rest of the side
    (xstocks' most popular book holds hundreds of levels; an indication
    needs the few that cross). A stale key (no level) is stepped over. The
    levels come in the walk's order, not the levels': _uncross_c sorts them,
    and a side has one level a price."""
    cdef Order o
    cdef LevelIndex levels = <LevelIndex?>slot(side, S_LEVELS)
    cdef list heap = slot(side, S_HEAP)
    cdef Py_ssize_t n = len(heap), at, i, j, top = 0, count = 0
    cdef Py_ssize_t *todo
    cdef Level level
    cdef tokex_i128 lots  # a sum of 64-bit quantities: 128 bits cannot overflow here
    if not n or <long long>heap[0] > limit:
        return 0
    # Each heap index is on the stack at most once, and at most n are found.
    todo = <Py_ssize_t *>PyMem_Malloc(n * sizeof(Py_ssize_t))
    out[0] = <PriceLots *>PyMem_Malloc(n * sizeof(PriceLots))
    try:
        if todo == NULL or out[0] == NULL:
            raise MemoryError()
        todo[0] = 0
        top = 1
        while top:
            top -= 1
            at = todo[top]
            for i in range(2 * at + 1, min(2 * at + 3, n)):
                if <long long>heap[i] <= limit:
                    todo[top] = i
                    top += 1
            found = levels.get_c(<long long>heap[at])
            if found is None:
                continue
            level = <Level>found
            lots = 0
            for j in range(level.count):
                o = level_at(level, j)
                if o.shown:  # Level.live: tombstones skipped
                    lots += <tokex_i128>o.shown + o.hidden
            out[0][count].price = level.price
            out[0][count].lots = lots
            count += 1
        return count
    finally:
        PyMem_Free(todo)


cdef list _pairs(PriceLots *a, Py_ssize_t n):
    """The ``(price, lots)`` pairs of an array, for the pure uncross_price."""
    return [(a[i].price, from_i128(a[i].lots)) for i in range(n)]


cdef int _by_price(const void *a, const void *b) noexcept nogil:
    cdef long long x = (<const PriceLots *>a).price, y = (<const PriceLots *>b).price
    return (x > y) - (x < y)


cdef Py_ssize_t _merged(PriceLots *a, Py_ssize_t n) noexcept:
    """Sort ``a`` by price and merge the lots of equal prices; returns the new length."""
    cdef Py_ssize_t i, m = 0
    qsort(a, n, sizeof(PriceLots), _by_price)
    for i in range(n):
        if m and a[m - 1].price == a[i].price:
            a[m - 1].lots += a[i].lots
        else:
            a[m] = a[i]
            m += 1
    return m


# The candidate _uncross_c has chosen so far, and its rank's terms.
ctypedef struct Chosen:
    bint found
    long long price
    tokex_i128 volume
    tokex_i128 imbalance  # buy less sell lots willing at the price
    tokex_i128 distance  # from the reference (0 without one)


cdef inline void _consider(Chosen *best, long long price, tokex_i128 buy, tokex_i128 sell,
                           long long reference) noexcept:
    """Make ``price`` the choice if its rank (-volume, |imbalance|, distance,
    price) is below the best's; a price where nothing trades is no candidate."""
    cdef tokex_i128 volume = buy if buy < sell else sell
    cdef tokex_i128 imbalance = buy - sell
    cdef tokex_i128 distance = (<tokex_i128>price - reference) if reference > 0 else 0
    cdef tokex_i128 a, b
    if not volume:
        return
    if distance < 0:
        distance = -distance
    if best.found:
        if volume != best.volume:
            if volume < best.volume:
                return
        else:
            a = imbalance if imbalance >= 0 else -imbalance
            b = best.imbalance if best.imbalance >= 0 else -best.imbalance
            if a != b:
                if a > b:
                    return
            elif distance != best.distance:
                if distance > best.distance:
                    return
            elif price >= best.price:
                return
    best.found = True
    best.price = price
    best.volume = volume
    best.imbalance = imbalance
    best.distance = distance


cdef object _uncross_c(PriceLots *bids, Py_ssize_t nb, PriceLots *asks, Py_ssize_t na,
                       long long reference):
    """engine.auction.uncross_price on C integers; sorts (and merges) the arrays.

    The same rule and the same answer: each price with a bid or an ask is a
    candidate, and so is one price inside each gap of more than a tick between
    two neighbouring such prices (the reference clamped into the gap, or its
    lowest price without one); the candidate with the most volume wins, then
    the smallest imbalance, then the nearest the reference, then the lowest.
    Inside a gap (low, high) the bids at or above a candidate are those at or
    above ``high`` and the asks at or below it those at or below ``low``, so
    one ascending walk over the prices gives every candidate's volume: the
    bids at or above a price are all bids less those below it. Lots are sums
    of 64-bit quantities (128 bits), prices 64-bit, and each rank term fits
    128 bits. Candidates are distinct prices and the rank ends in the price,
    so the order they are looked at in cannot change the choice."""
    cdef Py_ssize_t i = 0, j = 0
    cdef tokex_i128 bid_total = 0, below = 0, sell = 0, buy
    cdef long long p, prev = 0, inside
    cdef bint have_prev = False
    cdef Chosen best
    best.found = False
    nb = _merged(bids, nb)
    na = _merged(asks, na)
    if not nb or not na or bids[nb - 1].price < asks[0].price:
        return None
    for i in range(nb):
        bid_total += bids[i].lots
    i = 0
    # below: the bid lots priced under p; sell: the ask lots priced at or under p.
    while i < nb or j < na:
        if j >= na or (i < nb and bids[i].price <= asks[j].price):
            p = bids[i].price
        else:
            p = asks[j].price
        if have_prev and <tokex_i128>p - prev > 1:  # 128 bits: no overflow for any two prices
            # The gap's candidate: bids at or above p, asks at or below prev.
            inside = reference if reference > 0 else prev + 1
            if inside < prev + 1:
                inside = prev + 1
            elif inside > p - 1:
                inside = p - 1
            _consider(&best, inside, bid_total - below, sell, reference)
        buy = bid_total - below
        while i < nb and bids[i].price == p:
            below += bids[i].lots
            i += 1
        while j < na and asks[j].price == p:
            sell += asks[j].lots
            j += 1
        _consider(&best, p, buy, sell, reference)
        prev = p
        have_prev = True
    if not best.found:
        return None
    return _Uncross(best.price, from_i128(best.volume), from_i128(best.imbalance))


def uncross_price_c(bids, asks, reference=0):
    """engine.auction.uncross_price through _uncross_c, for tests that compare the two:
    ``(price, lots)`` pairs, prices and the reference 64-bit, lots at least 0."""
    cdef Py_ssize_t nb = len(bids), na = len(asks), i
    cdef PriceLots *b = <PriceLots *>PyMem_Malloc((nb + 1) * sizeof(PriceLots))
    cdef PriceLots *a = <PriceLots *>PyMem_Malloc((na + 1) * sizeof(PriceLots))
    try:
        if b == NULL or a == NULL:
            raise MemoryError()
        for i in range(nb):
            b[i].price = bids[i][0]
            b[i].lots = bids[i][1]
        for i in range(na):
            a[i].price = asks[i][0]
            a[i].lots = asks[i][1]
        return _uncross_c(b, nb, a, na, reference)
    finally:
        PyMem_Free(b)
        PyMem_Free(a)


def _phase_refusal(self, symbol, order_type, tif):
    """Phases._phase_refusal, compiled (see engine/phases.py)."""
    return _phase_refusal_c(
        self, slot((<dict>slot(self, E_SESSIONS))[symbol], P_PHASE), symbol, order_type, tif
    )


cdef inline bint _limit_kind(order_type) except -1:
    """``order_type in engine.sessions.LIMIT_ORDER_TYPES``, by the texts' bytes."""
    return (
        _is(order_type, "limit") or _is(order_type, "iceberg")
        or _is(order_type, "stop-loss-limit") or _is(order_type, "take-profit-limit")
    )


cdef object _phase_refusal_c(self, phase, symbol, order_type, tif):
    """Phases._phase_refusal for a symbol in ``phase``, on the phase and order type
    compared as texts (no dict keyed by a pair), with the refusal worded here in
    the pure method's words (tests/property/test_builds.py compares the two
    builds' events). A phase or order type the rules do not name goes to the
    pure method, which raises reject_reason's ValueError.

    Before, every order in a phase other than regular called a Python-level
    function that looked its pair up in a dict keyed by tuples and called the
    pure method to word each refusal: 9% of xstocks' instructions (callgrind,
    10,000 commands after 30,000 warm)."""
    if _is(phase, "regular"):
        return None
    if _is(phase, "halted"):
        return "halted", f"symbol {symbol}: trading halted, cancels only"
    if _is(phase, "closed"):
        return "market_closed", f"symbol {symbol}: market closed, cancels only"
    if _is(order_type, "amend"):
        return None
    if not (
        _is(phase, "extended") or _is(phase, "overnight") or _is(phase, "weekend")
        or _is(phase, "auction")
    ):
        return PURE_PHASE_REFUSAL(self, symbol, order_type, tif)
    if _limit_kind(order_type):
        if _is(phase, "auction") and (_is(tif, "ioc") or _is(tif, "fok")):
            return "limit_only", f"time_in_force {tif}: nothing matches during an auction call"
        return None
    if _is(order_type, "market") or _is(order_type, "stop-loss") or _is(order_type, "take-profit"):
        return "limit_only", f"order_type {order_type}: only limit orders in the {phase} phase"
    return PURE_PHASE_REFUSAL(self, symbol, order_type, tif)


def _sessions_due(self):
    """Phases._sessions_due, compiled (see engine/phases.py): the earliest of every
    session's timers, read from the sessions' slots (Session.edge_deadline and
    stale_at inlined). The sequencer asks before every command, so with many
    instruments this loop is paid per command."""
    cdef dict sessions = slot(self, E_SESSIONS)
    due = None
    for session in sessions.values():
        change = slot(session, P_NEXT_CHANGE)
        if change is not None:
            if due is None or change < due:
                due = change
            reference_ts = slot(slot(session, P_BOOK), B_REFERENCE_TS)
            if reference_ts is not None:
                instant = reference_ts + STALE_NS
                if instant < due:
                    due = instant
        until = slot(session, P_UNTIL)
        if until is not None and (due is None or until < due):
            due = until
        since = slot(session, P_EDGE_SINCE)
        if since is not None:
            instant = since + EDGE_NS
            if due is None or instant < due:
                due = instant
    return due


def _cancel_open(self, Order order, reason, list events, seq, ts):
    """Matcher._cancel_open, compiled (see engine/matching.py)."""
    _cancel_open_c(self, order, reason, events, seq, ts)


cdef void _cancel_open_c(self, Order order, reason, list events, seq, ts) except *:
    """_cancel_open, called from C: the method is this module's in every engine
    (engine/matching.py binds it), so the compiled paths skip its look-up."""
    leaves = _unbook_c(self, order)
    events.append(
        _cancelled(seq, ts, order.order_id, order.account, order.symbol, leaves, reason)
    )


def _expire(self, c, list events):
    """Operations._expire, compiled (see engine/operations.py): the GTD and DAY
    orders due at ``c.ts``, in order of expiry time then order id; stale heap
    entries (orders gone or re-stamped) are dropped on the way."""
    _expire_c(self, c.seq, c.ts, events)


cdef inline bint _pair(object item, long long *a, long long *b):
    """An expiry heap's entry, ``(expire_ts, order_id)``, as two C integers, if it
    is a tuple of two exact ints that fit."""
    return (
        type(item) is tuple
        and PyTuple_GET_SIZE(item) == 2
        and _instant(PyTuple_GET_ITEM(item, 0), a)
        and _instant(PyTuple_GET_ITEM(item, 1), b)
    )


# The heaps the core pushes and pops on C integers: a book side's level keys
# (ints) and the expiries' ``(expire_ts, order_id)`` pairs. Each item is read
# as two C integers compared lexicographically (a level key as the key and
# 0), which is how Python compares those ints and those pairs. heapq's
# push appends the item and swaps it with its parent while it is smaller (a
# tie stops it); its pop takes the last item off, puts it at the root,
# moves the smaller child up level by level to a leaf (the right one unless
# the left is smaller: ties go right) and sifts the item back up while it is
# smaller than its parent. Here the same path and the same place are found
# first, reading only, then the same objects are moved: the list is left
# exactly as heapq leaves it (the pure build's heaps, walked by both). An
# item that cannot be read (a key or instant past 64 bits, or not an int),
# before anything moved, sends the step to heapq. (xstocks: heapq's siftup
# was 1.9M instructions for 508 expiry pops and its siftdown about 1,300
# instructions a level key's push, most of it Python's comparisons.)

cdef inline bint _entry(object item, bint pairs, long long *a, long long *b):
    """A heap item as two C integers, if it reads: an expiry's pair, or a level
    key and 0."""
    if pairs:
        return _pair(item, a, b)
    b[0] = 0
    return as_ll(item, a)


cdef inline bint _less(long long a0, long long a1, long long b0, long long b1) noexcept:
    return a0 < b0 or (a0 == b0 and a1 < b1)


cdef inline void _heap_push(list heap, object item, bint pairs) except *:
    """``heapq.heappush(heap, item)`` (see above)."""
    cdef Py_ssize_t pos = len(heap), parent, at
    cdef long long n0 = 0, n1 = 0, a0 = 0, a1 = 0
    if not _entry(item, pairs, &n0, &n1):
        heappush(heap, item)
        return
    while pos > 0:
        parent = (pos - 1) >> 1
        if not _entry(heap[parent], pairs, &a0, &a1):
            heappush(heap, item)
            return
        if not _less(n0, n1, a0, a1):
            break
        pos = parent
    # Append the item, then move each parent between its slot and ``pos``
    # down one place, as heapq's swaps leave them.
    at = parent = len(heap)
    heap.append(item)
    while parent > pos:
        at = parent
        parent = (at - 1) >> 1
        heap[at] = heap[parent]
    heap[pos] = item


cdef inline object _heap_pop(list heap, bint pairs):
    """``heapq.heappop(heap)`` (see above)."""
    cdef Py_ssize_t n = len(heap), end = n - 1, pos = 0, child, depth = 0, j
    cdef Py_ssize_t path[64]
    cdef long long a0 = 0, a1 = 0, b0 = 0, b1 = 0, n0 = 0, n1 = 0
    if n <= 1 or not _entry(heap[end], pairs, &n0, &n1):
        return heappop(heap)
    path[0] = 0
    while pos < (end >> 1):
        child = 2 * pos + 1
        if child + 1 < end:
            if not (
                _entry(heap[child], pairs, &a0, &a1)
                and _entry(heap[child + 1], pairs, &b0, &b1)
            ):
                return heappop(heap)
            if not _less(a0, a1, b0, b1):
                child += 1
        pos = child
        depth += 1
        path[depth] = pos
    # The last item's place: up the path while it is smaller than the item there.
    j = depth
    while j > 0:
        if not _entry(heap[path[j]], pairs, &a0, &a1):
            return heappop(heap)
        if not _less(n0, n1, a0, a1):
            break
        j -= 1
    # The moves: the root goes, each item on the path up to ``path[j]`` moves
    # up one place and the last item goes to ``path[j]``.
    top = heap[0]
    last = heap.pop()
    for pos in range(j):
        heap[path[pos]] = heap[path[pos + 1]]
    heap[path[j]] = last
    return top


cdef void _push_key(list heap, object key) except *:
    """``heapq.heappush`` on a side's heap of level keys."""
    _heap_push(heap, key, False)


cdef object _pop_key(list heap):
    """``heapq.heappop`` on a side's heap of level keys."""
    return _heap_pop(heap, False)


cdef void _push_expiry(list heap, object entry) except *:
    """``heapq.heappush`` on the expiries' heap."""
    _heap_push(heap, entry, True)


cdef object _pop_expiry(list heap):
    """``heapq.heappop`` on the expiries' heap."""
    return _heap_pop(heap, True)


def push_key(list heap, key):
    """``_push_key``, for the tests (tests/unit/engine/test_key_heap.py)."""
    _push_key(heap, key)


def pop_key(list heap):
    """``_pop_key``, for the tests (tests/unit/engine/test_key_heap.py)."""
    return _pop_key(heap)


def push_expiry(list heap, entry):
    """``_push_expiry``, for the tests (tests/unit/engine/test_timers_compiled.py)."""
    _push_expiry(heap, entry)


def pop_expiry(list heap):
    """``_pop_expiry``, for the tests (tests/unit/engine/test_timers_compiled.py)."""
    return _pop_expiry(heap)


cdef void _expire_c(self, seq, ts, list events) except *:
    """``_expire`` for a RunTimers' ``seq`` and ``ts``."""
    cdef list heap = slot(self, E_EXPIRIES)
    cdef OrderIndex orders = slot(self, E_ORDERS)
    cdef Order order
    while heap and (<tuple>heap[0])[0] <= ts:
        expire_ts, order_id = _pop_expiry(heap)
        found = orders.get(order_id)
        if found is None:
            continue
        order = found
        if order.expire_ts != expire_ts:
            continue
        leaves = _unbook_c(self, order)
        events.append(OrderExpired(seq, ts, order_id, order.account, order.symbol, leaves))


def _on_timers(self, c):
    """A RunTimers, compiled: CorporateActions._on_timers with Phases' and
    Operations' beneath it (engine/corporate.py, phases.py, operations.py),
    without the three Python frames and their ``super()`` calls.

    Those three do, in order: expire the due GTD and DAY orders and fire the
    due dead man's switches (Operations), fire the sessions' timers in time
    order (Phases), then the due corporate actions (CorporateActions). With
    no switch armed (or no risk) and no corporate action pending, the first
    and last parts do nothing, and the middle one cannot change that (a
    switch is armed only by CancelAllAfter, an action is pending only after
    a CorporateAction command): this path runs the expiries and the
    sessions' loop, step for step as in Phases._on_timers, each timer fired
    by the pure build's Phases._fire. Otherwise the pure methods run as
    they are. (xstocks, 20,000 commands with 349 RunTimers and neither: the
    Python chain cost about 11,000 instructions a RunTimers.)"""
    cdef list events
    cdef dict armed = slot(self, E_ARMED)
    cdef dict actions = slot(self, E_ACTIONS)
    if actions or (armed and not slot_none(self, E_RISK)):
        return PURE_ON_TIMERS(self, c)
    seq = slot(c, R_SEQ)
    ts = slot(c, R_TS)
    events = []
    _expire_c(self, seq, ts, events)
    while True:
        due = _next_due_c(self, ts)
        if due is None:
            return events
        instant, session = due
        self._fire(session, instant, events, seq, ts)


def _next_due(self, ts):
    """Phases._next_due, compiled (see engine/phases.py): the same instants in the
    same order, read from the sessions' slots (Session.edge_deadline and
    stale_at inlined), without a tuple or a method call per session."""
    return _next_due_c(self, ts)


cdef object _next_due_c(self, ts):
    """``_next_due``: the earliest session timer due at or before ``ts`` and its
    session, or None; of equal instants the first found (sessions in listing
    order; in one, the end of a pause or call, the band-edge deadline, the
    reference going stale, the schedule's next change).

    A RunTimers scans all the sessions once per timer it fires and once more
    (60 sessions in xstocks, 61 scans at the close), so the scan runs on C
    integers: each slot is read in place (``tokex_at``), with no reference
    taken, each instant read as a C integer (``tokex_instant``: in place for
    a time in ns since the epoch) and no int made for a sum (xstocks, 20,000
    commands, callgrind's inclusive count: 16.5M instructions in this scan
    at first; 8.9M on C integers with each instant read through
    PyLong_AsLongLongAndOverflow; 4.3M read in place, of which 1.5M is
    PyDict_Next). The sessions are read from ``Phases._session_list``, the
    same sessions in the same order as a tuple, which is walked with no call
    per entry (PyDict_Next was half of the scan: 2.6% of an extended-hours
    window). An
    instant or a sum past 64 bits, or a slot never set, sends the scan to
    ``_next_due_exact``, the same scan on Python's integers (which raises the
    AttributeError of an unset slot), and so does a tuple whose length is
    not the dict's (the two are made together and never change)."""
    cdef dict sessions = slot(self, E_SESSIONS)
    cdef tuple listed = slot(self, E_SESSION_LIST)
    cdef long long t = 0, v = 0, best = 0, edge = 0, stale = 0
    cdef tokex_i128 r = 0
    cdef PyObject *entry
    cdef PyObject *x
    cdef PyObject *book
    cdef PyObject *y
    cdef PyObject *due = NULL
    cdef PyObject *none = <PyObject *>None
    cdef Py_ssize_t i, n = PyTuple_GET_SIZE(listed)
    if not (
        _instant(<PyObject *>ts, &t) and as_ll(EDGE_NS, &edge) and as_ll(STALE_NS, &stale)
        and n == len(sessions)
    ):
        return _next_due_exact(self, ts)
    # No Python code runs in this loop: the sessions and their values stay as
    # they are, and the borrowed pointers with them.
    for i in range(n):
        entry = PyTuple_GET_ITEM(listed, i)
        x = _at(entry, P_UNTIL)
        if x != none:
            if x == NULL or not _instant(x, &v):
                return _next_due_exact(self, ts)
            if v <= t and (due == NULL or v < best):
                best, due = v, entry
        x = _at(entry, P_EDGE_SINCE)
        if x != none:
            if x == NULL or not (_instant(x, &v) and add128(v, edge, &r) and fits64(r)):
                return _next_due_exact(self, ts)
            v = <long long>r
            if v <= t and (due == NULL or v < best):
                best, due = v, entry
        x = _at(entry, P_NEXT_CHANGE)
        if x != none:
            if x == NULL:
                return _next_due_exact(self, ts)
            book = _at(entry, P_BOOK)
            if book == NULL:
                return _next_due_exact(self, ts)
            y = _at(book, B_REFERENCE_TS)
            if y != none:  # Session.stale_at: with a schedule and a reference set
                if y == NULL or not (_instant(y, &v) and add128(v, stale, &r) and fits64(r)):
                    return _next_due_exact(self, ts)
                v = <long long>r
                if v <= t and (due == NULL or v < best):
                    best, due = v, entry
            if not _instant(x, &v):
                return _next_due_exact(self, ts)
            if v <= t and (due == NULL or v < best):
                best, due = v, entry
    if due == NULL:
        return None
    return PyLong_FromLongLong(best), <object>due


cdef object _next_due_exact(self, ts):
    """``_next_due`` on Python's integers, for an instant past 64 bits."""
    cdef dict sessions = slot(self, E_SESSIONS)
    due = None
    due_session = None
    for session in sessions.values():
        until = slot(session, P_UNTIL)
        if until is not None and until <= ts and (due is None or until < due):
            due, due_session = until, session
        since = slot(session, P_EDGE_SINCE)
        if since is not None:
            instant = since + EDGE_NS
            if instant <= ts and (due is None or instant < due):
                due, due_session = instant, session
        change = slot(session, P_NEXT_CHANGE)
        if change is not None:
            reference_ts = slot(slot(session, P_BOOK), B_REFERENCE_TS)
            if reference_ts is not None:
                instant = reference_ts + STALE_NS
                if instant <= ts and (due is None or instant < due):
                    due, due_session = instant, session
            if change <= ts and (due is None or change < due):
                due, due_session = change, session
    if due is None:
        return None
    return due, due_session


def _check_edge(self, session, ts):
    """Phases._check_edge, compiled (see engine/phases.py)."""
    _check_edge_c(self, session, ts)


cdef bint _edge_best(side, long long *price) except -1:
    """The price of ``side``'s best level, as ``_best`` finds it: True and the
    price, False for an empty side. The heap's top is never stale (book.py)
    and a live level's key is its price times the side's sign (BookSide.add),
    so the price is read from the top key with no look-up; a key past 64 bits
    (never made by a validated order) takes the level's own price."""
    cdef list heap = slot(side, S_HEAP)
    cdef long long key = 0, sign = 0
    if not heap:
        return False
    top = heap[0]
    if _instant(<PyObject *>top, &key) and slot_ll(side, S_SIGN, &sign) and key != LLONG_MIN:
        price[0] = key * sign
        return True
    price[0] = (<Level>_best(side)).price
    return True


cdef void _check_edge_c(self, session, ts) except *:
    """Start or stop the clock of a best bid or offer sitting at its band edge.

    On C integers where the band fits 64 bits (``_edge_best``: the best
    price read from the heap's top, which is never stale, without the level's
    look-up), else the prices against Python's integers."""
    cdef bint at_edge = False
    cdef long long low = 0, high = 0, bid = 0, ask = 0
    cdef bint has_bid, has_ask
    book = slot(session, P_BOOK)
    risk = slot(self, E_RISK)
    if not slot_none(book, B_WINDOW) and risk is not None:
        m = _book_market(book, risk)
        if not slot_none(m, M_LOW) and not slot_none(m, M_HIGH):
            has_bid = _edge_best(slot(book, B_BIDS), &bid)
            has_ask = _edge_best(slot(book, B_ASKS), &ask)
            if slot_ll(m, M_LOW, &low) and slot_ll(m, M_HIGH, &high):
                at_edge = (has_bid and bid >= high) or (has_ask and ask <= low)
            else:
                # A band edge past 64 bits: the comparisons on Python's integers.
                at_edge = (has_bid and bid >= slot(m, M_HIGH)) or (
                    has_ask and ask <= slot(m, M_LOW)
                )
    if not at_edge:
        if not slot_none(session, P_EDGE_SINCE):
            slot_set(session, P_EDGE_SINCE, None)
    elif slot_none(session, P_EDGE_SINCE):
        slot_set(session, P_EDGE_SINCE, ts)


cdef inline object _ts_of(c, kind):
    """``c.ts``, read by offset for the commands that come often (an attribute
    look-up on a msgspec struct goes through its member descriptor)."""
    if kind is CancelOrder:
        return slot(c, X_TS)
    if kind is AmendOrder:
        return slot(c, A_TS)
    if kind is ReplaceOrder:
        return slot(c, RP_TS)
    return c.ts


def process(self, c):
    """Engine.process, compiled (see engine/engine.py)."""
    cdef Order order
    cdef TextIndex accounts
    cdef Py_ssize_t pos, at
    cdef long long price, qty, key, remaining, s = 0, t = 0
    cdef list heap
    # Typed: compared by identity first (the literal words are interned).
    cdef str order_type, tif, side
    kind = type(c)
    if kind is NewOrder:
        seq = slot(c, C_SEQ)
    elif kind is CancelOrder:
        seq = slot(c, X_SEQ)
    elif kind is AmendOrder:
        seq = slot(c, A_SEQ)
    elif kind is ReplaceOrder:
        seq = slot(c, RP_SEQ)
    else:
        seq = c.seq
    last = slot(self, E_LAST_SEQ)
    if as_ll(seq, &s) and as_ll(last, &t) and s > t:
        pass
    elif seq <= last:
        from engine.engine import SequenceError

        raise SequenceError(f"seq {seq} is not after {last}")
    slot_set(self, E_LAST_SEQ, seq)
    if kind is not NewOrder:
        if kind is CancelOrder:
            out = _cancel(self, c)
        elif kind is AmendOrder:
            out = _amend_price(self, c)
            if out is None:
                out = PURE_ON_AMEND(self, c)
        else:
            out = (<dict>slot(self, E_HANDLERS))[kind](c)
        if slot(self, E_HOOKS):
            _after_c(self, out, seq, _ts_of(c, kind))
        return out
    # A NewOrder: every field it has is read once, by offset.
    symbol = slot(c, C_SYMBOL)
    book = (<dict>slot(self, E_BOOKS)).get(symbol)
    order_type = slot(c, C_ORDER_TYPE)
    tif = slot(c, C_TIF)
    if (
        book is None
        or not slot(book, B_FAST)
        or not _is(order_type, "limit")
        or not _is(tif, "gtc")
        or slot(c, C_POST_ONLY)
    ):
        out = None
        if book is not None and slot(book, B_FAST) and _is(tif, "ioc"):
            if _is(order_type, "market"):
                out = _ioc(self, c, book, seq, True)
            elif _is(order_type, "limit") and not slot(c, C_POST_ONLY):
                out = _ioc(self, c, book, seq, False)
        if out is None and book is not None:
            out = _new_order_c(self, c, book, seq)
        if out is None:
            out = self._on_new_order(c)
        if slot(self, E_HOOKS):
            _after_c(self, out, seq, slot(c, C_TS))
        return out
    account = slot(c, C_ACCOUNT)
    clid = slot(c, C_CL_ORD_ID)
    side = slot(c, C_SIDE)
    qty = slot(c, C_QTY)
    price = slot(c, C_PRICE)
    ts = slot(c, C_TS)
    risk = slot(self, E_RISK)
    acct = mine = None
    if risk is not None:
        accounts = c_accounts(risk)
        at = _find_account(accounts, account)
        pos = -1
        if at >= 0:
            pos = text_slot_pos(accounts, at)
            acct = text_slot_value(accounts, at)
            # The table's own text for the account from here on (the account's
            # id, the key it was entered under), equal to the command's. A
            # command's account text is usually a string of its own (decoded
            # or built at the edge); the order record holds this one and the
            # indexes are looked up by it, so a later look-up by the order's
            # account (its cancel, its fills, releasing its hold, the index by
            # account) finds its key by identity, with its hash computed,
            # without reading the key's text. Equal texts: the events and the
            # state are the same.
            account = text_slot_key(accounts, at)
        mine = _mine_at(self, accounts, pos, account)
    order = _new_limit(
        seq, account, symbol, side, price, qty, slot(c, C_STP), clid, slot(c, C_USERREF)
    )
    refused = _refused(self, risk, c, book, acct, order, seq, ts, account, clid, mine)
    if refused is not None:
        return refused
    events = [_accepted(seq, ts, seq, c, None)]
    if _is(side, "buy"):
        opp = slot(book, B_ASKS)
        own = slot(book, B_BIDS)
        key = price
    else:
        opp = slot(book, B_BIDS)
        own = slot(book, B_ASKS)
        key = -price
    heap = slot(opp, S_HEAP)
    if heap and <long long>heap[0] <= key:
        if not slot_none(book, B_WINDOW) or not slot(book, B_OPEN):
            _execute_c(self, order, book, events, seq, ts, False)
        else:
            # Matcher._execute for this order (a GTC limit, no cash size, an
            # open book with no reference window): match, then rest what is
            # left or give back the hold of what filled in full.
            remaining = _match_c(self, order, book, opp, key, qty, qty, events, seq, ts)
            if remaining <= 0:
                order.shown = 0
                if risk is not None:
                    c_release_in(risk, _book_market(book, risk), order)
            else:
                # Matcher._rest, with no display quantity.
                order.filled = qty - remaining
                order.shown = remaining
                order.hidden = 0
                order.priority = _stamp(self, seq)
                _join(own, order, -key)
                _index_plain(self, order, seq, account, clid, mine)
        if not slot_none(book, B_LO):
            _run_stops_c(self, book, events, seq, ts)
        if slot(self, E_HOOKS):
            _after_c(self, events, seq, ts)
        return events
    order.priority = _shifted(seq)
    _join(own, order, -key)
    _index_plain(self, order, seq, account, clid, mine)
    if not slot_none(book, B_WINDOW):
        _check_edge_c(self, (<dict>slot(self, E_SESSIONS))[symbol], ts)
    return events


def _on_cancel(self, c):
    """Engine._on_cancel, compiled (see engine/engine.py)."""
    return _cancel(self, c)


cdef object _cancel(self, c):
    cdef Order order
    cdef long long leaves, key = 0
    cdef OrderIndex orders
    order_id = slot(c, X_ORDER_ID)
    if order_id is None:
        return self._cancel_by_tag(c)
    seq = slot(c, X_SEQ)
    ts = slot(c, X_TS)
    account = slot(c, X_ACCOUNT)
    orders = slot(self, E_ORDERS)
    found = orders.get_c(key) if as_ll(order_id, &key) else None
    order = found
    if order is None or not _is(order.account, account):
        return [_rejected(seq, ts, account, "unknown_order", "", order_id, None)]
    if order.stop:
        events = []
        _cancel_open_c(self, order, "user", events, seq, ts)
        return events
    leaves = order.shown + order.hidden
    book = (<dict>slot(self, E_BOOKS))[order.symbol]
    risk = slot(self, E_RISK)
    if risk is not None:
        c_release_in(risk, _book_market(book, risk), order)
    side = slot(book, B_BIDS) if _is(order.side, "buy") else slot(book, B_ASKS)
    _remove(side, order)
    order.hidden = 0
    # The indexes by account are keyed by the order's own account text (equal to
    # the command's, and with its hash already computed).
    orders.del_c(key)
    (<OrderIndex?>(<dict>slot(self, E_BY_ACCOUNT))[order.account]).del_c(key)
    if order.cl_ord_id is not None:
        del (<dict>slot(self, E_BY_CLID))[(order.account, order.cl_ord_id)]
    return [_cancelled(seq, ts, order_id, account, order.symbol, leaves, "user")]


def _on_amend(self, c):
    """Engine._on_amend, compiled (see engine/engine.py).

    The common amend, a resting limit or iceberg order given a new price and
    nothing else, runs here on C integers: the steps of ``_amend`` for it
    (check_amend, rehold, the tombstone, the new record, OrderAmended, and
    matching or resting at the back of the new level). Any other amend, and
    any check that fails, runs the pure build's method from the start (the
    steps here change nothing before every check has passed).
    """
    out = _amend_price(self, c)
    if out is None:
        return PURE_ON_AMEND(self, c)
    return out


cdef object _amend_price(self, c):
    """The new-price amend of a resting limit or iceberg order (post-only or not),
    or None (nothing changed)."""
    cdef Order order, moved
    cdef long long price, qty, leaves, key, oid = 0
    cdef OrderIndex orders
    cdef list heap
    if (
        not slot_none(c, A_QTY)
        or not slot_none(c, A_DISPLAY_QTY)
        or not slot_none(c, A_TRIGGER_PRICE)
        or slot(c, A_POST_ONLY)
    ):
        return None
    order_id = slot(c, A_ORDER_ID)
    new_price = slot(c, A_PRICE)
    if order_id is None or new_price is None:
        return None
    account = slot(c, A_ACCOUNT)
    orders = slot(self, E_ORDERS)
    if not as_ll(order_id, &oid):
        return None
    found = orders.get_c(oid)
    order = found
    if order is None or not _is(order.account, account):
        return None
    if not order.stop and not (_is(order.order_type, "limit") or _is(order.order_type, "iceberg")):
        return None
    if not as_ll(new_price, &price) or price <= 0 or price == order.price:
        return None
    book = (<dict>slot(self, E_BOOKS))[order.symbol]
    if not slot(book, B_FAST) or not slot(book, B_OPEN):
        return None
    if order.stop:
        return _amend_stop_price(self, c, order, price)
    if order.post_only:
        # The pure build refuses a post-only order's price that would take
        # liquidity (engine.matching.crosses): a crossing price goes to it.
        # The heap's top is the best level's key (never stale, book.py).
        opp = slot(book, B_ASKS) if _is(order.side, "buy") else slot(book, B_BIDS)
        heap = slot(opp, S_HEAP)
        if heap and <long long>heap[0] <= price * <long long>slot(opp, S_SIGN):
            return None
    qty = order.qty
    leaves = qty - order.filled
    risk = slot(self, E_RISK)
    if risk is not None and not c_reamend(risk, order, qty, price, leaves):
        return None
    # Every check passed: from here on nothing is refused.
    seq = slot(c, A_SEQ)
    ts = slot(c, A_TS)
    if _is(order.side, "buy"):
        own = slot(book, B_BIDS)
        opp = slot(book, B_ASKS)
    else:
        own = slot(book, B_ASKS)
        opp = slot(book, B_BIDS)
    # BookSide.remove: the old record stays in its queue as a tombstone.
    _remove(own, order)
    # A new record for the same order id (model/order.py's fields, in order).
    moved = Order.__new__(Order)
    moved.order_id = order.order_id
    moved.account = order.account
    moved.symbol = order.symbol
    moved.side = order.side
    moved.price = price
    moved.qty = qty
    moved.shown = leaves
    moved.stp = order.stp
    moved.hidden = 0
    moved.filled = order.filled
    moved.stop = False
    moved.cl_ord_id = order.cl_ord_id
    moved.userref = order.userref
    moved.priority = 0
    moved.order_type = order.order_type
    moved.tif = order.tif
    moved.display_qty = order.display_qty
    moved.expire_ts = order.expire_ts
    moved.post_only = order.post_only
    moved.trigger_price = order.trigger_price
    moved.hold = order.hold
    moved.cost = order.cost
    moved.fee = order.fee
    moved.paid = order.paid
    moved.notional = order.notional
    moved.cash_qty = order.cash_qty
    order.hold = 0  # the new record holds it now
    # Engine._reindex (by the order's own account text, as in _cancel).
    orders.set_c(oid, moved)
    (<OrderIndex?>(<dict>slot(self, E_BY_ACCOUNT))[moved.account]).set_c(oid, moved)
    if moved.cl_ord_id is not None:
        (<dict>slot(self, E_BY_CLID))[(moved.account, moved.cl_ord_id)] = moved
    events = [
        _amended(
            seq,
            ts,
            order_id,
            account,
            moved.symbol,
            qty,
            price,
            leaves,
            <object>moved.display_qty if moved.display_qty else None,
            <object>moved.trigger_price if moved.trigger_price else None,
            False,
        )
    ]
    heap = slot(opp, S_HEAP)
    key = price * <long long>slot(opp, S_SIGN)
    if heap and <long long>heap[0] <= key:
        _execute_c(self, moved, book, events, seq, ts, True)
        if not slot_none(book, B_LO):
            _run_stops_c(self, book, events, seq, ts)
    else:
        # Matcher._rest (nothing filled here): to the back of the new level.
        display = moved.display_qty
        if display and leaves > display:
            moved.shown = display
            moved.hidden = leaves - display
        moved.priority = _stamp(self, seq)
        _join(own, moved, -key)
    return events


cdef object _amend_stop_price(self, c, Order order, long long price):
    """Engine._amend's waiting stop given a new price (its limit, or a market
    stop's protection price) and nothing else: the hold re-sized, the record
    changed in place, its trigger and its place among the stops kept, and
    OrderAmended. None (nothing changed) if a check fails, for the pure build
    to refuse. _amend_price has checked the rest (the command names only a
    new price, not post-only, of an order of its account; the price is
    positive and new; the book is open and has a band).

    About 8% of xstocks' amends are of waiting stops; each ran the pure
    build's chain of Python calls (_on_amend, _amend, check_amend, rehold,
    buy_hold, _amended)."""
    cdef long long qty = order.qty, leaves
    if qty <= order.filled:
        return None
    leaves = qty - order.filled
    risk = slot(self, E_RISK)
    if risk is not None and not c_reamend(risk, order, qty, price, leaves, True):
        return None
    # Every check passed (the hold re-sized): from here on nothing is refused.
    order.price = price
    order.shown = leaves
    return [
        _amended(
            slot(c, A_SEQ),
            slot(c, A_TS),
            slot(c, A_ORDER_ID),
            slot(c, A_ACCOUNT),
            order.symbol,
            qty,
            price,
            order.shown + order.hidden,
            <object>order.display_qty if order.display_qty else None,
            <object>order.trigger_price if order.trigger_price else None,
            True,
        )
    ]


def _match(self, Order taker, book, opp, long long limit_key, long long remaining,
           long long budget, list events, seq, ts):
    """Matcher._match, compiled (see engine/matching.py)."""
    return _match_c(self, taker, book, opp, limit_key, remaining, budget, events, seq, ts)


cdef long long _match_c(self, Order taker, book, opp, long long limit_key,
                        long long remaining, long long budget, list events, seq,
                        ts) except? -3:
    cdef Order maker
    cdef Level level
    cdef long long key, price, shown, fill, hidden, slice_
    cdef long long first_price = 0, last_price = 0
    cdef long long traded = 0
    # The command's ticks x lots for the reference window: each product is
    # under 2**126 and the lots together under 2**63, so the sum fits 128 bits.
    cdef tokex_i128 notional = 0
    cdef list heap = slot(opp, S_HEAP)
    cdef LevelIndex levels = <LevelIndex?>slot(opp, S_LEVELS)
    cdef OrderIndex orders = slot(self, E_ORDERS)
    cdef dict by_account = slot(self, E_BY_ACCOUNT)
    account = taker.account
    taker_id = taker.order_id
    side = taker.side
    symbol = taker.symbol
    first_trade = trade_id = slot(self, E_NEXT_TRADE_ID)
    risk = slot(self, E_RISK)
    cdef bint settle = risk is not None
    market = taker_acct = fees = None
    window = slot(book, B_WINDOW)
    cdef bint windowed = window is not None
    price = 0
    while budget and heap:
        # The best level's key, never stale (book.py).
        key = <long long>heap[0]
        if key > limit_key:
            break
        found = levels.get_c(key)
        if found is None:
            raise KeyError(key)
        level = <Level>found
        price = level.price
        while True:
            maker = level_at(level, 0)
            shown = maker.shown
            if not shown:
                level_popleft(level)
                level.dead -= 1
                continue
            if _is(maker.account, account):
                stp = taker.stp
                if not _is(stp, "cancel_newest"):
                    _cancel_open_c(self, maker, "self_trade", events, seq, ts)
                if not _is(stp, "cancel_oldest"):
                    events.append(
                        _cancelled(seq, ts, taker_id, account, symbol, remaining, "self_trade")
                    )
                    remaining = -1
                    break
                if levels.get_c(key) is None:
                    break
                continue
            if budget < shown:
                fill = budget
                shown -= budget
            else:
                fill = shown
                shown = 0
            budget -= fill
            remaining -= fill
            traded += fill
            if windowed:
                notional += <tokex_i128>price * fill
            maker.shown = shown
            maker.filled += fill
            level.total -= fill
            if settle:
                if market is None:  # the first fill: what every fill of this order settles with
                    market = _book_market(book, risk)
                    taker_acct = c_order_account(risk, taker)
                    fees = c_fee_account(risk)
                quote, taker_fee, maker_fee = c_fill_at(
                    market, taker_acct, fees, c_order_account(risk, maker), taker, maker,
                    price, fill, remaining
                )
            else:
                quote = taker_fee = maker_fee = 0
            events.append(
                _trade(
                    seq,
                    ts,
                    trade_id,
                    symbol,
                    price,
                    fill,
                    side,
                    taker_id,
                    account,
                    remaining,
                    maker.order_id,
                    maker.account,
                    shown + maker.hidden,
                    quote,
                    taker_fee,
                    maker_fee,
                )
            )
            trade_id += 1
            last_price = price
            if not first_price:
                first_price = price
            if not shown:
                level_popleft(level)  # ``maker`` keeps its own reference
                hidden = maker.hidden
                if hidden:
                    slice_ = maker.display_qty if hidden > maker.display_qty else hidden
                    maker.hidden = hidden - slice_
                    maker.shown = slice_
                    maker.priority = _stamp(self, seq)
                    level_push(level, maker)
                    level.total += slice_
                    events.append(
                        IcebergRefilled(
                            seq, ts, maker.order_id, maker.account, symbol, slice_, maker.hidden
                        )
                    )
                else:
                    if settle and maker.hold:
                        c_release_in(risk, market, maker)  # set at the first fill, above
                    orders.del_c(maker.order_id)
                    (<OrderIndex?>by_account[maker.account]).del_c(maker.order_id)
                    if maker.cl_ord_id is not None:
                        del (<dict>slot(self, E_BY_CLID))[(maker.account, maker.cl_ord_id)]
                    if not level.total:
                        _drop(opp, key)
                        break
            if not budget:
                break
        if remaining < 0:
            break
    # Identity: each trade made a new int, so no trade leaves the same object.
    if trade_id is not first_trade:
        slot_set(self, E_NEXT_TRADE_ID, trade_id)
        slot_set(book, B_LAST_PRICE, last_price)
        stops = slot(book, B_STOPS)
        if len(<list>slot(stops, T_RISING)) or len(<list>slot(stops, T_FALLING)):
            _note_prints(book, first_price, last_price)
        if windowed:
            _new_reference_c(self, book, window, ts, from_i128(notional), traded, events, seq)
    return remaining


cdef object _window_add(window, ts, notional, lots):
    """ReferenceWindow.add (engine/reference.py), compiled: the same prints in
    the same deque, the same sums, the same average.

    The sums on C integers (128 bits) while the window's sums and the new
    print fit 64 bits; the prints' values are parts of those sums (none is
    negative), so the prints that leave fit too. A value that does not takes
    Python's integers (``_window_add_exact``, or from the first print that
    does not, with the sums so far)."""
    cdef long long t = 0, n = 0, l = 0, tot = 0, cnt = 0, span = 0, v = 0, on = 0, ol = 0
    cdef tokex_i128 total, count
    prints = slot(window, W_PRINTS)
    if not (
        as_ll(ts, &t) and as_ll(notional, &n) and as_ll(lots, &l) and as_ll(WINDOW_NS, &span)
        and as_ll(slot(window, W_NOTIONAL), &tot) and as_ll(slot(window, W_LOTS), &cnt)
        and t >= LLONG_MIN + span
    ):
        return _window_add_exact(window, prints, ts, notional, lots)
    prints.append((ts, notional, lots))
    total = <tokex_i128>tot + n
    count = <tokex_i128>cnt + l
    t -= span  # the window's start: prints at or before it leave
    while True:
        old = <tuple>prints[0]
        if not (as_ll(old[0], &v) and as_ll(old[1], &on) and as_ll(old[2], &ol)):
            return _window_drop_exact(window, prints, ts - WINDOW_NS, from_i128(total),
                                      from_i128(count))
        if v > t:
            break
        prints.popleft()
        total -= on
        count -= ol
    slot_set(window, W_NOTIONAL, from_i128(total))
    slot_set(window, W_LOTS, from_i128(count))
    return from_i128((2 * total + count) // (2 * count))  # both positive: C's division floors


def window_add(window, ts, notional, lots):
    """``_window_add``, for the tests (tests/unit/engine/test_window_add.py)."""
    return _window_add(window, ts, notional, lots)


cdef object _window_add_exact(window, prints, ts, notional, lots):
    """``_window_add`` on Python's integers."""
    prints.append((ts, notional, lots))
    return _window_drop_exact(
        window, prints, ts - WINDOW_NS, slot(window, W_NOTIONAL) + notional,
        slot(window, W_LOTS) + lots,
    )


cdef object _window_drop_exact(window, prints, start, total, count):
    """The rest of ``_window_add`` on Python's integers: the prints at or before
    ``start`` leave the sums, which are then kept, and the average."""
    while prints[0][0] <= start:
        old = prints.popleft()
        total -= old[1]
        count -= old[2]
    slot_set(window, W_NOTIONAL, total)
    slot_set(window, W_LOTS, count)
    return (2 * total + count) // (2 * count)


cdef void _new_reference_c(self, book, window, ts, notional, traded, list events,
                           seq) except *:
    """``self._new_reference(book, window.add(ts, notional, traded), events, seq,
    ts)`` (engine/matching.py), compiled: the rolling reference after a
    command's trades, and the band it implies, published if it moved.

    In regular hours every command that trades runs this; as three Python
    calls (the method, the window's ``add`` and ``Risk.set_reference``) it
    was 2% of xstocks' time in samples. Anything but the engine's own window
    and a risk takes the Python path."""
    risk = slot(self, E_RISK)
    if type(window) is not ReferenceWindow or risk is None:
        self._new_reference(book, window.add(ts, notional, traded), events, seq, ts)
        return
    price = _window_add(window, ts, notional, traded)
    symbol = slot(book, B_SYMBOL)
    m = _book_market(book, risk)
    slot_set(book, B_REFERENCE_TS, ts)
    if price != slot(m, M_REFERENCE):
        c_set_reference(m, price)
        events.append(ReferencePriceSet(seq, ts, symbol, price, slot(m, M_LOW), slot(m, M_HIGH)))
