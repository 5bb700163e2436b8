# The build's hash (model/build.py): setup.py writes model/_build_hash.h before
# compiling, one C string "tokex-build-hash:<source_hash()>" that every
# compiled module carries in its binary and exposes as BUILD_HASH.
# model.build reads it from each module's file before importing any of them.
cdef extern from "_build_hash.h":
    const char *tokex_build_hash
