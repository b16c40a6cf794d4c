"""Classic libpcap files: a 24-byte file header, then 16-byte record headers each followed by a frame.

Four magics: microsecond or nanosecond timestamps, written little- or big-endian. Record boundaries form a
chain (each header gives the next offset), so they are found with a tight Python loop over the headers;
every other field is then read for a whole batch at once with numpy.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import numpy as np

from sensor.pcap.batch import FrameBatch

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
    def __init__(self, buffer: bytes | memoryview, view: np.ndarray) -> None:
        self._buffer = buffer
        self._view = view
        self._endian, self._tick = MAGICS[bytes(buffer[:4])]
        if len(buffer) < FILE_HEADER:
            raise ValueError("pcap file header is truncated")
        self._linktype = struct.unpack_from(self._endian + "I", buffer, 20)[0] & 0xFFFF
        self.errors: list[str] = []

    def batches(self, max_packets: int) -> Iterator[FrameBatch]:
        position = FILE_HEADER
        while True:
            offsets, position = self._record_offsets(position, max_packets)
            if not offsets:
                return
            yield self._batch(np.array(offsets, dtype=np.int64))

    def _record_offsets(self, position: int, limit: int) -> tuple[list[int], int]:
        buffer, end = self._buffer, len(self._buffer)
        last_header = end - RECORD_HEADER
        caplen_at = struct.Struct(self._endian + "I").unpack_from
        offsets: list[int] = []
        append = offsets.append
        for _ in range(limit):
            if position > last_header:
                break
            caplen = caplen_at(buffer, position + 8)[0]
            if caplen > MAX_RECORD:
                self.errors.append(f"corrupt record header at byte {position} (caplen {caplen})")
                return offsets, end
            append(position)
            position += RECORD_HEADER + caplen
        if position > end:  # only the last record can run past the end of the file
            self.errors.append(f"truncated record at byte {offsets.pop()}")
            position = end
        elif last_header < position < end:
            self.errors.append(f"truncated record header at byte {position}")
            position = end
        return offsets, position

    def _batch(self, offsets: np.ndarray) -> FrameBatch:
        headers = self._view[offsets[:, None] + np.arange(RECORD_HEADER)].view(self._endian + "u4")
        seconds, fraction = headers[:, 0].astype(np.float64), headers[:, 1].astype(np.float64)
        caplen = headers[:, 2].astype(np.int64)
        return FrameBatch(
            buffer=self._buffer,
            offsets=offsets + RECORD_HEADER,
            caplen=caplen,
            wirelen=np.maximum(headers[:, 3].astype(np.int64), caplen),
            ts=seconds + fraction * self._tick,
            linktype=np.full(len(offsets), self._linktype, dtype=np.int64),
        )
