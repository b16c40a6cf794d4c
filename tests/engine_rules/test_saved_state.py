"""The rules' state is plain data: a RuleSet that lived through the mixed scenario is saved, restored into a
new RuleSet (as the engine does after a restart) and goes on exactly as the original would."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import msgspec
import pytest

from appliance.engine.baseline import Baseline
from appliance.engine.detection import RuleConfig
from appliance.engine.network import SiteConfig
from appliance.engine.rules import RuleSet
from appliance.engine.rules.saved_state import StateError
from appliance.simulate import scenarios
from sensor.pipeline import Pipeline
from sensor.shipping.batching import split_drain

LEARNING_S = 30.0  # the baseline fits its forest half a minute in, so NEW_DEVICE and ANOMALOUS_PAYLOAD run too


@pytest.fixture(scope="module")
def batches(tmp_path_factory) -> list[tuple[list, list]]:
    """Three minutes of the mixed scenario as the engine gets it: batches of 200 records."""
    pcap = tmp_path_factory.mktemp("mixed") / "mixed.pcap"
    scenarios.write("mixed", pcap, seed=3, duration=180)
    pipeline = Pipeline()
    pipeline.feed_file(pcap)
    drained = pipeline.close()
    return [(flows, events) for flows, events, _ in split_drain(drained.flows, drained.events, drained.stats, 200)]


def step(ruleset: RuleSet, flows: list, events: list) -> list:
    """One batch, as the engine feeds it: records in packet-time order, then packet time advances."""
    records = sorted([(e.ts, 0, e) for e in events] + [(f.ts_end, 1, f) for f in flows], key=lambda r: r[:2])
    out = []
    for _, is_flow, record in records:
        out += ruleset.on_flow(record) if is_flow else ruleset.on_event(record)
    return out + ruleset.advance(records[-1][0])


def test_a_restored_rule_set_goes_on_exactly_as_the_original(batches):
    site = SiteConfig(learning_period_s=LEARNING_S)
    original = RuleSet(site=site)
    half = len(batches) // 2
    for flows, events in batches[:half]:
        step(original, flows, events)
    saved = original.saved_state()
    assert sum(len(rule.book) for rule in original.rules.values()) >= 5  # open incidents travel too
    assert original.baseline.finished  # and so does a fitted baseline

    restored = RuleSet(site=site, baseline=Baseline.from_bytes(original.baseline.to_bytes(), site))
    restored.restore_state(pickle.loads(pickle.dumps(saved)))
    assert restored.fingerprint() == original.fingerprint()

    after_original, after_restored = [], []
    for flows, events in batches[half:]:
        after_original += step(original, flows, events)
        after_restored += step(restored, flows, events)
    end = max(f.ts_end for f in batches[-1][0]) + 86400
    after_original += original.advance(end)
    after_restored += restored.advance(end)
    rules_after = {detection.rule_name for detection in after_original}
    assert {"C2_BEACON", "NEW_DEVICE", "ARP_SPOOFING", "BRUTE_FORCE"} <= rules_after, rules_after
    assert msgspec.json.encode(after_restored) == msgspec.json.encode(after_original)


def test_saved_state_holds_no_configuration(batches):
    """The site's indicator list and AI domains are configuration: saved by name, never by value."""
    site = SiteConfig(learning_period_s=LEARNING_S, ai_service_domains=["very-long-ai-domain-list-entry.example"])
    ruleset = RuleSet(site=site)
    for flows, events in batches[:3]:
        step(ruleset, flows, events)
    assert b"very-long-ai-domain-list-entry" not in ruleset.saved_state()


def test_a_lambda_in_rule_state_cannot_be_saved():
    ruleset = RuleSet()
    ruleset.rules["PORT_SCAN"].on_next_probe = lambda flow: None
    with pytest.raises((pickle.PicklingError, AttributeError)):
        ruleset.saved_state()


class Exploit:
    def __reduce__(self):
        return os.system, ("touch /tmp/netsenx-saved-state-exploit",)


@pytest.mark.parametrize(
    "data",
    [pickle.dumps(Exploit()), pickle.dumps(Path("/etc/passwd")), pickle.dumps(print), b"\x80\x05garbage", b""],
    ids=["calls-a-function", "foreign-class", "a-builtin-function", "corrupt", "empty"],
)
def test_restoring_refuses_anything_but_rule_data(data):
    with pytest.raises(StateError):
        RuleSet().restore_state(data)
    assert not Path("/tmp/netsenx-saved-state-exploit").exists()


def test_state_of_other_rules_or_configuration_is_refused(batches):
    ruleset = RuleSet()
    saved = ruleset.saved_state()
    with pytest.raises(StateError, match="not of this rule set"):
        RuleSet({"PORT_SCAN": RuleConfig(enabled=False)}).restore_state(saved)
    assert RuleSet().fingerprint() == ruleset.fingerprint()
    assert RuleSet({"PORT_SCAN": RuleConfig(thresholds={"min_ports": 20})}).fingerprint() != ruleset.fingerprint()
    assert RuleSet(site=SiteConfig(learning_period_s=60)).fingerprint() != ruleset.fingerprint()
