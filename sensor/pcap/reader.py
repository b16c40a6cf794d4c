"""Opens a capture file, tells pcap from pcapng by its magic, and hands out frame batches."""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator

from sensor.pcap.batch import Frame, FrameBatch
from sensor.pcap.classic import MAGICS, ClassicPcap
from sensor.pcap.pcapng import SECTION_HEADER, Pcapng

DEFAULT_BATCH = 65536


class CaptureFormatError(ValueError):
    """The file is not a capture we can read (wrong magic, empty, unreadable)."""


class CaptureFile:
    """A pcap or pcapng file mapped into memory. `errors` lists what was skipped (truncation, corruption),
    one line per kind of problem."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        try:
            with open(self.path, "rb") as file:
                size = os.fstat(file.fileno()).st_size
                if size == 0:
                    raise CaptureFormatError(f"{self.path}: empty file")
                self._map = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as error:
            raise CaptureFormatError(f"{self.path}: {error.strerror or error}") from error
        magic = self._map[:4]
        if magic in MAGICS:
            kind = ClassicPcap
        elif len(magic) == 4 and int.from_bytes(magic, "little") == SECTION_HEADER:
            kind = Pcapng
        else:
            raise CaptureFormatError(f"{self.path}: not a pcap or pcapng file")
        try:
            self._format: ClassicPcap | Pcapng = kind(self._map)
        except ValueError as error:
            raise CaptureFormatError(f"{self.path}: {error}") from error

    @property
    def errors(self) -> list[str]:
        return self._format.problems.lines()

    @property
    def skipped_packets(self) -> int:
        """Complete packet records the reader could not use (corrupt fields): malformed packets."""
        return self._format.problems.skipped_packets

    def batches(self, max_packets: int = DEFAULT_BATCH) -> Iterator[FrameBatch]:
        """Frame batches in file order. Once the next batch is asked for, the pages of the file up to the end
        of the last one leave this process's memory, so reading takes the same memory whatever the file's
        size. The frames stay readable: a batch kept and read later is mapped in again by the kernel."""
        released = 0
        for batch in self._format.batches(max_packets):
            yield batch
            if not len(batch):  # every packet in it was skipped
                continue
            done = int((batch.offsets + batch.caplen).max()) // mmap.PAGESIZE * mmap.PAGESIZE
            if done > released:
                self._map.madvise(mmap.MADV_DONTNEED, released, done - released)
                released = done

    def frames(self) -> Iterator[Frame]:
        for batch in self.batches():
            yield from batch.frames()
