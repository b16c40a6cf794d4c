"""How fast the `appliance` command starts: `appliance --help`, a command's help and the light commands, whole
process (wall time, best and median of RUNS), and what a bare interpreter takes on the same machine then.

A tree to compare with (say, a checkout from before a change) is given with --against PATH; both run
interleaved, so a busy machine slows both alike. Target (issue 15): under 0.3 s for help and light commands.
Run: python tests/benchmarks/bench_cli_start.py [--against PATH]  -> tests/benchmarks/results/cli_start.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "tests" / "benchmarks" / "results" / "cli_start.json"
RUNS = 9
COMMANDS = {
    "appliance --help": ["--help"],
    "appliance backup --help": ["backup", "--help"],
    "appliance serve --help (the API's main process before it starts Granian)": ["serve", "--help"],
    "appliance seal (light)": ["seal", "--data-dir", "{scratch}"],
    "appliance traces verify (light)": ["traces", "verify", "{scratch}/missing.json"],
}


def wall_seconds(arguments: list[str], tree: Path) -> float:
    began = time.perf_counter()
    subprocess.run(arguments, cwd=tree, env=dict(os.environ, PYTHONPATH=str(tree)),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - began


def summary(seconds: list[float]) -> dict:
    return {"best_s": round(min(seconds), 3), "median_s": round(statistics.median(seconds), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="another checkout to time alongside this one")
    options = parser.parse_args()
    trees = {"this tree": REPO, **({"against": options.against.resolve()} if options.against else {})}
    results: dict = {"runs": RUNS, "load_average_1min_at_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as scratch:
        bare = [wall_seconds([sys.executable, "-c", "pass"], REPO) for _ in range(RUNS)]
        results["bare python3 -c pass"] = summary(bare)
        for name, command in COMMANDS.items():
            arguments = [sys.executable, "-m", "appliance", *(part.format(scratch=scratch) for part in command)]
            seconds: dict[str, list[float]] = {tree: [] for tree in trees}
            for _ in range(RUNS):
                for tree, path in trees.items():
                    seconds[tree].append(wall_seconds(arguments, path))
            results[name] = {tree: summary(taken) for tree, taken in seconds.items()}
            print(name, results[name], flush=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"-> {RESULTS}")


if __name__ == "__main__":
    main()
