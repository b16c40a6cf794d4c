"""Real application payloads, mutated, for fuzzing the protocol extractors (the suite's bounded run in
test_robustness.py, the long one in tests/benchmarks/bench_fuzz_decoders.py)."""

from __future__ import annotations

import random
from collections.abc import Iterator

from scapy.all import BOOTP, DHCP

from sensor.protocols import PacketContext
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


def mutated_payloads(rng: random.Random, seeds: list[tuple[PacketContext, bytes]], count: int
                     ) -> Iterator[tuple[PacketContext, bytes]]:
    for i in range(count):
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
        yield ctx, mutate(rng, seed)
