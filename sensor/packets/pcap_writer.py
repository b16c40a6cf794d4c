"""Writing classic libpcap files (microsecond timestamps, little-endian): what every reader understands."""

from __future__ import annotations

import struct

import numpy as np

from sensor.pcap.batch import FrameBatch

MAGIC_MICROSECONDS = 0xA1B2C3D4
SNAPLEN = 262144  # tcpdump's default: no frame the sensor sees is longer
FILE_HEADER = struct.Struct("<IHHiIII")  # magic, version 2.4, thiszone, sigfigs, snaplen, linktype
RECORD_HEADER = np.dtype([("seconds", "<u4"), ("microseconds", "<u4"), ("caplen", "<u4"), ("wirelen", "<u4")])


def file_header(linktype: int) -> bytes:
    return FILE_HEADER.pack(MAGIC_MICROSECONDS, 2, 4, 0, 0, SNAPLEN, linktype)


def records(batch: FrameBatch, rows: np.ndarray) -> bytes:
    """The pcap records (16-byte header, then the frame) of the batch's frames at `rows`, in that order."""
    headers = np.empty(len(rows), dtype=RECORD_HEADER)
    ts = batch.ts[rows]
    seconds = np.floor(ts)
    microseconds = np.minimum(np.rint((ts - seconds) * 1e6), 999_999)
    headers["seconds"] = seconds.astype(np.int64) & 0xFFFFFFFF
    headers["microseconds"] = microseconds
    headers["caplen"] = batch.caplen[rows]
    headers["wirelen"] = batch.wirelen[rows]
    header_bytes = headers.tobytes()
    view = memoryview(batch.buffer)
    parts = []
    for position, (offset, caplen) in enumerate(zip(batch.offsets[rows].tolist(), batch.caplen[rows].tolist(),
                                                    strict=True)):
        parts.append(header_bytes[position * 16 : position * 16 + 16])
        parts.append(view[offset : offset + caplen])
    return b"".join(parts)
