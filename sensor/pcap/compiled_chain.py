"""Walking the chain of classic-pcap record headers, compiled: record_chain.walk_records for big files.

numba (already here for shap) compiles it once and caches the machine code (next to this file, or in
NUMBA_CACHE_DIR). Only record_chain imports this module, when a file is big enough to pay for loading numba.
"""

from __future__ import annotations

import numba
import numpy as np

from sensor.pcap.record_chain import (
    CHAIN_CORRUPT_HEADER,
    CHAIN_OK,
    CHAIN_TRUNCATED_HEADER,
    CHAIN_TRUNCATED_RECORD,
)


def compiled(**options):
    """numba.njit, caching the machine code where it can: with no writable cache location (a read-only
    install, another user) numba refuses to cache, and then each process compiles for itself (~1 s)."""

    def decorate(function):
        try:
            return numba.njit(cache=True, **options)(function)
        except RuntimeError:
            return numba.njit(cache=False, **options)(function)

    return decorate


@compiled(inline="always")
def _u32(data: np.ndarray, at: int, big_endian: bool) -> int:
    if big_endian:
        return (
            (np.int64(data[at]) << 24) | (np.int64(data[at + 1]) << 16) | (np.int64(data[at + 2]) << 8) | data[at + 3]
        )
    return (
        np.int64(data[at])
        | (np.int64(data[at + 1]) << 8)
        | (np.int64(data[at + 2]) << 16)
        | (np.int64(data[at + 3]) << 24)
    )


@compiled(nogil=True)
def walk_records(data: np.ndarray, position: int, limit: int, big_endian: bool, header: int, max_record: int):
    """Up to `limit` records from `position` in the bytes `data`, with their header fields read on the way.

    Returns (fields, count, next position, status): `fields` rows are offset, seconds, fraction, caplen and
    original length; on a problem, `position` is where it is."""
    end = data.shape[0]
    fields = np.empty((5, limit), dtype=np.int64)
    count = 0
    while count < limit:
        if position > end - header:
            if position < end:
                return fields, count, position, CHAIN_TRUNCATED_HEADER
            break
        caplen = _u32(data, position + 8, big_endian)
        if caplen > max_record:
            return fields, count, position, CHAIN_CORRUPT_HEADER
        fields[0, count] = position
        fields[1, count] = _u32(data, position, big_endian)
        fields[2, count] = _u32(data, position + 4, big_endian)
        fields[3, count] = caplen
        fields[4, count] = _u32(data, position + 12, big_endian)
        count += 1
        position += header + caplen
    if position > end:
        return fields, count, position, CHAIN_TRUNCATED_RECORD
    return fields, count, position, CHAIN_OK
