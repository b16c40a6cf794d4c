"""Demo quality: what the demo box shows an admin in its first 30 minutes at the default speed.

The offline twin (appliance/demo/twin.py) produces the exact files `appliance demo` replays (the office's
history, then 30 minutes' worth of the continuous stream's segments: mixed, seed 7, 600 s segments at 10x),
decodes them with the real sensor pipeline, runs the real rules and scores every incident with the shipped
model, and judges it against the stream's own labels:
- alerts on hosts the demo did not attack (the goal: none), by rule and source, with scores and an example's
  evidence;
- each attack's alert and score, and the attacks no rule raised;
- whether every attack alert's score ranks above every false positive's.
Twice: as the live demo's sensor sees it (packet time compressed tenfold by the replay) and in packet time
as generated (what a box on such an office would see; the demo reading files when not root).

    python tests/benchmarks/bench_demo_quality.py [--minutes 30]  ->  tests/benchmarks/results/demo_quality.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from appliance.demo.twin import DEMO_LEARNING_S, DEMO_SCENARIO, DEMO_SEED, DEMO_SEGMENT_S, DEMO_SPEED, demo_quality
from appliance.engine.scoring import Scorer

RESULTS = Path(__file__).resolve().parent / "results" / "demo_quality.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="wall-clock minutes of the demo (default 30)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    scorer = Scorer.load()
    runs = {}
    for name, live in (("live", True), ("packet_time", False)):
        began = time.monotonic()
        runs[name] = demo_quality(scorer, args.minutes, live=live)
        runs[name]["seconds"] = round(time.monotonic() - began, 1)
    result = {
        "command": f"python tests/benchmarks/bench_demo_quality.py --minutes {args.minutes:g}",
        "demo": {"scenario": DEMO_SCENARIO, "seed": DEMO_SEED, "segment_s": DEMO_SEGMENT_S, "speed": DEMO_SPEED,
                 "learning_s": DEMO_LEARNING_S, "minutes": args.minutes},
        "model_version": scorer.model_version,
        "model_sha256": scorer.model_sha256,
        **runs,
        "bench_seconds": round(time.monotonic() - started, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for name, run in runs.items():
        print(f"{name}: {run['segments']} segments, {run['incidents']} incidents; "
              f"false positives {run['false_positives']} ({run['false_positives_by_rule']}); "
              f"attacks alerted {run['attacks_alerted']}/{run['attack_labels']} "
              f"(missed {run['attacks_missed_by_rule']}); lowest attack score {run['lowest_attack_score']}, "
              f"highest false positive {run['highest_false_positive_score']}, every attack above every false "
              f"positive: {run['every_attack_above_every_false_positive']}")
    print(f"-> {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
