"""Memory of the whole box under traffic (PRODUCT.md: "the whole box (sensor + engine + API) under 1 GB RSS").

`appliance demo` runs the box exactly as installed: the API (Granian, 2 workers), the engine and a live sensor
on a veth pair, fed the office's ordinary history and then the first segment of the continuous `mixed` stream.
Every SAMPLE_EVERY_S we sum the memory of the box's processes (the demo launcher, the stream and the replay,
which stand in for the outside world, are left out): RSS, which counts pages shared between processes (the
Python libraries the workers share) once per process, and PSS, which divides shared pages among their sharers,
so the PSS sum is what the box really takes. The peer in the same run is the same box idle, before the first
packet.
Needs root (network namespaces); writes tests/benchmarks/results/box_memory.json.

    python tests/benchmarks/bench_box_memory.py
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from appliance.demo.network import can_create_namespaces
from tests.conftest import free_port

RESULTS = Path(__file__).parent / "results" / "box_memory.json"
TARGET_MB = 1024
SAMPLE_EVERY_S = 0.5
LEARNING_S, DURATION_S, SPEED = 300, 600, 10  # 30 s of history, then 60 s of attacks, replayed at 10x
SETTLE_S = 30  # after the replay: flows time out, the engine drains the queue
NOT_THE_BOX = ("appliance.simulate.replay", "appliance.simulate.stream", " demo ", "ip netns exec")


def children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            tree.setdefault(parent, []).append(int(entry))
    return tree


def descendants(pid: int) -> list[int]:
    tree, out, todo = children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def memory_kb(pid: int) -> tuple[str, int, int] | None:
    """(command line, RSS kB, PSS kB) of one process, or None once it is gone."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        fields = dict(
            line.split(":", 1) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
        )
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return command, int(fields["Rss"].split()[0]), int(fields["Pss"].split()[0])


def role(command: str) -> str:
    """`appliance serve` execs Granian (a main process and its workers); the others keep their command."""
    for marker, name in (("granian", "api"), (" engine ", "engine"), (" capture ", "sensor")):
        if marker in f"{command} ":
            return name
    return "other"


def sample(launcher: int) -> dict:
    per_role: dict[str, dict[str, float]] = {}
    for pid in descendants(launcher):
        measured = memory_kb(pid)
        if measured is None or any(part in f" {measured[0]} " for part in NOT_THE_BOX):
            continue
        command, rss, pss = measured
        totals = per_role.setdefault(role(command), {"processes": 0, "rss_mb": 0.0, "pss_mb": 0.0})
        totals["processes"] += 1
        totals["rss_mb"] += rss / 1024
        totals["pss_mb"] += pss / 1024
    return {
        "rss_mb": round(sum(r["rss_mb"] for r in per_role.values()), 1),
        "pss_mb": round(sum(r["pss_mb"] for r in per_role.values()), 1),
        "by_role": {name: {k: round(v, 1) for k, v in totals.items()} for name, totals in sorted(per_role.items())},
    }


def main() -> int:
    if not can_create_namespaces():
        print("bench_box_memory needs root and iproute2 (the demo's veth pair)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="netsenx-memory-") as scratch:
        command = [sys.executable, "-m", "appliance", "demo", "--data-dir", str(Path(scratch) / "box"),
                   "--port", str(free_port()), "--loops", "1", "--learning", str(LEARNING_S),
                   "--duration", str(DURATION_S), "--speed", str(SPEED)]
        demo = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        try:
            banner = [demo.stdout.readline() for _ in range(5)]
            if "demo box is up" not in banner[0]:
                raise RuntimeError(f"the demo did not come up: {banner}")
            idle = sample(demo.pid)  # everything started, the sensor's ring open, no packet replayed yet
            peak = idle
            deadline = time.monotonic() + (LEARNING_S + DURATION_S) / SPEED + SETTLE_S
            while time.monotonic() < deadline:
                now = sample(demo.pid)
                peak = max(peak, now, key=lambda s: s["pss_mb"])
                time.sleep(SAMPLE_EVERY_S)
            final = sample(demo.pid)
        finally:
            os.killpg(demo.pid, signal.SIGTERM)
            demo.wait(timeout=60)
    result = {
        "workload": f"appliance demo: {LEARNING_S} s of office history then the first {DURATION_S} s segment of "
                    f"the continuous mixed stream, replayed at {SPEED}x onto a veth pair the sensor captures live",
        "target_mb": TARGET_MB,
        "idle_box": idle,
        "peak_under_traffic": peak,
        "after_traffic": final,
        "peak_pss_vs_target": round(peak["pss_mb"] / TARGET_MB, 2),
        "peak_pss_vs_idle": round(peak["pss_mb"] / idle["pss_mb"], 2),
        "note": "PSS counts each shared page once across the box; RSS counts it in every process that maps it",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
