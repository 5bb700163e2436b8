# cython: language_level=3, boundscheck=False, wraparound=False
"""The order record of the compiled build: the same fields as :class:`model.order.Order`.

A typed extension class, so the compiled core (engine/_core.pyx) reads and
writes an order's quantities as C integers. ``no_gc``: an order refers only
to strings and integers, so it can be part of no reference cycle and the
garbage collector never walks it (what ``gc=False`` does for the pure build's
msgspec record). Quantities and prices are signed 64-bit, as the commands
that carry them are; ``cost`` and ``fee`` (sums of price x qty, and of that
times basis points) stay Python integers because they may pass 64 bits on a
large order, and ``priority`` too (``seq << 32``).

Fields, their order and defaults are model/order.py's; the module docstring
there explains them. Python code reads and writes the fields by name as on
the pure record.
"""

cimport cython

# BUILD_HASH: model.build.source_hash() of the sources this build was made from
# (model/_build_hash.pxd); model.build checks it for every compiled module.
from model._build_hash cimport tokex_build_hash

BUILD_HASH = tokex_build_hash.decode("ascii").partition(":")[2]

_FIELDS = (
    "order_id", "account", "symbol", "side", "price", "qty", "shown", "stp", "hidden",
    "filled", "stop", "cl_ord_id", "userref", "priority", "order_type", "tif",
    "display_qty", "expire_ts", "post_only", "trigger_price", "hold", "cost", "fee",
    "paid", "notional", "cash_qty",
)


@cython.no_gc
@cython.final
@cython.freelist(64)
cdef class Order:
    """An open order (see model/order.py): a typed record the collector does not track."""

    __struct_fields__ = _FIELDS

    def __init__(
        self,
        long long order_id,
        str account,
        str symbol,
        str side,
        long long price,
        long long qty,
        long long shown,
        str stp="cancel_newest",
        long long hidden=0,
        long long filled=0,
        bint stop=False,
        object cl_ord_id=None,
        object userref=None,
        object priority=0,
        str order_type="limit",
        str tif="gtc",
        long long display_qty=0,
        object expire_ts=None,
        bint post_only=False,
        long long trigger_price=0,
        long long hold=0,
        object cost=0,
        object fee=0,
        long long paid=0,
        long long notional=0,
        long long cash_qty=0,
    ):
        self.order_id = order_id
        self.account = account
        self.symbol = symbol
        self.side = side
        self.price = price
        self.qty = qty
        self.shown = shown
        self.stp = stp
        self.hidden = hidden
        self.filled = filled
        self.stop = stop
        self.cl_ord_id = cl_ord_id
        self.userref = userref
        self.priority = priority
        self.order_type = order_type
        self.tif = tif
        self.display_qty = display_qty
        self.expire_ts = expire_ts
        self.post_only = post_only
        self.trigger_price = trigger_price
        self.hold = hold
        self.cost = cost
        self.fee = fee
        self.paid = paid
        self.notional = notional
        self.cash_qty = cash_qty

    @property
    def leaves(self):
        """Quantity still open: visible plus hidden."""
        return self.shown + self.hidden

    cpdef tuple astuple(self):
        """Every field in declaration order (as ``msgspec.structs.astuple`` on the pure record)."""
        return (
            self.order_id, self.account, self.symbol, self.side, self.price, self.qty,
            self.shown, self.stp, self.hidden, self.filled, self.stop, self.cl_ord_id,
            self.userref, self.priority, self.order_type, self.tif, self.display_qty,
            self.expire_ts, self.post_only, self.trigger_price, self.hold, self.cost, self.fee,
            self.paid, self.notional, self.cash_qty,
        )

    def __reduce__(self):
        # Pickled as the pure record is (its class by name, then the fields),
        # through model.order, so either build loads what the other wrote.
        from model.order import order_from_fields

        return (order_from_fields, self.astuple())

    def __eq__(self, other):
        if type(other) is not Order:
            return NotImplemented
        return self.astuple() == (<Order>other).astuple()

    def __ne__(self, other):
        if type(other) is not Order:
            return NotImplemented
        return self.astuple() != (<Order>other).astuple()

    __hash__ = None

    def __repr__(self):
        parts = ", ".join(f"{n}={v!r}" for n, v in zip(_FIELDS, self.astuple()))
        return f"Order({parts})"


def order_tuple(Order order):
    """Every field of ``order`` in declaration order."""
    return order.astuple()


# ------------------------------------------- the plain limit order's quick check

from model._i128 cimport as_ll
from model._slots cimport slot, slot_ll, slot_none, slot_offset

cdef Py_ssize_t N_SIDE = -1, N_QTY = -1, N_PRICE = -1, N_ORDER_TYPE = -1, N_TIF = -1
cdef Py_ssize_t N_EXPIRE_TS = -1, N_DISPLAY_QTY = -1, N_TRIGGER_PRICE = -1
cdef Py_ssize_t N_CL_ORD_ID = -1, N_USERREF = -1, N_STP = -1, N_CASH_QTY = -1
cdef Py_ssize_t MAX_ID_TEXT = 0
cdef frozenset STP_TYPES = frozenset()
# The fields plain_limit reads, in the order of the offsets above.
_CHECKED_FIELDS = (
    b"side", b"qty", b"price", b"order_type", b"tif", b"expire_ts", b"display_qty",
    b"trigger_price", b"cl_ord_id", b"userref", b"stp", b"cash_qty",
)


cdef Py_ssize_t X_ORDER_ID = -1, X_CL_ORD_ID = -1, X_USERREF = -1
cdef object CHECK_NEW_ORDER = None
cdef object CHECK_CANCEL_ORDER = None


def bind_commands(cls, cancel_cls, frozenset stp_types, Py_ssize_t max_id_text,
                  check_new_order, check_cancel_order):
    """Read the offsets of model.commands.NewOrder's fields (``cls``) and
    CancelOrder's (``cancel_cls``), and take the functions holding their full
    rules; called once, before either is built."""
    global N_SIDE, N_QTY, N_PRICE, N_ORDER_TYPE, N_TIF, N_EXPIRE_TS, N_DISPLAY_QTY
    global N_TRIGGER_PRICE, N_CL_ORD_ID, N_USERREF, N_STP, N_CASH_QTY, MAX_ID_TEXT, STP_TYPES
    global X_ORDER_ID, X_CL_ORD_ID, X_USERREF, CHECK_NEW_ORDER, CHECK_CANCEL_ORDER
    (
        N_SIDE, N_QTY, N_PRICE, N_ORDER_TYPE, N_TIF, N_EXPIRE_TS, N_DISPLAY_QTY,
        N_TRIGGER_PRICE, N_CL_ORD_ID, N_USERREF, N_STP, N_CASH_QTY,
    ) = [slot_offset(cls, name) for name in _CHECKED_FIELDS]
    X_ORDER_ID, X_CL_ORD_ID, X_USERREF = [
        slot_offset(cancel_cls, name) for name in (b"order_id", b"cl_ord_id", b"userref")
    ]
    STP_TYPES = stp_types
    MAX_ID_TEXT = max_id_text
    CHECK_NEW_ORDER = check_new_order
    CHECK_CANCEL_ORDER = check_cancel_order


def plain_limit(c):
    """model.commands._plain_limit, compiled: the same expression, term for term.

    ``type(x) is int`` with ``0 < x <= 2**63 - 1`` is an exact int that
    as_ll reads with ``x > 0``; an int64 userref is an exact int as_ll reads.
    """
    return _plain_limit(c)


cdef bint _plain_limit(c) except -1:
    cdef long long v
    side = slot(c, N_SIDE)
    clid = slot(c, N_CL_ORD_ID)
    userref = slot(c, N_USERREF)
    return (
        slot(c, N_ORDER_TYPE) == "limit"
        and slot(c, N_TIF) == "gtc"
        and slot_none(c, N_EXPIRE_TS)
        and slot_none(c, N_DISPLAY_QTY)
        and slot_none(c, N_TRIGGER_PRICE)
        and slot_none(c, N_CASH_QTY)
        and (side == "buy" or side == "sell")
        and slot(c, N_STP) in STP_TYPES
        and slot_ll(c, N_PRICE, &v) and v > 0
        and slot_ll(c, N_QTY, &v) and v > 0
        and (clid is None or (type(clid) is str and len(<str>clid) <= MAX_ID_TEXT))
        and (userref is None or as_ll(userref, &v))
    )


# ------------------------------------------- the commands' __post_init__
#
# msgspec runs a struct's __post_init__ on every command built or decoded (every
# journal record replayed). The pure build's are Python methods: the call's frame
# cost more than the plain order's check itself. model/commands.py gives NewOrder
# and CancelOrder these instead in the compiled build: the same steps, the full
# rules still the Python functions bound above.

def new_order_post_init(c):
    """NewOrder.__post_init__: the plain limit order's check, else every rule."""
    if CHECK_NEW_ORDER is None:
        raise RuntimeError("model._order.bind_commands has not run")
    if not _plain_limit(c):
        CHECK_NEW_ORDER(c)


def cancel_order_post_init(c):
    """CancelOrder.__post_init__: a cancel by order id alone, else every rule."""
    cdef long long v
    if CHECK_CANCEL_ORDER is None:
        raise RuntimeError("model._order.bind_commands has not run")
    if not (
        slot_none(c, X_CL_ORD_ID)
        and slot_none(c, X_USERREF)
        and slot_ll(c, X_ORDER_ID, &v)
        and v > 0
    ):
        CHECK_CANCEL_ORDER(c)
