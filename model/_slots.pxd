from cpython.object cimport PyObject

# Slot access by offset (model/_slots.h): see the comment there.
cdef extern from "_slots.h":
    Py_ssize_t slot_offset "tokex_slot_offset"(object cls, const char *name) except -1
    object slot "tokex_slot"(object o, Py_ssize_t off)
    void slot_set "tokex_slot_set"(object o, Py_ssize_t off, object v)
    bint slot_ll "tokex_slot_ll"(object o, Py_ssize_t off, long long *out)
    bint slot_none "tokex_slot_none"(object o, Py_ssize_t off) except -1
    ctypedef void *cmethod "tokex_cmethod"
    cmethod method_c "tokex_method_c"(object descr, int flags) except NULL
    object call_c "tokex_call_c"(cmethod f, object self, object arg)
    int METH_O
    int METH_NOARGS
    # Building a msgspec Struct in place (see the comment in _slots.h).
    ctypedef struct shape "tokex_shape":
        void *type
        Py_ssize_t n
    int shape_init "tokex_shape_init"(shape *s, object cls) except -1
    object shape_new "tokex_shape_new"(const shape *s, ...)
