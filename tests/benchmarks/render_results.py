"""Collect every benchmark's JSON (tests/benchmarks/results/*.json) into RESULTS.md, the page the README
points to. Run by `just bench` after the benchmarks; the JSON files stay the source of truth."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

HERE = Path(__file__).parent
MAX_LIST_ROWS = 40


def flatten(value, prefix: str = ""):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from flatten(inner, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        if len(value) > MAX_LIST_ROWS:  # long per-item listings (e.g. every missed detection) stay in the JSON
            yield prefix, f"{len(value)} entries (see the JSON)"
            return
        for index, inner in enumerate(value):
            yield from flatten(inner, f"{prefix}[{index}]")
    else:
        yield prefix, value


def render() -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Written by `just bench` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{platform.machine()}, Python {platform.python_version()}. Each section is one "
        "`tests/benchmarks/bench_<area>.py`; its JSON is `tests/benchmarks/results/<area>.json`. Peers are "
        "measured in the same run, so compare ratios: the machine is shared and absolute numbers move.",
    ]
    for path in sorted((HERE / "results").glob("*.json")):
        lines += ["", f"## {path.stem}", "", "| measure | value |", "|---|---|"]
        for key, value in flatten(json.loads(path.read_text())):
            lines.append(f"| {key} | {json.dumps(value) if not isinstance(value, str) else value} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    (HERE / "RESULTS.md").write_text(render())
    print(f"wrote {HERE / 'RESULTS.md'}")
