"""Walking the chain of classic-pcap record headers.

Each record header gives the length of its frame and so the offset of the next header: the walk is
inherently sequential. A Python loop that only follows the chain (the header fields are then read for the
whole batch at once with numpy) costs about 0.3 µs a record. numba's compiled walk (compiled_chain.py) costs
a tenth of that, but importing numba and loading its cached machine code costs about half a second in every
process, more than the Python walk of a million records: a file starts with the Python walk and switches to
the compiled one only when what is left of it is estimated to hold more than COMPILED_WALK_FROM records.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Callable
from functools import cache

import numpy as np

CHAIN_OK = 0
CHAIN_CORRUPT_HEADER = 1  # a caplen larger than any frame: the header is garbage
CHAIN_TRUNCATED_RECORD = 2  # the last frame runs past the end of the file
CHAIN_TRUNCATED_HEADER = 3  # the file ends inside a record header
COMPILED_WALK_FROM = 2_000_000  # records left in a file for the compiled walk to pay for loading numba

Buffer = bytes | memoryview | mmap.mmap

# (data, position, limit, big_endian, header, max_record) -> (fields, next position, status); `fields` rows
# are offset, seconds, fraction, caplen and original length; on a problem, `position` is where it is.
Walker = Callable[[Buffer, int, int, bool, int, int], tuple[np.ndarray, int, int]]


def walk_records(data: Buffer, position: int, limit: int, big_endian: bool, header: int, max_record: int):
    """Up to `limit` records from `position` in the bytes `data` (an mmap or bytes: struct reads those
    faster than a numpy array), with their header fields."""
    caplen_at = struct.Struct(">I" if big_endian else "<I").unpack_from
    end = len(data)
    last_header = end - header
    offsets: list[int] = []
    append = offsets.append
    status = CHAIN_OK
    for _ in range(limit):
        if position > last_header:
            if position < end:
                status = CHAIN_TRUNCATED_HEADER
            break
        (caplen,) = caplen_at(data, position + 8)
        if caplen > max_record:
            status = CHAIN_CORRUPT_HEADER
            break
        append(position)
        position += header + caplen
    if status == CHAIN_OK and position > end:
        status = CHAIN_TRUNCATED_RECORD
    return _header_fields(data, np.array(offsets, dtype=np.int64), big_endian, header), position, status


def _header_fields(data: Buffer, offsets: np.ndarray, big_endian: bool, header: int) -> np.ndarray:
    headers = np.frombuffer(data, dtype=np.uint8)[offsets[:, None] + np.arange(header)]
    words = headers.view(">u4" if big_endian else "<u4")
    return np.vstack([offsets, words.T.astype(np.int64)])


@cache
def compiled_walker() -> Walker:
    """The compiled walk, with the same contract as walk_records (numba is imported here, on first use)."""
    from sensor.pcap.compiled_chain import walk_records as walk_compiled

    def walk(data, position, limit, big_endian, header, max_record):
        view = np.frombuffer(data, dtype=np.uint8)
        fields, count, position, status = walk_compiled(view, position, limit, big_endian, header, max_record)
        return fields[:, :count], position, status

    return walk


def walker_for(records_walked: int, bytes_walked: int, bytes_left: int) -> Walker:
    """The walk worth using for the rest of a file, judged by the records per byte walked so far."""
    if records_walked and bytes_left * records_walked / max(bytes_walked, 1) > COMPILED_WALK_FROM:
        return compiled_walker()
    return walk_records
