"""Threat intel on the hot path (issue 16): the engine's rules with and without a million indicators.

- a million indicators (addresses, /24 networks, domains, URLs; with the simulated attack's own indicators)
  compiled into the engine's set with the overrules, as the engine compiles the store's (compiled.load);
- records/s of the whole RuleSet over a simulated office with every attack family (bench_engine_rules'
  records), with no indicator and with the million, runs interleaved (the machine is shared: best of each);
- the import path as an admin uses it (`appliance intel import`: parse a list, store it in the encrypted
  database), on 100,000 of them: indicators/s.

Run: python tests/benchmarks/bench_threat_intel.py  (writes tests/benchmarks/results/threat_intel.json)
"""

from __future__ import annotations

import gc
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from bench_engine_rules import best_of, feed, simulated_records

from appliance.engine.detection import RuleConfig
from appliance.engine.rules import RULE_MODULES, RuleSet
from appliance.intel.imports import import_file
from appliance.intel.indicators import classify
from appliance.intel.matching import IndicatorSet
from appliance.intel.overrules import Overrules
from appliance.simulate.attacks.threat_intel import INDICATORS
from appliance.store import lifecycle
from appliance.store.data_dir import DataDirectory
from appliance.store.database import Store
from sensor.records import Flow

RESULTS = ROOT / "tests" / "benchmarks" / "results" / "threat_intel.json"
INDICATOR_COUNT = 1_000_000
IMPORT_SAMPLE = 100_000


def indicator_lines(rng: random.Random, count: int) -> list[str]:
    """Public-looking addresses, networks, domains and URLs, and the simulated attack's own indicators."""
    lines = list(INDICATORS)
    for number in range(count - len(lines)):
        share = number % 100
        a, b, c, d = rng.randrange(11, 223), rng.randrange(256), rng.randrange(256), rng.randrange(1, 255)
        if share < 65:
            lines.append(f"{a}.{b}.{c}.{d}")
        elif share < 70:
            lines.append(f"{a}.{b}.{c}.0/24")
        elif share < 95:
            lines.append(f"h{number}.c2-{rng.randrange(10**6)}.example")
        else:
            lines.append(f"http://dl{number}.bad.example/p/{rng.randrange(10**9)}.bin")
    return lines


def compiled_million(lines: list[str]) -> IndicatorSet:
    rows = [(*classify(line), 50, None, None, "a million", "") for line in lines]
    return IndicatorSet.from_rows(rows, Overrules([]))


def import_rate(lines: list[str]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = DataDirectory.at(Path(tmp) / "data")
        store = Store(data_dir, lifecycle.create_database(data_dir))
        started = time.perf_counter()
        result = import_file(store, "imported", ("\n".join(lines) + "\n").encode(), time.time())
        rate = result.received / (time.perf_counter() - started)
        store.close()
    return rate


def interleaved(records: list, ruleset, intel: IndicatorSet, runs: int = 3) -> tuple[float, float]:
    """Records/s of `ruleset(indicators)` without and with `intel`, best of `runs`, alternating."""
    without, with_intel = 0.0, 0.0
    for _ in range(runs):
        without = max(without, best_of(1, lambda: feed(ruleset(IndicatorSet()), records)))
        with_intel = max(with_intel, best_of(1, lambda: feed(ruleset(intel), records)))
    return without, with_intel


def detections(ruleset: RuleSet, records: list) -> list:
    found = []
    for record in records:
        found += ruleset.on_flow(record) if isinstance(record, Flow) else ruleset.on_event(record)
    return found


def main() -> None:
    records = simulated_records()
    lines = indicator_lines(random.Random(16), INDICATOR_COUNT)
    started = time.perf_counter()
    intel = compiled_million(lines)
    compile_s = time.perf_counter() - started
    imported_per_s = import_rate(lines[:IMPORT_SAMPLE])
    del lines  # the engine holds the compiled set only, not the million lines it came from
    gc.collect()

    without, with_million = interleaved(records, lambda indicators: RuleSet(intel=indicators), intel)
    # the rule alone: what the million cost it, apart from the other rules' work (and the noise it carries)
    alone = {name: RuleConfig(enabled=name == "THREAT_INTEL_MATCH") for name in RULE_MODULES}
    rule_without, rule_with = interleaved(records, lambda indicators: RuleSet(alone, intel=indicators), intel)
    matched = sorted({detection.evidence["indicator"] for detection in detections(RuleSet(intel=intel), records)
                      if detection.rule_name == "THREAT_INTEL_MATCH"})
    output = {
        "records": len(records),
        "indicators_compiled": len(intel),
        "held_back": dict(intel.held_back),
        "compile_1m_s": round(compile_s, 1),
        "import_indicators_per_s": round(imported_per_s),
        "ruleset_records_per_s_without_indicators": round(without),
        "ruleset_records_per_s_with_1m_indicators": round(with_million),
        "slowdown_percent": round(100 * (1 - with_million / without), 1),
        "threat_intel_rule_alone_records_per_s_without": round(rule_without),
        "threat_intel_rule_alone_records_per_s_with_1m": round(rule_with),
        "threat_intel_rule_microseconds_per_record_added_by_1m": round(1e6 / rule_with - 1e6 / rule_without, 2),
        "matched": matched,
    }
    RESULTS.write_text(json.dumps(output, indent=2) + "\n")
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    main()
