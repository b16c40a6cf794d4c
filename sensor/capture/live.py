"""Live capture from a Linux network interface through an AF_PACKET TPACKET_V3 memory-mapped ring.

No libpcap on the packet path (it only compiles filter expressions). The kernel writes packets into
fixed-size blocks of a ring that we share with it through mmap. A block is handed to us whole (when it is
full or its retire timeout expires), so one poll() wakeup delivers hundreds of packets.

Two ways to read: `batches()` (or plain iteration) gives `(ts, linktype, frame)` tuples, one struct unpack
and one slice per packet; `frame_batches()` gives each block (or, when the reader is behind, the blocks
waiting) as one `FrameBatch` (a copy of the blocks plus numpy columns) for the vectorised decoder, with no
Python object per packet. `ts` is the kernel's receive
timestamp (seconds as a float), `linktype` a pcap LINKTYPE_* number (1 = Ethernet), the frame the bytes as
they were on the wire: an 802.1Q tag that the NIC or kernel moved into metadata is put back, so VLAN ids
survive.

Layouts and constants are those of <linux/if_packet.h>; x86-64 and arm64 keep the ring's stores ordered
enough that reading `block_status` before the packets (as libpcap does) is safe.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import select
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from itertools import chain
from typing import NamedTuple, Self, TypeVar

import msgspec
import numpy as np

from sensor.capture.bpf import FilterError, Instruction, attach_filter, compile_filter
from sensor.pcap.batch import Frame, FrameBatch

Packet = Frame  # (ts, linktype, frame bytes): the same tuples the capture file readers yield
T = TypeVar("T")

SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
PACKET_FANOUT = 18
TPACKET_V3 = 2
PACKET_MR_PROMISC = 1
PACKET_FANOUT_HASH = 0
PACKET_FANOUT_FLAG_DEFRAG = 0x8000  # reassemble IP fragments first so all pieces hash to the same member
ETH_P_ALL = 0x0003
SIOCGIFHWADDR = 0x8927
SIOCGIFINDEX = 0x8933
ETH_P_8021Q = 0x8100

TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6

# ARPHRD_* (hardware type of the interface) -> pcap LINKTYPE_*.
LINKTYPE_BY_HATYPE = {
    1: 1,  # ARPHRD_ETHER -> LINKTYPE_ETHERNET
    772: 1,  # ARPHRD_LOOPBACK: the kernel gives lo Ethernet headers with zero MACs
    0xFFFE: 101,  # ARPHRD_NONE (tun, wireguard): the frame starts at the IP header -> LINKTYPE_RAW
}

# tpacket_req3: block_size, block_nr, frame_size, frame_nr, retire_blk_tov, sizeof_priv, feature_req_word
_RING_REQUEST = struct.Struct("=7I")
# tpacket_block_desc from hdr.bh1.block_status: block_status, num_pkts, offset_to_first_pkt, blk_len (bytes
# used from the block start, header included)
_BLOCK_HEADER = struct.Struct("=8x4I")
_BLOCK_STATUS = struct.Struct("=I")
_BLOCK_STATUS_OFFSET = 8
# tpacket3_hdr up to tp_mac: next_offset, sec, nsec, snaplen, len, status, mac
_PACKET_HEADER = struct.Struct("=6IH")
_NEXT_OFFSET = struct.Struct("=I")
_MAC_HALFWORD = 12  # tp_mac is the 13th 16-bit field of tpacket3_hdr
_VLAN_TAG_BYTES = 4
# tpacket3_hdr.hv1 from offset 32: tp_vlan_tci, tp_vlan_tpid
_VLAN_FIELDS = struct.Struct("=IH")
_VLAN_FIELDS_OFFSET = 32
_PACKET_STATS_V3 = struct.Struct("=3I")  # tp_packets, tp_drops, tp_freeze_q_cnt
_PACKET_MREQ = struct.Struct("=iHH8s")  # mr_ifindex, mr_type, mr_alen, mr_address

# TPACKET_V3 ignores the frame size for receiving (packets are packed back to back in a block) but the kernel
# still checks that it is aligned and divides the block size.
_FRAME_SIZE = 2048
_POLL_TIMEOUT_MS = 250
# frame_batches(): how much of the ring one batch may span when the reader is behind (blocks already waiting).
JOINED_BATCH_BYTES = 8 << 20


class _Block(NamedTuple):
    """A ring block the kernel handed over: packets in it, where the first one starts, bytes used."""

    count: int
    first: int
    used: int


class CaptureError(Exception):
    """Live capture cannot start or continue; the message is one line meant for the operator."""


class KernelStats(msgspec.Struct, frozen=True):
    """What the kernel counted for this socket since it was opened (PACKET_STATISTICS, accumulated).

    `packets` counts every packet that passed the filter, including the `drops` that found the ring full;
    `freeze_q_cnt` counts how often the ring was completely full ("frozen") and the kernel had to drop.
    """

    packets: int = 0
    drops: int = 0
    freeze_q_cnt: int = 0


class LiveCapture:
    """Capture on one interface. Iterate for packets, or call `batches()` / `frame_batches()` per ring block.

    `bpf` is a tcpdump filter expression (compiled by libpcap, see `sensor.capture.bpf`) or a raw
    `(code, jt, jf, k)` list; the kernel applies it before anything reaches the ring. `fanout_group` lets
    several processes share the interface, each getting whole flows (hash fan-out). The ring is
    `block_count` x `block_size` bytes of pinned memory: the default 64 MiB holds about half a second of a
    saturated 1 GbE link, which is how long the reader may stall without losing packets. A block that is not
    full is handed over after `retire_timeout_ms`, which bounds the delay at low rates.

    Use it as a context manager: leaving the block (also through KeyboardInterrupt) closes the socket and
    unmaps the ring, and while inside it (on the main thread) SIGTERM ends the iteration cleanly instead of
    killing the process, so the caller can still read `stats()` and flush what it has.
    """

    def __init__(
        self,
        iface: str,
        *,
        promisc: bool = True,
        fanout_group: int | None = None,
        bpf: str | list[Instruction] | None = None,
        block_size: int = 1 << 20,
        block_count: int = 64,
        retire_timeout_ms: int = 20,
    ) -> None:
        _check_ring_geometry(block_size, block_count)
        if fanout_group is not None and not 0 <= fanout_group <= 0xFFFF:
            raise CaptureError(f"fanout group must be 0..65535, got {fanout_group}")
        self.iface = iface
        self.block_size = block_size
        self.block_count = block_count
        self._stopping = False
        self._next_block = 0  # the ring block the kernel hands over next
        self._closed = False
        self._totals = KernelStats()
        self._sigterm_handler_installed = False
        self._previous_sigterm_handler: object = None
        self._sock: socket.socket | None = None
        self._ring: mmap.mmap | None = None
        self._wakeup_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        try:
            self._open(promisc, fanout_group, bpf, retire_timeout_ms)
        except BaseException:
            self.close()
            raise

    # --- opening -----------------------------------------------------------------------------------------

    def _open(
        self,
        promisc: bool,
        fanout_group: int | None,
        bpf: str | list[Instruction] | None,
        retire_timeout_ms: int,
    ) -> None:
        # Protocol 0: the socket receives nothing until bind(), so no packet reaches the ring unfiltered.
        self._sock = _packet_socket(self.iface)
        ifindex = _interface_index(self._sock, self.iface)
        self.linktype = _linktype_of(self._sock, self.iface)
        self._sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
        if bpf is not None:
            self._attach_filter(bpf)
        self._ring = self._map_ring(retire_timeout_ms)
        self._sock.bind((self.iface, ETH_P_ALL))
        if promisc:
            membership = _PACKET_MREQ.pack(ifindex, PACKET_MR_PROMISC, 0, b"")
            self._sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, membership)
        if fanout_group is not None:
            self._join_fanout(fanout_group)
        self._poller = select.poll()
        self._poller.register(self._sock.fileno(), select.POLLIN | select.POLLERR)
        self._poller.register(self._wakeup_fd, select.POLLIN)

    def _attach_filter(self, bpf: str | list[Instruction]) -> None:
        try:
            program = compile_filter(bpf, self.iface, self.linktype) if isinstance(bpf, str) else bpf
            attach_filter(self._sock, program)
        except FilterError as exc:
            raise CaptureError(str(exc)) from None
        except OSError as exc:
            raise CaptureError(f"kernel rejected the BPF filter: {exc.strerror}") from None

    def _map_ring(self, retire_timeout_ms: int) -> mmap.mmap:
        frame_count = self.block_size // _FRAME_SIZE * self.block_count
        request = _RING_REQUEST.pack(
            self.block_size, self.block_count, _FRAME_SIZE, frame_count, retire_timeout_ms, 0, 0
        )
        try:
            self._sock.setsockopt(SOL_PACKET, PACKET_RX_RING, request)
            return mmap.mmap(
                self._sock.fileno(),
                self.block_size * self.block_count,
                mmap.MAP_SHARED,
                mmap.PROT_READ | mmap.PROT_WRITE,
            )
        except OSError as exc:
            raise CaptureError(
                f"cannot set up a {self.block_count} x {self.block_size} byte capture ring on "
                f"{self.iface!r}: {exc.strerror}"
            ) from None

    def _join_fanout(self, group: int) -> None:
        try:
            mode = PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG
            self._sock.setsockopt(SOL_PACKET, PACKET_FANOUT, struct.pack("=I", group | mode << 16))
        except OSError as exc:
            raise CaptureError(f"cannot join fanout group {group} on {self.iface!r}: {exc.strerror}") from None

    # --- reading -----------------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Packet]:
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[list[Packet]]:
        """Yield the packets of each ring block as one list; ends after `stop()`, `close()` or SIGTERM."""
        return self._each_block(self._packets_of_block)

    def frame_batches(self, idle_after: float | None = None) -> Iterator[FrameBatch]:
        """Yield ring blocks as FrameBatches for the vectorised decoder (`Pipeline.feed_batch`).

        The blocks are copied out once and their packet headers read with numpy, so no Python object is made
        per packet; `wirelen` is the real length on the wire even when the frame was cut short. A batch is one
        block while the reader keeps up; when it falls behind, the blocks already waiting (up to
        JOINED_BATCH_BYTES) come as one batch, so the decoder's and flow table's cost per batch is spread over
        more packets exactly when that is needed. With `idle_after`, an empty batch also comes when the wire
        has been quiet that many seconds, so the caller can still do its periodic work (expire flows, ship
        what is finished) while nothing arrives.
        """
        most = max(1, JOINED_BATCH_BYTES // self.block_size)
        return self._each_block(self._frame_batch_of_blocks, idle_after, FrameBatch.from_frames([]), most)

    def _each_block(self, read: Callable[[int, list[_Block]], T], idle_after: float | None = None,
                    idle: T | None = None, most: int = 1) -> Iterator[T]:
        """Wait for the blocks the kernel fills, in ring order, `read` up to `most` ready ones at a time, and
        give them straight back. A new iteration goes on from the block the last one stopped at."""
        ring = self._ring
        block_size, block_count = self.block_size, self.block_count
        last_yield = time.monotonic()
        while not self._stopping:
            index = self._next_block
            ready = self._ready_blocks(index, most)
            if not ready:
                self._wait()
                if idle_after is not None and time.monotonic() - last_yield >= idle_after:
                    last_yield = time.monotonic()
                    yield idle
                continue
            last_yield = time.monotonic()
            contents = read(index * block_size, ready)
            # `read` copied what it needs, so the kernel can refill the blocks before the caller sees them.
            for taken in range(index, index + len(ready)):
                _BLOCK_STATUS.pack_into(ring, taken * block_size + _BLOCK_STATUS_OFFSET, TP_STATUS_KERNEL)
            self._next_block = (index + len(ready)) % block_count
            yield contents

    def _ready_blocks(self, index: int, most: int) -> list[_Block]:
        """The blocks from `index` on that the kernel has handed over: at most `most`, and not past the ring's
        end, so that they are one contiguous stretch of it."""
        ready = []
        for at in range(index, min(index + most, self.block_count)):
            status, count, first, used = _BLOCK_HEADER.unpack_from(self._ring, at * self.block_size)
            if not status & TP_STATUS_USER:
                break
            ready.append(_Block(count, first, used))
        return ready

    def _packets_of_block(self, base: int, blocks: list[_Block]) -> list[Packet]:
        return _packets_in(self._ring, base + blocks[0].first, blocks[0].count, self.linktype)

    def _frame_batch_of_blocks(self, base: int, blocks: list[_Block]) -> FrameBatch:
        """One FrameBatch of consecutive blocks starting at `base`: a single copy of the stretch they span."""
        used = (len(blocks) - 1) * self.block_size + blocks[-1].used
        block: bytes | bytearray = self._ring[base : base + used]
        count = sum(b.count for b in blocks)
        headers = np.fromiter(chain.from_iterable(
            _packet_header_offsets(block, n * self.block_size + b.first, b.count) for n, b in enumerate(blocks)),
            dtype=np.int64, count=count)
        u32 = np.frombuffer(block, dtype="<u4", count=used // 4)
        at = headers // 4  # packet headers are 16-byte aligned, so whole-word indexing is exact
        mac = np.frombuffer(block, dtype="<u2", count=used // 2)[headers // 2 + _MAC_HALFWORD]
        offsets, caplen, wirelen = headers + mac, u32[at + 3].astype(np.int64), u32[at + 4].astype(np.int64)
        tagged = np.flatnonzero(u32[at + 5] & TP_STATUS_VLAN_VALID) if self.linktype == 1 else ()
        if len(tagged):
            block = bytearray(block)
            _put_vlan_tags_back(block, headers[tagged], offsets[tagged])
            offsets[tagged] -= _VLAN_TAG_BYTES
            caplen[tagged] += _VLAN_TAG_BYTES
            wirelen[tagged] += _VLAN_TAG_BYTES
        return FrameBatch(
            buffer=block,
            offsets=offsets,
            caplen=caplen,
            wirelen=wirelen,
            ts=u32[at + 1] + u32[at + 2] * 1e-9,
            linktype=np.full(count, self.linktype, dtype=np.int64),
        )

    def _wait(self) -> None:
        for fd, events in self._poller.poll(_POLL_TIMEOUT_MS):
            if fd == self._wakeup_fd:
                os.eventfd_read(self._wakeup_fd)
            elif events & select.POLLERR:
                self._handle_socket_error()

    def _handle_socket_error(self) -> None:
        """The kernel flags the socket when its interface goes down or disappears; reading clears the flag."""
        self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        try:
            _interface_index(self._sock, self.iface)
        except CaptureError:
            raise CaptureError(f"network interface {self.iface!r} disappeared during capture") from None
        # Only down: the kernel resumes delivery by itself when the interface comes back up.

    # --- statistics and shutdown -------------------------------------------------------------------------

    def stats(self) -> KernelStats:
        """Kernel counters since open. The kernel zeroes them on every read, so we keep the running sum."""
        if self._sock is not None and not self._closed:
            raw = self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _PACKET_STATS_V3.size)
            packets, drops, freezes = _PACKET_STATS_V3.unpack(raw)
            total = self._totals
            self._totals = KernelStats(total.packets + packets, total.drops + drops, total.freeze_q_cnt + freezes)
        return self._totals

    def stop(self) -> None:
        """End the iteration at the next block boundary. Safe to call from a signal handler or another thread."""
        self._stopping = True
        if not self._closed:
            os.eventfd_write(self._wakeup_fd, 1)

    def close(self) -> None:
        if self._closed:
            return
        self._stopping = True
        if self._ring is not None:
            self.stats()  # last chance to read the counters
        self._closed = True
        self._restore_sigterm_handler()
        if self._ring is not None:
            self._ring.close()
        if self._sock is not None:
            self._sock.close()  # also leaves promiscuous mode and the fanout group
        os.close(self._wakeup_fd)

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            self._previous_sigterm_handler = signal.signal(signal.SIGTERM, self._on_sigterm)
            self._sigterm_handler_installed = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _on_sigterm(self, signum: int, frame: object) -> None:
        self.stop()

    def _restore_sigterm_handler(self) -> None:
        if self._sigterm_handler_installed:
            # None means the previous handler was not set from Python; the default is the closest match.
            previous = self._previous_sigterm_handler
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
            self._sigterm_handler_installed = False


def _check_ring_geometry(block_size: int, block_count: int) -> None:
    if block_size < mmap.PAGESIZE or block_size % mmap.PAGESIZE:
        raise CaptureError(f"ring block size must be a multiple of the page size {mmap.PAGESIZE}, got {block_size}")
    if block_count < 1:
        raise CaptureError(f"ring needs at least one block, got {block_count}")
    # The kernel pins the whole ring in RAM and would rather invoke the OOM killer than refuse a huge one.
    available = _available_memory()
    if block_size * block_count > available // 2:
        raise CaptureError(
            f"a capture ring of {block_count} x {block_size} bytes needs {block_size * block_count >> 20} MiB, "
            f"more than half of the {available >> 20} MiB of memory available"
        )


def _available_memory() -> int:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise CaptureError("cannot tell how much memory is available: no MemAvailable in /proc/meminfo")


def _interface_index(sock: socket.socket, iface: str) -> int:
    """SIOCGIFINDEX through the socket, so the name is looked up in the socket's network namespace."""
    name = iface.encode(errors="replace")
    # Linux names are 1..15 bytes; a longer one would be cut short and might then name another interface.
    if not 0 < len(name) < 16 or b"\0" in name:
        raise CaptureError(f"no network interface named {iface!r}")
    try:
        reply = fcntl.ioctl(sock, SIOCGIFINDEX, struct.pack("16s16x", name))
    except OSError:
        raise CaptureError(f"no network interface named {iface!r}") from None
    return struct.unpack_from("=i", reply, 16)[0]


def _packet_socket(iface: str) -> socket.socket:
    try:
        return socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except PermissionError:
        raise CaptureError(f"capturing on {iface!r} needs root or the CAP_NET_RAW capability") from None


def _linktype_of(sock: socket.socket, iface: str) -> int:
    """The pcap link type of the interface, from its ARPHRD_* hardware type (SIOCGIFHWADDR's sa_family).

    Asked through the socket rather than /sys so the answer comes from the socket's network namespace."""
    try:
        reply = fcntl.ioctl(sock, SIOCGIFHWADDR, struct.pack("16s16x", iface.encode()))
    except OSError:
        raise CaptureError(f"no network interface named {iface!r}") from None
    (hatype,) = struct.unpack_from("=H", reply, 16)
    try:
        return LINKTYPE_BY_HATYPE[hatype]
    except KeyError:
        raise CaptureError(
            f"interface {iface!r} has link type ARPHRD {hatype}, which capture does not support"
        ) from None


def _packets_in(buffer: mmap.mmap | bytes, offset: int, count: int, linktype: int) -> list[Packet]:
    """The `count` packets whose tpacket3 headers chain from `offset` in `buffer`, as (ts, linktype, frame)."""
    unpack_header = _PACKET_HEADER.unpack_from
    packets: list[Packet] = []
    append = packets.append
    for _ in range(count):
        next_offset, sec, nsec, snaplen, _wire_len, status, mac = unpack_header(buffer, offset)
        start = offset + mac
        frame = buffer[start : start + snaplen]
        if status & TP_STATUS_VLAN_VALID and linktype == 1:
            frame = _with_vlan_tag(frame, buffer, offset, status)
        append((sec + nsec * 1e-9, linktype, frame))
        offset += next_offset
    return packets


def _packet_header_offsets(block: bytes, offset: int, count: int) -> Iterator[int]:
    unpack_next = _NEXT_OFFSET.unpack_from
    for _ in range(count):
        yield offset
        offset += unpack_next(block, offset)[0]


def _put_vlan_tags_back(block: bytearray, headers: np.ndarray, frame_starts: np.ndarray) -> None:
    """Re-insert 802.1Q tags in place: shift each tagged frame's MAC addresses 4 bytes back, into the ring
    header area in front of every frame (its sockaddr_ll, which nobody reads from the copy), and write the
    tag between them and the ethertype. No frame moves, so one numpy pass handles the whole block."""
    data = np.frombuffer(block, dtype=np.uint8)
    for byte in range(12):  # ascending: each byte lands where an already copied one was
        data[frame_starts - _VLAN_TAG_BYTES + byte] = data[frame_starts + byte]
    words = np.frombuffer(block, dtype="<u4", count=len(block) // 4)
    halves = np.frombuffer(block, dtype="<u2", count=len(block) // 2)
    tci = words[headers // 4 + _VLAN_FIELDS_OFFSET // 4] & 0xFFFF
    tpid_valid = words[headers // 4 + 5] & TP_STATUS_VLAN_TPID_VALID
    tpid = np.where(tpid_valid, halves[headers // 2 + (_VLAN_FIELDS_OFFSET + 4) // 2], ETH_P_8021Q)
    tag_at = frame_starts - _VLAN_TAG_BYTES + 12
    data[tag_at], data[tag_at + 1] = tpid >> 8, tpid & 0xFF
    data[tag_at + 2], data[tag_at + 3] = tci >> 8, tci & 0xFF


def _with_vlan_tag(frame: bytes, buffer: mmap.mmap | bytes, header_offset: int, status: int) -> bytes:
    """Put back the 802.1Q tag that was offloaded into the ring header, right after the two MAC addresses."""
    tci, tpid = _VLAN_FIELDS.unpack_from(buffer, header_offset + _VLAN_FIELDS_OFFSET)
    if not status & TP_STATUS_VLAN_TPID_VALID:
        tpid = ETH_P_8021Q
    return frame[:12] + struct.pack("!HH", tpid, tci & 0xFFFF) + frame[12:]
