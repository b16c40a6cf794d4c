"""Link layers, VLAN tags, IPv6 extension headers, fragments and ARP, through the whole pipeline."""

from __future__ import annotations

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP, fragment
from scapy.layers.inet6 import (
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.l2 import ARP, CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether

from sensor.records import ArpEvent
from tests.sensor_core.conftest import assert_same_flows, run_file

MAC_A, MAC_B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"


def _timed(packets, start=1_700_000_000.0, step=0.01):
    for i, packet in enumerate(packets):
        packet.time = start + i * step
    return packets


def _conversation(l3_a, l3_b, sport=40000, dport=80):
    """A full TCP conversation: handshake, one request, one answer, FIN both ways."""
    a = l3_a / TCP(sport=sport, dport=dport, flags="S")
    return [
        a,
        l3_b / TCP(sport=dport, dport=sport, flags="SA"),
        l3_a / TCP(sport=sport, dport=dport, flags="A"),
        l3_a / TCP(sport=sport, dport=dport, flags="PA") / (b"G" * 100),
        l3_b / TCP(sport=dport, dport=sport, flags="PA") / (b"H" * 300),
        l3_a / TCP(sport=sport, dport=dport, flags="FA"),
        l3_b / TCP(sport=dport, dport=sport, flags="FA"),
        l3_a / TCP(sport=sport, dport=dport, flags="A"),
    ]


def _check_conversation(flows, src="10.1.1.1", dst="10.2.2.2"):
    (flow,) = flows
    assert (flow.src_ip, flow.dst_ip, flow.src_port, flow.dst_port, flow.proto) == (src, dst, 40000, 80, "TCP")
    assert (flow.pkts_orig, flow.pkts_resp, flow.payload_orig, flow.payload_resp) == (5, 3, 100, 300)
    assert flow.conn_state == "SF" and flow.history == "ShADdFf" and flow.end_reason == "fin"
    return flow


V4 = (IP(src="10.1.1.1", dst="10.2.2.2"), IP(src="10.2.2.2", dst="10.1.1.1"))


@pytest.mark.parametrize("link", ["ether", "vlan", "qinq", "qinq-9100", "sll", "sll2", "raw"])
def test_link_layers_and_vlan_tags_decode_to_the_same_flow(write_pcap, link):
    a, b = V4
    if link == "ether":
        packets, linktype = _conversation(Ether(src=MAC_A, dst=MAC_B) / a, Ether(src=MAC_B, dst=MAC_A) / b), 1
    elif link == "vlan":
        packets, linktype = (
            _conversation(
                Ether(src=MAC_A, dst=MAC_B) / Dot1Q(vlan=42) / a, Ether(src=MAC_B, dst=MAC_A) / Dot1Q(vlan=42) / b
            ),
            1,
        )
    elif link.startswith("qinq"):
        outer = 0x9100 if link == "qinq-9100" else 0x88A8
        packets, linktype = (
            _conversation(
                Ether(src=MAC_A, dst=MAC_B, type=outer) / Dot1AD(vlan=7) / Dot1Q(vlan=42) / a,
                Ether(src=MAC_B, dst=MAC_A, type=outer) / Dot1AD(vlan=7) / Dot1Q(vlan=42) / b,
            ),
            1,
        )
    elif link == "sll":
        packets, linktype = (
            _conversation(
                CookedLinux(src=bytes.fromhex("02000000000a") + b"\0\0", lladdrlen=6) / a,
                CookedLinux(src=bytes.fromhex("02000000000b") + b"\0\0", lladdrlen=6) / b,
            ),
            113,
        )
    elif link == "sll2":
        packets, linktype = (
            _conversation(
                CookedLinuxV2(proto=0x0800, src=bytes.fromhex("02000000000a") + b"\0\0", lladdrlen=6) / a,
                CookedLinuxV2(proto=0x0800, src=bytes.fromhex("02000000000b") + b"\0\0", lladdrlen=6) / b,
            ),
            276,
        )
    else:
        packets, linktype = _conversation(a, b), 101
    path = write_pcap(_timed(packets), linktype=linktype)
    drained, _ = run_file(path)
    flow = _check_conversation(drained.flows)
    assert flow.vlan == {"vlan": 42, "qinq": 7, "qinq-9100": 7}.get(link, 0)
    assert flow.src_mac == ("" if link == "raw" else MAC_A)
    assert drained.stats.decoded == len(packets)
    reference, _ = run_file(path, vectorised=False, batch_size=1)
    assert_same_flows(drained.flows, reference.flows)


def test_ipv6_extension_headers_are_walked_to_the_transport_header(write_pcap):
    a, b = IPv6(src="2001:db8::1", dst="2001:db8::2"), IPv6(src="2001:db8::2", dst="2001:db8::1")
    a_ext = a / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / IPv6ExtHdrRouting(addresses=[])
    packets = _conversation(Ether(src=MAC_A, dst=MAC_B) / a_ext, Ether(src=MAC_A, dst=MAC_B) / b / IPv6ExtHdrDestOpt())
    packets.append(Ether(src=MAC_A, dst=MAC_B) / a / ICMPv6EchoRequest(id=1, data=b"ping"))
    packets.append(Ether(src=MAC_A, dst=MAC_B) / b / ICMPv6EchoReply(id=1, data=b"ping"))
    path = write_pcap(_timed(packets), linktype=1)
    drained, _ = run_file(path)
    tcp = _check_conversation([f for f in drained.flows if f.proto == "TCP"], "2001:db8::1", "2001:db8::2")
    assert tcp.bytes_orig == sum(len(p[IPv6]) for p in packets[:8] if p[IPv6].src == "2001:db8::1")
    (icmp,) = [f for f in drained.flows if f.proto == "ICMPv6"]
    assert (icmp.src_port, icmp.dst_port, icmp.pkts_orig, icmp.pkts_resp) == (128, 0, 1, 1)
    reference, _ = run_file(path, vectorised=False, batch_size=1)
    assert_same_flows(drained.flows, reference.flows)


def test_ipv4_fragments_are_counted_and_later_fragments_join_their_flow(write_pcap):
    big = IP(src="10.0.0.1", dst="10.0.0.2", id=777) / UDP(sport=5353, dport=9999) / (b"z" * 3000)
    pieces = fragment(big, fragsize=1000)
    packets = _timed(
        [Ether(src=MAC_A, dst=MAC_B) / p for p in pieces]
        + [Ether(src=MAC_A, dst=MAC_B) / IP(src="10.0.0.2", dst="10.0.0.1") / UDP(sport=9999, dport=5353) / b"ok"]
    )
    drained, _ = run_file(write_pcap(packets, linktype=1))
    assert drained.stats.fragments == len(pieces) == 4
    (flow,) = drained.flows
    assert (flow.pkts_orig, flow.pkts_resp) == (4, 1)
    assert flow.bytes_orig == sum(len(p) for p in pieces)
    assert flow.payload_orig == 3000
    assert flow.first_payloads[0] == 1000 - 8  # only the first fragment's share after the UDP header


def test_a_later_fragment_without_its_first_is_decoded_but_makes_no_flow(write_pcap):
    pieces = fragment(IP(src="10.0.0.1", dst="10.0.0.2") / UDP() / (b"z" * 3000), fragsize=1000)
    drained, _ = run_file(write_pcap(_timed([Ether(src=MAC_A, dst=MAC_B) / p for p in pieces[1:]]), linktype=1))
    assert (drained.stats.decoded, drained.stats.fragments, len(drained.flows)) == (3, 3, 0)


def test_ipv6_fragments(write_pcap):
    base = IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrFragment(id=99)
    first = base.copy()
    first[IPv6ExtHdrFragment].m = 1
    first = first / UDP(sport=1, dport=2) / (b"a" * 64)
    later = IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrFragment(id=99, offset=9, nh=17) / (b"b" * 64)
    drained, _ = run_file(
        write_pcap(_timed([Ether(src=MAC_A, dst=MAC_B) / first, Ether(src=MAC_A, dst=MAC_B) / later]), linktype=1)
    )
    assert drained.stats.fragments == 2
    (flow,) = drained.flows
    assert (flow.src_port, flow.dst_port, flow.pkts_orig) == (1, 2, 2)


def test_arp_packets_become_arp_events(write_pcap):
    packets = _timed(
        [
            Ether(src=MAC_A, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=MAC_A, psrc="192.168.1.5", pdst="192.168.1.1"),
            Ether(src=MAC_B, dst=MAC_A) / ARP(op=2, hwsrc=MAC_B, psrc="192.168.1.1", hwdst=MAC_A, pdst="192.168.1.5"),
        ]
    )
    drained, _ = run_file(write_pcap(packets, linktype=1))
    assert drained.flows == []
    assert [(e.op, e.sender_ip, e.sender_mac, e.target_ip, e.src_mac) for e in drained.events] == [
        (1, "192.168.1.5", MAC_A, "192.168.1.1", MAC_A),
        (2, "192.168.1.1", MAC_B, "192.168.1.5", MAC_B),
    ]
    assert all(isinstance(e, ArpEvent) for e in drained.events)


def test_truncated_and_lying_packets_are_counted_as_malformed(write_pcap):
    good = Ether(src=MAC_A, dst=MAC_B) / IP(src="10.0.0.1", dst="10.0.0.2") / TCP() / b"data"
    lying = (
        Ether(src=MAC_A, dst=MAC_B) / IP(src="10.0.0.1", dst="10.0.0.2", len=900) / UDP() / b"x"
    )  # claims more than it has
    packets = _timed(
        [
            good,
            Ether(bytes(good)[:20]),
            Ether(bytes(good)[:40]),
            lying,
            Ether(src=MAC_A, dst=MAC_B) / IP(ihl=3) / ICMP(),
        ]
    )
    drained, _ = run_file(write_pcap(packets, linktype=1))
    assert (drained.stats.packets, drained.stats.decoded, drained.stats.malformed) == (5, 1, 4)
    assert len(drained.flows) == 1


def test_non_ip_ethertypes_are_counted_but_neither_decoded_nor_malformed(write_pcap):
    packets = _timed([Ether(type=0x88CC) / (b"\0" * 40), Ether(src=MAC_A, dst=MAC_B) / IP() / UDP()])
    drained, _ = run_file(write_pcap(packets, linktype=1))
    assert (drained.stats.packets, drained.stats.decoded, drained.stats.malformed) == (2, 1, 0)
