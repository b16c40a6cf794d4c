"""Payloads taken from real captures (and scapy-built packets) with scapy, independent of the sensor's decoder."""

from __future__ import annotations

import msgspec
from scapy.all import IP, TCP, UDP, Ether, IPv6, Loopback, Packet, Raw, rdpcap

from sensor.protocols import MetadataExtractor, PacketContext
from sensor.records import Event
from tests.shared_data import PCAPS

BSD_AF_INET6 = (24, 28, 30)  # NetBSD/OpenBSD, FreeBSD, macOS loopback family numbers


def context_and_payload(packet: Packet, ts: float = 0.0) -> tuple[PacketContext, bytes] | None:
    """The transport payload (Ethernet padding cut off by the IP length) and where it came from."""
    if Loopback in packet and Raw in packet and packet[Loopback].type in BSD_AF_INET6:
        packet = IPv6(packet[Raw].load)  # scapy does not map the BSD IPv6 family numbers
    if (IP not in packet and IPv6 not in packet) or (TCP not in packet and UDP not in packet):
        return None
    ip = packet[IP] if IP in packet else packet[IPv6]
    l4 = packet[TCP] if TCP in packet else packet[UDP]
    wire = bytes(ip)
    ip_length = ip.len if IP in packet else 40 + ip.plen
    l4_start = len(wire) - len(bytes(l4))
    header = l4.dataofs * 4 if TCP in packet else 8
    payload = wire[l4_start + header : ip_length]
    proto = "TCP" if TCP in packet else "UDP"
    ends = sorted([(ip.src, l4.sport), (ip.dst, l4.dport)])
    ctx = PacketContext(
        ts=ts,
        src_ip=ip.src,
        dst_ip=ip.dst,
        src_port=l4.sport,
        dst_port=l4.dport,
        proto=proto,
        src_mac=packet[Ether].src if Ether in packet else "",
        flow_uid=f"{proto}-{ends[0][0]}:{ends[0][1]}-{ends[1][0]}:{ends[1][1]}",
    )
    return ctx, payload


def capture_payloads(name: str) -> list[tuple[PacketContext, bytes]]:
    """(context, payload) of every TCP/UDP packet of a capture that carries a payload; a flow's originator is the
    sender of its first packet, as in the flow table."""
    out = []
    originators: dict[str, tuple[str, int]] = {}
    for packet in rdpcap(str(PCAPS / name)):
        found = context_and_payload(packet, float(packet.time))
        if found is None:
            continue
        ctx, payload = found
        originator = originators.setdefault(ctx.flow_uid, (ctx.src_ip, ctx.src_port))
        if payload:
            out.append((ctx._replace(from_orig=originator == (ctx.src_ip, ctx.src_port)), payload))
    return out


def run_packets(pairs: list[tuple[PacketContext, bytes]], extractor: MetadataExtractor | None = None) -> list:
    """All events for these payloads, asking `interested` once per flow as the decoder does."""
    extractor = extractor or MetadataExtractor()
    events = []
    decided: dict[str, bool] = {}
    for ctx, payload in pairs:
        if ctx.flow_uid not in decided:
            decided[ctx.flow_uid] = extractor.interested(ctx.proto, ctx.src_port, ctx.dst_port)
        if decided[ctx.flow_uid]:
            events.extend(extractor.on_payload(ctx, payload))
    assert extractor.errors == 0
    return events


def run_capture(name: str) -> list:
    return run_packets(capture_payloads(name))


def crafted(packet: Packet) -> tuple[PacketContext, bytes]:
    """Context and payload of a scapy-built packet, lengths and checksums filled in as on the wire."""
    found = context_and_payload(packet.__class__(bytes(packet)))
    assert found is not None
    return found


def with_originators(pairs: list[tuple[PacketContext, bytes]]) -> list[tuple[PacketContext, bytes]]:
    """The pairs with from_orig set: each flow's first packet came from its originator."""
    originators: dict[str, tuple[str, int]] = {}
    out = []
    for ctx, payload in pairs:
        originator = originators.setdefault(ctx.flow_uid, (ctx.src_ip, ctx.src_port))
        out.append((ctx._replace(from_orig=originator == (ctx.src_ip, ctx.src_port)), payload))
    return out


def run_crafted(*packets: Packet) -> list:
    return run_packets(with_originators([crafted(packet) for packet in packets]))


def wire_bytes(events: list[Event]) -> bytes:
    """The events as they would travel to the appliance, to prove what never leaves the sensor."""
    return msgspec.msgpack.encode(events)
