"""pcapng files: a chain of typed blocks. Section headers set the byte order, interface description blocks
give each interface its link type and timestamp resolution, and packets come as enhanced (EPB), simple
(SPB) or obsolete (PB) packet blocks.

The block chain is walked in Python; enhanced packet blocks, the common case, are only located there and
their fields are read for a whole batch with numpy. A batch never crosses a section header, so one byte
order and one interface table hold for all of it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from sensor.pcap.batch import FrameBatch
from sensor.pcap.problems import ReadProblems

SECTION_HEADER = 0x0A0D0D0A
INTERFACE_DESCRIPTION = 1
OBSOLETE_PACKET = 2
SIMPLE_PACKET = 3
ENHANCED_PACKET = 6
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPTION_TSRESOL = 9
OPTION_TSOFFSET = 14
PACKET_BLOCKS = {ENHANCED_PACKET: "enhanced", SIMPLE_PACKET: "simple", OBSOLETE_PACKET: "obsolete"}
# The smallest block of each type that holds its fixed fields (type, length, body, trailing length).
MIN_BLOCK = {SECTION_HEADER: 28, INTERFACE_DESCRIPTION: 20, OBSOLETE_PACKET: 32, SIMPLE_PACKET: 16, ENHANCED_PACKET: 32}
# Timestamp units must fit the 64 bits of the tick counts they divide (wiretap draws the same line).
MAX_DECIMAL_RESOLUTION = 19
MAX_BINARY_RESOLUTION = 63
UNREADABLE_INTERFACE = "packet on an interface we cannot read"


@dataclass(frozen=True, slots=True)
class Interface:
    linktype: int
    snaplen: int
    units_per_second: int  # 0: a resolution we cannot read, so neither can we its packets' times
    offset_seconds: int


class Pcapng:
    def __init__(self, buffer: bytes | memoryview) -> None:
        self._buffer = buffer
        self._view = np.frombuffer(buffer, dtype=np.uint8)
        self._endian = "<"
        self._interfaces: list[Interface] = []
        self.problems = ReadProblems()
        if len(buffer) < MIN_BLOCK[SECTION_HEADER]:
            raise ValueError("pcapng section header is truncated")
        if self._byte_order(0) is None:
            raise ValueError("pcapng section header has no byte-order magic")

    def batches(self, max_packets: int) -> Iterator[FrameBatch]:
        position = 0
        end = len(self._buffer)
        while position < end:
            enhanced: list[int] = []
            others: list[tuple[int, int, int, float, int]] = []  # data offset, caplen, wirelen, ts, linktype
            position = self._walk(position, max_packets, enhanced, others)
            if enhanced or others:
                yield self._batch(np.array(enhanced, dtype=np.int64), others)

    def _walk(self, position: int, limit: int, enhanced: list[int], others: list) -> int:
        """Walks blocks from `position` until `limit` packets, the next section, or the end."""
        buffer, end = self._buffer, len(self._buffer)
        head = struct.Struct(self._endian + "II").unpack_from
        append = enhanced.append
        count = 0
        while position + 12 <= end and count < limit:
            block_type, length = head(buffer, position)
            if block_type == SECTION_HEADER:
                if count:
                    return position  # the new section may change the byte order: start a new batch
                if not self._read_section_header(position):
                    return end
                head = struct.Struct(self._endian + "II").unpack_from
                block_type, length = head(buffer, position)
            if length < 12 or length % 4:
                self.problems.add("corrupt block length", position)
                return end
            if position + length > end:
                self.problems.add("truncated block (the file ends inside it)", position)
                return end
            if block_type == ENHANCED_PACKET and length >= MIN_BLOCK[ENHANCED_PACKET]:
                append(position)
                count += 1
            elif block_type == INTERFACE_DESCRIPTION:
                self._read_interface(position, length)
            elif block_type in PACKET_BLOCKS:
                packet = self._irregular_packet(block_type, position, length)
                if packet is not None:
                    others.append(packet)
                    count += 1
            elif block_type == SECTION_HEADER and length < MIN_BLOCK[SECTION_HEADER]:
                self.problems.add("section header block too short for its fields", position)
            position += length
        if count < limit and position < end:
            self.problems.add("truncated block header (the file ends inside it)", position)
            return end
        return position

    def _byte_order(self, position: int) -> str | None:
        magic = bytes(self._buffer[position + 8 : position + 12])
        if magic == struct.pack("<I", BYTE_ORDER_MAGIC):
            return "<"
        if magic == struct.pack(">I", BYTE_ORDER_MAGIC):
            return ">"
        return None

    def _read_section_header(self, position: int) -> bool:
        if position + MIN_BLOCK[SECTION_HEADER] > len(self._buffer):
            self.problems.add("truncated section header", position)
            return False
        endian = self._byte_order(position)
        if endian is None:
            self.problems.add("bad byte-order magic in section header", position)
            return False
        self._endian = endian
        self._interfaces = []
        return True

    def _read_interface(self, position: int, length: int) -> None:
        if length < MIN_BLOCK[INTERFACE_DESCRIPTION]:
            # Still an interface: the packets that name it by its index are then skipped, not given another's.
            self.problems.add("interface description block too short for its fields", position)
            self._interfaces.append(Interface(0, 0, 0, 0))
            return
        linktype, _, snaplen = struct.unpack_from(self._endian + "HHI", self._buffer, position + 8)
        units, offset = 1_000_000, 0
        for code, value in self._options(position + 16, position + length - 4):
            if code == OPTION_TSRESOL and value:
                units = self._resolution(value[0], position)
            elif code == OPTION_TSOFFSET and len(value) >= 8:
                offset = struct.unpack_from(self._endian + "q", value)[0]
        self._interfaces.append(Interface(linktype, snaplen, units, offset))

    def _resolution(self, tsresol: int, position: int) -> int:
        """Timestamp units per second from the if_tsresol byte (top bit: a power of 2, else of 10); 0 when
        they cannot be counted in 64 bits."""
        exponent, binary = tsresol & 0x7F, tsresol & 0x80
        if exponent > (MAX_BINARY_RESOLUTION if binary else MAX_DECIMAL_RESOLUTION):
            self.problems.add("interface timestamp resolution beyond 64 bits (its packets are skipped)", position)
            return 0
        return 2**exponent if binary else 10**exponent

    def _options(self, position: int, end: int) -> Iterator[tuple[int, bytes]]:
        while position + 4 <= end:
            code, size = struct.unpack_from(self._endian + "HH", self._buffer, position)
            if code == 0:
                return
            yield code, bytes(self._buffer[position + 4 : min(position + 4 + size, end)])
            position += 4 + (size + 3) // 4 * 4

    def _irregular_packet(self, block_type: int, position: int, length: int):
        """A simple or obsolete packet block (or an enhanced one too short to read) as a row of column
        values; None when it had to be skipped."""
        if length < MIN_BLOCK[block_type]:
            self.problems.skip_packets(f"{PACKET_BLOCKS[block_type]} packet block too short for its fields", position)
            return None
        if block_type == SIMPLE_PACKET:
            if not self._interfaces:
                self.problems.skip_packets("simple packet block before any interface", position)
                return None
            interface = self._interfaces[0]
            if not interface.units_per_second:
                self.problems.skip_packets(UNREADABLE_INTERFACE, position)
                return None
            wirelen = struct.unpack_from(self._endian + "I", self._buffer, position + 8)[0]
            caplen = min(wirelen, length - 16, interface.snaplen or wirelen)
            return position + 12, caplen, wirelen, float("nan"), interface.linktype
        index, _, high, low, caplen, wirelen = struct.unpack_from(
            self._endian + "HHIIII", self._buffer, position + 8
        )
        if index >= len(self._interfaces) or caplen > length - 32:
            self.problems.skip_packets("corrupt obsolete packet block (interface or length)", position)
            return None
        interface = self._interfaces[index]
        if not interface.units_per_second:
            self.problems.skip_packets(UNREADABLE_INTERFACE, position)
            return None
        ticks = (high << 32) | low
        ts = ticks // interface.units_per_second + ticks % interface.units_per_second / interface.units_per_second
        return position + 28, caplen, max(wirelen, caplen), ts + interface.offset_seconds, interface.linktype

    def _batch(self, blocks: np.ndarray, others: list) -> FrameBatch:
        fields = self._view[blocks[:, None] + np.arange(8, 28)].view(self._endian + "u4")
        interface, high, low, caplen, wirelen = (fields[:, i].astype(np.int64) for i in range(5))
        known = interface < len(self._interfaces)
        tables = self._interfaces or [Interface(0, 0, 1_000_000, 0)]
        index = np.where(known, interface, 0)
        readable = np.array([i.units_per_second > 0 for i in tables])[index]
        units = np.array([max(i.units_per_second, 1) for i in tables], dtype=np.uint64)[index]
        ticks = (high.astype(np.uint64) << np.uint64(32)) | low.astype(np.uint64)
        ts = (ticks // units).astype(np.float64) + (ticks % units).astype(np.float64) / units
        ts += np.array([i.offset_seconds for i in tables], dtype=np.float64)[index]
        corrupt = ~known | (caplen > _block_lengths(self._view, blocks, self._endian) - 32)
        self._skip(blocks, corrupt, "corrupt enhanced packet block (interface or length)")
        unreadable = ~corrupt & ~readable
        self._skip(blocks, unreadable, UNREADABLE_INTERFACE)
        sane = ~corrupt & readable
        linktype = np.array([i.linktype for i in tables], dtype=np.int64)[index]
        batch = (blocks[sane] + 28, caplen[sane], np.maximum(wirelen, caplen)[sane], ts[sane], linktype[sane])
        if others:
            extra = np.array(others, dtype=np.float64).T
            columns = [np.concatenate([mine, theirs]) for mine, theirs in zip(batch, extra, strict=True)]
            order = np.argsort(columns[0], kind="stable")
            offsets, caplen, wirelen, ts, linktype = (c[order] for c in columns)
            ts = _fill_missing_times(ts)
            batch = (offsets.astype(np.int64), caplen.astype(np.int64), wirelen.astype(np.int64), ts,
                     linktype.astype(np.int64))
        offsets, caplen, wirelen, ts, linktype = batch
        return FrameBatch(self._buffer, offsets, caplen, wirelen, ts, linktype)


    def _skip(self, blocks: np.ndarray, skipped: np.ndarray, description: str) -> None:
        if skipped.any():
            where = np.flatnonzero(skipped)
            self.problems.skip_packets(description, int(blocks[where[0]]), len(where))


def _block_lengths(view: np.ndarray, blocks: np.ndarray, endian: str) -> np.ndarray:
    return view[blocks[:, None] + np.arange(4, 8)].view(endian + "u4")[:, 0].astype(np.int64)


def _fill_missing_times(ts: np.ndarray) -> np.ndarray:
    """Simple packet blocks carry no timestamp: they take the one of the packet before (0 if none)."""
    missing = np.isnan(ts)
    if not missing.any():
        return ts
    known_index = np.where(~missing, np.arange(len(ts)), -1)
    np.maximum.accumulate(known_index, out=known_index)
    return np.where(known_index >= 0, ts[np.maximum(known_index, 0)], 0.0)
