/* Exact money arithmetic for the compiled core (risk/_fast.pyx): 128-bit
 * signed integers with every step checked for overflow.
 *
 * The pure build computes holds, costs, fees and settlements on Python's
 * unbounded integers. The compiled build computes the same expressions here
 * and takes the Python-integer path only when a step would overflow 128 bits
 * or a value read is not a 64-bit Python int (tokex_ll fails): both give the
 * same exact integer, so MARKET_RULES' cumulative venue-favour rounding is
 * the same bit for bit. Every function returns 1 on success and 0 on
 * overflow (the result is then undefined and must not be used); none sets a
 * Python error.
 */
#ifndef TOKEX_I128_H
#define TOKEX_I128_H
#include <Python.h>
#include <limits.h>

typedef __int128 tokex_i128;

/* o as a C long long, if it is an exact Python int that fits. A small one
 * (one or two internal digits on 3.11, below 2**60 in magnitude: prices,
 * quantities, fee rates, balances in small units) is read in place. */
static inline int tokex_ll(PyObject *o, long long *out) {
    int overflow = 0;
    long long v;
    if (!PyLong_CheckExact(o)) return 0;
#if PY_VERSION_HEX >= 0x030C0000
    if (PyUnstable_Long_IsCompact((PyLongObject *)o)) {
        *out = (long long)PyUnstable_Long_CompactValue((PyLongObject *)o);
        return 1;
    }
#else
    switch (Py_SIZE(o)) {
    case 0: *out = 0; return 1;
    case 1: *out = (long long)((PyLongObject *)o)->ob_digit[0]; return 1;
    case -1: *out = -(long long)((PyLongObject *)o)->ob_digit[0]; return 1;
    case 2: case -2: {  /* below 2**60: balances and holds in small units */
        const digit *d = ((PyLongObject *)o)->ob_digit;
        long long v2 = (long long)d[0] | ((long long)d[1] << PyLong_SHIFT);
        *out = Py_SIZE(o) > 0 ? v2 : -v2;
        return 1;
    }
    }
#endif
    v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow) return 0;
    *out = v;
    return 1;
}

static inline int tokex_add(tokex_i128 a, tokex_i128 b, tokex_i128 *out) {
    return !__builtin_add_overflow(a, b, out);
}

static inline int tokex_sub(tokex_i128 a, tokex_i128 b, tokex_i128 *out) {
    return !__builtin_sub_overflow(a, b, out);
}

static inline int tokex_mul(tokex_i128 a, tokex_i128 b, tokex_i128 *out) {
    return !__builtin_mul_overflow(a, b, out);
}

/* a / b and a % b, C's (truncating); b > 0. On 64-bit operands when both fit
 * (a 128-bit division is a library call several times slower). */
static inline void tokex_divmod(tokex_i128 a, tokex_i128 b, tokex_i128 *q, tokex_i128 *r) {
    if (a >= (tokex_i128)LLONG_MIN && a <= (tokex_i128)LLONG_MAX && b <= (tokex_i128)LLONG_MAX) {
        long long a64 = (long long)a, b64 = (long long)b;
        *q = a64 / b64;
        *r = a64 % b64;
    } else {
        *q = a / b;
        *r = a % b;
    }
}

/* Python's a // b (rounds toward minus infinity); b > 0. */
static inline tokex_i128 tokex_floordiv(tokex_i128 a, tokex_i128 b) {
    tokex_i128 q, r;
    tokex_divmod(a, b, &q, &r);
    if (r != 0 && a < 0) q -= 1;
    return q;
}

/* Python's -(-a // b) (rounds toward plus infinity); b > 0. */
static inline tokex_i128 tokex_ceildiv(tokex_i128 a, tokex_i128 b) {
    tokex_i128 q, r;
    tokex_divmod(a, b, &q, &r);
    if (r != 0 && a > 0) q += 1;
    return q;
}

/* 1 if v fits a signed 64-bit integer. */
static inline int tokex_fits(tokex_i128 v) {
    return v >= (tokex_i128)LLONG_MIN && v <= (tokex_i128)LLONG_MAX;
}

/* v as a new Python int (exact for every 128-bit value); NULL with an error set on failure. */
static inline PyObject *tokex_from_i128(tokex_i128 v) {
    if (tokex_fits(v)) return PyLong_FromLongLong((long long)v);
    return _PyLong_FromByteArray((const unsigned char *)&v, sizeof(v), PY_LITTLE_ENDIAN, 1);
}
#endif
