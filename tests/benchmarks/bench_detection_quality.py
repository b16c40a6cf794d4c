"""Detection quality: what the rules raise and what the model makes of it, on traffic the model never saw.

- precision and recall per rule over simulator scenarios generated with seeds NOT used for training, for the
  rules alone and for alerts the model scores >= 0.5 (an incident counts once, with its last update's score).
  Each scenario follows half an hour of the same office's ordinary history, the baseline's learning period
  (corpus.py); incidents that end within that history are the same for every scenario of a seed and are
  counted once per seed, as the scenario "learning-history";
- alerts on the benign public captures of ../shared/data/pcaps/ (goal: zero) and whether every malicious one
  raises its expected rule (MANIFEST.md);
- SHAP cost per alert next to the same model's predict_proba (its peer: the cost of a score alone).

    python tests/benchmarks/bench_detection_quality.py  ->  tests/benchmarks/results/detection_quality.json
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np
from threadpoolctl import threadpool_limits

from appliance.engine.network import SiteConfig
from appliance.engine.scoring import Scorer
from appliance.engine.scoring.corpus import decode, detect, run_scenario
from appliance.engine.scoring.features import row_from_detection, to_matrix
from appliance.engine.scoring.ground_truth import finds, is_attack
from appliance.engine.scoring.training import training_scenarios

BENCH_SEEDS = (101, 102, 103, 104)
DURATION_S = 300.0
ALERT_AT = 0.5
PCAPS = ROOT.parent / "shared" / "data" / "pcaps"
RESULTS = Path(__file__).resolve().parent / "results" / "detection_quality.json"
EXPECTED = {  # MANIFEST.md; the modbus writer is 10.0.0.9 (see tests/engine_rules/test_real_captures.py)
    "dns-tunnel-txt.pcap": "DNS_TUNNELING",
    "modbus.pcap": "OT_UNAUTHORIZED_WRITE",
    "dnp3-write.pcap": "OT_UNAUTHORIZED_WRITE",
    "arp-scan.pcap": "NETWORK_SWEEP",
    "icmp-portscan.pcap": "NETWORK_SWEEP",
    "dhcp-request-flood.pcap": "ROGUE_DHCP",
    "kerberoast.pcap": "KERBEROASTING",
    "ftp-cleartext-login.pcap": "CLEARTEXT_CREDENTIALS",
}
BENIGN = ("tls-handshake.pcap", "quic.pcap", "rdp-session.pcap", "smb1-session.pcap", "http-post-file.pcap",
          "icmp-and-ssh.pcap", "arp-single.pcap")


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def simulated_quality(scorer: Scorer) -> tuple[dict, list[dict]]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    misses: list[dict] = []
    histories_counted: set[tuple[int, float]] = set()
    for seed in BENCH_SEEDS:
        for scenario in training_scenarios():
            outcome = run_scenario(scenario, seed, DURATION_S, modes=("default",))
            last_update = {d.incident_key: d for d in outcome.detections["default"]}  # an incident's newest state
            history = (seed, outcome.learning_start)
            if history in histories_counted:
                last_update = {k: d for k, d in last_update.items() if d.last_seen >= outcome.start}
            histories_counted.add(history)
            scores = dict(zip(last_update, (s.score for s in scorer.score_many(last_update.values())), strict=True))
            for key, detection in last_update.items():
                c, attack = counts[detection.rule_name], is_attack(detection, outcome.labels)
                c["incidents"] += 1
                c["true_incidents"] += attack
                c["alerted"] += scores[key] >= ALERT_AT
                c["true_alerted"] += attack and scores[key] >= ALERT_AT
                if not attack:
                    misses.append({"kind": "false_positive", "seed": seed,
                                   "scenario": scenario if detection.last_seen >= outcome.start else "learning-history",
                                   "rule": detection.rule_name, "source": detection.source_ip,
                                   "dest": detection.dest_ip, "score": round(scores[key], 4),
                                   "evidence": {k: v for k, v in detection.evidence.items() if k != "mac"}})
            for label in outcome.labels:
                found = [key for key, d in last_update.items() if finds(label, d)]
                c = counts[label.rule_name]
                c["labels"] += 1
                c["found_by_rules"] += bool(found)
                c["found_alerted"] += any(scores[key] >= ALERT_AT for key in found)
                if not found:
                    misses.append({"kind": "missed", "scenario": scenario, "seed": seed, "rule": label.rule_name,
                                   "variant": label.variant, "source": label.source_ip, "dest": label.dest_ip})
    fields = ("labels", "found_by_rules", "found_alerted", "incidents", "true_incidents", "alerted", "true_alerted")
    per_rule = {
        rule: {
            **{name: int(c[name]) for name in fields},
            "precision_rules": _ratio(c["true_incidents"], c["incidents"]),
            "recall_rules": _ratio(c["found_by_rules"], c["labels"]),
            "precision_scored": _ratio(c["true_alerted"], c["alerted"]),
            "recall_scored": _ratio(c["found_alerted"], c["labels"]),
        }
        for rule, c in sorted(counts.items())
    }
    return per_rule, misses


def public_captures(scorer: Scorer) -> dict:
    out = {}
    for name in sorted([*EXPECTED, *BENIGN]):
        detections = detect(decode(PCAPS / name), SiteConfig(), {})
        last_update = {d.incident_key: d for d in detections}
        scores = scorer.score_many(last_update.values())
        rules = sorted({d.rule_name for d in last_update.values()})
        out[name] = {
            "expected": EXPECTED.get(name),
            "incidents": len(last_update),
            "rules": rules,
            "ok": rules == [EXPECTED[name]] if name in EXPECTED else not rules,
            "scores": [round(s.score, 4) for s in scores],
        }
    return out


def explanation_cost(scorer: Scorer, repeats: int = 300) -> dict:
    """Per alert, one at a time as the engine scores them; predict_proba pinned to one thread like SHAP."""
    outcome = run_scenario("mixed", BENCH_SEEDS[0], DURATION_S, modes=("default",))
    detections = list({d.incident_key: d for d in outcome.detections["default"]}.values())
    sample = [detections[i % len(detections)] for i in range(repeats)]
    started = time.perf_counter()
    for detection in sample:
        scorer.score(detection)
    shap_ms = (time.perf_counter() - started) * 1000 / repeats
    rows = [to_matrix([row_from_detection(d)], scorer.feature_names) for d in sample]
    with threadpool_limits(1):
        started = time.perf_counter()
        for row in rows:
            scorer.model.predict_proba(row)
        proba_ms = (time.perf_counter() - started) * 1000 / repeats
    started = time.perf_counter()
    scorer.score_many(detections)
    batch_ms = (time.perf_counter() - started) * 1000 / len(detections)
    matrix = np.vstack(rows[: len(detections)])
    started = time.perf_counter()
    with threadpool_limits(1):
        scorer.model.predict_proba(matrix)
    proba_batch_ms = (time.perf_counter() - started) * 1000 / len(matrix)
    return {
        "alerts": repeats,
        "shap_score_ms_per_alert": round(shap_ms, 4),
        "predict_proba_ms_per_alert": round(proba_ms, 4),
        "ratio_shap_over_predict_proba": round(shap_ms / proba_ms, 3),
        "batch_shap_score_ms_per_alert": round(batch_ms, 4),
        "batch_predict_proba_ms_per_alert": round(proba_batch_ms, 4),
        "note": "Scorer.score = feature row + SHAP TreeExplainer; the score is sigmoid(base + sum(SHAP)), "
                "so it needs no separate predict_proba call",
    }


def main() -> int:
    started = time.monotonic()
    scorer = Scorer.load()
    manifest = scorer.artefact.manifest
    training_seeds = set(manifest.training.seeds + manifest.training.benign_seeds) if manifest.training else set()
    if training_seeds & set(BENCH_SEEDS):
        print(f"benchmark seeds {BENCH_SEEDS} overlap the model's training seeds {sorted(training_seeds)}",
              file=sys.stderr)
        return 1
    per_rule, misses = simulated_quality(scorer)
    captures = public_captures(scorer)
    cost = explanation_cost(scorer)
    result = {
        "model_version": scorer.model_version,
        "model_sha256": scorer.model_sha256,
        "training_seeds": sorted(training_seeds),
        "benchmark_seeds": list(BENCH_SEEDS),
        "duration_s_per_scenario": DURATION_S,
        "alert_threshold": ALERT_AT,
        "per_rule": per_rule,
        "misses_and_false_positives": misses,
        "public_captures": captures,
        "benign_capture_alerts": sum(captures[name]["incidents"] for name in BENIGN),
        "malicious_captures_raising_expected_rule": sum(captures[name]["ok"] for name in EXPECTED),
        "malicious_captures": len(EXPECTED),
        "explanation_cost": cost,
        "bench_seconds": round(time.monotonic() - started, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'rule':<24}{'labels':>7}{'incid.':>7}{'P rules':>9}{'R rules':>9}{'P model':>9}{'R model':>9}")
    for rule, row in per_rule.items():
        print(f"{rule:<24}{row['labels']:>7}{row['incidents']:>7}" + "".join(
            f"{'-' if row[k] is None else row[k]:>9}"
            for k in ("precision_rules", "recall_rules", "precision_scored", "recall_scored")))
    print(f"benign public captures: {result['benign_capture_alerts']} alerts; malicious raising their rule: "
          f"{result['malicious_captures_raising_expected_rule']}/{len(EXPECTED)}")
    print(f"per alert: SHAP+score {cost['shap_score_ms_per_alert']} ms vs predict_proba "
          f"{cost['predict_proba_ms_per_alert']} ms (ratio {cost['ratio_shap_over_predict_proba']})")
    print(f"-> {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
