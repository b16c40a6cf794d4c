"""Capture filters compiled by libpcap (sensor.capture.bpf), run by the kernel on a veth pair: what passes is
checked against scapy's own reading of synthetic frames, and against tcpdump's offline filtering (libpcap's
`pcap_offline_filter`) of real captures."""

from __future__ import annotations

import ipaddress
import subprocess
import sys

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Packet as ScapyPacket
from scapy.packet import Raw
from scapy.utils import rdpcap

from sensor.capture.bpf import FilterError, compile_filter
from sensor.capture.live import CaptureError, LiveCapture
from tests.sensor_capture.libpcap_oracle import tcpdump_keeps
from tests.sensor_capture.netns_veth import collect, run
from tests.shared_data import PCAPS

MACS = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}
TEN_SLASH_EIGHT = ipaddress.ip_network("10.0.0.0/8")


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
    # 802.1Q-tagged frames: the kernel moves the tag into metadata before the filter runs (libpcap knows).
    bytes(ether() / Dot1Q(vlan=5) / IP(src="10.1.2.3", dst="10.199.0.2") / UDP(sport=5353, dport=53) / Raw(b"v5")),
    bytes(ether() / Dot1Q(vlan=7) / IP(src="10.199.0.1", dst="10.199.0.2") / TCP(sport=40004, dport=8080, flags="S")),
    bytes(ether() / IP(src="10.1.2.3", dst="10.199.0.2") / TCP(sport=40005, dport=8100, flags="A")),
    bytes(ether() / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=5000, dport=8101) / Raw(b"elsewhere")),
]


def ports(packet: ScapyPacket) -> set[int]:
    layer = packet.getlayer(TCP) or packet.getlayer(UDP)
    return {layer.sport, layer.dport} if layer else set()


def ipv4_hosts(packet: ScapyPacket) -> set[str]:
    if IP in packet:
        return {packet[IP].src, packet[IP].dst}
    return {packet[ARP].psrc, packet[ARP].pdst} if ARP in packet else set()


def vlan_id(packet: ScapyPacket) -> int | None:
    return packet[Dot1Q].vlan if Dot1Q in packet else None


# (filter, what scapy says should pass). As with `tcpdump -i` on Linux, a filter without `vlan` looks inside
# a tagged frame. tcpdump -dd "arp" gives the raw program at the end.
CASES = [
    ("udp port 53", lambda p: UDP in p and 53 in ports(p)),
    ("ip host 10.199.0.3", lambda p: IP in p and "10.199.0.3" in ipv4_hosts(p)),
    ("not port 443", lambda p: 443 not in ports(p)),
    ("tcp dst port 443", lambda p: TCP in p and p[TCP].dport == 443),
    ("ip6 host fd00:199::2", lambda p: IPv6 in p),
    ("arp or icmp", lambda p: ARP in p or ICMP in p),
    # Like tcpdump's, "udp" looks at the IP protocol only, so it also passes the later fragment.
    (
        "src host 10.199.0.1 and (udp or tcp)",
        lambda p: IP in p and p[IP].src == "10.199.0.1" and p[IP].proto in (6, 17),
    ),
    ("ip6 and tcp", lambda p: IPv6 in p and TCP in p),
    # `net` also matches ARP's addresses
    ("net 10.0.0.0/8", lambda p: any(ipaddress.ip_address(host) in TEN_SLASH_EIGHT for host in ipv4_hosts(p))),
    ("vlan and host 10.1.2.3", lambda p: vlan_id(p) is not None and "10.1.2.3" in ipv4_hosts(p)),
    ("vlan 7", lambda p: vlan_id(p) == 7),
    ("not vlan", lambda p: vlan_id(p) is None),
    ("portrange 8000-8100", lambda p: any(8000 <= port <= 8100 for port in ports(p))),
    # tcp[...] reads the TCP header behind an IPv4 header only, as in tcpdump
    ("tcp[tcpflags] & tcp-syn != 0", lambda p: IP in p and TCP in p and "S" in p[TCP].flags),
    ("not arp", lambda p: ARP not in p),
    ("ip6", lambda p: IPv6 in p),
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


def replayed(*names: str) -> list[bytes]:
    return in_namespace_addresses([packet for name in names for packet in rdpcap(str(PCAPS / name))])


@pytest.fixture(scope="module")
def real_frames() -> list[bytes]:
    return replayed("icmp-and-ssh.pcap", "dns-tunnel-txt.pcap", "arp-single.pcap", "tls-handshake.pcap")


# A real capture with one direction of a TCP connection tagged (VLAN 3136) and the other not.
@pytest.fixture(scope="module")
def tagged_frames() -> list[bytes]:
    return replayed("suricata-verify/bug-4376/syn_retransmit_with_ts.pcap")


def captured_through(veth, expression: str, frames: list[bytes]) -> list[bytes]:
    with LiveCapture(veth.host_iface, bpf=expression) as capture:
        veth.send(frames)
        return [frame for _, _, frame in collect(capture, timeout=0.5)]


@pytest.mark.parametrize(
    "expression",
    [
        "tcp port 22",
        "icmp",
        "not tcp",
        "net 10.199.1.0/31",
        "portrange 440-450",
        "tcp[tcpflags] & tcp-syn != 0",
        "not arp",
        "udp port 53 or icmp",
        "tcp port 22 and not src host 10.199.1.1",
    ],
)
def test_filter_on_replayed_real_captures_keeps_what_tcpdump_keeps(veth, real_frames, expression):
    expected = tcpdump_keeps(expression, real_frames)
    assert 0 < len(expected) < len(real_frames)
    assert captured_through(veth, expression, real_frames) == expected


@pytest.mark.parametrize(
    "expression",
    ["vlan", "not vlan", "vlan 3136", "vlan and src host 10.199.1.1", "vlan and tcp[tcpflags] & tcp-syn != 0"],
)
def test_vlan_filters_on_a_replayed_tagged_capture_keep_what_tcpdump_keeps(veth, tagged_frames, expression):
    expected = tcpdump_keeps(expression, tagged_frames)
    assert 0 < len(expected) < len(tagged_frames)
    assert captured_through(veth, expression, tagged_frames) == expected


@pytest.mark.parametrize(
    ("expression", "libpcap_says"),
    [
        ("tcp port", "syntax error"),
        ("udp port 70000", "illegal port number 70000 > 65535"),
        ("host 10.199.0.999", "invalid IPv4 address '10.199.0.999'"),
        ("(tcp or udp", "syntax error"),
        ("tcp udp", "syntax error"),
        ("port nosuchservice", "unknown port 'nosuchservice'"),
    ],
)
def test_a_bad_expression_is_one_line_with_libpcaps_own_message(veth, expression, libpcap_says):
    with pytest.raises(CaptureError) as error:
        LiveCapture(veth.host_iface, bpf=expression)
    message = str(error.value)
    assert message.startswith(f"bad capture filter {expression!r}: ") and libpcap_says in message
    assert "\n" not in message


def test_a_filter_on_an_interface_that_is_down_says_so(veth):
    run("ip", "link", "set", veth.host_iface, "down")
    with pytest.raises(FilterError, match=f"cannot compile a filter for '{veth.host_iface}': .*not up"):
        compile_filter("tcp", veth.host_iface, 1)


def test_sensor_capture_with_a_bad_filter_is_one_line_on_stderr_and_a_failure(veth, tmp_path):
    # Nothing listens on the discard port: the filter must be refused before anything is captured or shipped.
    result = subprocess.run(
        [sys.executable, "-m", "sensor", "capture", "--iface", veth.host_iface, "--filter", "tcp prot 22",
         "--appliance", "http://127.0.0.1:9", "--license-key", "nsx_unused", "--spool-dir", str(tmp_path / "spool")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"sensor: error: cannot capture on {veth.host_iface}: bad capture filter 'tcp prot 22': "
        "can't parse filter expression: syntax error"
    ]
