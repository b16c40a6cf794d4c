"""Classic libpcap files: a 24-byte file header, then 16-byte record headers each followed by a frame.

Four magics: microsecond or nanosecond timestamps, written little- or big-endian. Record boundaries form a
chain (each header gives the next offset), walked one by one (record_chain.py); every other field is then
read for a whole batch at once with numpy.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import numpy as np

from sensor.pcap.batch import FrameBatch
from sensor.pcap.problems import ReadProblems
from sensor.pcap.record_chain import (
    CHAIN_CORRUPT_HEADER,
    CHAIN_TRUNCATED_HEADER,
    CHAIN_TRUNCATED_RECORD,
    Walker,
    walk_records,
    walker_for,
)

MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
FILE_HEADER = 24
RECORD_HEADER = 16
MAX_RECORD = 16 * 1024 * 1024  # anything larger is a corrupt header, not a frame


class ClassicPcap:
    def __init__(self, buffer: bytes | memoryview) -> None:
        self._buffer = buffer
        self._endian, self._tick = MAGICS[bytes(buffer[:4])]
        if len(buffer) < FILE_HEADER:
            raise ValueError("pcap file header is truncated")
        self._linktype = struct.unpack_from(self._endian + "I", buffer, 20)[0] & 0xFFFF
        self.problems = ReadProblems()

    def batches(self, max_packets: int) -> Iterator[FrameBatch]:
        position, walked, walk = FILE_HEADER, 0, walk_records
        while True:
            fields, position = self._records(walk, position, max_packets)
            if not fields.shape[1]:
                return
            walked += fields.shape[1]
            walk = walker_for(walked, position - FILE_HEADER, len(self._buffer) - position)
            yield self._batch(fields)

    def _records(self, walk: Walker, position: int, limit: int) -> tuple[np.ndarray, int]:
        """Header fields (offset, seconds, fraction, caplen, original length) of up to `limit` records."""
        fields, position, status = walk(self._buffer, position, limit, self._endian == ">", RECORD_HEADER, MAX_RECORD)
        end = len(self._buffer)
        if status == CHAIN_CORRUPT_HEADER:
            self.problems.add(f"corrupt record header (caplen over {MAX_RECORD})", position)
            return fields, end
        if status == CHAIN_TRUNCATED_RECORD:  # only the last record can run past the end of the file
            self.problems.add("truncated record", int(fields[0, -1]))
            return fields[:, :-1], end
        if status == CHAIN_TRUNCATED_HEADER:
            self.problems.add("truncated record header", position)
            return fields, end
        return fields, position

    def _batch(self, fields: np.ndarray) -> FrameBatch:
        offsets, seconds, fraction, caplen, original = fields
        return FrameBatch(
            buffer=self._buffer,
            offsets=offsets + RECORD_HEADER,
            caplen=caplen,
            wirelen=np.maximum(original, caplen),
            ts=seconds + fraction * self._tick,
            linktype=np.full(len(offsets), self._linktype, dtype=np.int64),
        )
