"""Labelled training rows from the project's own traffic simulator.

One scenario run: the simulator writes a capture and its labels, the real sensor pipeline decodes it, the
real rule set raises Detections, and the labels say which are real attacks. Each capture goes through the
rules twice:
- with the default thresholds: the alerts the box really raises;
- with sensitive thresholds (far below the defaults): the hard negatives, ordinary traffic that comes close
  to a rule (a few ports touched, a busy DNS client, a large upload), and the early, small stages of real
  attacks. Without them the benign office raises nothing and the model would never see a look-alike.

Before each scenario the rules live through the same office's recent past: `learning_s` of an ordinary busy
afternoon on the last weekday before the scenario starts (scenarios.history_start; same seed, so the same
hosts), which is the baseline's learning period. A box learns for a day before anyone reads its NEW_DEVICE,
LATERAL_MOVEMENT or ANOMALOUS_PAYLOAD alerts; learning from the first minutes of the attack capture itself
would call every quiet workstation new and every admin's first SSH login of the day lateral movement.
"""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path

import msgspec

from appliance.engine.detection import Detection, RuleConfig
from appliance.engine.network import SiteConfig, load_threat_intel
from appliance.engine.rules import RuleSet
from appliance.engine.scoring.features import LabelledRow, row_from_detection
from appliance.simulate import scenarios
from appliance.simulate.labels import Label, indicators_path, labels_path, read_labels
from model_building.ground_truth import is_attack
from sensor.pipeline import Pipeline
from sensor.records import Event, Flow
from sensor.shipping.batching import arrival

ADVANCE_EVERY_S = 10.0  # packet time between RuleSet.advance calls, like the engine's per-batch advance
LEARNING_S = 1800.0  # of ordinary office traffic before each scenario: the baseline's learning period

SENSITIVE: dict[str, dict[str, float | int]] = {
    "C2_BEACON": {"min_connections": 4, "min_score": 0.5, "max_interval_cv": 1.0, "min_median_interval_s": 0.2,
                  "min_duration_s": 20.0, "common_destination_hosts": 50},
    "DATA_EXFILTRATION": {"min_upload_bytes": 500_000, "min_upload_ratio": 1.5},
    "PORT_SCAN": {"min_ports": 4},
    "NETWORK_SWEEP": {"min_hosts": 5, "arp_min_hosts": 8, "burst_hosts": 4},
    "LATERAL_MOVEMENT": {"fanout_hosts": 3},
    "BRUTE_FORCE": {"min_failed_attempts": 5},
    "DNS_TUNNELING": {"min_suspicious_subdomains": 5, "long_subdomain_chars": 24, "high_entropy_bits": 3.2,
                      "min_txt_null_queries": 5, "min_unique_subdomains": 4},
    "SYN_FLOOD": {"min_syn_packets": 50},
    "ARP_SPOOFING": {"max_ips_per_mac": 2},
    "KERBEROASTING": {"min_services": 3},
    "ANOMALOUS_PAYLOAD": {"contamination": 0.01, "min_score": 0.55},
    "ROGUE_DHCP": {"flood_per_mac": 10, "flood_distinct_macs": 30},
}
MODES = ("default", "sensitive")


class ScenarioOutcome(msgspec.Struct, kw_only=True):
    scenario: str
    seed: int
    start: float  # of the scenario's own capture; records before it are the office's learning history
    learning_start: float
    labels: list[Label]
    detections: dict[str, list[Detection]]  # mode -> Detections in the order the rules raised them


def rule_configs(mode: str) -> dict[str, RuleConfig]:
    if mode == "default":
        return {}
    return {rule: RuleConfig(thresholds=dict(thresholds)) for rule, thresholds in SENSITIVE.items()}


def detect(records: list[Flow | Event], site: SiteConfig, configs: dict[str, RuleConfig]) -> list[Detection]:
    """The rule set over records in arrival order, advanced as packet time moves and closed at the end."""
    ruleset = RuleSet(configs, site)
    out: list[Detection] = []
    next_advance = None
    for record in records:
        now = arrival(record)
        if next_advance is None:
            next_advance = now + ADVANCE_EVERY_S
        elif now >= next_advance:
            out += ruleset.advance(now)
            next_advance = now + ADVANCE_EVERY_S
        out += ruleset.on_flow(record) if isinstance(record, Flow) else ruleset.on_event(record)
    if records:
        out += ruleset.advance(arrival(records[-1]) + 10 * 86400)
    return out


def decode(pcap: Path) -> list[Flow | Event]:
    pipeline = Pipeline()
    pipeline.feed_file(pcap)
    drained = pipeline.close()
    return sorted([*drained.flows, *drained.events], key=arrival)


@lru_cache(maxsize=2)  # a worker runs one seed's scenarios in a row: they share one or two histories
def office_history(seed: int, start: float, learning_s: float) -> tuple[Flow | Event, ...]:
    """The benign office of `seed` for `learning_s` from `start`, decoded by the real sensor."""
    with tempfile.TemporaryDirectory(prefix="netsenx-corpus-") as tmp:
        pcap = Path(tmp) / f"history-{seed}.pcap"
        scenarios.write("benign-office", pcap, seed=seed, duration=learning_s, start=start)
        return tuple(decode(pcap))


def run_scenario(scenario: str, seed: int, duration: float, modes: tuple[str, ...] = MODES,
                 learning_s: float = LEARNING_S) -> ScenarioOutcome:
    """The scenario (at least its full_length_s long) after `learning_s` of the same office's history."""
    duration = max(duration, scenarios.SCENARIOS[scenario].full_length_s)
    with tempfile.TemporaryDirectory(prefix="netsenx-corpus-") as tmp:
        pcap = Path(tmp) / f"{scenario}-{seed}.pcap"
        summary = scenarios.write(scenario, pcap, seed=seed, duration=duration)
        labels = read_labels(labels_path(pcap))
        indicators = indicators_path(pcap)
        intel = {"threat_intel": load_threat_intel(indicators)} if indicators.exists() else {}
        site = SiteConfig(learning_period_s=learning_s, **intel)
        history_start = scenarios.history_start(summary.start, learning_s)
        records = [*office_history(seed, history_start, learning_s), *decode(pcap)]
    detections = {mode: detect(records, site, rule_configs(mode)) for mode in modes}
    return ScenarioOutcome(scenario=scenario, seed=seed, start=summary.start, learning_start=history_start,
                           labels=labels, detections=detections)


def labelled_rows(outcome: ScenarioOutcome) -> list[LabelledRow]:
    return [
        LabelledRow(row=row_from_detection(detection), label=int(is_attack(detection, outcome.labels)),
                    origin=f"{outcome.scenario}:{outcome.seed}:{mode}")
        for mode, detections in outcome.detections.items()
        for detection in detections
    ]


def scenario_rows(job: tuple[tuple[str, ...], int, float, float]) -> list[LabelledRow]:
    """One (scenarios, seed, duration, learning_s) job, the scenarios run in turn so they share the office's
    history; a plain function of plain arguments so a process pool can run it."""
    names, seed, duration, learning_s = job
    return [row for name in names for row in labelled_rows(run_scenario(name, seed, duration, learning_s=learning_s))]
