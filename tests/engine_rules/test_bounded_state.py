"""Rule state stays bounded under a flood of random records, whatever they contain."""

from __future__ import annotations

import random
import tracemalloc

from appliance.engine.network import SiteConfig
from appliance.engine.rules import RuleSet
from appliance.engine.rules.bounded_state import BoundedMap
from sensor.records import (
    ArpEvent,
    DhcpEvent,
    DnsEvent,
    Flow,
    KerberosEvent,
    ModbusEvent,
    TlsClientHelloEvent,
)
from tests.engine_rules.conftest import T0

CAP = 100  # SiteConfig.max_tracked_keys, small so a fast test overflows every table many times


def random_records(n: int, seed: int):
    rng = random.Random(seed)

    def ip() -> str:
        return (
            f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
            if rng.random() < 0.6
            else f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
        )

    def mac() -> str:
        return ":".join(f"{rng.randrange(256):02x}" for _ in range(6))

    ts = T0
    for i in range(n):
        ts += rng.expovariate(200)  # ~200 records per second of packet time
        kind = rng.random()
        src, dst = ip(), ip()
        if kind < 0.6:
            payload = rng.choice([0, 0, rng.randrange(1, 10**7)])
            yield Flow(
                uid=f"R{i}",
                ts_start=ts,
                ts_end=ts + rng.random() * 5,
                proto=rng.choice(["TCP", "UDP", "ICMP"]),
                src_ip=src,
                dst_ip=dst,
                src_port=rng.randrange(65536),
                dst_port=rng.choice([22, 445, 3389, 443, rng.randrange(65536)]),
                src_mac=mac(),
                pkts_orig=rng.randrange(1, 100),
                pkts_resp=rng.randrange(0, 100),
                bytes_orig=payload + 40,
                bytes_resp=rng.randrange(10**6),
                payload_orig=payload,
                payload_resp=rng.choice([0, 500]),
                conn_state=rng.choice(["S0", "SF", "REJ"]),
                history=rng.choice(["S", "ShADadFf", "Sr"]),
                syn=1,
                iat_mean=rng.random(),
            )
        elif kind < 0.75:
            label = "".join(rng.choice("abcdefghijklmnop0123456789") for _ in range(rng.randrange(3, 60)))
            yield DnsEvent(
                ts=ts,
                src_ip=src,
                dst_ip=dst,
                query=f"{label}.d{rng.randrange(10**6)}.example",
                qtype=rng.choice([1, 16, 28]),
            )
        elif kind < 0.85:
            yield ArpEvent(ts=ts, op=rng.choice([1, 2]), sender_ip=src, sender_mac=mac(), target_ip=dst)
        elif kind < 0.9:
            yield DhcpEvent(
                ts=ts, src_ip=src, msg_type=rng.choice([1, 2, 3, 5]), client_mac=mac(), server_id=src
            )
        elif kind < 0.95:
            yield KerberosEvent(
                ts=ts,
                src_ip=src,
                dst_ip=dst,
                msg_type=rng.choice([12, 13]),
                service=f"s/{i}",
                requested_etypes=[18, 23],
                ticket_etype=rng.choice([18, 23]),
            )
        elif kind < 0.98:
            yield ModbusEvent(ts=ts, src_ip=src, dst_ip=dst, function_code=rng.choice([3, 6, 16]))
        else:
            yield TlsClientHelloEvent(ts=ts, src_ip=src, dst_ip=dst, sni=f"h{i}.openai.com")


def feed(ruleset: RuleSet, records) -> int:
    detections = 0
    for i, record in enumerate(records):
        detections += len(ruleset.on_flow(record) if isinstance(record, Flow) else ruleset.on_event(record))
        if i % 1000 == 0:
            detections += len(ruleset.advance(getattr(record, "ts_start", None) or record.ts))
    return detections


def rule_tables(ruleset: RuleSet) -> list[tuple[str, BoundedMap]]:
    return [
        (f"{name}.{attr}", value)
        for name, rule in ruleset.rules.items()
        for attr, value in vars(rule).items()
        if isinstance(value, BoundedMap)
    ]


def test_every_table_stays_within_its_cap_and_memory_stays_flat():
    site = SiteConfig(max_tracked_keys=CAP, learning_period_s=10.0)
    ruleset = RuleSet(site=site)
    records = random_records(30_000, seed=11)
    feed(ruleset, (next(records) for _ in range(10_000)))  # every table full, the baseline model fitted
    tracemalloc.start()
    feed(ruleset, (next(records) for _ in range(10_000)))
    after_20k, _ = tracemalloc.get_traced_memory()
    feed(ruleset, records)
    after_30k, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    tables = rule_tables(ruleset)
    assert len(tables) >= 17
    assert all(len(table) <= CAP for _, table in tables), [(n, len(t)) for n, t in tables if len(t) > CAP]
    assert sum(len(table) == CAP for _, table in tables) >= 5  # the flood really did fill tables
    assert all(len(rule.book) <= CAP for rule in ruleset.rules.values())
    # 10,000 more records of fresh addresses. Windows still filling to their caps add ~180 kB; keeping
    # anything per record would add more: one string per DNS query (1,500 of the 10,000) adds ~190 kB
    assert after_30k - after_20k < 270_000, (after_20k, after_30k)
