# cython: language_level=3, boundscheck=False, wraparound=False
"""The compiled build's loop over a journal segment's good records (node/journal.py).

:func:`take_records` does for a run of good records what ``scan`` does with
``_records`` record by record: check the header, the length and the
checksum, check the seq is the next one, decode the payload into a command
with that seq. It stops before the first record that is not all of that
(or at the end) and returns where, so ``scan``'s own loop carries on from
there and says what is wrong with it, exactly as in the pure build. The
record layout is node/journal.py's: a little-endian header of payload
length (4 bytes), seq (8) and CRC-32 (4) of the length, the seq and the
payload.

What a replay spends per record, and how this loop keeps it small:

* The checksum is computed on the record in place, over the header's length
  and seq and then the payload: no slices cut, no Python call made. It is
  zlib's CRC-32 (the value ``zlib.crc32`` gives), by carry-less
  multiplication where the processor has PCLMULQDQ (node/_crc32.h: about 27 ns
  for a 184-byte payload against zlib's 145 ns on the Intel Xeon VM), else
  zlib's own ``crc32`` (:data:`CRC32_PATH` says which).
* The two commands that make up nearly every journal, a new order and a
  cancel (``NewOrder``, ``CancelOrder``), are read straight from the
  payload's msgpack by :func:`_new_order` and :func:`_cancel_order`. They
  expect the map exactly as ``node.journal.encode_command`` writes it (the
  tag first, then every field in the struct's order) and check each value
  against the field's type as msgspec's decoder would: an int where an int
  is declared, text or nil where ``str | None`` is, one of the literal's
  words for a Literal. The command is then built by calling its class with
  every field, so its ``__post_init__`` checks its rules as on any decode.
  Anything else (another command, a map in another order or with fields
  missing, a value of another type, a rule broken) is handed to msgspec's
  decoder, which decodes it or says what is wrong, as before; both give the
  same command (tests/unit/node/test_journal_fast.py).
* The account and symbol texts recur on every record: they come from a
  small table of the texts seen (:func:`_text`) instead of being decoded
  afresh, so a replayed command carries the same ``str`` object as the last
  one from that account, whose hash is already computed when the engine
  looks it up.
"""

from cpython.long cimport PyLong_FromLongLong
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport int8_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy

# BUILD_HASH: model.build.source_hash() of the sources this build was made from
# (model/_build_hash.pxd); model.build checks it for every compiled module.
from model._build_hash cimport tokex_build_hash

BUILD_HASH = tokex_build_hash.decode("ascii").partition(":")[2]

from typing import get_args

from model.commands import CancelOrder, NewOrder, OrderType, Side, StpType, TimeInForce

cdef extern from "_crc32.h":
    void tokex_crc32_init() noexcept
    uint32_t tokex_crc32(uint32_t crc, const unsigned char *buf, size_t len) noexcept nogil
    int tokex_crc_clmul

tokex_crc32_init()
CRC32_PATH = "pclmulqdq" if tokex_crc_clmul else "zlib"
"""How :func:`crc32` and the reader compute the checksum: ``pclmulqdq`` or ``zlib``."""


def crc32(const unsigned char[::1] data, uint32_t value=0):
    """``zlib.crc32(data, value)``, computed as the reader computes a record's checksum."""
    if data.shape[0] == 0:
        return value
    return tokex_crc32(value, &data[0], <size_t>data.shape[0])

cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    const char *PyUnicode_1BYTE_DATA(object o)

cdef Py_ssize_t HEAD = 16  # length, seq, CRC-32
cdef Py_ssize_t SPAN = 12  # the header's part the CRC covers: length and seq


def take_records(bytes data, Py_ssize_t pos, long long expected, long long after, decode,
                 list commands, Py_ssize_t max_record):
    """Decode the good records of ``data`` from ``pos`` on into ``commands`` (those
    with seq above ``after``; the others are checked only); return ``(pos,
    expected)`` at the first record that is not good, or at the end."""
    cdef const unsigned char *buf = data
    cdef Py_ssize_t end = len(data)
    cdef uint32_t size, crc
    cdef uint64_t seq
    while end - pos >= HEAD:
        memcpy(&size, buf + pos, 4)
        memcpy(&seq, buf + pos + 4, 8)
        memcpy(&crc, buf + pos + 12, 4)
        if size == 0 or size > max_record or pos + HEAD + size > end:
            break
        if seq != <uint64_t>expected:
            break
        if tokex_crc32(tokex_crc32(0, buf + pos, SPAN), buf + pos + HEAD, size) != crc:
            break
        if expected > after:
            command = _fast(buf + pos + HEAD, size, expected)
            if command is None:
                try:
                    command = decode(data[pos + HEAD : pos + HEAD + size])
                except Exception:
                    break  # scan's loop decodes it again and says why
                if command.seq != expected:
                    break
            commands.append(command)
        expected += 1
        pos += HEAD + size
    return pos, expected


# ------------------------------------------------------------------ msgpack, read in place
#
# A Reader walks one payload. Each read checks the next value's msgpack type
# and, if it is what the field takes, returns it and moves on; if not, it
# clears ``ok`` and the record goes to msgspec's decoder instead. Once ``ok``
# is clear nothing read after matters.

cdef struct Reader:
    const unsigned char *p
    const unsigned char *end
    bint ok


cdef inline bint _need(Reader *r, Py_ssize_t n) noexcept:
    if r.end - r.p < n:
        r.ok = False
        return False
    return True


cdef inline uint64_t _be(const unsigned char *p, int n) noexcept:
    """An n-byte big-endian unsigned integer (msgpack's byte order)."""
    cdef uint64_t v = 0
    cdef int i
    for i in range(n):
        v = (v << 8) | p[i]
    return v


cdef Py_ssize_t _map_len(Reader *r) noexcept:
    """The entry count of a map (fixmap or map16), or -1."""
    if not _need(r, 1):
        return -1
    cdef uint8_t b = r.p[0]
    if 0x80 <= b <= 0x8f:
        r.p += 1
        return b & 0x0f
    if b == 0xde and _need(r, 3):
        r.p += 3
        return <Py_ssize_t>_be(r.p - 2, 2)
    r.ok = False
    return -1


cdef Py_ssize_t _str_len(Reader *r) noexcept:
    """The byte length of a str (fixstr, str8, str16, str32; the bytes follow), or -1."""
    if not _need(r, 1):
        return -1
    cdef uint8_t b = r.p[0]
    cdef Py_ssize_t n
    if 0xa0 <= b <= 0xbf:
        n = b & 0x1f
        r.p += 1
    elif b == 0xd9 and _need(r, 2):
        n = r.p[1]
        r.p += 2
    elif b == 0xda and _need(r, 3):
        n = <Py_ssize_t>_be(r.p + 1, 2)
        r.p += 3
    elif b == 0xdb and _need(r, 5):
        n = <Py_ssize_t>_be(r.p + 1, 4)
        r.p += 5
    else:
        r.ok = False
        return -1
    if not _need(r, n):
        return -1
    return n


cdef inline bint _same(const unsigned char *p, const char *q, Py_ssize_t n) noexcept:
    """The n bytes at p are those at q: eight bytes at a time, then one at a time
    (a call to memcmp cost more than the comparison on these few bytes: keys,
    tags, literal words, accounts)."""
    cdef uint64_t a, b
    while n >= 8:
        memcpy(&a, p, 8)
        memcpy(&b, q, 8)
        if a != b:
            return False
        p += 8
        q += 8
        n -= 8
    while n > 0:
        if p[0] != <unsigned char>q[0]:
            return False
        p += 1
        q += 1
        n -= 1
    return True


cdef inline bint _key(Reader *r, bytes key) noexcept:
    """The next key is ``key``, given as its msgpack bytes (:func:`_packed`): one
    comparison of the header and the name together."""
    cdef Py_ssize_t n = len(key)
    if r.end - r.p < n or not _same(r.p, key, n):
        r.ok = False
        return False
    r.p += n
    return True


def _packed(str name):
    """A field name or tag as msgpack writes it: a fixstr (names are short, ASCII)."""
    data = name.encode()
    assert len(data) <= 31
    return bytes([0xa0 | len(data)]) + data


cdef inline bint _nil(Reader *r) noexcept:
    """If the next value is nil, step over it and say so."""
    if r.p < r.end and r.p[0] == 0xc0:
        r.p += 1
        return True
    return False


cdef int64_t _int(Reader *r) noexcept:
    """A msgpack int that fits 64 signed bits (msgspec allows more: such a record
    goes to msgspec); 0 with ``ok`` cleared if the value is no int."""
    if not _need(r, 1):
        return 0
    cdef uint8_t b = r.p[0]
    cdef uint64_t u
    cdef int n
    if b <= 0x7f:  # positive fixint
        r.p += 1
        return b
    if b >= 0xe0:  # negative fixint
        r.p += 1
        return <int8_t>b
    if 0xcc <= b <= 0xcf:  # uint8 .. uint64
        n = 1 << (b - 0xcc)
        if not _need(r, 1 + n):
            return 0
        u = _be(r.p + 1, n)
        if u > <uint64_t>0x7fffffffffffffff:
            r.ok = False
            return 0
        r.p += 1 + n
        return <int64_t>u
    if 0xd0 <= b <= 0xd3:  # int8 .. int64: sign-extend from n bytes
        n = 1 << (b - 0xd0)
        if not _need(r, 1 + n):
            return 0
        u = _be(r.p + 1, n)
        r.p += 1 + n
        if n < 8 and u >> (8 * n - 1):
            u |= ~((<uint64_t>1 << (8 * n)) - 1)
        return <int64_t>u
    r.ok = False
    return 0



cdef object _opt_int(Reader *r):
    """``int | None``."""
    if _nil(r):
        return None
    cdef int64_t v = _int(r)
    return PyLong_FromLongLong(v) if r.ok else None


cdef object _bool(Reader *r):
    if _need(r, 1):
        if r.p[0] == 0xc2:
            r.p += 1
            return False
        if r.p[0] == 0xc3:
            r.p += 1
            return True
    r.ok = False
    return False


cdef object _decode(Reader *r, Py_ssize_t n):
    """The next ``n`` bytes as a str (UTF-8 checked, as msgspec does); None and ``ok``
    cleared if they are not UTF-8."""
    try:
        s = PyUnicode_DecodeUTF8(<const char *>r.p, n, NULL)
    except UnicodeDecodeError:
        r.ok = False
        return None
    r.p += n
    return s


cdef object _str(Reader *r):
    """A str decoded afresh; None if it is not text."""
    cdef Py_ssize_t n = _str_len(r)
    if n < 0:
        return None
    return _decode(r, n)


cdef object _opt_str(Reader *r):
    """``str | None``."""
    if _nil(r):
        return None
    return _str(r)


cdef object _literal(Reader *r, tuple words):
    """One of a Literal's words (the object the tuple holds), else ``ok`` cleared."""
    cdef Py_ssize_t n = _str_len(r)
    if n < 0:
        return None
    for word in words:
        if PyUnicode_GET_LENGTH(word) == n and _same(r.p, <const char *>PyUnicode_1BYTE_DATA(word), n):
            r.p += n
            return word
    r.ok = False
    return None


# The recurring texts (accounts, symbols): a table of TEXTS slots, each the last
# ASCII text whose bytes hash there (FNV-1a). A hit compares the bytes with the
# text's own (an ASCII str holds exactly its UTF-8 bytes) and returns that str;
# a miss decodes the text and puts it in the slot. The table holds at most
# TEXTS strings, whatever the journal.
cdef enum:
    TEXTS = 4096
cdef list _texts = [None] * TEXTS


cdef object _text(Reader *r):
    cdef Py_ssize_t n = _str_len(r)
    if n < 0:
        return None
    cdef uint32_t h = 2166136261
    cdef Py_ssize_t i
    for i in range(n):
        h = (h ^ r.p[i]) * 16777619
    cdef Py_ssize_t slot = h & (TEXTS - 1)
    cdef object s = _texts[slot]
    if s is not None and PyUnicode_GET_LENGTH(s) == n and _same(r.p, <const char *>PyUnicode_1BYTE_DATA(s), n):
        r.p += n
        return s
    s = _decode(r, n)
    if s is not None and PyUnicode_IS_ASCII(s):
        _texts[slot] = s
    return s


# ------------------------------------------------------------------ the two commands

# The words of each Literal field, and the fields in the order the encoder writes
# them. The readers below are written for exactly these fields: if the structs
# change, the fast path is off (and its test says so) until they are brought in line.
cdef tuple SIDES = get_args(Side)
cdef tuple ORDER_TYPES = get_args(OrderType)
cdef tuple TIFS = get_args(TimeInForce)
cdef tuple STPS = get_args(StpType)
NEW_ORDER_FIELDS = (
    "seq", "ts", "account", "symbol", "side", "qty", "price", "order_type", "tif",
    "expire_ts", "post_only", "display_qty", "trigger_price", "cl_ord_id", "userref",
    "stp", "cash_qty",
)
CANCEL_ORDER_FIELDS = ("seq", "ts", "account", "order_id", "cl_ord_id", "userref")
ENABLED = (
    NewOrder.__struct_fields__ == NEW_ORDER_FIELDS
    and CancelOrder.__struct_fields__ == CANCEL_ORDER_FIELDS
    and NewOrder.__struct_config__.tag_field == CancelOrder.__struct_config__.tag_field
    and all(isinstance(w, str) and w.isascii() for w in SIDES + ORDER_TYPES + TIFS + STPS)
)
"""Whether :func:`take_records` reads new orders and cancels itself."""
cdef bint FAST = ENABLED
cdef bytes TAG_FIELD = _packed(NewOrder.__struct_config__.tag_field)
cdef bytes NEW_ORDER_TAG = str(NewOrder.__struct_config__.tag).encode()
cdef bytes CANCEL_ORDER_TAG = str(CancelOrder.__struct_config__.tag).encode()
cdef tuple NEW_ORDER_KEYS = tuple(_packed(f) for f in NEW_ORDER_FIELDS)
cdef tuple CANCEL_ORDER_KEYS = tuple(_packed(f) for f in CANCEL_ORDER_FIELDS)


cdef object _fast(const unsigned char *payload, Py_ssize_t size, long long expected):
    """The command in ``payload`` if it is a new order or a cancel this module reads
    (see the module docstring) and its seq is ``expected``; else None."""
    if not FAST:
        return None
    cdef Reader r
    r.p = payload
    r.end = payload + size
    r.ok = True
    cdef Py_ssize_t n = _map_len(&r)
    if not r.ok or not _key(&r, TAG_FIELD):
        return None
    cdef Py_ssize_t tag = _str_len(&r)
    if tag < 0:
        return None
    if tag == len(NEW_ORDER_TAG) and _same(r.p, NEW_ORDER_TAG, tag):
        r.p += tag
        if n != 1 + len(NEW_ORDER_KEYS):
            return None
        return _new_order(&r, expected)
    if tag == len(CANCEL_ORDER_TAG) and _same(r.p, CANCEL_ORDER_TAG, tag):
        r.p += tag
        if n != 1 + len(CANCEL_ORDER_KEYS):
            return None
        return _cancel_order(&r, expected)
    return None


cdef object _new_order(Reader *r, long long expected):
    cdef tuple k = NEW_ORDER_KEYS
    cdef int64_t seq, ts, qty
    _key(r, k[0]); seq = _int(r)
    _key(r, k[1]); ts = _int(r)
    _key(r, k[2]); account = _text(r)
    _key(r, k[3]); symbol = _text(r)
    _key(r, k[4]); side = _literal(r, SIDES)
    _key(r, k[5]); qty = _int(r)
    _key(r, k[6]); price = _opt_int(r)
    _key(r, k[7]); order_type = _literal(r, ORDER_TYPES)
    _key(r, k[8]); tif = _literal(r, TIFS)
    _key(r, k[9]); expire_ts = _opt_int(r)
    _key(r, k[10]); post_only = _bool(r)
    _key(r, k[11]); display_qty = _opt_int(r)
    _key(r, k[12]); trigger_price = _opt_int(r)
    _key(r, k[13]); cl_ord_id = _opt_str(r)
    _key(r, k[14]); userref = _opt_int(r)
    _key(r, k[15]); stp = _literal(r, STPS)
    _key(r, k[16]); cash_qty = _opt_int(r)
    if not r.ok or r.p != r.end or seq != expected:
        return None
    try:
        return NewOrder(
            seq, ts, account, symbol, side, qty, price, order_type, tif, expire_ts,
            post_only, display_qty, trigger_price, cl_ord_id, userref, stp, cash_qty,
        )
    except Exception:
        return None  # a rule broken: msgspec's decoder says which


cdef object _cancel_order(Reader *r, long long expected):
    cdef tuple k = CANCEL_ORDER_KEYS
    cdef int64_t seq, ts
    _key(r, k[0]); seq = _int(r)
    _key(r, k[1]); ts = _int(r)
    _key(r, k[2]); account = _text(r)
    _key(r, k[3]); order_id = _opt_int(r)
    _key(r, k[4]); cl_ord_id = _opt_str(r)
    _key(r, k[5]); userref = _opt_int(r)
    if not r.ok or r.p != r.end or seq != expected:
        return None
    try:
        return CancelOrder(seq, ts, account, order_id, cl_ord_id, userref)
    except Exception:
        return None


def fast_decode(bytes payload, long long seq):
    """What :func:`take_records` makes of ``payload`` as record ``seq`` without
    msgspec: the command, or None where it hands the record to msgspec (tests)."""
    return _fast(payload, len(payload), seq)
