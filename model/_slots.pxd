# Slot access by offset (model/_slots.h): see the comment there.
cdef extern from "_slots.h":
    Py_ssize_t slot_offset "tokex_slot_offset"(object cls, const char *name) except -1
    object slot "tokex_slot"(object o, Py_ssize_t off)
    void slot_set "tokex_slot_set"(object o, Py_ssize_t off, object v)
