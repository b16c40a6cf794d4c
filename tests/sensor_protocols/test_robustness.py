"""Malformed, truncated and hostile payloads: no exception, bounded state, events that still encode."""

from __future__ import annotations

import random
import time

import msgspec

from sensor.protocols import IDENTIFY_TCP_PAYLOADS, MetadataExtractor, PacketContext
from sensor.records import AnyEvent
from tests.sensor_protocols.payload_mutations import mutated_payloads, seed_packets

FUZZ_PAYLOADS = 60_000  # per run, a fresh sample each time; the benchmark runs a million


def test_mutated_payloads_never_raise():
    seed = random.randrange(2**32)
    extractor = MetadataExtractor()
    events = []
    started = time.perf_counter()
    for ctx, payload in mutated_payloads(random.Random(seed), seed_packets(), FUZZ_PAYLOADS):
        events += extractor.on_payload(ctx, payload)
    elapsed = time.perf_counter() - started
    assert extractor.errors == 0, f"random seed {seed}"
    assert events  # the mutations still hit the parsers, not just their first-byte checks
    # every event survives the wire format with its declared types
    decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(events), type=list[AnyEvent])
    assert len(decoded) == len(events)
    print(f"{FUZZ_PAYLOADS} payloads in {elapsed:.1f} s, {len(events)} events")


def test_per_flow_memory_is_capped():
    extractor = MetadataExtractor(max_watched_flows=100)
    hello_start = b"\x16\x03\x01\x40\x00\x01\x00\x3f\xfc\x03\x03"  # announces a 16 KiB record, never finished
    for i in range(5000):
        ctx = PacketContext(float(i), "10.0.0.1", "10.0.0.2", 40000 + i % 20000, 443, "TCP", "", f"F{i}")
        extractor.on_payload(ctx, hello_start)
        ctx = ctx._replace(dst_port=7000, flow_uid=f"G{i}")
        extractor.on_payload(ctx, b"\x00" * 10)
    assert len(extractor._views) == 100
    [tls] = extractor._by_service["tls"]
    assert len(tls._segments._pending) <= 512


def test_interest_is_decided_by_port_for_udp_and_covers_all_tcp():
    extractor = MetadataExtractor()
    assert extractor.interested("UDP", 51000, 53) and extractor.interested("UDP", 67, 68)
    assert extractor.interested("UDP", 47808, 47808) and extractor.interested("UDP", 88, 50000)
    # the UDP services identified by content are looked for on their own ports only
    assert extractor.interested("UDP", 51000, 443) and extractor.interested("UDP", 5060, 5060)
    assert not extractor.interested("UDP", 51000, 9999)
    assert extractor.interested("TCP", 51000, 3389)  # any TCP flow: its content names its service
    assert not extractor.interested("ICMP", 8, 0)


def test_a_flow_whose_first_payloads_are_unknown_stays_ignored():
    extractor = MetadataExtractor()
    ctx = PacketContext(0.0, "10.0.0.1", "10.0.0.2", 40000, 7000, "TCP", "", "F1")
    for _ in range(2 * IDENTIFY_TCP_PAYLOADS):  # from one side: the other never answers
        assert extractor.on_payload(ctx, b"\x00\x01binary protocol") == []
    assert extractor.on_payload(ctx, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == []
    assert extractor.take_findings().released == ["F1"]  # the flow table stops handing its packets over
    fresh = ctx._replace(flow_uid="F2")
    assert [e.host for e in extractor.on_payload(fresh, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")] == ["x"]
