"""The site's routines: recon and rhythm its own hosts showed while learning are raised then, quiet after."""

from __future__ import annotations

from appliance.engine.baseline import Baseline
from appliance.engine.detection import Detection
from appliance.engine.network import SiteConfig
from appliance.engine.rules import RuleSet
from appliance.engine.rules.routines import outside_routine
from tests.engine_rules.conftest import T0, only, probe, run

HOUR = 3600.0
SCANNER, NEWCOMER = "10.0.0.5", "10.0.0.6"


def scan(source: str, target: str, at: float) -> list:
    return [probe(port, ts=at + port, src_ip=source, dst_ip=target) for port in range(20)]


def learning_site() -> SiteConfig:
    return SiteConfig(learning_period_s=HOUR)


def test_a_scanner_seen_while_learning_is_raised_then_and_quiet_after():
    rules = RuleSet(only("PORT_SCAN"), learning_site())
    while_learning = run(rules, scan(SCANNER, "10.0.0.9", T0), final=T0 + 600)
    assert {d.source_ip for d in while_learning} == {SCANNER}  # the box keeps detecting while it learns
    assert rules.baseline.routines == [f"PORT_SCAN|{SCANNER}"]
    after = run(rules, scan(SCANNER, "10.0.0.10", T0 + 2 * HOUR) + scan(NEWCOMER, "10.0.0.10", T0 + 2 * HOUR))
    assert {d.source_ip for d in after} == {NEWCOMER}  # the routine scanner is quiet; a new one is not


def test_without_learning_nothing_is_routine():
    rules = RuleSet(only("PORT_SCAN"), SiteConfig(learning_period_s=0))
    first = run(rules, scan(SCANNER, "10.0.0.9", T0), final=T0 + 600)
    again = run(rules, scan(SCANNER, "10.0.0.10", T0 + 2 * HOUR))
    assert len({d.incident_key for d in first}) == len({d.incident_key for d in again}) == 1
    assert rules.baseline.routines == []


def test_routines_survive_a_restart_of_the_baseline():
    rules = RuleSet(only("PORT_SCAN"), learning_site())
    run(rules, scan(SCANNER, "10.0.0.9", T0), final=T0 + 2 * HOUR)
    restored = Baseline.from_bytes(rules.baseline.to_bytes(), learning_site())
    assert restored.routines == [f"PORT_SCAN|{SCANNER}"]
    assert run(RuleSet(only("PORT_SCAN"), learning_site(), restored), scan(SCANNER, "10.0.0.11", T0 + 3 * HOUR)) == []


def detection(rule: str, first_seen: float, **evidence) -> Detection:
    return Detection(rule_name=rule, severity="HIGH", incident_key=f"{rule}|x|{int(first_seen)}", source_ip=SCANNER,
                     dest_ip="198.51.100.7", port=443, protocol="TCP", first_seen=first_seen, last_seen=first_seen,
                     evidence=evidence, evidence_flow_uids=[], features={}, rule_version="1", thresholds={})


def test_lateral_movement_is_routine_only_over_the_services_learned():
    baseline = Baseline(learning_site())
    baseline.advance(T0)
    assert outside_routine([detection("LATERAL_MOVEMENT", T0, services=["SSH"])], baseline)  # raised while learning
    later = T0 + 2 * HOUR
    baseline.advance(later)
    assert outside_routine([detection("LATERAL_MOVEMENT", later, services=["SSH"])], baseline) == []
    assert outside_routine([detection("LATERAL_MOVEMENT", later, services=["RDP", "SSH"])], baseline)


def test_a_beacon_is_routine_only_to_the_destination_learned_and_other_rules_never_are():
    baseline = Baseline(learning_site())
    baseline.advance(T0)
    outside_routine([detection("C2_BEACON", T0), detection("BRUTE_FORCE", T0)], baseline)
    later = T0 + 2 * HOUR
    baseline.advance(later)
    assert outside_routine([detection("C2_BEACON", later)], baseline) == []
    elsewhere = detection("C2_BEACON", later)
    elsewhere.dest_ip = "203.0.113.9"
    brute_force = detection("BRUTE_FORCE", later)
    assert outside_routine([elsewhere, brute_force], baseline) == [elsewhere, brute_force]
