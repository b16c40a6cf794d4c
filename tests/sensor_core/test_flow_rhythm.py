"""What the flow table adds for the engine beyond counts: the originator's bursts within a flow, a second MAC
pair on the originator's packets, and a flow cut at the active timeout keeping its service."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from sensor.flows.bursts import BURST_GAP_S, KEPT
from sensor.flows.timeouts import FlowTimeouts
from sensor.pipeline import Pipeline
from tests.sensor_core.conftest import run_file

CLIENT, SERVER = "10.0.0.5", "198.51.100.7"
HOST_MAC, ROUTER_MAC, ATTACKER_MAC = "02:00:00:00:00:05", "02:00:00:00:00:01", "02:00:00:00:00:66"


class Conversation:
    """A TCP conversation with real sequence numbers, packet by packet, from a given start time."""

    def __init__(self, sport: int = 50123, dport: int = 443) -> None:
        self.sport, self.dport = sport, dport
        self.seq = {True: 1000, False: 5000}
        self.packets = []

    def send(self, at: float, from_client: bool, payload: bytes = b"", flags: str = "PA",
             macs: tuple[str, str] = (HOST_MAC, ROUTER_MAC)) -> None:
        src, dst = (CLIENT, SERVER) if from_client else (SERVER, CLIENT)
        sport, dport = (self.sport, self.dport) if from_client else (self.dport, self.sport)
        packet = Ether(src=macs[0], dst=macs[1]) / IP(src=src, dst=dst) / TCP(
            sport=sport, dport=dport, flags=flags, seq=self.seq[from_client], ack=self.seq[not from_client]) / payload
        packet.time = at
        self.seq[from_client] += len(payload) + (1 if "S" in flags or "F" in flags else 0)
        self.packets.append(packet)

    def handshake(self, at: float) -> None:
        self.send(at, True, flags="S")
        self.send(at + 0.01, False, flags="SA")
        self.send(at + 0.02, True, flags="A")


def beacon(gaps: list[float], sizes: list[int]) -> Conversation:
    """A client that sends a burst of two segments every gap, each answered by the server."""
    talk = Conversation()
    talk.handshake(0.0)
    at = 1.0
    for i, size in enumerate(sizes):
        talk.send(at, True, b"a" * (size - size // 3))
        talk.send(at + 0.05, True, b"b" * (size // 3))  # same burst: well within BURST_GAP_S
        talk.send(at + 0.2, False, b"r" * 700)
        if i < len(gaps):
            at += gaps[i]
    return talk


@pytest.mark.parametrize("batch_size", [1, 7, 65536])
def test_regular_bursts_of_a_long_flow(write_pcap, batch_size):
    gaps = [1.5 if i % 2 else 2.5 for i in range(11)]
    sizes = [100 + 10 * i for i in range(12)]
    drained, _ = run_file(write_pcap(beacon(gaps, sizes).packets), batch_size=batch_size)
    [flow] = drained.flows
    assert flow.bursts_orig == 12
    assert flow.burst_gaps == pytest.approx(gaps, abs=1e-6)
    assert flow.burst_sizes == sizes


@pytest.mark.parametrize("batch_size", [1, 5, 65536])
def test_only_the_last_bursts_are_kept(write_pcap, batch_size):
    count = KEPT + 9
    gaps = [1.0 + i / 100 for i in range(count - 1)]
    sizes = [60 + i for i in range(count)]
    drained, _ = run_file(write_pcap(beacon(gaps, sizes).packets), batch_size=batch_size)
    [flow] = drained.flows
    assert flow.bursts_orig == count
    assert flow.burst_gaps == pytest.approx(gaps[-KEPT:], abs=1e-6)
    assert flow.burst_sizes == sizes[-KEPT:]


def test_a_short_exchange_counts_its_bursts_without_lists(write_pcap):
    talk = Conversation()
    talk.handshake(0.0)
    talk.send(1.0, True, b"GET / HTTP/1.1\r\n\r\n")
    talk.send(1.0 + BURST_GAP_S / 2, True, b"more of the same request")
    talk.send(1.3, False, b"HTTP/1.1 200 OK\r\n\r\n")
    talk.send(4.0, True, b"GET /next HTTP/1.1\r\n\r\n")
    [flow] = run_file(write_pcap(talk.packets))[0].flows
    assert (flow.bursts_orig, flow.burst_gaps, flow.burst_sizes) == (2, [], [])


def test_the_next_hop_mac_changing_mid_flow_is_reported(write_pcap):
    # a host talks to the internet through the router; ARP poisoning moves its next hop to the attacker, who
    # forwards the packets on (with its own MAC as source); the server's answers never change the originator MAC
    talk = Conversation()
    talk.handshake(0.0)
    talk.send(1.0, True, b"x" * 100)
    talk.send(1.1, False, b"y" * 100, macs=(ROUTER_MAC, HOST_MAC))
    talk.send(2.0, True, b"x" * 100, macs=(HOST_MAC, ATTACKER_MAC))
    talk.send(2.0001, True, b"x" * 100, macs=(ATTACKER_MAC, ROUTER_MAC))
    talk.send(2.1, False, b"y" * 100, macs=(ROUTER_MAC, ATTACKER_MAC))
    [flow] = run_file(write_pcap(talk.packets))[0].flows
    assert (flow.src_mac, flow.dst_mac) == (HOST_MAC, ROUTER_MAC)
    assert (flow.src_mac_alt, flow.dst_mac_alt) == (HOST_MAC, ATTACKER_MAC)


def test_a_flow_whose_macs_never_change_has_no_second_pair(write_pcap):
    talk = beacon([2.0] * 5, [100] * 6)
    [flow] = run_file(write_pcap(talk.packets))[0].flows
    assert (flow.src_mac_alt, flow.dst_mac_alt) == ("", "")


def test_a_flow_cut_at_the_active_timeout_keeps_its_service_and_counts_logins_per_segment(write_pcap):
    talk = Conversation(sport=40001, dport=2121)
    talk.handshake(0.0)
    talk.send(0.1, False, b"220 (vsFTPd 3.0.3)\r\n")
    talk.send(0.2, True, b"USER bob\r\n")
    talk.send(0.3, False, b"331 Please specify the password.\r\n")
    talk.send(0.4, True, b"PASS wrong\r\n")
    talk.send(0.5, False, b"530 Login incorrect.\r\n")
    talk.send(20.0, True, b"PASS right\r\n")  # past the 10 s active timeout: a new flow, the same conversation
    talk.send(20.1, False, b"230 Login successful.\r\n")
    pipeline = Pipeline(timeouts=FlowTimeouts(active=10.0))
    pipeline.feed_file(write_pcap(talk.packets))
    first, second = sorted(pipeline.close().flows, key=lambda flow: flow.ts_start)
    assert second.end_reason != "active" and first.end_reason == "active"
    assert (first.service, first.auth_attempts, first.auth_failures, first.auth_successes) == ("ftp", 1, 1, 0)
    assert (second.service, second.auth_attempts, second.auth_failures, second.auth_successes) == ("ftp", 1, 0, 1)
