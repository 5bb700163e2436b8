# Checked 128-bit money arithmetic (model/_i128.h): see the comment there.
cdef extern from "_i128.h":
    ctypedef long long tokex_i128
    bint as_ll "tokex_ll"(object o, long long *out)
    bint add128 "tokex_add"(tokex_i128 a, tokex_i128 b, tokex_i128 *out)
    bint sub128 "tokex_sub"(tokex_i128 a, tokex_i128 b, tokex_i128 *out)
    bint mul128 "tokex_mul"(tokex_i128 a, tokex_i128 b, tokex_i128 *out)
    void divmod128 "tokex_divmod"(tokex_i128 a, tokex_i128 b, tokex_i128 *q, tokex_i128 *r)
    tokex_i128 floordiv128 "tokex_floordiv"(tokex_i128 a, tokex_i128 b)
    tokex_i128 ceildiv128 "tokex_ceildiv"(tokex_i128 a, tokex_i128 b)
    bint fits64 "tokex_fits"(tokex_i128 v)
    object from_i128 "tokex_from_i128"(tokex_i128 v)
