"""A bounded ring of sealed pcap segments on disk: the most recent packets of one sensor.

Packets are gathered in memory into a segment (a whole classic pcap file: header, then records) until it holds
`segment_bytes` or has been open `segment_seconds`; then it is sealed (AES-256-GCM, like the shipping spool) and
written under a temporary name and renamed, so a reader only ever sees whole segments. A segment's name says
its place in the ring and the packet times it spans (`<seq>-<first µs>-<last µs>.pcap.sealed`), so a reader
opens only the segments a time window touches.

The ring never exceeds its budget: the smaller of `max_bytes` and `max_disk_share` of the file system it lives on.
Before a segment is written, the oldest segments go until it fits. The ring also leaves `reserve_bytes` free on
its file system for the rest of the box (the database on the same disk): when the disk fills up, whatever filled
it, the ring sheds its own oldest segments first, and only when nothing of its own is left are the segment's
packets dropped, counted. Either way `full` is set with a message for the admin (the ring's status file, read by
the box), and the next segment written without shedding clears it. Nothing here ever raises into the capture
path: packets already stored stay readable whatever happens.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sensor.packets.pcap_writer import file_header, records
from sensor.pcap.batch import FrameBatch

MAGIC = b"NSXPCAP\x01"
NONCE_BYTES = 12
SUFFIX = ".pcap.sealed"
SEGMENT_NAME = re.compile(r"^(\d{10})-(\d+)-(\d+)\.pcap\.sealed$")
DEFAULT_SEGMENT_BYTES = 4 * 1024 * 1024
DEFAULT_SEGMENT_SECONDS = 5.0
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
STATUS_FILE = "status.json"
STATUS_BYTES = 4096
RESERVE_BYTES = 64 * 1024 * 1024  # left free for the rest of the box, or RESERVE_SHARE of a smaller disk
RESERVE_SHARE = 0.05


class UnreadableSegment(Exception):
    """A segment that does not open: another key, another sensor's directory, or a corrupted file."""


class SegmentCipher:
    """AES-256-GCM; the sensor and the segment's name are bound in, so a segment moved or renamed does not open."""

    def __init__(self, key: bytes, agent_id: str) -> None:
        self._aead = AESGCM(key)
        self._agent = agent_id.encode()

    def _associated_data(self, name: str) -> bytes:
        return b"netsenx-packets\x00%s\x00%s" % (self._agent, name.encode())

    def seal(self, name: str, pcap: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return MAGIC + nonce + self._aead.encrypt(nonce, pcap, self._associated_data(name))

    def open(self, name: str, sealed: bytes) -> bytes:
        if not sealed.startswith(MAGIC):
            raise UnreadableSegment(f"{name}: not a sealed packet segment")
        nonce = sealed[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, sealed[len(MAGIC) + NONCE_BYTES :], self._associated_data(name))
        except InvalidTag as error:
            raise UnreadableSegment(f"{name}: the packet store key does not open it") from error


@dataclass(frozen=True, slots=True)
class Segment:
    path: Path
    seq: int
    first: float  # packet time of its first and last packet, seconds
    last: float
    size: int

    def overlaps(self, since: float, until: float) -> bool:
        return self.first <= until and self.last >= since


def segment_name(seq: int, first: float, last: float) -> str:
    return f"{seq:010d}-{max(0, round(first * 1e6))}-{max(0, round(last * 1e6))}{SUFFIX}"


def list_segments(directory: Path) -> list[Segment]:
    """The ring's whole segments, oldest first (temporary files of a write in progress are not among them)."""
    found = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    for entry in entries:
        match = SEGMENT_NAME.match(entry.name)
        if match is None:
            continue
        try:
            size = entry.stat().st_size
        except FileNotFoundError:  # pruned meanwhile
            continue
        seq, first, last = (int(group) for group in match.groups())
        found.append(Segment(Path(entry.path), seq, first / 1e6, last / 1e6, size))
    return sorted(found, key=lambda segment: segment.seq)


def read_segment(segment: Segment, cipher: SegmentCipher) -> bytes | None:
    """The segment's pcap file, or None when the ring pruned it since it was listed."""
    try:
        sealed = segment.path.read_bytes()
    except FileNotFoundError:
        return None
    return cipher.open(segment.path.name, sealed)


class RingStats(msgspec.Struct, kw_only=True):
    packets_stored: int = 0
    packets_dropped: int = 0
    """Packets that never reached the disk: the disk was full and the ring had nothing left to shed, or the
    recorder's queue was full (the capture path never waits for the store)."""
    segments: int = 0
    bytes: int = 0
    segments_pruned: int = 0
    segments_shed: int = 0
    """Of those pruned, the ones that went because the disk was full (not because of the ring's budget)."""
    full: bool = False
    last_error: str = ""


def read_status(directory: Path) -> RingStats | None:
    """What the ring last said of itself, or None when it never wrote (or the file is unreadable)."""
    try:
        return msgspec.json.decode((directory / STATUS_FILE).read_bytes().rstrip(), type=RingStats)
    except (OSError, msgspec.DecodeError):
        return None


class PacketRing:
    def __init__(self, directory: str | os.PathLike, key: bytes, agent_id: str, *, max_bytes: int,
                 max_disk_share: float = 1.0, segment_bytes: int = DEFAULT_SEGMENT_BYTES,
                 segment_seconds: float = DEFAULT_SEGMENT_SECONDS,
                 reserve_bytes: int | None = None) -> None:
        if max_bytes < 1 or not 0 < max_disk_share <= 1:
            raise ValueError("the packet store needs a positive size budget and a disk share in (0, 1]")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.cipher = SegmentCipher(key, agent_id)
        self.max_bytes = max_bytes
        self.max_disk_share = max_disk_share
        self.segment_bytes = segment_bytes
        self.segment_seconds = segment_seconds
        usage = os.statvfs(self.directory)
        disk = usage.f_blocks * usage.f_frsize
        self.reserve_bytes = min(RESERVE_BYTES, int(disk * RESERVE_SHARE)) if reserve_bytes is None else reserve_bytes
        self._status: int | None = None
        self.stats = RingStats()
        self._segments = list_segments(self.directory)
        self._next_seq = self._segments[-1].seq + 1 if self._segments else 1
        self._linktype: int | None = None
        self._parts: list[bytes] = []
        self._size = 0
        self._packets = 0
        self._first = self._last = 0.0
        self._opened = 0.0
        self._count_segments()

    def budget(self) -> int:
        """Bytes the ring may hold now: its own budget, and its share of the file system it lives on."""
        usage = os.statvfs(self.directory)
        return min(self.max_bytes, int(usage.f_blocks * usage.f_frsize * self.max_disk_share))

    def append(self, batch: FrameBatch) -> None:
        if not len(batch):
            return
        linktypes = batch.linktype
        # one pcap file has one link type: a change starts a new segment
        changes = np.flatnonzero(linktypes[1:] != linktypes[:-1]) + 1
        for rows in np.split(np.arange(len(batch)), changes):
            linktype = int(linktypes[rows[0]])
            if self._packets and linktype != self._linktype:
                self.flush()
            if not self._packets:
                self._linktype, self._opened = linktype, time.monotonic()
                self._first, self._last = float(batch.ts[rows[0]]), float(batch.ts[rows[0]])
                self._parts, self._size = [file_header(linktype)], 24
            data = records(batch, rows)
            self._parts.append(data)
            self._size += len(data)
            self._packets += len(rows)
            # a clock that steps back (or files read one after another) must not hide packets from a time search
            self._first = min(self._first, float(batch.ts[rows].min()))
            self._last = max(self._last, float(batch.ts[rows].max()))
        if self._size >= self.segment_bytes or time.monotonic() - self._opened >= self.segment_seconds:
            self.flush()

    def flush(self) -> None:
        """Seal and write the segment being gathered (when it holds packets)."""
        if not self._packets:
            return
        packets, name = self._packets, segment_name(self._next_seq, self._first, self._last)
        sealed = self.cipher.seal(name, b"".join(self._parts))
        self._parts, self._size, self._packets = [], 0, 0
        self._next_seq += 1
        if self._write(name, sealed):
            self.stats.packets_stored += packets
        else:
            self.stats.packets_dropped += packets
        self._save_status()

    def _write(self, name: str, sealed: bytes) -> bool:
        shed = 0
        try:
            self._make_room(self.budget() - len(sealed))
            while self._segments and self._free_bytes() < len(sealed) + self.reserve_bytes:
                self._prune_oldest()  # the rest of the box (the database) needs the room more than old packets
                shed += 1
            if self._free_bytes() < len(sealed) + self.reserve_bytes:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as error:
            return self._failed(error, shed)
        while True:
            try:
                self._write_whole(name, sealed)
            except OSError as error:
                if error.errno in DISK_FULL and self._segments:
                    self._prune_oldest()
                    shed += 1
                    continue
                return self._failed(error, shed)
            self._segments.append(Segment(self.directory / name, self._next_seq - 1, 0.0, 0.0, len(sealed)))
            self._count_segments()
            self.stats.segments_shed += shed
            if shed:
                self.stats.full = True
                self.stats.last_error = (f"the disk is full: the packet store shed its {shed} oldest segments to "
                                         "keep room for the rest of the box")
            else:
                self.stats.full, self.stats.last_error = False, ""
            return True

    def _free_bytes(self) -> int:
        usage = os.statvfs(self.directory)
        return usage.f_bavail * usage.f_frsize

    def _write_whole(self, name: str, sealed: bytes) -> None:
        temporary = self.directory / f".{name}.tmp"
        try:
            with open(temporary, "wb") as file:
                file.write(sealed)
            os.replace(temporary, self.directory / name)
        except OSError:
            temporary.unlink(missing_ok=True)
            raise

    def _failed(self, error: OSError, shed: int) -> bool:
        self.stats.segments_shed += shed
        self.stats.full = error.errno in DISK_FULL
        reason = "the disk is full and the packet store has nothing left to shed" if self.stats.full else (
            error.strerror or str(error))
        self.stats.last_error = f"packets dropped: {reason} ({self.directory})"
        return False

    def _make_room(self, allowed: int) -> None:
        while self._segments and sum(segment.size for segment in self._segments) > allowed:
            self._prune_oldest()

    def _prune_oldest(self) -> None:
        oldest = self._segments.pop(0)
        oldest.path.unlink(missing_ok=True)
        self.stats.segments_pruned += 1
        self._count_segments()

    def _save_status(self) -> None:
        """The stats for the box (read_status), rewritten in place in a file of fixed size, so that telling the
        admin the disk is full never needs a byte of disk."""
        try:
            if self._status is None:
                self._status = os.open(self.directory / STATUS_FILE, os.O_RDWR | os.O_CREAT, 0o600)
                os.ftruncate(self._status, STATUS_BYTES)
            os.pwrite(self._status, msgspec.json.encode(self.stats).ljust(STATUS_BYTES), 0)
        except OSError:  # the status is a convenience; the packets and the capture path never depend on it
            pass

    def close(self) -> None:
        self.flush()
        if self._status is not None:
            os.close(self._status)
            self._status = None

    def _count_segments(self) -> None:
        self.stats.segments = len(self._segments)
        self.stats.bytes = sum(segment.size for segment in self._segments)
