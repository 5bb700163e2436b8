# The compiled build's hot risk steps: see risk/_fast.pyx.
from model._order cimport Order, TextIndex

cdef object c_admit(object risk, object c, Order order, Py_ssize_t open_orders,
                    bint duplicate, bint take)
cdef object c_admit_at(object risk, object c, object acct, Order order, Py_ssize_t open_orders,
                       bint duplicate, bint take, object m=*)
cdef object c_account_get(object risk, object account)
cdef TextIndex c_accounts(object risk)
cdef void c_reserve(object risk, Order order) except *
cdef void c_reserve_in(object risk, object m, Order order) except *
cdef int c_reamend(object risk, Order order, long long qty, long long price,
                   long long leaves, bint stop=*) except -1
cdef void c_release(object risk, Order order) except *
cdef void c_release_in(object risk, object m, Order order) except *
cdef tuple c_fill(object risk, Order taker, Order maker, long long price, long long qty,
                  long long taker_left)
cdef object c_market(object risk, str symbol)
cdef int c_set_reference(object m, object price) except -1
cdef object c_account(object risk, str account)
cdef object c_order_account(object risk, Order order)
cdef object c_fee_account(object risk)
cdef tuple c_fill_at(object m, object tacct, object fees, object macct, Order taker,
                     Order maker, long long price, long long qty, long long taker_left)
