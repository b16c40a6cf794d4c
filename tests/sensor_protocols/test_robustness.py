"""Malformed, truncated and hostile payloads: no exception, bounded state, events that still encode."""

from __future__ import annotations

import random
import time

import msgspec
from scapy.all import BOOTP, DHCP

from sensor.protocols import IDENTIFY_TCP_PAYLOADS, MetadataExtractor, PacketContext
from sensor.records import AnyEvent
from tests.sensor_protocols.protocol_payloads import capture_payloads

SEED_CAPTURES = (
    "dns-tunnel-txt.pcap",
    "kerberoast.pcap",
    "tls-handshake.pcap",
    "modbus.pcap",
    "dnp3-write.pcap",
    "ftp-cleartext-login.pcap",
    "icmp-and-ssh.pcap",
    "http-post-file.pcap",
    "quic.pcap",
    "smb1-session.pcap",
)
MAGIC_PREFIXES = (
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    b"SSH-2.0-",
    b"GET / HTTP/1.1\r\nAuthorization: Basic ",
    b"\x05\x64\xff\xc4",
    b"\x81\x0a\x00\x20\x01\x24",
    b"\x00\x01\x00\x00\x00\x06\x01\x05",
    b"\x00\x00\x05\xdc\x6c\x82\x05\xd8",
    b"\x6d\x82\x01\x00\x30\x82\x00\xfc",
    b"USER x\r\nPASS y\r\na1 AUTHENTICATE PLAIN\r\n",
    b"\xff\xfa\x18",
    b"\x12\x34\x81\x80\x00\x01\x00\x05\x00\x00\x00\x00\xc0\x0c",
)
TARGETS = (
    ("UDP", 53),
    ("TCP", 53),
    ("UDP", 5353),
    ("TCP", 443),
    ("TCP", 9999),
    ("TCP", 80),
    ("TCP", 22),
    ("TCP", 21),
    ("TCP", 23),
    ("TCP", 110),
    ("TCP", 143),
    ("TCP", 25),
    ("TCP", 88),
    ("UDP", 88),
    ("UDP", 67),
    ("TCP", 502),
    ("TCP", 20000),
    ("UDP", 20000),
    ("UDP", 47808),
)
FUZZ_PAYLOADS = 200_000


def mutate(rng: random.Random, seed: bytes) -> bytes:
    data = bytearray(seed)
    choice = rng.randrange(6)
    if choice == 0 and data:  # flip a few bits
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif choice == 1:  # truncate
        del data[rng.randrange(len(data) + 1) :]
    elif choice == 2 and data:  # overwrite with length-ish extremes
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.choice((0x00, 0x7F, 0x80, 0xC0, 0xFF))
    elif choice == 3:  # a protocol's magic in front of garbage
        data = bytearray(rng.choice(MAGIC_PREFIXES) + rng.randbytes(rng.randrange(64)))
    elif choice == 4:  # pure noise
        data = bytearray(rng.randbytes(rng.randrange(1, 300)))
    else:  # splice two payloads
        cut = rng.randrange(len(data) + 1)
        data = data[:cut] + bytearray(rng.randbytes(rng.randrange(32)))
    return bytes(data)


def seed_packets() -> list[tuple[PacketContext, bytes]]:
    """Real payloads, plus protocols the captures lack, each with the ports it really travels on."""
    seeds = [pair for name in SEED_CAPTURES for pair in capture_payloads(name)]
    dhcp = bytes(
        BOOTP(op=1, xid=7, chaddr=b"\x02" * 6)
        / DHCP(options=[("message-type", "request"), ("hostname", b"pc"), "end"])
    )
    bacnet = bytes.fromhex("810a001a0124000500ff0005010f0c0080000119553e4442c800003f4910")
    logins = b"a1 LOGIN bob pw\r\nAUTH LOGIN Ym9i\r\ncHc=\r\nAPOP bob 0123\r\n"
    base = seeds[0][0]
    for proto, port, payload in (
        ("UDP", 67, dhcp),
        ("UDP", 47808, bacnet),
        ("TCP", 143, logins),
        ("TCP", 25, logins),
    ):
        seeds.append((base._replace(proto=proto, src_port=40000, dst_port=port), payload))
    return seeds


def test_two_hundred_thousand_mutated_payloads_never_raise():
    rng = random.Random(20261127)
    seeds = seed_packets()
    extractor = MetadataExtractor()
    events = []
    started = time.perf_counter()
    for i in range(FUZZ_PAYLOADS):
        seed_ctx, seed = rng.choice(seeds)
        if i & 1:  # the seed on its own ports, so mutations reach deep into its parser
            ctx = seed_ctx._replace(flow_uid=f"F{rng.randrange(2000)}")
        else:  # the seed thrown at another protocol's parser
            proto, port = TARGETS[i % len(TARGETS)]
            ctx = seed_ctx._replace(
                proto=proto,
                src_port=port if i & 2 else 40000,
                dst_port=40000 if i & 2 else port,
                flow_uid=f"F{rng.randrange(2000)}",
            )
        events += extractor.on_payload(ctx, mutate(rng, seed))
    elapsed = time.perf_counter() - started
    assert extractor.errors == 0
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
