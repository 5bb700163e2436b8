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
"""

from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy

from zlib import crc32

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
        payload = data[pos + HEAD : pos + HEAD + size]
        if crc32(payload, crc32(data[pos : pos + SPAN])) != crc:
            break
        if expected > after:
            try:
                command = decode(payload)
            except Exception:
                break  # scan's loop decodes it again and says why
            if command.seq != expected:
                break
            commands.append(command)
        expected += 1
        pos += HEAD + size
    return pos, expected
