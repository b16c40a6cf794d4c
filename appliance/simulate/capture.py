"""The capture being generated: timestamped frames as a mirror port would see them, plus ground truth.

A capture is a window [start, end) onto a stream of frames. A scenario is one window; the demo's endless
office is one long stream from which consecutive segments are taken, and each attack episode in it writes
through a narrower window of its own (`window`) into the same stream."""

from __future__ import annotations

import itertools
import random
from bisect import bisect_left
from dataclasses import dataclass, field
from operator import itemgetter

from appliance.simulate import frames
from appliance.simulate.labels import Label

_FILLER_SIZE = 1 << 17
Record = tuple[int, bytes]  # (microseconds since the epoch, Ethernet frame)


class Host:
    """One network interface: a name for humans, addresses on the wire, and how its stack behaves.

    External peers carry the gateway's MAC: on the LAN every frame to or from the internet goes via it."""

    __slots__ = ("_last_port", "ip", "ip_bytes", "mac", "mac_bytes", "name", "os", "role", "ttl")

    def __init__(self, name: str, ip: str, mac: str, *, ttl: int = 64, os: str = "linux", role: str = "") -> None:
        self.name = name
        self.ip = ip
        self.mac = mac
        self.ip_bytes = frames.ip_to_bytes(ip)
        self.mac_bytes = frames.mac_to_bytes(mac)
        self.ttl = ttl
        self.os = os
        self.role = role
        self._last_port = 0

    def ephemeral_port(self, rng: random.Random) -> int:
        """The next source port: Windows (49152-65535) and Linux (32768-60999) hand them out in turn from
        their own ranges, so a host does not reuse a port while its previous connection may linger."""
        low, high = (49152, 65535) if self.os == "windows" else (32768, 60999)
        if not self._last_port:
            self._last_port = rng.randint(low, high)
        self._last_port += rng.randint(1, 3)
        if self._last_port > high:
            self._last_port = low + self._last_port - high
        return self._last_port

    def __repr__(self) -> str:
        return f"Host({self.name} {self.ip} {self.mac})"


BROADCAST = Host("broadcast", "255.255.255.255", "ff:ff:ff:ff:ff:ff")


@dataclass(frozen=True)
class Interception:
    """A man in the middle on the LAN (ARP poisoning): between start and end, the victim's frames to the
    gateway go to the impostor's MAC instead, and the impostor forwards a copy to the real gateway, one hop
    later (TTL - 1), as a Linux box with ip_forward does. With `both_ways` the gateway is poisoned too, so
    its frames to the victim take the same detour."""

    victim_mac: bytes
    gateway_mac: bytes
    impostor_mac: bytes
    start_us: int
    end_us: int
    both_ways: bool
    forwarding_delay_us: int = 70

    def routes(self) -> dict[bytes, bytes]:
        """Destination + source MACs of the frames that take the detour -> where the impostor sends them on."""
        routes = {self.gateway_mac + self.victim_mac: self.gateway_mac}
        if self.both_ways:
            routes[self.victim_mac + self.gateway_mac] = self.victim_mac
        return routes


def _detour(records: list[Record], interceptions: list[Interception]) -> list[Record]:
    """Rewrite the intercepted frames of `records` (in time order) in place; return the impostors' copies."""
    by_addresses: dict[bytes, list[tuple[Interception, bytes]]] = {}
    for interception in interceptions:
        for addresses, onward in interception.routes().items():
            by_addresses.setdefault(addresses, []).append((interception, onward))
    first = bisect_left(records, min(i.start_us for i in interceptions), key=itemgetter(0))
    last = bisect_left(records, max(i.end_us for i in interceptions), key=itemgetter(0))
    forwarded: list[Record] = []
    for index in range(first, last):
        ts_us, frame = records[index]
        candidates = by_addresses.get(frame[:12])
        if candidates is None or frame[12:14] != b"\x08\x00":
            continue
        for interception, onward in candidates:
            if interception.start_us <= ts_us < interception.end_us:
                impostor = interception.impostor_mac
                records[index] = (ts_us, impostor + frame[6:])
                forwarded.append((ts_us + interception.forwarding_delay_us, onward + impostor + _hop(frame[12:])))
                break
    return forwarded


def _hop(tail: bytes) -> bytes:
    """Ethertype and IPv4 packet after a router's forwarding: TTL one less, header checksum adjusted."""
    header_len = (tail[2] & 0x0F) * 4
    header = bytearray(tail[2 : 2 + header_len])
    header[8] = max(header[8] - 1, 0)
    header[10:12] = b"\x00\x00"
    header[10:12] = frames.internet_checksum(bytes(header)).to_bytes(2, "big")
    return tail[:2] + bytes(header) + tail[2 + header_len :]


@dataclass(frozen=True)
class HiddenArp:
    """ARP about one address that the mirror port never saw (the caches were warm before it started), except
    what `shown_senders` send: forged replies are then the only ARP for that address in the capture."""

    address: bytes
    shown_senders: frozenset[bytes]
    start_us: int
    end_us: int

    def keeps(self, record: Record) -> bool:
        """Whether an ARP frame stays in the capture."""
        ts_us, frame = record
        if not self.start_us <= ts_us < self.end_us:
            return True
        about = frame[28:32] == self.address or frame[38:42] == self.address
        return not about or frame[22:28] in self.shown_senders


class _Stream:
    """What every window onto one capture shares."""

    def __init__(self, seed: int | str) -> None:
        self.records: list[Record] = []
        self.labels: list[Label] = []
        self.indicators: list[str] = []
        self.interceptions: list[Interception] = []
        self.hidden_arp: list[HiddenArp] = []
        self.ip_ids = itertools.count(1)
        # Encrypted payloads look random; slicing one random block is much cheaper than drawing bytes.
        self.filler = random.Random(f"{seed}:filler").randbytes(_FILLER_SIZE)


@dataclass
class Capture:
    """Frames are kept as (microseconds, frame) and sorted when taken; packets outside [start, end) are
    dropped, as a capture that starts and stops at those instants would."""

    start: float
    end: float
    seed: int | str
    _stream: _Stream | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self._stream is None:
            self._stream = _Stream(self.seed)
        self._records = self._stream.records
        self._filler = self._stream.filler
        self._ip_ids = self._stream.ip_ids

    def window(self, start: float, end: float) -> Capture:
        """A narrower capture writing into the same stream (an attack episode within the demo's office)."""
        return Capture(max(start, self.start), min(end, self.end), self.seed, self._stream)

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def labels(self) -> list[Label]:
        return self._stream.labels

    @property
    def indicators(self) -> list[str]:
        return self._stream.indicators

    def filler(self, size: int, offset: int = 0) -> bytes:
        """`size` random-looking bytes; `offset` varies the slice so payloads differ."""
        out = []
        offset %= _FILLER_SIZE
        while size > 0:
            piece = self._filler[offset : offset + size]
            out.append(piece)
            size -= len(piece)
            offset = 0
        return b"".join(out)

    def emit(self, ts: float, frame: bytes) -> None:
        if self.start <= ts < self.end:
            self._records.append((round(ts * 1_000_000), frame))

    def next_ip_id(self) -> int:
        return next(self._ip_ids) & 0xFFFF

    def ip_packet(self, ts: float, src: Host, dst: Host, proto: int, payload: bytes, ttl: int | None = None) -> None:
        packet = frames.ipv4(src.ip_bytes, dst.ip_bytes, proto, payload, self.next_ip_id(), ttl or src.ttl)
        self.emit(ts, frames.ethernet(dst.mac_bytes, src.mac_bytes, frames.ETHERTYPE_IPV4, packet))

    def udp(self, ts: float, src: Host, dst: Host, sport: int, dport: int, payload: bytes) -> None:
        datagram = frames.udp(src.ip_bytes, dst.ip_bytes, sport, dport, payload)
        self.ip_packet(ts, src, dst, frames.IPPROTO_UDP, datagram)

    def icmp(self, ts: float, src: Host, dst: Host, icmp_type: int, code: int, rest: bytes, data: bytes) -> None:
        self.ip_packet(ts, src, dst, frames.IPPROTO_ICMP, frames.icmp(icmp_type, code, rest, data))

    def arp(
        self,
        ts: float,
        op: int,
        eth_dst: bytes,
        sender_mac: bytes,
        sender_ip: bytes,
        target_mac: bytes,
        target_ip: bytes,
    ) -> None:
        body = frames.arp(op, sender_mac, sender_ip, target_mac, target_ip)
        self.emit(ts, frames.ethernet(eth_dst, sender_mac, frames.ETHERTYPE_ARP, body))

    def label(self, label: Label) -> None:
        self._stream.labels.append(label)

    def intercept(self, interception: Interception) -> None:
        self._stream.interceptions.append(interception)

    def hide_arp(self, hidden: HiddenArp) -> None:
        self._stream.hidden_arp.append(hidden)

    def sorted_records(self) -> list[Record]:
        return self.take(self.end)

    def take(self, until: float) -> list[Record]:
        """Every frame before `until`, in time order, as the mirror port delivers it; later frames stay for
        the next take. Frames sharing a microsecond keep the order they were generated in (a stable sort)."""
        records = sorted(self._records, key=itemgetter(0))
        cut = bisect_left(records, round(until * 1_000_000), key=itemgetter(0))
        taken, self._records[:] = records[:cut], records[cut:]
        if self._stream.interceptions and taken:
            forwarded = _detour(taken, self._stream.interceptions)
            if forwarded:
                taken = sorted(taken + forwarded, key=itemgetter(0))
        for hidden in self._stream.hidden_arp:
            taken = [record for record in taken if record[1][12:14] != b"\x08\x06" or hidden.keeps(record)]
        return taken

    def __len__(self) -> int:
        return len(self._records)
