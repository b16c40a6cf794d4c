"""Rule-layer throughput and the baseline scorer, side by side with peers doing the same work.

- records/s of the whole RuleSet (17 rules + baseline) over a simulated office with every attack family,
  while learning and after learning (IsolationForest scoring every flow of known hosts), next to a
  plain-Python Zeek-style port-scan counter over the same flows (one rule's bare minimum of work);
- the baseline scorer (numpy walk over the forest's arrays) next to sklearn's IsolationForest.score_samples
  on the same forest, one flow per call (what a rule does) and 1,000 flows per call;
- the size of the persisted baseline.

Run: python tests/benchmarks/bench_engine_rules.py  (writes tests/benchmarks/results/engine_rules.json)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np
from sklearn.ensemble import IsolationForest

from appliance.engine.baseline import FLOW_FEATURES, ForestArrays, IsolationScorer, flow_features
from appliance.engine.network import SiteConfig
from appliance.engine.rules import RuleSet
from sensor.pipeline import Pipeline
from sensor.records import Flow

RESULTS = ROOT / "tests" / "benchmarks" / "results" / "engine_rules.json"
DURATION_S = "300"


def simulated_records() -> list:
    with tempfile.TemporaryDirectory() as tmp:
        pcap = Path(tmp) / "mixed.pcap"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "appliance.simulate",
                "mixed",
                "--duration",
                DURATION_S,
                "--out",
                str(pcap),
            ],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        pipeline = Pipeline()
        pipeline.feed_file(pcap)
        drained = pipeline.close()
    return sorted(drained.flows + drained.events, key=lambda r: r.ts_start if isinstance(r, Flow) else r.ts)


def best_of(runs: int, work: Callable[[], int]) -> float:
    """Items per second of `work` (which returns how many it handled), best of `runs`."""
    best = 0.0
    for _ in range(runs):
        started = time.perf_counter()
        handled = work()
        best = max(best, handled / (time.perf_counter() - started))
    return best


def feed(ruleset: RuleSet, records: list) -> int:
    for index, record in enumerate(records):
        ruleset.on_flow(record) if isinstance(record, Flow) else ruleset.on_event(record)
        if index % 1000 == 999:
            ruleset.advance(record.ts_start if isinstance(record, Flow) else record.ts)
    return len(records)


def zeek_style_port_scan(flows: list[Flow]) -> int:
    """The peer: scan.zeek's core, a set of ports per (source, destination), and nothing else."""
    ports: dict[tuple[str, str], set[int]] = defaultdict(set)
    alerts = 0
    for flow in flows:
        if flow.payload_orig == 0 and flow.payload_resp == 0:
            seen = ports[(flow.src_ip, flow.dst_ip)]
            seen.add(flow.dst_port)
            alerts += len(seen) == 15
    return len(flows)


def rules_throughput(records: list) -> dict:
    flows = [r for r in records if isinstance(r, Flow)]
    start = records[0].ts_start if isinstance(records[0], Flow) else records[0].ts
    half = len(records) // 2
    learn_until = records[half].ts_start if isinstance(records[half], Flow) else records[half].ts
    learned = RuleSet(site=SiteConfig(learning_period_s=learn_until - start))
    feed(learned, records[:half])
    learned.advance(learn_until)
    baseline_bytes = learned.baseline.to_bytes()
    from appliance.engine.baseline import Baseline

    def after_learning() -> int:
        site = SiteConfig(learning_period_s=learn_until - start)
        return feed(RuleSet(site=site, baseline=Baseline.from_bytes(baseline_bytes, site)), records[half:])

    learning = best_of(3, lambda: feed(RuleSet(), records))
    scored = best_of(3, after_learning)
    peer = best_of(3, lambda: zeek_style_port_scan(flows))
    return {
        "records": len(records),
        "flows": len(flows),
        "ruleset_records_per_s_learning": round(learning),
        "ruleset_records_per_s_after_learning": round(scored),
        "peer_zeek_style_port_scan_flows_per_s": round(peer),
        "ratio_peer_one_rule_vs_ruleset_17_rules": round(peer / learning, 1),
        "baseline_bytes": len(baseline_bytes),
    }


def scorer_vs_sklearn(records: list) -> dict:
    rows = np.array([flow_features(r) for r in records if isinstance(r, Flow)])
    forest = IsolationForest(n_estimators=100, max_samples=256, random_state=0).fit(rows)
    scorer = IsolationScorer(ForestArrays.from_sklearn(forest))
    singles = rows[:300]
    batch = np.resize(rows, (1000, len(FLOW_FEATURES)))
    ours_single = best_of(3, lambda: sum(len(scorer.score(row[None, :])) for row in singles))
    sklearn_single = best_of(3, lambda: sum(len(forest.score_samples(row[None, :])) for row in singles))
    ours_batch = best_of(3, lambda: len(scorer.score(batch)))
    sklearn_batch = best_of(3, lambda: len(forest.score_samples(batch)))
    assert np.allclose(scorer.score(batch), -forest.score_samples(batch))
    return {
        "ours_one_flow_per_call_per_s": round(ours_single),
        "sklearn_one_flow_per_call_per_s": round(sklearn_single),
        "ratio_one_flow": round(ours_single / sklearn_single, 1),
        "ours_1000_flows_per_call_per_s": round(ours_batch),
        "sklearn_1000_flows_per_call_per_s": round(sklearn_batch),
        "ratio_batch": round(ours_batch / sklearn_batch, 1),
    }


def main() -> None:
    records = simulated_records()
    results = {"rules": rules_throughput(records), "isolation_forest_scoring": scorer_vs_sklearn(records)}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
