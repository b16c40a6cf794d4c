"""The traffic simulator's labelled scenarios through the real sensor pipeline and the rule set: every
labelled attack raises its rule, from its source, and nothing fires on a host no attack involved."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from appliance.engine.network import SiteConfig, load_threat_intel
from appliance.engine.rules import RULE_MODULES, RuleSet
from appliance.simulate.labels import indicators_path, labels_path, read_labels
from appliance.simulate.scenarios import SCENARIOS, history_start
from model_building import corpus
from model_building.corpus import run_scenario
from model_building.ground_truth import finds
from sensor.pipeline import Pipeline
from sensor.records import Flow

DURATION = "120"  # seconds of simulated office: short enough for a test (slow variants' scenarios set longer)
# A beacon is a rhythm that lasts (C2_BEACON's min_duration_s, 2 minutes): its scenarios run longer.
DURATION_OF = {"c2-beacon": "300", "mixed": "300"}
SEED = 1  # the simulator's default, which simulate() uses
MAX_DURATION_S = 900.0
# NEW_DEVICE and ANOMALOUS_PAYLOAD scenarios have their own tests below (a learning period that ends just
# before the devices appear; hosts acting out of character after a shorter history).
NEEDS_A_BASELINE = {"new-device", "anomalous-payload"}


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
    """After half an hour of the same office's history (the baseline's learning period: its inventory scanner,
    monitoring sweeps and automation are learned as the site's routines), the scenario: every labelled attack
    raises its rule from its source, and nothing fires on a host no attack involved. Scenarios run at most
    MAX_DURATION_S: a slower one's attacks are cut short and only the false alarms are judged here, as in
    "mixed" (its families have their own scenarios, and its slow variants need hours); the detection quality
    benchmark judges every attack at full length (tests/benchmarks/bench_detection_quality.py)."""
    duration = max(float(DURATION_OF.get(name, DURATION)), min(SCENARIOS[name].full_length_s, MAX_DURATION_S))
    pcap = simulate(tmp_path, name, str(duration))
    labels = read_labels(labels_path(pcap))
    scenario = records_of(pcap)
    start = scenario[0].ts_start if isinstance(scenario[0], Flow) else scenario[0].ts
    learning = corpus.LEARNING_S
    history = corpus.office_history(SEED, history_start(SCENARIOS[name].default_start, learning), learning)
    every_update = corpus.detect([*history, *scenario], site_for(pcap, learning), {})
    assert [d for d in every_update if set(d.features) != set(RULE_MODULES[d.rule_name].FEATURES)] == []
    detections = [d for d in every_update if d.first_seen >= start]
    judged = labels if SCENARIOS[name].full_length_s <= duration and name != "mixed" else []
    missed = [(label.rule_name, label.source_ip, label.variant) for label in judged
              if not raised_by(label, detections)]
    assert missed == []
    involved = {address for label in labels for address in (label.source_ip, label.dest_ip) if address}
    uninvolved = [(d.rule_name, d.source_ip, d.dest_ip, d.evidence) for d in detections
                  if not {d.source_ip, d.dest_ip} & involved and not any(finds(label, d) for label in labels)]
    assert uninvolved == []


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
