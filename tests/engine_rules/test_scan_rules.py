"""PORT_SCAN, NETWORK_SWEEP and SYN_FLOOD on hand-built flows and ARP events."""

from __future__ import annotations

import pytest

from appliance.engine.rules import RuleSet
from sensor.records import ArpEvent
from tests.engine_rules.conftest import T0, make_flow, only, probe, run


# --- PORT_SCAN -------------------------------------------------------------------------------------------
def test_port_scan_fires_exactly_at_15_ports():
    assert run(RuleSet(only("PORT_SCAN")), [probe(p, ts=T0 + p) for p in range(14)]) == []
    detections = run(RuleSet(only("PORT_SCAN")), [probe(p, ts=T0 + p) for p in range(15)])
    assert len(detections) == 1
    d = detections[0]
    assert (d.source_ip, d.dest_ip, d.severity, d.features["distinct_ports"]) == (
        "10.0.0.5",
        "10.0.0.9",
        "HIGH",
        15,
    )
    assert d.evidence["scan_types"] == {"SYN": 15}


def test_port_scan_needs_the_ports_within_the_window():
    slow = [probe(p, ts=T0 + p * 30) for p in range(15)]  # 15 ports over 7 minutes
    assert run(RuleSet(only("PORT_SCAN")), slow) == []


def test_repeated_probes_to_one_port_are_not_a_scan():
    assert run(RuleSet(only("PORT_SCAN")), [probe(22, ts=T0 + i) for i in range(100)]) == []


def test_conversations_with_data_are_not_probes():
    busy = [make_flow(dst_port=1024 + i, ts_start=T0 + i) for i in range(100)]  # e.g. passive FTP data
    assert run(RuleSet(only("PORT_SCAN")), busy) == []


def test_fin_null_xmas_and_udp_scans_are_named():
    kinds = {0x01: "FIN", 0x00: "NULL", 0x29: "XMAS"}
    for flags, name in kinds.items():
        flows = [probe(p, ts=T0 + p, tcp_flags_orig=flags, history="F", conn_state="OTH") for p in range(20)]
        (first, *_) = run(RuleSet(only("PORT_SCAN")), flows)
        assert first.evidence["scan_types"] == {name: 15}
    udp = [
        make_flow(
            proto="UDP",
            dst_port=p,
            ts_start=T0 + p,
            pkts_resp=0,
            bytes_resp=0,
            payload_resp=0,
            conn_state="S0",
            history="D",
        )
        for p in range(20)
    ]
    (first, *_) = run(RuleSet(only("PORT_SCAN")), udp)
    assert first.protocol == "UDP" and first.evidence["scan_types"] == {"UDP": 15}


def test_full_port_range_is_counted_exactly():
    flows = [probe(p, ts=T0 + p * 0.001) for p in range(65536)]
    detections = run(RuleSet(only("PORT_SCAN")), flows)
    assert detections[-1].evidence["distinct_ports"] == 65536
    assert len({d.incident_key for d in detections}) == 1


# --- NETWORK_SWEEP -----------------------------------------------------------------------------------------
def echo(dst: str, ts: float, src: str = "192.168.1.109"):
    return make_flow(
        proto="ICMP",
        src_ip=src,
        dst_ip=dst,
        src_port=8,
        dst_port=0,
        ts_start=ts,
        ts_end=ts + 0.001,
        pkts_orig=1,
        pkts_resp=1,
        conn_state="",
        history="",
        payload_orig=56,
        payload_resp=56,
    )


def test_fast_icmp_sweep_fires_on_the_burst_rate():
    flows = [echo(f"192.168.1.{i}", T0 + i * 0.09) for i in range(1, 19)]  # 18 hosts in 1.6 s
    detections = run(RuleSet(only("NETWORK_SWEEP")), flows)
    assert {d.incident_key for d in detections} == {detections[0].incident_key}
    assert detections[0].source_ip == "192.168.1.109" and detections[0].protocol == "ICMP"
    assert detections[-1].evidence["distinct_hosts"] == 18


def test_icmp_at_burst_boundary():
    eleven = [echo(f"192.168.1.{i}", T0 + i * 0.1) for i in range(11)]
    assert run(RuleSet(only("NETWORK_SWEEP")), eleven) == []
    twelve = [echo(f"192.168.1.{i}", T0 + i * 0.1) for i in range(12)]
    assert len(run(RuleSet(only("NETWORK_SWEEP")), twelve)) == 1


def test_slow_pings_to_few_hosts_are_monitoring_not_a_sweep():
    flows = [echo(f"192.168.1.{i % 20}", T0 + i * 2.0) for i in range(200)]  # 20 hosts, one every 2 s
    assert run(RuleSet(only("NETWORK_SWEEP")), flows) == []


def test_slow_sweep_fires_at_25_hosts_in_5_minutes():
    flows = [probe(445, dst_ip=f"10.0.1.{i}", ts=T0 + i * 10) for i in range(25)]
    detections = run(RuleSet(only("NETWORK_SWEEP")), flows)
    assert (
        len(detections) == 1 and detections[0].port == 445 and detections[0].features["distinct_hosts"] == 25
    )
    assert run(RuleSet(only("NETWORK_SWEEP")), flows[:24]) == []


def test_multicast_and_broadcast_targets_never_count():
    flows = [
        make_flow(proto="UDP", dst_ip=f"239.255.255.{i}", dst_port=1900, pkts_resp=0, ts_start=T0 + i * 0.01)
        for i in range(100)
    ]
    assert run(RuleSet(only("NETWORK_SWEEP")), flows) == []


def arp_request(target: str, ts: float, sender: str = "192.168.1.247") -> ArpEvent:
    return ArpEvent(
        ts=ts,
        op=1,
        sender_mac="02:00:00:00:00:f7",
        sender_ip=sender,
        target_ip=target,
        target_mac="00:00:00:00:00:00",
    )


def test_arp_sweep_fires_and_gateway_refreshes_do_not():
    sweep = [arp_request(f"192.168.1.{i}", T0 + i * 0.05) for i in range(256)]
    detections = run(RuleSet(only("NETWORK_SWEEP")), sweep)
    assert (
        detections[0].protocol == "ARP" and detections[-1].evidence["distinct_hosts"] == 254
    )  # not itself, not .255
    refresh = [arp_request(f"192.168.1.{i % 60}", T0 + i * 4.0, sender="192.168.1.1") for i in range(300)]
    assert run(RuleSet(only("NETWORK_SWEEP")), refresh) == []


# --- SYN_FLOOD ---------------------------------------------------------------------------------------------
def half_open(ts: float, src: str = "203.0.113.7", port: int = 80):
    return make_flow(
        ts_start=ts,
        ts_end=ts + 1,
        src_ip=src,
        dst_ip="10.0.0.80",
        dst_port=port,
        pkts_orig=1,
        pkts_resp=2,
        payload_orig=0,
        payload_resp=0,
        conn_state="S1",
        history="Sh",
        fin=0,
        tcp_flags_orig=0x02,
    )


def test_syn_flood_at_500_syn_in_10_s():
    flows = [half_open(T0 + i * 0.01, src=f"198.51.100.{i % 250}") for i in range(499)]
    assert run(RuleSet(only("SYN_FLOOD")), flows) == []
    flows.append(half_open(T0 + 5))
    detections = run(RuleSet(only("SYN_FLOOD")), flows)
    assert len(detections) == 1
    d = detections[0]
    assert (d.dest_ip, d.port, d.source_ip) == ("10.0.0.80", 80, "")
    assert d.features["distinct_sources"] == pytest.approx(251, rel=0.03)  # beyond 32: the sketch estimate


def test_port_scan_of_one_host_is_not_a_syn_flood():
    flows = [probe(p, ts=T0 + p * 0.001, dst_ip="10.0.0.80") for p in range(2000)]
    assert run(RuleSet(only("SYN_FLOOD")), flows) == []


def test_completed_connections_are_not_half_open():
    flows = [make_flow(ts_start=T0 + i * 0.001, dst_port=80) for i in range(2000)]
    assert run(RuleSet(only("SYN_FLOOD")), flows) == []


def test_servers_answering_and_resolvers_asking_are_not_sweeps():
    dhcp_offers = [
        make_flow(
            proto="UDP",
            src_ip="10.0.0.1",
            src_port=67,
            dst_ip=f"10.0.3.{i}",
            dst_port=68,
            pkts_resp=0,
            ts_start=T0 + i * 0.01,
        )
        for i in range(100)
    ]
    recursion = [
        make_flow(
            proto="UDP",
            src_ip="10.0.0.53",
            src_port=40000 + i,
            dst_ip=f"198.51.100.{i}",
            dst_port=53,
            pkts_resp=0,
            ts_start=T0 + i * 0.1,
        )
        for i in range(100)
    ]
    assert run(RuleSet(only("NETWORK_SWEEP")), dhcp_offers + recursion) == []


def test_a_source_scanning_host_after_host_is_one_growing_incident():
    targets = ["10.0.0.9", "10.0.0.10", "10.0.0.11"]
    flows = [probe(port, ts=T0 + 30 * i + port, dst_ip=host) for i, host in enumerate(targets) for port in range(20)]
    detections = run(RuleSet(only("PORT_SCAN")), flows)
    assert len({d.incident_key for d in detections}) == 1
    last = detections[-1]
    assert last.evidence["hosts_scanned"] == 3 and last.evidence["hosts_sample"] == sorted(targets)
    assert last.dest_ip == "" and detections[0].dest_ip == "10.0.0.9"  # one host named, many not
