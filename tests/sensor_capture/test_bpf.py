"""BPF filters built by sensor.capture.bpf, run by the kernel on a veth pair, against scapy's own reading."""

from __future__ import annotations

import re

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet as ScapyPacket
from scapy.packet import Raw
from scapy.utils import rdpcap

from sensor.capture.bpf import FilterError, compile_filter
from sensor.capture.live import LiveCapture
from tests.sensor_capture.netns_veth import collect

PCAPS = "/work/shared/data/pcaps"
MACS = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}


def ether() -> Ether:
    return Ether(**MACS)


MIXED_TRAFFIC = [
    bytes(ether() / IP(src="10.199.0.1", dst="10.199.0.2") / UDP(sport=5353, dport=53) / Raw(b"q1")),
    bytes(ether() / IP(src="10.199.0.3", dst="10.199.0.2") / UDP(sport=53, dport=40000) / Raw(b"a1")),
    bytes(ether() / IP(src="10.199.0.1", dst="10.199.0.2") / TCP(sport=40001, dport=443, flags="S")),
    bytes(ether() / IP(src="10.199.0.2", dst="10.199.0.1") / TCP(sport=443, dport=40001, flags="SA")),
    bytes(ether() / IP(src="10.199.0.3", dst="10.199.0.2") / TCP(sport=40002, dport=22, flags="S")),
    bytes(ether() / IP(src="10.199.0.1", dst="10.199.0.3") / ICMP() / Raw(b"ping")),
    bytes(ether() / ARP(psrc="10.199.0.1", pdst="10.199.0.2")),
    bytes(ether() / IPv6(src="fd00:199::1", dst="fd00:199::2") / UDP(sport=5353, dport=53) / Raw(b"q6")),
    bytes(ether() / IPv6(src="fd00:199::2", dst="fd00:199::1") / TCP(sport=443, dport=40003, flags="SA")),
    # A non-first fragment: its payload starts with what looks like ports 53 -> 53, but is not a UDP header.
    bytes(ether() / IP(src="10.199.0.1", dst="10.199.0.2", proto=17, frag=100) / Raw(b"\x00\x35\x00\x35data")),
]


def ports(packet: ScapyPacket) -> set[int]:
    layer = packet.getlayer(TCP) or packet.getlayer(UDP)
    return {layer.sport, layer.dport} if layer else set()


def ipv4_hosts(packet: ScapyPacket) -> set[str]:
    return {packet[IP].src, packet[IP].dst} if IP in packet else set()


# (filter, what scapy says should pass). tcpdump -dd "arp" gives the raw program below.
CASES = [
    ("udp port 53", lambda p: UDP in p and 53 in ports(p)),
    ("ip host 10.199.0.3", lambda p: "10.199.0.3" in ipv4_hosts(p)),
    ("not port 443", lambda p: 443 not in ports(p)),
    ("tcp dst port 443", lambda p: TCP in p and p[TCP].dport == 443),
    ("ip6 host fd00:199::2", lambda p: IPv6 in p),
    ("arp or icmp", lambda p: ARP in p or ICMP in p),
    # Like tcpdump's, "udp" looks at the IP protocol only, so it also passes the later fragment.
    (
        "src host 10.199.0.1 and (udp or tcp)",
        lambda p: IP in p and p[IP].src == "10.199.0.1" and p.proto in (6, 17),
    ),
    ("ip6 and tcp", lambda p: IPv6 in p and TCP in p),
    ([(0x28, 0, 0, 0x0C), (0x15, 0, 1, 0x0806), (0x06, 0, 0, 0x40000), (0x06, 0, 0, 0)], lambda p: ARP in p),
]


@pytest.mark.parametrize(("bpf", "should_pass"), CASES, ids=[str(case[0])[:40] for case in CASES])
def test_kernel_filter_passes_exactly_the_matching_frames(veth, bpf, should_pass):
    expected = [frame for frame in MIXED_TRAFFIC if should_pass(Ether(frame))]
    assert 0 < len(expected) < len(MIXED_TRAFFIC)  # every case must both keep and drop something
    with LiveCapture(veth.host_iface, bpf=bpf) as capture:
        veth.send(MIXED_TRAFFIC)
        captured = [frame for _, _, frame in collect(capture, timeout=0.3)]
    assert captured == expected


def in_namespace_addresses(packets: list[ScapyPacket]) -> list[bytes]:
    """Move a real capture's IPv4 hosts onto 10.199.1.x so replaying it addresses nothing outside our veth."""
    renumbered: dict[str, str] = {}
    frames = []
    for packet in packets:
        if IP in packet:
            for field in ("src", "dst"):
                original = getattr(packet[IP], field)
                setattr(packet[IP], field, renumbered.setdefault(original, f"10.199.1.{len(renumbered) + 1}"))
            del packet[IP].chksum
            for layer in (TCP, UDP, ICMP):
                if layer in packet:
                    del packet[layer].chksum
        frames.append(bytes(packet))
    return frames


@pytest.mark.parametrize("expression", ["tcp port 22", "icmp", "not tcp"])
def test_filter_on_a_replayed_real_capture(veth, expression):
    frames = in_namespace_addresses(list(rdpcap(f"{PCAPS}/icmp-and-ssh.pcap")))
    predicates = {
        "tcp port 22": lambda p: TCP in p and 22 in ports(p),
        "icmp": lambda p: ICMP in p,
        "not tcp": lambda p: TCP not in p,
    }
    expected = [frame for frame in frames if predicates[expression](Ether(frame))]
    with LiveCapture(veth.host_iface, bpf=expression) as capture:
        veth.send(frames)
        captured = [frame for _, _, frame in collect(capture, timeout=0.5)]
    assert len(expected) > 30
    assert captured == expected


def test_ip_host_compiles_to_what_tcpdump_emits():
    # tcpdump -dd 'ip host 10.199.0.1'
    assert compile_filter("ip host 10.199.0.1") == [
        (0x28, 0, 0, 0x0000000C),
        (0x15, 0, 5, 0x00000800),
        (0x20, 0, 0, 0x0000001A),
        (0x15, 2, 0, 0x0AC70001),
        (0x20, 0, 0, 0x0000001E),
        (0x15, 0, 1, 0x0AC70001),
        (0x06, 0, 0, 0x00040000),
        (0x06, 0, 0, 0x00000000),
    ]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "empty filter expression"),
        ("tcp port", "expected a port number at the end"),
        ("udp port 70000", "'70000' is not a port number"),
        ("host 10.199.0.999", "'10.199.0.999' is not an IP address"),
        ("ip6 host 10.199.0.1", "'10.199.0.1' does not match 'ip6 host'"),
        ("(tcp or udp", "expected ')' at the end"),
        ("tcp udp", "unexpected 'udp'"),
        ("icmp port 7", "'icmp port' is not supported"),
        ("vlan 5", "expected 'host', 'port' or a protocol at 'vlan'"),
    ],
)
def test_bad_expressions_say_what_is_wrong(expression, message):
    with pytest.raises(FilterError, match=re.escape(message)):
        compile_filter(expression)
