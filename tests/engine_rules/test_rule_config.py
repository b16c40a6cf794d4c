"""Overrides, severities, the registry and the one-incident-per-attack contract, on PORT_SCAN as the example."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from appliance.engine import rules as rules_package
from appliance.engine.detection import Detection, RuleConfig, merge_thresholds
from appliance.engine.rules import RULE_MODULES, RuleSet, port_scan, rule_catalogue
from appliance.simulate.scenarios import SCENARIOS
from tests.engine_rules.conftest import T0, only, probe, run


def test_every_rule_module_publishes_its_contract():
    declaring = {path.stem for path in Path(rules_package.__file__).parent.glob("*.py") if "\nNAME = " in
                 path.read_text()}
    assert {module.__name__.rsplit(".", 1)[1] for module in RULE_MODULES.values()} == declaring
    for name, module in RULE_MODULES.items():
        assert name == module.NAME
        assert module.SCENARIO in SCENARIOS, f"{name} names no simulator scenario"
        assert module.DEFAULT_SEVERITY in ("CRITICAL", "HIGH", "MEDIUM", "LOW")
        assert module.VERSION and module.FEATURES
        assert isinstance(module.DEFAULTS, msgspec.Struct)
        assert module.Detector.FEATURES == module.FEATURES
    catalogue = {entry["rule_name"]: entry for entry in rule_catalogue()}
    assert catalogue["PORT_SCAN"]["thresholds"] == {"min_ports": 15, "window_s": 300.0}
    assert catalogue["C2_BEACON"]["default_severity"] == "CRITICAL"


def test_unknown_threshold_name_is_a_clear_error():
    with pytest.raises(ValueError, match=r"PORT_SCAN: unknown threshold 'min_port'.*min_ports"):
        RuleSet({"PORT_SCAN": RuleConfig(thresholds={"min_port": 5})})


def test_wrong_threshold_type_is_a_clear_error():
    with pytest.raises(ValueError, match=r"PORT_SCAN: invalid threshold override.*min_ports"):
        merge_thresholds("PORT_SCAN", port_scan.DEFAULTS, {"min_ports": "many"})


def test_unknown_rule_and_severity_are_errors():
    with pytest.raises(ValueError, match=r"unknown rule.*PORTSCAN"):
        RuleSet({"PORTSCAN": RuleConfig()})
    with pytest.raises(ValueError, match="unknown severity 'URGENT'"):
        RuleConfig(severity="URGENT")


def test_override_merges_with_defaults():
    merged = merge_thresholds("PORT_SCAN", port_scan.DEFAULTS, {"min_ports": 5})
    assert merged == port_scan.Thresholds(min_ports=5, window_s=300.0)


def scan(ports: int, ts_step: float = 0.01):
    return [probe(1000 + i, ts=T0 + i * ts_step) for i in range(ports)]


def test_override_changes_the_outcome_and_is_recorded():
    assert run(RuleSet(only("PORT_SCAN")), scan(10)) == []
    detections = run(RuleSet(only("PORT_SCAN", min_ports=10)), scan(10))
    assert [d.rule_name for d in detections] == ["PORT_SCAN"]
    assert detections[0].thresholds == {"min_ports": 10, "window_s": 300.0}


def test_disabled_rule_emits_nothing():
    configs = {"PORT_SCAN": RuleConfig(enabled=False)}
    assert [d for d in run(RuleSet(configs), scan(200)) if d.rule_name == "PORT_SCAN"] == []


def test_severity_override_applies():
    configs = only("PORT_SCAN")
    configs["PORT_SCAN"] = RuleConfig(severity="CRITICAL")
    (first, *_) = run(RuleSet(configs), scan(20))
    assert first.severity == "CRITICAL"


def test_a_long_scan_is_one_incident_with_few_growing_updates():
    detections = run(RuleSet(only("PORT_SCAN")), scan(1000, ts_step=0.25))
    assert {d.incident_key for d in detections} == {detections[0].incident_key}
    counts = [d.evidence["distinct_ports"] for d in detections]
    assert counts == sorted(counts) and counts[0] == 15 and counts[-1] == 1000
    assert len(detections) <= 8  # 15, 30, 60, ... doubling, then the closing update
    last = detections[-1]
    assert last.first_seen == T0 and last.last_seen == pytest.approx(T0 + 999 * 0.25 + 0.001)
    assert last.features["distinct_ports"] == 1000.0
    assert set(last.features) == set(port_scan.FEATURES)
    assert len(last.evidence_flow_uids) == 20


def test_a_repeat_after_the_incident_closed_is_a_new_incident():
    ruleset = RuleSet(only("PORT_SCAN"))
    first = run(ruleset, scan(20), final=T0 + 3600)
    later = [probe(2000 + i, ts=T0 + 7200 + i) for i in range(20)]
    second = run(ruleset, later)
    assert first and second and first[0].incident_key != second[0].incident_key


def test_detection_round_trips_through_msgpack():
    (detection, *_) = run(RuleSet(only("PORT_SCAN")), scan(20))
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(detection), type=Detection) == detection


def test_out_of_range_threshold_is_refused():
    with pytest.raises(ValueError, match=r"PORT_SCAN: invalid threshold override: Expected `int` >= 1"):
        merge_thresholds("PORT_SCAN", port_scan.DEFAULTS, {"min_ports": 0})
    with pytest.raises(ValueError, match=r"PORT_SCAN: invalid threshold override: Expected `float` > 0"):
        merge_thresholds("PORT_SCAN", port_scan.DEFAULTS, {"window_s": -5})
    assert merge_thresholds("PORT_SCAN", port_scan.DEFAULTS, {"window_s": 60}).window_s == 60.0
