"""The capture being generated: timestamped frames as a mirror port would see them, plus ground truth."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from operator import itemgetter

from appliance.simulate import frames
from appliance.simulate.labels import Label

_FILLER_SIZE = 1 << 17


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


@dataclass
class Capture:
    """Frames are kept as (microseconds, frame) and sorted once at the end; packets outside
    [start, end) are dropped, as a capture that starts and stops at those instants would."""

    start: float
    end: float
    seed: int
    labels: list[Label] = field(default_factory=list)
    indicators: list[str] = field(default_factory=list)
    _records: list[tuple[int, bytes]] = field(default_factory=list, init=False, repr=False)
    _ip_id: int = field(default=0, init=False)
    _filler: bytes = field(default=b"", init=False, repr=False)

    def __post_init__(self) -> None:
        # Encrypted payloads look random; slicing one random block is much cheaper than drawing bytes.
        self._filler = random.Random(f"{self.seed}:filler").randbytes(_FILLER_SIZE)

    @property
    def duration(self) -> float:
        return self.end - self.start

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
        self._ip_id = (self._ip_id + 1) & 0xFFFF
        return self._ip_id

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
        self.labels.append(label)

    def sorted_records(self) -> list[tuple[int, bytes]]:
        # Stable sort: frames sharing a microsecond keep the order they were generated in.
        return sorted(self._records, key=itemgetter(0))

    def __len__(self) -> int:
        return len(self._records)
