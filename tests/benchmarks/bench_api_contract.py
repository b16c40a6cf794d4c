"""The longer schemathesis run over the box's API: more examples per operation than the suite's test.

Writes results/api_contract.json: operations and cases run, checks run, failures by check (and those left to
another change of issue 14). Run: python3 tests/benchmarks/bench_api_contract.py [--examples N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.api import openapi_contract as contract
from tests.conftest import RunningServer, free_port

RESULTS = Path(__file__).parent / "results" / "api_contract.json"


def run_on_fresh_box(root: Path, name: str, examples: int, selections: list[dict]) -> contract.ContractRun:
    box = contract.seed_box(contract.DataDirectory.at(root / name))
    server = RunningServer(box.data_dir, workers=1, extra_env=contract.server_environment(box, free_port()))
    try:
        prepared = [contract.config(box, **tokens_for(server, box), max_examples=examples, seed=14)
                    for _ in selections]
        result = contract.ContractRun()
        for settings, selection in zip(prepared, selections, strict=True):
            result.merge(contract.run(server.url, settings, **selection))
        return result
    finally:
        server.stop()


def tokens_for(server: RunningServer, box: contract.SeededBox) -> dict[str, str]:
    tokens = contract.tokens(server.url, box)
    return {"user_token": tokens["user"], "agent_token": tokens["agent"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=50, help="examples per operation (the test uses 3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        os.environ["NETSENX_RUNTIME_DIR"] = str(root / "runtime")
        started = time.monotonic()
        result = run_on_fresh_box(root, "box", args.examples, [{"but": contract.EVERYTHING_ELSE}])
        result.merge(run_on_fresh_box(root, "throw-away", args.examples,
                                      [{"only": contract.GATEKEEPING}, {"only": contract.ERASURE}]))
        elapsed = time.monotonic() - started
    report = {
        "examples_per_operation": args.examples,
        "seconds": round(elapsed, 1),
        "operations": result.operations,
        "cases": result.cases,
        "checks_run": dict(sorted(result.checks_run.items())),
        "failures_by_check": result.failure_counts(),
        "failures": {check: found for check, found in sorted(result.failures.items())},
        "fixed_elsewhere": result.fixed_elsewhere,
        "errors": result.errors,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({key: report[key] for key in ("operations", "cases", "failures_by_check", "seconds")}))


if __name__ == "__main__":
    main()
