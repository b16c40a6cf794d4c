"""Reading a capture as a stream of bounded batches: the same records as one batch, memory that does not grow
with the file, and a command line that loads only what the command needs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgspec
import numpy as np
import pytest

from sensor.pcap import CaptureFile
from sensor.pcap.classic import MAX_RECORD
from sensor.pcap.record_chain import (
    CHAIN_CORRUPT_HEADER,
    CHAIN_OK,
    CHAIN_TRUNCATED_HEADER,
    CHAIN_TRUNCATED_RECORD,
    COMPILED_WALK_FROM,
    compiled_walker,
    walk_records,
    walker_for,
)
from sensor.pipeline import Pipeline
from tests.sensor_core.conftest import PCAPS, assert_same_flows

STREAMED = ["ftp-cleartext-login.pcap", "dns-tunnel-txt.pcap", "modbus.pcap", "icmp-and-ssh.pcap",
            "zeek-traces/http/cooper-grill-dvwa.pcapng"]


def _read(path: Path, batch_size: int, drain_each_batch: bool):
    """Flows, events and counters of a whole file, with the protocol analysers."""
    pipeline = Pipeline()
    flows, events = [], []

    def keep(drained):
        flows.extend(drained.flows)
        events.extend(drained.events)

    pipeline.feed_file(path, batch_size=batch_size, on_drained=keep if drain_each_batch else None)
    keep(pipeline.close())
    return flows, events, pipeline.stats


def _comparable_events(events) -> list[str]:
    """Events without the uid of their flow (flows are numbered differently when batches differ)."""
    return sorted(msgspec.json.encode(msgspec.structs.replace(event, flow_uid="")).decode() for event in events)


@pytest.mark.parametrize("name", STREAMED)
def test_tiny_batches_drained_as_they_go_give_the_records_of_one_batch(name):
    one_flows, one_events, one_stats = _read(PCAPS / name, batch_size=1_000_000, drain_each_batch=False)
    flows, events, stats = _read(PCAPS / name, batch_size=7, drain_each_batch=True)
    assert one_flows and stats == one_stats
    assert_same_flows(flows, one_flows)
    assert _comparable_events(events) == _comparable_events(one_events)


def _write_capture(path: Path, frames: int, frame_bytes: int) -> None:
    record = np.zeros((frames, 16 + frame_bytes), dtype=np.uint8)
    record[:, 8:16] = np.frombuffer(np.array([frame_bytes, frame_bytes], dtype="<u4").tobytes(), dtype=np.uint8)
    header = np.frombuffer(b"\xd4\xc3\xb2\xa1" + bytes([2, 0, 4, 0]) + bytes(8) + (65535).to_bytes(4, "little")
                           + (1).to_bytes(4, "little"), dtype=np.uint8)
    path.write_bytes(header.tobytes() + record.tobytes())


def _file_pages_resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no RssFile in /proc/self/status")


def test_reading_a_file_holds_one_batch_of_its_pages_not_the_whole_file(tmp_path):
    path = tmp_path / "big.pcap"
    _write_capture(path, frames=64 * 1024, frame_bytes=1000)  # 66 MB; 4,096 frames a batch span 4 MB
    capture = CaptureFile(path)
    before = _file_pages_resident_mb()
    peak = before
    frames = 0
    for batch in capture.batches(4096):
        frames += len(batch)
        peak = max(peak, _file_pages_resident_mb())
    assert frames == 64 * 1024
    assert peak - before < 16, f"{peak - before:.0f} MB of the 66 MB file stayed resident"


@pytest.mark.parametrize("name", ["modbus.pcap", "dhcp-request-flood.pcap", "zeek-traces/ssh/ssh.pcap"])
def test_the_compiled_walk_and_the_python_walk_agree_on_real_and_damaged_files(name):
    data = (PCAPS / name).read_bytes()
    fourth = int(walk_records(data, 24, 4, False, 16, MAX_RECORD)[0][0, 3])  # where the 4th record starts
    damaged = {
        "whole": (data, CHAIN_OK),
        "truncated header": (data[: fourth + 10], CHAIN_TRUNCATED_HEADER),
        "truncated record": (data[: fourth + 20], CHAIN_TRUNCATED_RECORD),
        "corrupt caplen": (data[: fourth + 8] + (1 << 30).to_bytes(4, "little") + data[fourth + 12 :],
                           CHAIN_CORRUPT_HEADER),
    }
    compiled = compiled_walker()
    for kind, (buffer, status) in damaged.items():
        for limit in (1, 7, 1_000_000):
            mine = walk_records(buffer, 24, limit, False, 16, MAX_RECORD)
            theirs = compiled(buffer, 24, limit, False, 16, MAX_RECORD)
            assert np.array_equal(mine[0], theirs[0]) and mine[1:] == theirs[1:], (kind, limit)
        assert mine[2] == status, kind


def test_only_a_file_with_millions_of_records_left_loads_the_compiled_walk():
    assert walker_for(65536, 65536 * 600, 150 * 2**20) is walk_records  # a 150 MB file of 600-byte records
    assert walker_for(65536, 65536 * 600, 600 * (COMPILED_WALK_FROM + 1)) is compiled_walker()
    assert walker_for(0, 0, 10**12) is walk_records


def _sensor(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sensor", *args], capture_output=True, text=True, timeout=60,
                          check=False)


IMPORTED = """
import json, runpy, sys
sys.argv = ["sensor", *sys.argv[1:]]
try:
    runpy.run_module("sensor", run_name="__main__")
except SystemExit:
    pass
heavy = ["numpy", "numba", "httpx", "msgspec", "sensor.pipeline"]
print(json.dumps([name for name in heavy if name in sys.modules]), file=sys.stderr)
"""


def _heavy_modules_loaded(*args: str) -> list[str]:
    result = subprocess.run([sys.executable, "-c", IMPORTED, *args], capture_output=True, text=True, timeout=60,
                            check=False)
    return json.loads(result.stderr.strip().splitlines()[-1])


def test_help_and_a_bad_option_load_neither_numpy_nor_the_http_client():
    assert _heavy_modules_loaded("--help") == []
    assert _heavy_modules_loaded("read", "--no-such-option") == []


def test_reading_a_small_file_loads_neither_numba_nor_the_http_client():
    loaded = _heavy_modules_loaded("read", "--json", str(PCAPS / "modbus.pcap"))
    assert "numpy" in loaded and "numba" not in loaded and "httpx" not in loaded


def test_no_metadata_reads_the_same_flows_without_protocol_events():
    full = _sensor("read", "--json", str(PCAPS / "modbus.pcap"))
    bare = _sensor("read", "--json", "--no-metadata", str(PCAPS / "modbus.pcap"))
    full_summary, bare_summary = json.loads(full.stdout), json.loads(bare.stdout)
    assert full_summary["events"] > 0 and bare_summary["events"] == 0
    assert bare_summary["flows"] == full_summary["flows"] and bare_summary["packets"] == full_summary["packets"]
