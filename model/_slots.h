/* Reading and writing a slot (a __slots__ attribute, or a msgspec Struct
 * field) at its offset in the object, as the slot's own descriptor does, but
 * without looking the name up on every access. The compiled core reads each
 * command's fields and its hot state objects (risk's Market and Account, the
 * book's Level) this way. The offset comes from the class's member descriptor
 * once, at import (tokex_slot_offset); the caller passes only objects of that
 * class (or a subclass, which keeps its base's offsets). */
#ifndef TOKEX_SLOTS_H
#define TOKEX_SLOTS_H
#include <Python.h>
#include <structmember.h>

static Py_ssize_t tokex_slot_offset(PyObject *cls, const char *name) {
    PyObject *d = PyObject_GetAttrString(cls, name);
    Py_ssize_t off;
    if (d == NULL) return -1;
    if (!PyObject_TypeCheck(d, &PyMemberDescr_Type)
        || ((PyMemberDescrObject *)d)->d_member->type != T_OBJECT_EX) {
        PyErr_Format(PyExc_TypeError, "%R.%s: not an object slot", cls, name);
        Py_DECREF(d);
        return -1;
    }
    off = ((PyMemberDescrObject *)d)->d_member->offset;
    Py_DECREF(d);
    return off;
}

/* A new reference to the slot's value; AttributeError if it was never set. */
static inline PyObject *tokex_slot(PyObject *o, Py_ssize_t off) {
    PyObject *v = *(PyObject **)((char *)o + off);
    if (v == NULL) {
        PyErr_Format(PyExc_AttributeError, "%R: slot at offset %zd is unset", (PyObject *)Py_TYPE(o), off);
        return NULL;
    }
    Py_INCREF(v);
    return v;
}

/* Store v in the slot (a new reference), dropping the old value. */
static inline void tokex_slot_set(PyObject *o, Py_ssize_t off, PyObject *v) {
    PyObject **p = (PyObject **)((char *)o + off);
    PyObject *old = *p;
    Py_INCREF(v);
    *p = v;
    Py_XDECREF(old);
}
#endif
