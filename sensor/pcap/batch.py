"""A batch of captured frames that share one buffer: the unit the decoder works on.

Frames are described by columns (offset into the buffer, captured length, length on the wire, timestamp,
link type) instead of one Python object per frame, so the decoder can read header fields for thousands of
frames with a handful of numpy operations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

Frame = tuple[float, int, bytes]


@dataclass(frozen=True, slots=True)
class FrameBatch:
    buffer: bytes | memoryview  # the bytes every offset points into (a file's mmap or joined live frames)
    offsets: np.ndarray  # int64, where each frame starts in `buffer`
    caplen: np.ndarray  # int64, bytes captured
    wirelen: np.ndarray  # int64, bytes the frame had on the wire (>= caplen)
    ts: np.ndarray  # float64 seconds since the epoch
    linktype: np.ndarray  # int64 pcap LINKTYPE_* per frame

    def __len__(self) -> int:
        return len(self.offsets)

    def frame(self, index: int) -> memoryview:
        start = int(self.offsets[index])
        return memoryview(self.buffer)[start : start + int(self.caplen[index])]

    def frames(self) -> Iterable[Frame]:
        for index, (ts, linktype) in enumerate(zip(self.ts.tolist(), self.linktype.tolist(), strict=True)):
            yield ts, linktype, self.frame(index)

    @classmethod
    def from_frames(cls, frames: list[Frame]) -> FrameBatch:
        """Joins frames handed over one by one (live capture) into one buffer."""
        lengths = np.fromiter((len(frame) for _, _, frame in frames), dtype=np.int64, count=len(frames))
        offsets = np.zeros(len(frames), dtype=np.int64)
        np.cumsum(lengths[:-1], out=offsets[1:])
        return cls(
            buffer=b"".join(frame for _, _, frame in frames),
            offsets=offsets,
            caplen=lengths,
            wirelen=lengths.copy(),
            ts=np.fromiter((ts for ts, _, _ in frames), dtype=np.float64, count=len(frames)),
            linktype=np.fromiter((lt for _, lt, _ in frames), dtype=np.int64, count=len(frames)),
        )
