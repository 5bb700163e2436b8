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
#include "_i128.h"

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

/* A new reference to the slot's value; AttributeError if it was never set.
 * Always inlined: Python 3.12's Py_INCREF (the immortal objects' check) made
 * the C compiler stop inlining it at its many call sites, and the calls cost
 * the 3.12 build about 250 instructions a peer-flow command. */
static inline __attribute__((always_inline)) PyObject *tokex_slot(PyObject *o, Py_ssize_t off) {
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

/* The C function of a builtin method (deque.append, a METH_O method; deque.popleft,
 * METH_NOARGS), read from its method descriptor once, at import. Calling it
 * directly skips the generic call (vectorcall dispatch, the descriptor's checks)
 * that calling the descriptor takes each time. The caller passes only objects of
 * the method's class, and None as the argument of a METH_NOARGS method. */
typedef PyObject *(*tokex_cmethod)(PyObject *, PyObject *);

static inline tokex_cmethod tokex_method_c(PyObject *descr, int flags) {
    PyMethodDef *def;
    if (!PyObject_TypeCheck(descr, &PyMethodDescr_Type)) {
        PyErr_Format(PyExc_TypeError, "%R: not a builtin method", descr);
        return NULL;
    }
    def = ((PyMethodDescrObject *)descr)->d_method;
    if ((def->ml_flags & (METH_VARARGS | METH_FASTCALL | METH_NOARGS | METH_O | METH_KEYWORDS)) != flags) {
        PyErr_Format(PyExc_TypeError, "%R: not called as expected (flags %d)", descr, def->ml_flags);
        return NULL;
    }
    return (tokex_cmethod)(void (*)(void))def->ml_meth;
}

/* f(self, arg): a new reference, or NULL with an error set. */
static inline PyObject *tokex_call_c(tokex_cmethod f, PyObject *self, PyObject *arg) {
    return f(self, arg);
}

/* The slot's value as a C long long (tokex_ll): 1 if it is set and an exact
 * int that fits, else 0 (the caller then takes its exact path, which reads the
 * slot by name and raises what there is to raise). No reference is taken: the
 * hot paths read many numbers this way, and an INCREF/DECREF pair per read
 * was a measurable part of their cost. */
static inline int tokex_slot_ll(PyObject *o, Py_ssize_t off, long long *out) {
    PyObject *v = *(PyObject **)((char *)o + off);
    return v != NULL && tokex_ll(v, out);
}

/* Whether the slot holds None (1) or something else (0), without taking a
 * reference; -1 with AttributeError if it was never set. */
static inline int tokex_slot_none(PyObject *o, Py_ssize_t off) {
    PyObject *v = *(PyObject **)((char *)o + off);
    if (v == NULL) {
        PyErr_Format(PyExc_AttributeError, "%R: slot at offset %zd is unset", (PyObject *)Py_TYPE(o), off);
        return -1;
    }
    return v == Py_None;
}
/* Building a msgspec Struct in place. Calling an event class (msgspec's
 * Struct_vectorcall) walks its positional and keyword arguments and fills
 * defaults for every object it makes: about 260 instructions an event,
 * which the compiled paths paid once or twice a command. For a class of the
 * plain shape checked here (gc=False, so not tracked by the collector; only
 * its fields as slots, no __dict__, no weak references, no __post_init__)
 * the object is one block of the header and the fields: tokex_shape_new
 * allocates it as msgspec does for such a class (PyObject_Malloc; its
 * dealloc frees it with PyObject_Free or keeps it on msgspec's free list)
 * and stores a new reference to each field's value at the offset the
 * field's member descriptor gives. The caller passes every field, in the
 * order of __struct_fields__. A class of any other shape (another msgspec
 * release could lay them out otherwise) gets s->type == NULL, and the
 * caller then calls the class as before. */
#define TOKEX_SHAPE_MAX 16
typedef struct {
    PyTypeObject *type; /* a strong reference, held for the module's life; NULL: call the class */
    Py_ssize_t n;
    Py_ssize_t off[TOKEX_SHAPE_MAX];
} tokex_shape;

/* 1: s describes cls; 0: cls is not of that shape (s->type stays NULL);
 * -1 with an error set. */
static __attribute__((unused)) int tokex_shape_init(tokex_shape *s, PyObject *cls) {
    PyTypeObject *t;
    PyObject *fields, *name;
    Py_ssize_t i, n, off;
    const char *text;
    int has_post_init;
    s->type = NULL;
    s->n = 0;
    if (!PyType_Check(cls)) {
        PyErr_Format(PyExc_TypeError, "%R: not a class", cls);
        return -1;
    }
    t = (PyTypeObject *)cls;
    has_post_init = PyObject_HasAttrString(cls, "__post_init__");
    fields = PyObject_GetAttrString(cls, "__struct_fields__");
    if (fields == NULL) return -1;
    if (!PyTuple_Check(fields) || has_post_init) {
        Py_DECREF(fields);
        return 0;
    }
    n = PyTuple_GET_SIZE(fields);
    if (n > TOKEX_SHAPE_MAX || (t->tp_flags & Py_TPFLAGS_HAVE_GC) || t->tp_itemsize != 0
        || t->tp_dictoffset != 0 || t->tp_weaklistoffset != 0
        || t->tp_basicsize != (Py_ssize_t)(sizeof(PyObject) + (size_t)n * sizeof(PyObject *))) {
        Py_DECREF(fields);
        return 0;
    }
    for (i = 0; i < n; i++) {
        name = PyTuple_GET_ITEM(fields, i);
        text = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
        off = text == NULL ? -1 : tokex_slot_offset(cls, text);
        if (off < 0) {
            Py_DECREF(fields);
            if (!PyErr_Occurred()) PyErr_Format(PyExc_TypeError, "%R: a field name is not text", cls);
            return -1;
        }
        if (off < (Py_ssize_t)sizeof(PyObject) || off + (Py_ssize_t)sizeof(PyObject *) > t->tp_basicsize
            || off % (Py_ssize_t)sizeof(PyObject *) != 0) {
            Py_DECREF(fields);
            return 0;
        }
        s->off[i] = off;
    }
    Py_DECREF(fields);
    Py_INCREF(cls);
    s->type = t;
    s->n = n;
    return 1;
}

/* A new instance of s's class with v[i] as its i-th field (new references);
 * NULL with MemoryError. Only for s->type != NULL. Every slot is written,
 * since the header and the n fields are the whole object. */
static inline PyObject *tokex_shape_new_at(const tokex_shape *s, PyObject *const *v) {
    PyObject *o = (PyObject *)PyObject_Malloc((size_t)s->type->tp_basicsize);
    Py_ssize_t i;
    if (o == NULL) return PyErr_NoMemory();
    PyObject_Init(o, s->type);
    for (i = 0; i < s->n; i++) {
        Py_INCREF(v[i]);
        *(PyObject **)((char *)o + s->off[i]) = v[i];
    }
    return o;
}

/* tokex_shape_new(s, field, ...): the fields as arguments, each a PyObject *,
 * exactly s->n of them. A macro over an array literal rather than a C
 * variadic function, which the compiler would not inline (about 65
 * instructions a peer-flow command more). */
#define tokex_shape_new(s, ...) tokex_shape_new_at((s), (PyObject *const[]){__VA_ARGS__})
#endif
