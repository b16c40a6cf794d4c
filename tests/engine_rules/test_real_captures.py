"""Every public capture through the real sensor pipeline and the rule set: the expected rule on each
malicious capture (MANIFEST.md), nothing on the benign ones."""

from __future__ import annotations

import pytest

from appliance.engine.rules import RuleSet
from sensor.pipeline import Pipeline
from sensor.records import Flow
from tests.real_traffic.captures import SHARED_EXPECTED
from tests.shared_data import PCAPS

EXPECTED = SHARED_EXPECTED


def records_of(name: str) -> tuple[list, list]:
    pipeline = Pipeline()
    assert pipeline.feed_file(PCAPS / name) == []
    drained = pipeline.close()
    return drained.flows, drained.events


def all_records_of(name: str) -> list:
    flows, events = records_of(name)
    return flows + events


def detect(records: list) -> list:
    ruleset = RuleSet()
    out = []
    for record in records:
        out += ruleset.on_flow(record) if isinstance(record, Flow) else ruleset.on_event(record)
    last = max((getattr(r, "ts_end", 0.0) or r.ts for r in records), default=0.0)
    return out + ruleset.advance(last + 86400)


def test_every_capture_is_covered():
    assert {p.name for p in PCAPS.glob("*.pcap")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_capture_raises_exactly_the_expected_rules(name):
    flows, events = records_of(name)
    in_time_order = sorted(flows + events, key=lambda r: r.ts_start if isinstance(r, Flow) else r.ts)
    as_drained = flows + events  # how one batch reaches the engine: its flows, then its events
    for records in (in_time_order, as_drained):
        detections = detect(records)
        seen = {(d.rule_name, d.source_ip, d.dest_ip) for d in detections}
        assert seen == EXPECTED[name], [(d.rule_name, d.source_ip, d.dest_ip, d.evidence) for d in detections]
        assert len({d.incident_key for d in detections}) == len(EXPECTED[name])  # one incident each


def test_evidence_on_the_reference_attacks():
    sweep = detect(all_records_of("icmp-portscan.pcap"))
    assert sweep[-1].evidence["method"] == "ICMP" and sweep[-1].evidence["distinct_hosts"] >= 17
    arp = detect(all_records_of("arp-scan.pcap"))
    assert arp[-1].evidence["method"] == "ARP" and arp[-1].evidence["distinct_hosts"] >= 250
    dns = detect(all_records_of("dns-tunnel-txt.pcap"))
    assert dns[-1].evidence["domain"] == "tunnel.com" and dns[-1].evidence["queries"] == 81
    flood = detect(all_records_of("dhcp-request-flood.pcap"))
    assert flood[-1].evidence["trigger"] == "starvation" and flood[-1].evidence["messages"] == 10_000
    assert len(flood) <= 10  # 10,000 DISCOVERs, a handful of updates
    (roast,) = detect(all_records_of("kerberoast.pcap"))
    assert roast.evidence["weak_ticket_services"] == ["HTTP/dc-mantvydas.offense.local"]
    writes = detect(all_records_of("modbus.pcap"))
    assert writes[-1].evidence["functions"] == {"write_single_coil": 2, "write_single_register": 1}
