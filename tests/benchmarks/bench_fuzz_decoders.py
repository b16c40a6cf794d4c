"""The long fuzz run of the sensor, and its packet counts against tshark's over every shared capture.

Fuzzing (the suite runs a bounded sample of each, tests/sensor_core/test_fuzz.py and
tests/sensor_protocols/test_robustness.py):
  files     mutated real capture files (classic + pcapng readers, then the whole pipeline, as `sensor read`)
  frames    mutated real frames through one pipeline (vectorised decoder, per-packet decoder, flows, extractors)
  per-packet the same on the per-packet decoder only (vectorised=False)
  payloads  mutated real payloads thrown at every protocol extractor (DNS, TLS, HTTP, SSH, Kerberos, DHCP,
            Modbus, DNP3, BACnet, cleartext logins)
A crash is any exception out of the pipeline or an extractor; a bad record is one the engine cannot take.

Agreement: `sensor read`'s packet count for each capture of ../shared/data/pcaps (the 15 public ones,
zeek-traces/, suricata-verify/) against `capinfos -c` (wiretap, the reader under tshark); the files where
capinfos stopped on an error are also counted by `tshark -r F -T fields -e frame.number`.

    python tests/benchmarks/bench_fuzz_decoders.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "tests" / "benchmarks" / "results" / "fuzz_decoders.json"

import msgspec

from sensor.protocols import MetadataExtractor
from sensor.records import AnyEvent
from tests.sensor_core.mutations import capture_paths, fuzz_files, fuzz_frames, seed_files, seed_frames
from tests.sensor_core.wiretap import WIRETAP_DIFFERS, capinfos_count, sensor_count, tshark_count
from tests.sensor_protocols.payload_mutations import mutated_payloads, seed_packets
from tests.shared_data import PCAPS

CASES = {"files": 20_000, "frames": 1_000_000, "per-packet": 200_000, "payloads": 1_000_000}
QUICK = {"files": 500, "frames": 50_000, "per-packet": 10_000, "payloads": 50_000}
def fuzz(cases: dict[str, int], seed: int) -> dict:
    rng = random.Random(seed)
    results = {}
    with tempfile.TemporaryDirectory(prefix="fuzz-decoders-") as scratch:
        started = time.perf_counter()
        counts = fuzz_files(seed_files(rng, 400), cases["files"], rng, Path(scratch))
        results["files"] = {**counts.as_dict(), "seconds": round(time.perf_counter() - started, 1),
                            "findings": counts.crashes[:20] + counts.bad_records[:20]}
    frames = seed_frames()
    for name, vectorised in (("frames", True), ("per-packet", False)):
        started = time.perf_counter()
        counts = fuzz_frames(frames, cases[name], rng, vectorised=vectorised, batch_size=8192)
        results[name] = {**counts.as_dict(), "seconds": round(time.perf_counter() - started, 1),
                         "findings": counts.crashes[:20] + counts.bad_records[:20]}
    results["payloads"] = fuzz_payloads(cases["payloads"], rng)
    return results


def fuzz_payloads(count: int, rng: random.Random) -> dict:
    extractor = MetadataExtractor()
    events = []
    started = time.perf_counter()
    for ctx, payload in mutated_payloads(rng, seed_packets(), count):
        events += extractor.on_payload(ctx, payload)
    problems = []
    try:
        msgspec.msgpack.decode(msgspec.msgpack.encode(events), type=list[AnyEvent])
    except msgspec.ValidationError as error:
        problems.append(str(error))
    return {"cases": count, "events": len(events), "crashes": extractor.errors, "bad_records": len(problems),
            "seconds": round(time.perf_counter() - started, 1), "findings": problems}


# ---- agreement with tshark ---------------------------------------------------------------------------------

def agreement() -> dict:
    started = time.perf_counter()
    rows, mismatches = [], []
    for path in capture_paths():
        name = str(path.relative_to(PCAPS))
        theirs, complaint = capinfos_count(path)
        ours, problems = sensor_count(path)
        row = {"file": name, "ours": ours, "capinfos": theirs}
        if complaint:  # the tools name the file by the path given: the results name it as `file` does
            row.update(capinfos_said=complaint.replace(f"{PCAPS}/", ""), tshark=tshark_count(path),
                       we_said=[problem.replace(f"{PCAPS}/", "") for problem in problems])
        rows.append(row)
        if ours != theirs:
            mismatches.append({**row, "why": WIRETAP_DIFFERS.get(name, "UNEXPLAINED")})
    return {
        "files": len(rows),
        "packets_ours": sum(r["ours"] or 0 for r in rows),
        "packets_capinfos": sum(r["capinfos"] or 0 for r in rows),
        "same_count": len(rows) - len(mismatches),
        "mismatches": mismatches,
        "unexplained": sum(m["why"] == "UNEXPLAINED" for m in mismatches),
        "damaged_files": [r for r in rows if "capinfos_said" in r],
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds of each, for trying the script")
    parser.add_argument("--seed", type=int, default=20261202)
    args = parser.parse_args()
    cases = QUICK if args.quick else CASES
    results = {"seed": args.seed, "fuzz": fuzz(cases, args.seed), "tshark_agreement": agreement()}
    results["crashes"] = sum(run["crashes"] for run in results["fuzz"].values())
    results["bad_records"] = sum(run["bad_records"] for run in results["fuzz"].values())
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'fuzzed':10} {'cases':>9} {'malformed':>9} {'crashes':>7} {'bad recs':>8} {'seconds':>7}")
    for name, run in results["fuzz"].items():
        print(f"{name:10} {run['cases']:>9} {run.get('malformed', '-'):>9} {run['crashes']:>7} "
              f"{run['bad_records']:>8} {run['seconds']:>7}")
    together = results["tshark_agreement"]
    print(f"\npacket counts: {together['same_count']} of {together['files']} captures as capinfos "
          f"({together['packets_ours']} packets ours, {together['packets_capinfos']} capinfos); "
          f"{len(together['mismatches'])} differ, {together['unexplained']} unexplained")
    for mismatch in together["mismatches"]:
        print(f"  {mismatch['file']}: ours {mismatch['ours']}, capinfos {mismatch['capinfos']}: {mismatch['why']}")
    print(f"results: {RESULTS.relative_to(ROOT)}" if not args.quick else "(--quick: nothing written)")


if __name__ == "__main__":
    main()
