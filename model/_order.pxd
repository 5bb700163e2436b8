# The compiled build's order record: see model/_order.pyx.

from cpython.ref cimport PyObject, Py_DECREF, Py_INCREF
from model._i128 cimport tokex_i128

cdef class Order:
    # Laid out by use, not in model/order.py's field order (which the
    # constructor, astuple and pickling keep): what a cancel and a fill read
    # (ids, sides, quantities, the hold and the flags) in the first 112 bytes,
    # the money a fill settles next, the rest after. An order is 232 bytes, and
    # a cancel of a cold order then reads two cache lines of it, not four.
    cdef public long long order_id
    cdef public str account
    # Not a field: the risk Account of ``account`` in the engine that holds the
    # order, once risk has looked it up (risk/_fast.pyx c_order_account); None
    # until then. Never pickled, compared or copied.
    cdef readonly object acct
    cdef public str symbol
    cdef public str side
    cdef public long long price
    cdef public long long qty
    cdef public long long shown
    cdef public long long hidden
    cdef public long long filled
    cdef public long long hold
    cdef public bint stop
    cdef public bint post_only
    cdef public object cl_ord_id
    cdef public object cost
    cdef public object fee
    cdef public long long paid
    cdef public long long notional
    cdef public long long cash_qty
    cdef public long long display_qty
    cdef public str stp
    cdef public object priority
    cdef public object userref
    cdef public str order_type
    cdef public str tif
    cdef public object expire_ts
    cdef public long long trigger_price
    cpdef tuple astuple(self)


cdef struct _IndexSlot:
    long long key
    void *value  # a strong reference to an Order; NULL: the slot is empty


cdef class OrderIndex:
    cdef _IndexSlot *slots
    cdef Py_ssize_t mask
    cdef Py_ssize_t used
    cdef Py_ssize_t _find(self, long long key) noexcept
    cdef int _resize(self, Py_ssize_t size) except -1
    cdef list _sorted(self, int what)
    cdef object get_c(self, long long key)
    cdef int set_c(self, long long key, Order value) except -1
    cdef int del_c(self, long long key) except -1


cdef struct _TextSlot:
    # 64 bytes, one cache line (the table is aligned to 64): a look-up reads
    # the entry's key, value and place with its hash and text.
    unsigned long long h  # the key's hash, its length in the top byte; 0: the slot is empty
    Py_ssize_t pos  # the entry's place in ``keys`` and ``values``
    unsigned long long head0  # the key's first 16 bytes when it is one byte a character
    unsigned long long head1
    PyObject *key  # borrowed: ``keys_`` holds the reference
    PyObject *value  # borrowed: ``values_`` holds the reference
    unsigned long long spare0
    unsigned long long spare1


cdef class TextIndex:
    cdef _TextSlot *slots  # 64-byte aligned, inside ``block``
    cdef void *block
    cdef Py_ssize_t mask
    cdef list keys_
    cdef list values_
    cdef bint collide
    cdef unsigned long long _hash(self, str key, unsigned long long *head0,
                                  unsigned long long *head1, int *inline) noexcept
    cdef Py_ssize_t find_c(self, str key) except -2
    cdef Py_ssize_t find_slot(self, str key) except -2
    cdef int _resize(self, Py_ssize_t size) except -1
    cdef object get_c(self, str key)


# A price level of a book side (engine/book.py's Level): see model/_order.pyx.
cdef class Level:
    cdef public long long price
    cdef tokex_i128 total  # the live orders' visible lots (``qty``)
    cdef public Py_ssize_t dead  # tombstones still queued
    cdef PyObject **items  # a ring of strong references to orders: ``small`` or a heap block
    cdef Py_ssize_t head
    cdef Py_ssize_t count
    cdef Py_ssize_t mask  # the ring's capacity less one (a power of two)
    cdef PyObject *small[4]
    # Set by the LevelIndex that holds the level: when its key entered the
    # table, which is the place the table gives it when iterated.
    cdef long long born
    cdef int grow(self) except -1
    cdef int compact_c(self) except -1
    cdef list _orders(self)


cdef class LevelIndex:
    cdef _IndexSlot *slots  # values are strong references to Levels
    cdef Py_ssize_t mask
    cdef Py_ssize_t used
    cdef long long born  # the next level's place in iteration order
    cdef list _ordered(self, int what)
    cdef object get_c(self, long long key)
    cdef int set_c(self, long long key, Level value) except -1
    cdef int del_c(self, long long key) except -1


cdef inline Order level_at(Level level, Py_ssize_t i):
    """The ``i``-th order of the queue, 0 <= i < count (a borrowed reference made strong)."""
    return <Order>level.items[(level.head + i) & level.mask]


cdef inline int level_push(Level level, Order order) except -1:
    """deque.append: ``order`` to the back of the queue."""
    if level.count > level.mask:
        level.grow()
    Py_INCREF(order)
    level.items[(level.head + level.count) & level.mask] = <PyObject *>order
    level.count += 1
    return 0


cdef inline void level_popleft(Level level) noexcept:
    """deque.popleft, dropping the ring's reference (count > 0)."""
    cdef PyObject *o = level.items[level.head]
    level.head = (level.head + 1) & level.mask
    level.count -= 1
    Py_DECREF(<object>o)


cdef inline object text_slot_value(TextIndex index, Py_ssize_t i):
    """The value of the entry in slot ``i`` (from ``find_slot``)."""
    return <object>index.slots[i].value


cdef inline object text_slot_key(TextIndex index, Py_ssize_t i):
    """The key of the entry in slot ``i``: the table's own text object."""
    return <object>index.slots[i].key


cdef inline Py_ssize_t text_slot_pos(TextIndex index, Py_ssize_t i) noexcept:
    """The place of the entry in slot ``i`` (in the order entries were made)."""
    return index.slots[i].pos


cdef class Account:
    # risk.accounts.Account's record (see model/_order.pyx). What admission
    # and a fill read is in the record's first 64 bytes with its header (the
    # record is allocated on a 64-byte boundary): the funds' data, the
    # limits, the fee rates and the switch.
    cdef long long *fp  # ``funds``' items, read and written in place
    cdef public long long max_open_orders
    cdef public object max_order_notional
    cdef public int max_bps  # 0..1000 (FeeTier's rule)
    cdef public int taker_bps
    cdef public int maker_bps
    cdef public bint trading
    # The rest, read by Python code.
    cdef public bint enabled
    cdef public bint killed
    cdef Py_buffer view  # held on ``funds``: the array cannot be resized under fp
    cdef object funds_
    cdef public str id
    cdef public str role
    cdef public tuple assets
    cdef public object dms_deadline
    cdef int _take_funds(self, object funds) except -1
