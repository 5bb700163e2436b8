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
from cpython.mem cimport PyMem_Free
from cpython.ref cimport PyObject, Py_DECREF, Py_INCREF
from libc.string cimport memcpy
from model._i128 cimport as_ll

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


# ------------------------------------------- a book's price level

from cpython.mem cimport PyMem_Malloc
from model._i128 cimport from_i128


@cython.no_gc
@cython.final
@cython.freelist(256)
cdef class Level:
    """engine.book.Level for the compiled build: the orders resting at one price.

    The pure level is three objects and more: the level, its queue (a
    ``deque`` whose first block is 528 bytes, allocated by the C library
    since it is past Python's small-object size) and a boxed integer for its
    total, replaced on every change. In xstocks most resting orders open a
    level of their own, so a new order made and a cancel freed all of them;
    they were a fifth of the simulated cache misses on writes. This level is
    one object of 112 bytes (two cache lines) from a free list: the price,
    the total (128 bits: a sum of 64-bit quantities) and the tombstone count
    as C integers, and the queue a ring of order references kept in the
    object itself up to four orders, in a block of its own past that.

    Python code sees the pure level's fields: ``price``, ``qty``, ``dead``,
    and ``queue``, a view with the ``deque`` methods the engine calls
    (``append``, ``popleft``, ``extend``, ``clear``, indexing, ``len``,
    iteration); ``live()`` and ``compact()`` as the pure level's. The
    compiled core (engine/_core.pyx) reads the ring in place. ``no_gc``: a
    level refers only to order records (themselves ``no_gc``, referring only
    to texts and integers), so it can be part of no reference cycle.
    """

    def __cinit__(self):
        self.items = self.small
        self.mask = 3
        self.head = 0
        self.count = 0
        self.total = 0
        self.dead = 0

    def __init__(self, long long price):
        self.price = price

    def __dealloc__(self):
        cdef Py_ssize_t i
        for i in range(self.count):
            Py_DECREF(<object>self.items[(self.head + i) & self.mask])
        if self.items != self.small:
            PyMem_Free(self.items)
        self.items = self.small
        self.count = 0

    cdef int grow(self) except -1:
        """Double the ring's capacity, the queue in order from slot 0."""
        cdef Py_ssize_t size = (self.mask + 1) * 2, i
        cdef PyObject **block = <PyObject **>PyMem_Malloc(size * sizeof(PyObject *))
        if block == NULL:
            raise MemoryError()
        for i in range(self.count):
            block[i] = self.items[(self.head + i) & self.mask]
        if self.items != self.small:
            PyMem_Free(self.items)
        self.items = block
        self.mask = size - 1
        self.head = 0
        return 0

    cdef int compact_c(self) except -1:
        """Level.compact: drop every tombstone, in place, the live orders in order."""
        cdef Py_ssize_t i, kept = 0
        cdef PyObject *o
        for i in range(self.count):
            o = self.items[(self.head + i) & self.mask]
            if (<Order>o).shown:
                self.items[(self.head + kept) & self.mask] = o
                kept += 1
            else:
                Py_DECREF(<object>o)
        self.count = kept
        self.dead = 0
        return 0

    @property
    def qty(self):
        """The visible quantity of the live orders (what depth shows)."""
        return from_i128(self.total)

    @qty.setter
    def qty(self, value):
        cdef long long v = 0
        if as_ll(value, &v):
            self.total = v
        else:  # past 64 bits (many large orders at one price): exact, or OverflowError
            self.total = _wide(value)

    @property
    def queue(self):
        """The level's queue, oldest first, tombstones included (a view of the ring)."""
        return LevelQueue(self)

    def live(self):
        """The live orders, oldest first."""
        return iter([o for o in self._orders() if (<Order>o).shown])

    def compact(self):
        self.compact_c()

    cdef list _orders(self):
        return [<object>self.items[(self.head + i) & self.mask] for i in range(self.count)]

    def __repr__(self):
        return f"Level(price={self.price}, qty={self.qty}, dead={self.dead}, orders={self.count})"


cdef tokex_i128 _wide(object value) except? -1:
    """A Python int past 64 bits as 128 bits (OverflowError past 128)."""
    cdef tokex_i128 out = 0
    data = int(value).to_bytes(16, "little", signed=True)
    memcpy(&out, <const char *>data, 16)
    return out


@cython.no_gc
@cython.final
cdef class LevelQueue:
    """A level's queue as the pure build's ``deque`` (the methods the engine uses)."""

    cdef Level level

    def __cinit__(self, Level level):
        self.level = level

    def append(self, Order order):
        level_push(self.level, order)

    def extend(self, orders):
        for order in orders:
            level_push(self.level, <Order?>order)

    def popleft(self):
        cdef Level level = self.level
        if not level.count:
            raise IndexError("pop from an empty deque")
        o = <object>level.items[level.head]
        Py_DECREF(o)  # the ring's reference; ``o`` holds its own
        level.head = (level.head + 1) & level.mask
        level.count -= 1
        return o

    def clear(self):
        cdef Level level = self.level
        while level.count:
            self.popleft()

    def __len__(self):
        return self.level.count

    def __bool__(self):
        return self.level.count > 0

    def __getitem__(self, Py_ssize_t i):
        cdef Level level = self.level
        if i < 0:
            i += level.count
        if i < 0 or i >= level.count:
            raise IndexError("deque index out of range")
        return level_at(level, i)

    def __iter__(self):
        # A copy: a queue changed while it is walked cannot mislead the walk.
        return iter(self.level._orders())

    def __repr__(self):
        return f"LevelQueue({self.level._orders()!r})"


# ------------------------------------------- the plain limit order's quick check

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


# ------------------------------------------- the open orders' indexes by id

from cpython.mem cimport PyMem_Calloc
from libc.stdlib cimport qsort

cdef Py_ssize_t _MIN_SLOTS = 8
cdef Py_ssize_t _KEEP_SLOTS = 64


cdef int _by_key(const void *a, const void *b) noexcept nogil:
    cdef long long x = (<_IndexSlot *>a).key, y = (<_IndexSlot *>b).key
    return (x > y) - (x < y)


# The open-addressing table of (64-bit key, strong reference) slots that
# OrderIndex and LevelIndex are made of: linear probing from ``key & mask``,
# deletion by backward shift (no tombstones), an empty slot's value NULL.

cdef inline Py_ssize_t _probe(_IndexSlot *s, Py_ssize_t mask, long long key) noexcept:
    """The slot holding ``key``, or -1."""
    cdef Py_ssize_t i = <Py_ssize_t>(<unsigned long long>key & <unsigned long long>mask)
    while s[i].value != NULL:
        if s[i].key == key:
            return i
        i = (i + 1) & mask
    return -1


cdef _IndexSlot *_rehash(_IndexSlot *old, Py_ssize_t mask, Py_ssize_t size) except NULL:
    """The ``mask + 1`` slots at ``old`` moved into ``size`` new ones (a power of
    two), ``old`` freed; the new slots."""
    cdef Py_ssize_t i, j, to = size - 1
    cdef _IndexSlot *new = <_IndexSlot *>PyMem_Calloc(size, sizeof(_IndexSlot))
    if new == NULL:
        raise MemoryError()
    for i in range(mask + 1):
        if old[i].value != NULL:
            j = <Py_ssize_t>(<unsigned long long>old[i].key & <unsigned long long>to)
            while new[j].value != NULL:
                j = (j + 1) & to
            new[j] = old[i]
    PyMem_Free(old)
    return new


cdef inline void _unlink(_IndexSlot *s, Py_ssize_t mask, Py_ssize_t i) noexcept:
    """Empty slot ``i`` (its reference is the caller's to drop). Backward shift:
    move each later entry of the run whose home slot is not cyclically within
    (i, j] into the hole, so that no look-up that passes the hole stops short
    of its entry."""
    cdef Py_ssize_t j = i, home
    while True:
        j = (j + 1) & mask
        if s[j].value == NULL:
            break
        home = <Py_ssize_t>(<unsigned long long>s[j].key & <unsigned long long>mask)
        if (home <= i or home > j) if i < j else (home <= i and home > j):
            s[i] = s[j]
            i = j
    s[i].value = NULL
    s[i].key = 0


cdef _IndexSlot *_new_slots() except NULL:
    """An empty table of the smallest size."""
    cdef _IndexSlot *s = <_IndexSlot *>PyMem_Calloc(_MIN_SLOTS, sizeof(_IndexSlot))
    if s == NULL:
        raise MemoryError()
    return s


cdef void _free_slots(_IndexSlot *s, Py_ssize_t mask) noexcept:
    """Drop every slot's reference and free the table (NULL: nothing to do)."""
    cdef Py_ssize_t i
    if s != NULL:
        for i in range(mask + 1):
            if s[i].value != NULL:
                Py_DECREF(<object>s[i].value)
        PyMem_Free(s)


cdef Py_ssize_t _clear_slots(_IndexSlot *s, Py_ssize_t mask) noexcept:
    """Empty every slot, dropping its reference; how many were full."""
    cdef Py_ssize_t i, n = 0
    cdef void *v
    for i in range(mask + 1):
        v = s[i].value
        if v != NULL:
            s[i].value = NULL
            n += 1
            Py_DECREF(<object>v)
    return n


cdef list _listed(_IndexSlot *s, Py_ssize_t mask, Py_ssize_t used, int what, bint by_born):
    """Keys (0), values (1) or (key, value) pairs (2) of the ``used`` full
    slots, in increasing key, or with ``by_born`` (the values are levels) in
    the order the keys entered (``Level.born``): each full slot's sort key
    and address, sorted, then read through the address."""
    cdef Py_ssize_t i, n = 0
    cdef _IndexSlot *at
    cdef _IndexSlot *live = <_IndexSlot *>PyMem_Calloc(used + 1, sizeof(_IndexSlot))
    if live == NULL:
        raise MemoryError()
    try:
        for i in range(mask + 1):
            if s[i].value != NULL:
                live[n].key = (<Level>s[i].value).born if by_born else s[i].key
                live[n].value = <void *>&s[i]
                n += 1
        qsort(live, n, sizeof(_IndexSlot), _by_key)
        out = []
        for i in range(n):
            at = <_IndexSlot *>live[i].value
            if what == 0:
                out.append(at.key)
            elif what == 1:
                out.append(<object>at.value)
            else:
                out.append((at.key, <object>at.value))
        return out
    finally:
        PyMem_Free(live)



@cython.no_gc
@cython.final
cdef class OrderIndex:
    """Open orders by order id: the compiled build's ``Matcher.orders`` and the
    per-account tables of ``Matcher.by_account`` (a dict in the pure build).

    An open-addressing table of (64-bit id, order) slots with linear probing
    from ``id & mask`` and deletion by backward shift (no tombstones), at most
    half full (doubled past that; above 64 slots, halved below an eighth). A
    look-up reads one slot (the id is stored in it, not in a separate int
    object the way a dict's key is) and then the order; order ids are
    sequence numbers, so the ids of orders placed one after another sit in
    neighbouring slots and inserting them touches few cache lines. A dict
    keyed by Python ints takes a miss on its index, another on its entry and
    a third on the key object for every cancel.

    Python sees a mapping of int to order with the dict methods the engine,
    the snapshots and the tests use. Iteration (``keys``, ``values``,
    ``items``, ``iter``) is in increasing order id, which is the order a
    dict of the same orders iterates in: an order enters the indexes when
    it is made, with its own seq as id, and is never put back after it
    leaves. Those views are copies, so the table may change while one is
    walked. Values must be orders (``no_gc``: an order refers only to texts
    and ints, so the table can be part of no reference cycle and the
    collector never walks it).
    """

    def __cinit__(self):
        self.slots = _new_slots()
        self.mask = _MIN_SLOTS - 1
        self.used = 0

    def __dealloc__(self):
        _free_slots(self.slots, self.mask)

    cdef Py_ssize_t _find(self, long long key) noexcept:
        """The slot holding ``key``, or -1."""
        return _probe(self.slots, self.mask, key)

    cdef int _resize(self, Py_ssize_t size) except -1:
        self.slots = _rehash(self.slots, self.mask, size)
        self.mask = size - 1
        return 0

    cdef object get_c(self, long long key):
        """The order with id ``key``, or None."""
        cdef Py_ssize_t i = self._find(key)
        if i < 0:
            return None
        return <object>self.slots[i].value

    cdef int set_c(self, long long key, Order value) except -1:
        """``self[key] = value``."""
        cdef Py_ssize_t i
        cdef void *old
        if 2 * (self.used + 1) > self.mask + 1:
            self._resize(2 * (self.mask + 1))
        i = <Py_ssize_t>(<unsigned long long>key & <unsigned long long>self.mask)
        while self.slots[i].value != NULL:
            if self.slots[i].key == key:
                old = self.slots[i].value
                Py_INCREF(value)
                self.slots[i].value = <void *>value
                Py_DECREF(<object>old)
                return 0
            i = (i + 1) & self.mask
        Py_INCREF(value)
        self.slots[i].key = key
        self.slots[i].value = <void *>value
        self.used += 1
        return 0

    cdef int del_c(self, long long key) except -1:
        """``del self[key]``: KeyError if it is not there."""
        cdef Py_ssize_t i = self._find(key), mask = self.mask
        cdef _IndexSlot *s = self.slots
        cdef void *old
        if i < 0:
            raise KeyError(key)
        old = s[i].value
        _unlink(s, mask, i)
        self.used -= 1
        Py_DECREF(<object>old)
        if 8 * self.used < mask + 1 and mask + 1 > _KEEP_SLOTS:
            # An eighth full: half the size (a quarter full then), so a table
            # that once held many orders gives its memory back, as a dict
            # does when churn makes it resize. Tables of up to 64 slots
            # (1 KiB) keep their size: an account with a handful of orders
            # would otherwise reallocate back and forth.
            self._resize((mask + 1) // 2)
        return 0

    cdef list _sorted(self, int what):
        """Keys (0), values (1) or (key, value) pairs (2), in increasing key."""
        return _listed(self.slots, self.mask, self.used, what, False)

    # ---------------------------------------------------------- as a mapping

    def __len__(self):
        return self.used

    @property
    def capacity(self):
        """Slots in the table (a power of two, at least 8)."""
        return self.mask + 1

    def __contains__(self, key):
        cdef long long k = 0
        return as_ll(key, &k) and self._find(k) >= 0

    def __getitem__(self, key):
        cdef long long k = 0
        if as_ll(key, &k):
            i = self._find(k)
            if i >= 0:
                return <object>self.slots[i].value
        raise KeyError(key)

    def get(self, key, default=None):
        cdef long long k = 0
        if as_ll(key, &k):
            i = self._find(k)
            if i >= 0:
                return <object>self.slots[i].value
        return default

    def __setitem__(self, key, Order value not None):
        cdef long long k = 0
        if not as_ll(key, &k):
            raise TypeError(f"an order id must be a 64-bit int, not {key!r}")
        self.set_c(k, value)

    def __delitem__(self, key):
        cdef long long k = 0
        if not as_ll(key, &k):
            raise KeyError(key)
        self.del_c(k)

    def pop(self, key, *default):
        cdef long long k = 0
        if as_ll(key, &k):
            i = self._find(k)
            if i >= 0:
                value = <object>self.slots[i].value
                self.del_c(k)
                return value
        if default:
            return default[0]
        raise KeyError(key)

    def __iter__(self):
        return iter(self._sorted(0))

    def keys(self):
        """The ids, increasing, as a set-like view (a copy)."""
        return dict.fromkeys(self._sorted(0)).keys()

    def values(self):
        """The orders, by increasing id (a list: a copy)."""
        return self._sorted(1)

    def items(self):
        """``(id, order)`` pairs by increasing id (a list: a copy)."""
        return self._sorted(2)

    def update(self, other=()):
        _update(self, other)

    def clear(self):
        self.used -= _clear_slots(self.slots, self.mask)

    def __eq__(self, other):
        return _mapping_eq(self, other)

    def __ne__(self, other):
        return _mapping_ne(self, other)

    __hash__ = None

    def __repr__(self):
        return f"OrderIndex({dict(self.items())!r})"

    def __reduce__(self):
        return (_from_items, (OrderIndex, self.items()))


@cython.no_gc
@cython.final
cdef class LevelIndex:
    """A book side's levels by key (the price, negated on the bid side): the
    compiled build's ``BookSide.levels`` (a dict in the pure build).

    The same open-addressing table as OrderIndex, holding levels. A dict
    keyed by Python ints needs the key boxed for every look-up (a new int,
    then its hash and a comparison by value with the stored key object), an
    insert, and a delete; here the key is a C integer stored in the slot.
    Keys of one side are prices a few ticks apart, so ``key & mask`` puts
    neighbouring prices in neighbouring slots.

    Python sees a mapping of int to level with the dict methods the engine,
    the snapshots and the tests use, iterating in the order the keys
    entered, as a dict does (a key put back after it left goes last; a new
    level put under a key that is there keeps the key's place): each level
    notes its place (``Level.born``) as it enters, and iteration sorts by
    it. Snapshots list a side's levels in that order and a compacted heap
    is rebuilt from it, as in the pure build. Iteration and the views are
    copies. ``no_gc``: levels refer only to orders, which refer only to
    texts and integers.
    """

    def __cinit__(self):
        self.slots = _new_slots()
        self.mask = _MIN_SLOTS - 1
        self.used = 0
        self.born = 0

    def __dealloc__(self):
        _free_slots(self.slots, self.mask)

    cdef object get_c(self, long long key):
        """The level at ``key``, or None."""
        cdef Py_ssize_t i = _probe(self.slots, self.mask, key)
        if i < 0:
            return None
        return <object>self.slots[i].value

    cdef int set_c(self, long long key, Level value) except -1:
        """``self[key] = value``."""
        cdef Py_ssize_t i
        cdef void *old
        if 2 * (self.used + 1) > self.mask + 1:
            self.slots = _rehash(self.slots, self.mask, 2 * (self.mask + 1))
            self.mask = 2 * self.mask + 1
        i = <Py_ssize_t>(<unsigned long long>key & <unsigned long long>self.mask)
        while self.slots[i].value != NULL:
            if self.slots[i].key == key:
                old = self.slots[i].value
                value.born = (<Level>old).born
                Py_INCREF(value)
                self.slots[i].value = <void *>value
                Py_DECREF(<object>old)
                return 0
            i = (i + 1) & self.mask
        value.born = self.born
        self.born += 1
        Py_INCREF(value)
        self.slots[i].key = key
        self.slots[i].value = <void *>value
        self.used += 1
        return 0

    cdef int del_c(self, long long key) except -1:
        """``del self[key]``: KeyError if it is not there."""
        cdef Py_ssize_t i = _probe(self.slots, self.mask, key), mask = self.mask
        cdef void *old
        if i < 0:
            raise KeyError(key)
        old = self.slots[i].value
        _unlink(self.slots, mask, i)
        self.used -= 1
        Py_DECREF(<object>old)
        if 8 * self.used < mask + 1 and mask + 1 > _KEEP_SLOTS:
            # As OrderIndex: a side that once held many levels gives the
            # memory back.
            self.slots = _rehash(self.slots, mask, (mask + 1) // 2)
            self.mask = mask // 2
        return 0

    cdef list _ordered(self, int what):
        """Keys (0), levels (1) or (key, level) pairs (2), in the order the
        keys entered."""
        return _listed(self.slots, self.mask, self.used, what, True)

    # ---------------------------------------------------------- as a mapping

    def __len__(self):
        return self.used

    @property
    def capacity(self):
        """Slots in the table (a power of two, at least 8)."""
        return self.mask + 1

    def __contains__(self, key):
        cdef long long k = 0
        return as_ll(key, &k) and _probe(self.slots, self.mask, k) >= 0

    def __getitem__(self, key):
        cdef long long k = 0
        if as_ll(key, &k):
            i = _probe(self.slots, self.mask, k)
            if i >= 0:
                return <object>self.slots[i].value
        raise KeyError(key)

    def get(self, key, default=None):
        cdef long long k = 0
        if as_ll(key, &k):
            i = _probe(self.slots, self.mask, k)
            if i >= 0:
                return <object>self.slots[i].value
        return default

    def __setitem__(self, key, Level value not None):
        cdef long long k = 0
        if not as_ll(key, &k):
            raise TypeError(f"a level's key must be a 64-bit int, not {key!r}")
        self.set_c(k, value)

    def __delitem__(self, key):
        cdef long long k = 0
        if not as_ll(key, &k):
            raise KeyError(key)
        self.del_c(k)

    def pop(self, key, *default):
        cdef long long k = 0
        if as_ll(key, &k):
            i = _probe(self.slots, self.mask, k)
            if i >= 0:
                value = <object>self.slots[i].value
                self.del_c(k)
                return value
        if default:
            return default[0]
        raise KeyError(key)

    def __iter__(self):
        return iter(self._ordered(0))

    def keys(self):
        """The keys in the order they entered, as a set-like view (a copy)."""
        return dict.fromkeys(self._ordered(0)).keys()

    def values(self):
        """The levels in the order their keys entered (a list: a copy)."""
        return self._ordered(1)

    def items(self):
        """``(key, level)`` pairs in the order the keys entered (a list: a copy)."""
        return self._ordered(2)

    def update(self, other=()):
        _update(self, other)

    def clear(self):
        self.used -= _clear_slots(self.slots, self.mask)

    def __eq__(self, other):
        return _mapping_eq(self, other)

    def __ne__(self, other):
        return _mapping_ne(self, other)

    __hash__ = None

    def __repr__(self):
        return f"LevelIndex({dict(self.items())!r})"


# The dict methods OrderIndex, LevelIndex and TextIndex give, on their own
# get, items and len.

cdef object _MISSING = object()


cdef _update(mapping, other):
    """``mapping.update(other)``: a mapping's items, or (key, value) pairs."""
    pairs = other.items() if hasattr(other, "items") else other
    for key, value in pairs:
        mapping[key] = value


cdef _mapping_eq(mapping, other):
    """``mapping == other`` as a dict compares: the same keys, equal values."""
    if not hasattr(other, "items") or not hasattr(other, "__len__"):
        return NotImplemented
    if len(other) != len(mapping):
        return False
    for key, value in other.items():
        mine = mapping.get(key, _MISSING)
        if mine is _MISSING or not (mine is value or mine == value):
            return False
    return True


cdef _mapping_ne(mapping, other):
    eq = _mapping_eq(mapping, other)
    return eq if eq is NotImplemented else not eq


def _from_items(cls, items):
    """A ``cls`` (OrderIndex or TextIndex) holding ``items`` (how one pickles)."""
    mapping = cls()
    _update(mapping, items)
    return mapping


# ------------------------------------------------- the accounts by their text

from cpython.list cimport PyList_GET_ITEM
cdef extern from *:
    """
    /* The slot hash of a text and, for a text of at most 16 one-byte
     * characters, its two 8-byte words (zero padded). See TextIndex's
     * _text_hash in model/_order.pyx for what the parts mean. The words are
     * read with loads that may overlap but never pass the text's end: a
     * CPython text's data is followed by its NUL, and for 8 to 16 characters
     * the second word is the last 8 bytes shifted down, for 4 to 7 the
     * first is two overlapping 4-byte loads OR-ed (overlapping bytes are
     * equal). Little-endian order; elsewhere a byte loop gives the same words. */
    #include <stdint.h>
    #include <string.h>
    static inline unsigned long long tokex_text_hash(PyObject *key, unsigned long long *w0,
                                                     unsigned long long *w1, int *inl) {
        Py_ssize_t n = PyUnicode_GET_LENGTH(key), i, size;
        int kind = PyUnicode_KIND(key);
        const unsigned char *d = (const unsigned char *)PyUnicode_DATA(key);
        uint64_t a = 0, b = 0, h;
        uint32_t lo, hi;
        if (kind == 1 && n <= 16) {
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            if (n >= 8) {
                memcpy(&a, d, 8);
                if (n > 8) {
                    memcpy(&b, d + n - 8, 8);
                    b >>= 8 * (16 - n);
                }
            } else if (n >= 4) {
                memcpy(&lo, d, 4);
                memcpy(&hi, d + n - 4, 4);
                a = (uint64_t)lo | ((uint64_t)hi << (8 * (n - 4)));
            } else if (n > 0) {
                a = (uint64_t)d[0] | ((uint64_t)d[n / 2] << (8 * (n / 2)))
                    | ((uint64_t)d[n - 1] << (8 * (n - 1)));
            }
    #else
            for (i = 0; i < n; i++) {
                if (i < 8) a |= (uint64_t)d[i] << (8 * i);
                else b |= (uint64_t)d[i] << (8 * (i - 8));
            }
    #endif
            h = (a * 0x9E3779B97F4A7C15ULL) ^ (b * 0xC2B2AE3D27D4EB4FULL);
            h ^= h >> 29;
            h *= 0xC2B2AE3D27D4EB4FULL;
            h ^= h >> 32;
            *inl = 1;
        } else {
            h = 0xCBF29CE484222325ULL ^ (uint64_t)kind;
            size = n * kind;
            for (i = 0; i < size; i++) h = (h ^ d[i]) * 0x100000001B3ULL;
            *inl = 0;
        }
        *w0 = a;
        *w1 = b;
        h = (h & 0x00FFFFFFFFFFFFFFULL) | ((uint64_t)(kind == 1 && n < 255 ? n : 255) << 56);
        return h ? h : 1;
    }
    """
    unsigned long long _c_text_hash "tokex_text_hash"(object key, unsigned long long *w0,
                                                        unsigned long long *w1, int *inl) noexcept


cdef inline unsigned long long _text_hash(str key, unsigned long long *head0,
                                          unsigned long long *head1, int *inline) noexcept:
    """The slot hash of ``key``: never 0, its length (up to 255) in the top
    byte (see below). For a text of at most 16 one-byte characters (the
    account ids a venue gives out; ``inline`` set) it is mixed from the two
    8-byte words of the text, zero padded, which it also gives back in
    ``head0`` and ``head1``; equal hash and equal words then mean equal
    texts. Any other text is hashed byte by byte (FNV-1a over its characters
    and its kind) and its words are 0: such texts are compared as texts.
    The top byte is the length of a one-byte text (below 255), else 255, so
    a short one-byte text's hash can only equal the hash of a text of the
    same kind and length, whose words then say all. (The C function above.)"""
    return _c_text_hash(key, head0, head1, inline)


cdef bint _same_text(list keys, Py_ssize_t pos, str key) except -1:
    """Whether the key of entry ``pos`` is the text ``key`` (long or wide texts)."""
    stored = <object>PyList_GET_ITEM(keys, pos)
    return stored is key or <str>stored == key


cdef _TextSlot *_aligned_slots(Py_ssize_t size, void **block) except NULL:
    """``size`` empty slots aligned to 64 bytes (a slot is one cache line), in a
    new block at ``*block`` (the one to free)."""
    cdef void *raw = PyMem_Calloc(size + 1, sizeof(_TextSlot))
    cdef size_t at
    if raw == NULL:
        raise MemoryError()
    block[0] = raw
    at = (<size_t>raw + 63) & ~(<size_t>63)
    return <_TextSlot *>at


@cython.final
cdef class TextIndex:
    """Accounts by their text: the compiled build's ``Risk.accounts`` (a dict
    in the pure build).

    Every new order looks its account up by the command's text, which is
    usually a string object of its own (decoded or built at the edge), so a
    dict hashes it (SipHash, about 100 instructions) and then compares it
    with its key's text (a cache miss on the key object). This table keys an
    open-addressing index (linear probing, at most half full) by a cheap hash
    of the text and keeps a text of up to 16 one-byte characters inside the
    slot itself, so a look-up reads one 32-byte slot and, to say the texts
    are equal, nothing else. Longer texts and texts of wider characters are
    compared with the key object. The entries live in two lists in the order
    they were made, which is the order iteration gives, as a dict's does.

    Python sees a mapping of text to object with the dict methods risk, the
    snapshots and the tests use. Accounts are made once, when risk is, and
    never removed, so the table has no deletion.
    """

    def __cinit__(self):
        self.slots = _aligned_slots(_MIN_SLOTS, &self.block)
        self.mask = _MIN_SLOTS - 1
        self.keys_ = []
        self.values_ = []

    def __dealloc__(self):
        PyMem_Free(self.block)

    cdef inline unsigned long long _hash(self, str key, unsigned long long *head0,
                                         unsigned long long *head1, int *inline) noexcept:
        """_text_hash, or for a table made by ``_colliding_index`` (the tests')
        only its top byte: every text of a length then shares one hash, so the
        slot's words and the texts alone tell entries apart."""
        cdef unsigned long long h = _text_hash(key, head0, head1, inline)
        if self.collide:
            h = (h & 0xFF00000000000000ULL) | 1
        return h

    cdef Py_ssize_t find_c(self, str key) except -2:
        """The entry of ``key`` (its place in ``keys_``), or -1."""
        cdef Py_ssize_t i = self.find_slot(key)
        return self.slots[i].pos if i >= 0 else -1

    cdef Py_ssize_t find_slot(self, str key) except -2:
        """The slot of ``key``'s entry, or -1: the slot holds the entry's key,
        value and place (text_slot_key, text_slot_value, text_slot_pos), so a
        look-up reads one cache line, not the lists as well. Good until the
        table next changes."""
        cdef unsigned long long head0, head1
        cdef int inline
        cdef unsigned long long h = self._hash(key, &head0, &head1, &inline)
        cdef Py_ssize_t i = <Py_ssize_t>(h & <unsigned long long>self.mask)
        cdef _TextSlot *s = self.slots
        while s[i].h:
            if s[i].h == h:
                if inline:
                    if s[i].head0 == head0 and s[i].head1 == head1:
                        return i
                elif _same_text(self.keys_, s[i].pos, key):
                    return i
            i = (i + 1) & self.mask
        return -1

    cdef int _resize(self, Py_ssize_t size) except -1:
        cdef _TextSlot *old = self.slots
        cdef void *old_block = self.block
        cdef void *block = NULL
        cdef Py_ssize_t n = self.mask + 1, i, j, mask = size - 1
        cdef _TextSlot *new = _aligned_slots(size, &block)
        for i in range(n):
            if old[i].h:
                j = <Py_ssize_t>(old[i].h & <unsigned long long>mask)
                while new[j].h:
                    j = (j + 1) & mask
                new[j] = old[i]
        self.slots = new
        self.block = block
        self.mask = mask
        PyMem_Free(old_block)
        return 0

    cdef object get_c(self, str key):
        """The value of ``key``, or None."""
        cdef Py_ssize_t i = self.find_slot(key)
        if i < 0:
            return None
        return <object>self.slots[i].value

    # ---------------------------------------------------------- as a mapping

    def __len__(self):
        return len(self.keys_)

    def __contains__(self, key):
        return type(key) is str and self.find_c(key) >= 0

    # Read through the slot, as the compiled paths read it, so that every
    # test of the mapping holds the slot's key and value to the lists too.
    def __getitem__(self, key):
        cdef Py_ssize_t i = self.find_slot(key) if type(key) is str else -1
        if i < 0:
            raise KeyError(key)
        return <object>self.slots[i].value

    def get(self, key, default=None):
        cdef Py_ssize_t i = self.find_slot(key) if type(key) is str else -1
        if i < 0:
            return default
        return <object>self.slots[i].value

    def __setitem__(self, key, value):
        cdef unsigned long long head0, head1, h
        cdef Py_ssize_t pos, i
        cdef int inline
        if type(key) is not str:
            raise TypeError(f"a TextIndex key must be a str, not {key!r}")
        i = self.find_slot(key)
        if i >= 0:
            self.values_[self.slots[i].pos] = value
            self.slots[i].value = <PyObject *>value
            return
        if 2 * (len(self.keys_) + 1) > self.mask + 1:
            self._resize(2 * (self.mask + 1))
        h = self._hash(key, &head0, &head1, &inline)
        i = <Py_ssize_t>(h & <unsigned long long>self.mask)
        while self.slots[i].h:
            i = (i + 1) & self.mask
        self.keys_.append(key)
        self.values_.append(value)
        self.slots[i].h = h
        self.slots[i].pos = len(self.keys_) - 1
        self.slots[i].head0 = head0
        self.slots[i].head1 = head1
        self.slots[i].key = <PyObject *>key
        self.slots[i].value = <PyObject *>value

    def __delitem__(self, key):
        raise TypeError(f"{key!r}: a TextIndex keeps its entries (accounts are never removed)")

    def setdefault(self, key, default=None):
        cdef Py_ssize_t pos = self.find_c(key) if type(key) is str else -1
        if pos >= 0:
            return <object>PyList_GET_ITEM(self.values_, pos)
        self[key] = default
        return default

    def __iter__(self):
        return iter(list(self.keys_))

    def keys(self):
        """The texts in the order they were put in, as a set-like view (a copy)."""
        return dict.fromkeys(self.keys_).keys()

    def values(self):
        """The values in the order they were put in (a list: a copy)."""
        return list(self.values_)

    def items(self):
        """``(text, value)`` pairs in the order they were put in (a list: a copy)."""
        return list(zip(self.keys_, self.values_))

    def update(self, other=()):
        _update(self, other)

    def __eq__(self, other):
        return _mapping_eq(self, other)

    def __ne__(self, other):
        return _mapping_ne(self, other)

    __hash__ = None

    def __repr__(self):
        return f"TextIndex({dict(self.items())!r})"

    def __reduce__(self):
        return (_from_items, (TextIndex, self.items()))


def _colliding_index():
    """A TextIndex whose texts of one length all hash alike (for the tests)."""
    cdef TextIndex index = TextIndex()
    index.collide = True
    return index



# ------------------------------------------- risk's account record

from array import array as _array

from cpython.buffer cimport PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer

cdef extern from *:
    """
    #include <stdlib.h>
    /* Records allocated on a 64-byte boundary (a cache line here), so that a
       record's header and the fields that follow it share one line. The
       small-object allocator's blocks sit 48 bytes past a line, which puts
       a header in one line and the first fields in the next. */
    static PyObject *tokex_aligned_alloc(PyTypeObject *t, Py_ssize_t nitems) {
        void *p = NULL;
        size_t size = ((size_t)t->tp_basicsize + 63) & ~(size_t)63;
        (void)nitems;  /* records have no items */
        if (posix_memalign(&p, 64, size) != 0) return PyErr_NoMemory();
        memset(p, 0, size);
        return PyObject_Init((PyObject *)p, t);
    }
    static void tokex_aligned_free(void *p) { free(p); }
    static int tokex_align_type(PyObject *t) {
        PyTypeObject *type = (PyTypeObject *)t;
        if (type->tp_flags & Py_TPFLAGS_HAVE_GC) {
            PyErr_SetString(PyExc_TypeError, "an aligned record must not be tracked by the collector");
            return -1;
        }
        type->tp_alloc = tokex_aligned_alloc;
        type->tp_free = tokex_aligned_free;
        return 0;
    }
    """
    int tokex_align_type(object t) except -1


@cython.no_gc
@cython.final
cdef class Account:
    """risk.accounts.Account in the compiled build: the same attributes and
    methods (risk/accounts.py is the reference; read its docstring first).

    Why a record of its own: with many accounts, admitting an order reads a
    cold account, and the pure class's slots are pointers to objects (the
    limits and rates as int objects, ``funds`` as an ``array('q')`` whose
    items sit in a block of their own). Here the fee rates and the open
    orders' limit are C integers and the funds' items are reached through a
    pointer kept in the record, so risk's hot steps (risk/_fast.pyx) read one
    cache line of the record and then the funds' items, not the record, the
    ints and the array's header first. The record holds a buffer on
    ``funds`` for as long as it uses it, so the array cannot be resized (or
    its items moved) under the pointer: an append raises BufferError; the
    length of an account's funds never changes anyway (one balance and one
    hold per asset; snapshots restore into it in place).

    ``no_gc``: an account refers only to texts, ints, None, a tuple of texts
    and its funds array, so it can be part of no reference cycle.
    """

    def __init__(self, spec, assets):
        self.id = spec.id
        self.role = spec.role
        self.maker_bps = spec.fee_tier.maker_bps
        self.taker_bps = spec.fee_tier.taker_bps
        self.max_bps = max(self.maker_bps, self.taker_bps)
        self.max_order_notional = spec.max_order_notional
        self.max_open_orders = spec.max_open_orders
        self.enabled = spec.enabled
        self.killed = False
        self.trading = self.enabled
        self.dms_deadline = None
        self.assets = tuple(assets)
        self._take_funds(_array("q", [0]) * (2 * len(self.assets)))

    def __dealloc__(self):
        if self.fp != NULL:
            PyBuffer_Release(&self.view)
            self.fp = NULL

    cdef int _take_funds(self, object funds) except -1:
        """Use ``funds`` (an ``array('q')`` of one balance and one hold per
        asset) from now on, releasing the one used so far."""
        if type(funds) is not _array or funds.typecode != "q":
            raise TypeError(f"account {self.id!r}: funds must be an array('q'), not {funds!r}")
        if len(funds) != 2 * len(self.assets):
            raise ValueError(
                f"account {self.id!r}: funds must hold {2 * len(self.assets)} items "
                f"(a balance and a hold for each asset), not {len(funds)}"
            )
        if self.fp != NULL:
            PyBuffer_Release(&self.view)
            self.fp = NULL
        PyObject_GetBuffer(funds, &self.view, PyBUF_WRITABLE)
        self.fp = <long long *>self.view.buf
        self.funds_ = funds
        return 0

    @property
    def funds(self):
        """Balances and holds, an ``array('q')`` (see risk/accounts.py)."""
        return self.funds_

    @funds.setter
    def funds(self, value):
        self._take_funds(value)

    def slot(self, asset):
        """Position of ``asset``'s balance in ``funds`` (its hold is the next one)."""
        return 2 * self.assets.index(asset)

    @property
    def balance(self):
        """Balances by asset id (a copy)."""
        return {a: self.fp[2 * i] for i, a in enumerate(self.assets)}

    @property
    def held(self):
        """Holds by asset id (a copy)."""
        return {a: self.fp[2 * i + 1] for i, a in enumerate(self.assets)}

    def set_killed(self, bint killed):
        """Turn the kill switch on or off."""
        self.killed = killed
        self.trading = self.enabled and not killed

    def available(self, asset):
        """Balance less holds in ``asset``."""
        cdef Py_ssize_t i = 2 * self.assets.index(asset)
        # As Python ints, as the pure build subtracts: never wraps.
        return <object>self.fp[i] - <object>self.fp[i + 1]

    def __repr__(self):
        return f"Account(id={self.id!r}, role={self.role!r}, trading={self.trading!r})"


tokex_align_type(Account)
