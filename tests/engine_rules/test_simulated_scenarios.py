"""The traffic simulator's labelled scenarios through the real sensor pipeline and the rule set: every
labelled attack raises its rule, from its source, and nothing else fires."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from appliance.engine.network import SiteConfig, load_threat_intel
from appliance.engine.rules import RuleSet
from appliance.engine.scoring.corpus import run_scenario
from appliance.engine.scoring.ground_truth import finds
from appliance.simulate.labels import indicators_path, labels_path, read_labels
from appliance.simulate.scenarios import SCENARIOS
from sensor.pipeline import Pipeline
from sensor.records import Flow

DURATION = "120"  # seconds of simulated office: short enough for a test
# A beacon is a rhythm that lasts (C2_BEACON's min_duration_s, 2 minutes): its scenarios run longer.
DURATION_OF = {"c2-beacon": "300", "mixed": "300"}
# Rules that compare with a learned baseline need the learning period over before the attack: NEW_DEVICE gets
# a learning period that ends just before the devices appear, ANOMALOUS_PAYLOAD the office's own history
# first (both have their own tests below).
NEEDS_A_BASELINE = {"new-device", "anomalous-payload"}
BASELINE_RULES = {"NEW_DEVICE", "ANOMALOUS_PAYLOAD"}
# The simulator's low-and-slow exfiltration sends ~1 MB a minute: it crosses the 50 MB/h bar after ~50 min.
NEEDS_AN_HOUR = "low-and-slow"


def simulate(tmp_path: Path, name: str, duration: str = DURATION) -> Path:
    pcap = tmp_path / f"{name}.pcap"
    subprocess.run(
        [sys.executable, "-m", "appliance.simulate", name, "--duration", duration, "--out", str(pcap)],
        check=True,
        capture_output=True,
    )
    return pcap


def records_of(pcap: Path) -> list:
    pipeline = Pipeline()
    pipeline.feed_file(pcap)
    drained = pipeline.close()
    return sorted(drained.flows + drained.events, key=lambda r: r.ts_start if isinstance(r, Flow) else r.ts)


def detect(records: list, site: SiteConfig) -> list:
    ruleset = RuleSet(site=site)
    out = []
    for record in records:
        out += ruleset.on_flow(record) if isinstance(record, Flow) else ruleset.on_event(record)
    final = {}
    for detection in out + ruleset.advance(
        max(getattr(r, "ts_end", 0.0) or r.ts for r in records) + 10 * 86400
    ):
        final[detection.incident_key] = detection
    return list(final.values())


def site_for(pcap: Path, learning_period_s: float = 10 * 86400) -> SiteConfig:
    indicators = indicators_path(pcap)
    intel = load_threat_intel(indicators) if indicators.exists() else None
    return SiteConfig(learning_period_s=learning_period_s, **({"threat_intel": intel} if intel else {}))


def raised_by(label, detections) -> bool:
    """A detection of the label's rule that names the attacker (or, for spoofed sources, the target)."""
    return any(
        d.rule_name == label.rule_name
        and (
            label.source_ip in (d.source_ip, d.dest_ip)
            or ("/" in label.source_ip and label.dest_ip == d.dest_ip)
        )
        for d in detections
    )


PER_RULE = sorted(name for name in SCENARIOS if name not in {"benign-office", "mixed"} | NEEDS_A_BASELINE)


@pytest.mark.parametrize("name", [*PER_RULE, "benign-office", "mixed"])
def test_scenario_raises_its_rules_and_nothing_else(tmp_path, name):
    pcap = simulate(tmp_path, name, DURATION_OF.get(name, DURATION))
    labels = [
        label
        for label in read_labels(labels_path(pcap))
        if not label.variant.startswith(NEEDS_AN_HOUR) and label.rule_name not in BASELINE_RULES
    ]
    detections = detect(records_of(pcap), site_for(pcap))
    missed = [
        (label.rule_name, label.source_ip, label.variant)
        for label in labels
        if not raised_by(label, detections)
    ]
    assert missed == []
    expected_rules = {label.rule_name for label in read_labels(labels_path(pcap))}
    unexpected = [
        (d.rule_name, d.source_ip, d.dest_ip, d.evidence)
        for d in detections
        if d.rule_name not in expected_rules
    ]
    assert unexpected == []


def test_new_devices_after_learning(tmp_path):
    pcap = simulate(tmp_path, "new-device")
    labels = read_labels(labels_path(pcap))
    records = records_of(pcap)
    capture_start = records[0].ts_start if isinstance(records[0], Flow) else records[0].ts
    first_arrival = min(label.start_ts for label in labels)
    detections = detect(records, site_for(pcap, learning_period_s=first_arrival - capture_start - 1))
    for label in labels:
        assert any(
            d.rule_name == "NEW_DEVICE"
            and d.evidence["mac"] == label.source_mac
            and label.source_ip in d.evidence["addresses"]
            for d in detections
        ), label


def test_hosts_acting_out_of_character_after_the_office_history():
    """Ten minutes of the office's ordinary history, then a printer, a workstation and the database calling
    out in ways they never did: each one is an ANOMALOUS_PAYLOAD incident, and nobody else is."""
    outcome = run_scenario("anomalous-payload", 5, float(DURATION), modes=("default",), learning_s=600.0)
    anomalies = [d for d in outcome.detections["default"] if d.rule_name == "ANOMALOUS_PAYLOAD"]
    labels = [label for label in outcome.labels if label.rule_name == "ANOMALOUS_PAYLOAD"]
    assert len(labels) == 3
    for label in labels:
        assert any(finds(label, d) for d in anomalies), label.variant
    assert {d.source_ip for d in anomalies} == {label.source_ip for label in labels}
