"""The committed lab captures agree with their labels and their manifest (fast: reads files, runs no lab)."""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import struct
import subprocess
from functools import cache
from pathlib import Path

import dpkt
import pytest

CAPTURES = Path(__file__).resolve().parents[1] / "data" / "lab-captures"
RULES = {
    "C2_BEACON", "DATA_EXFILTRATION", "OT_UNAUTHORIZED_WRITE", "PORT_SCAN", "NETWORK_SWEEP", "LATERAL_MOVEMENT",
    "BRUTE_FORCE", "DNS_TUNNELING", "SYN_FLOOD", "ARP_SPOOFING", "KERBEROASTING", "THREAT_INTEL_MATCH",
    "SHADOW_AI", "ANOMALOUS_PAYLOAD", "CLEARTEXT_CREDENTIALS", "ROGUE_DHCP", "NEW_DEVICE",
}  # fmt: skip


def labels() -> dict:
    return json.loads((CAPTURES / "labels.json").read_text())["captures"]


def manifest_rows() -> dict[str, int]:
    rows = re.findall(r"^\| ([\w.-]+\.pcap) \| ([\d,]+) \|", (CAPTURES / "MANIFEST.md").read_text(), re.MULTILINE)
    return {name: int(count.replace(",", "")) for name, count in rows}


@cache
def addresses_and_span(pcap: Path) -> tuple[frozenset[str], float, float]:
    """Every IPv4 address in an IP header or an ARP packet, and the first and last packet times."""
    seen: set[str] = set()
    first = last = None
    with pcap.open("rb") as handle:
        for timestamp, frame in dpkt.pcap.Reader(handle):
            first = timestamp if first is None else first
            last = timestamp
            eth = dpkt.ethernet.Ethernet(frame)
            if isinstance(eth.data, dpkt.ip.IP):
                seen.update(socket.inet_ntoa(a) for a in (eth.data.src, eth.data.dst))
            elif isinstance(eth.data, dpkt.arp.ARP):
                seen.update(socket.inet_ntoa(a) for a in (eth.data.spa, eth.data.tpa))
    return frozenset(seen), float(first), float(last)


def test_every_capture_is_in_the_manifest_and_labelled():
    files = {path.name for path in CAPTURES.glob("*.pcap")}
    assert files, "no lab captures committed"
    assert files == set(manifest_rows()) == {capture["file"] for capture in labels().values()}


@pytest.mark.parametrize("name", sorted(labels()))
def test_capture_matches_its_label(name):
    capture = labels()[name]
    pcap = CAPTURES / capture["file"]
    counted = subprocess.run(["capinfos", "-T", "-r", "-c", str(pcap)], capture_output=True, text=True, check=True)
    packets = int(counted.stdout.split("\t")[1])
    assert packets == capture["packets"] == manifest_rows()[capture["file"]]
    assert pcap.stat().st_size == capture["bytes"]

    addresses, first, last = addresses_and_span(pcap)
    assert capture["kind"] in {"attack", "benign"}
    primary = [event for event in capture["events"] if not event["secondary"]]
    assert bool(primary) == (capture["kind"] == "attack"), "attacks have a primary event, benign captures none"
    for host in capture["hosts"]:
        assert host["ip"] in addresses, f"{host['name']} {host['ip']} is not in {pcap.name}"
    for event in capture["events"]:
        assert event["rule"] in RULES
        assert event["command"] and event["tool"]
        labelled = [event["attacker_ip"], *(victim["ip"] for victim in event["victims"])]
        for address in filter(None, labelled):
            if "/" in address:  # a whole subnet swept: some address of it answers
                network = ipaddress.ip_network(address)
                assert any(ipaddress.ip_address(a) in network for a in addresses)
            else:
                assert address in addresses, f"{address} of {event['rule']} is not in {pcap.name}"
        assert event["packets"] > 0, f"{event['rule']}'s evidence filter matches nothing in {pcap.name}"
        assert first - 1e-5 <= event["first_packet_time"] <= event["last_packet_time"] <= last + 1e-5


def _tcp_frame(payload: bytes) -> bytes:
    tcp = dpkt.tcp.TCP(sport=40000, dport=443, flags=dpkt.tcp.TH_ACK, data=payload)
    ip = dpkt.ip.IP(src=socket.inet_aton("10.77.0.21"), dst=socket.inet_aton("203.0.113.10"), p=6, data=tcp)
    ip.len = len(bytes(ip))
    return bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=0x0800, data=ip))


def test_cutoff_keeps_the_start_of_a_connection_and_every_original_length(tmp_path):
    from tests.lab.cutoff import KEEP, SNAP, cut_long_connections

    frames = [_tcp_frame(bytes(1000)) for _ in range(20)]
    source, cut = tmp_path / "long.pcap", tmp_path / "cut.pcap"
    with source.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle)
        for index, frame in enumerate(frames):
            writer.writepkt(frame, ts=1_700_000_000 + index)
    cut_long_connections(source, cut)

    data = cut.read_bytes()
    offset, records = 24, []
    while offset < len(data):
        _, _, incl_len, orig_len = struct.unpack_from("<IIII", data, offset)
        records.append((incl_len, orig_len))
        offset += 16 + incl_len
    whole = -(-KEEP // 1000)  # packets sent before the connection had carried KEEP bytes
    assert records == [(len(frames[0]), len(frames[0]))] * whole + [(SNAP, len(frames[0]))] * (20 - whole)
