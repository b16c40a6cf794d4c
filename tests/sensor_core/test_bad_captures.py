"""Damaged capture files: the reader keeps every good packet, counts what it skips as malformed and says
why in one line; `sensor read` and `appliance analyze` never show a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from tests.sensor_core.conftest import PCAPS, run_file
from tests.sensor_core.pcapng_blocks import epb, idb, shb, short_block, spb

FRAME = bytes(Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b") / IP() / UDP() / b"hello")
GOOD = shb() + idb(1) + epb(0, 1_000_000, FRAME) + epb(0, 2_000_000, FRAME)
EPB, IDB, OPB, SPB = 6, 1, 2, 3

# name -> (file content, packets read, malformed, words in the reader's one problem line)
SHORT_LAST_BLOCKS = {
    "short-epb-12": (GOOD + short_block(EPB, 12), 3, 1, "enhanced packet block too short"),
    "short-epb-28": (GOOD + short_block(EPB, 28), 3, 1, "enhanced packet block too short"),
    "short-idb": (GOOD + short_block(IDB, 12), 2, 0, "interface description block too short"),
    "short-opb": (GOOD + short_block(OPB, 16), 3, 1, "obsolete packet block too short"),
    "short-spb": (GOOD + short_block(SPB, 12), 3, 1, "simple packet block too short"),
    "cut-epb": ((GOOD + epb(0, 3_000_000, FRAME))[:-9], 2, 0, "truncated block"),
}


def _write(tmp_path, name: str, content: bytes):
    path = tmp_path / f"{name}.pcapng"
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("name", sorted(SHORT_LAST_BLOCKS))
def test_a_short_last_block_keeps_every_packet_before_it(tmp_path, name):
    content, packets, malformed, problem = SHORT_LAST_BLOCKS[name]
    drained, errors = run_file(_write(tmp_path, name, content))
    assert (drained.stats.packets, drained.stats.decoded, drained.stats.malformed) == (packets, 2, malformed)
    assert len(errors) == 1 and problem in errors[0]
    assert sum(f.pkts_orig + f.pkts_resp for f in drained.flows) == 2


def test_a_short_block_in_the_middle_is_skipped_and_reading_goes_on(tmp_path):
    content = GOOD + short_block(EPB, 16) + short_block(IDB, 12) + epb(0, 3_000_000, FRAME)
    drained, errors = run_file(_write(tmp_path, "middle", content))
    assert (drained.stats.packets, drained.stats.decoded, drained.stats.malformed) == (4, 3, 1)
    assert len(errors) == 2


@pytest.mark.parametrize("tsresol", [20, 127, 0x80 | 64, 0xFF])
def test_an_interface_whose_resolution_overflows_64_bits_loses_only_its_own_packets(tmp_path, tsresol):
    content = (shb() + idb(1) + idb(1, tsresol=tsresol) + epb(0, 1_000_000, FRAME) + epb(1, 5, FRAME)
               + spb(FRAME) + epb(0, 2_000_000, FRAME))
    drained, errors = run_file(_write(tmp_path, "tsresol", content))
    assert (drained.stats.packets, drained.stats.decoded, drained.stats.malformed) == (4, 3, 1)
    assert any("resolution beyond 64 bits" in line for line in errors)


@pytest.mark.parametrize("tsresol,seconds", [(19, 1e-19 * 2**63), (0x80 | 63, 1.0)])
def test_the_finest_resolutions_that_fit_64_bits_are_read(tmp_path, tsresol, seconds):
    content = shb() + idb(1, tsresol=tsresol) + epb(0, 2**63, FRAME)
    drained, errors = run_file(_write(tmp_path, "fine", content))
    assert errors == [] and drained.stats.decoded == 1
    assert drained.flows[0].ts_start == pytest.approx(seconds)


def test_many_corrupt_blocks_make_one_line_per_kind(tmp_path):
    content = GOOD + short_block(EPB, 16) * 5000 + epb(7, 1, FRAME) * 3000
    drained, errors = run_file(_write(tmp_path, "many", content))
    assert drained.stats.malformed == 8000 and drained.stats.packets == 8002
    assert errors == ["5000 times enhanced packet block too short for its fields, the first at byte 208",
                      "3000 times corrupt enhanced packet block (interface or length), the first at byte 80208"]


# ---- the commands ------------------------------------------------------------------------------------

NOT_CAPTURES = {
    "empty": b"",
    "magic-only": b"\xd4\xc3\xb2\xa1",
    "pcapng-magic-only": b"\x0a\x0d\x0d\x0a",
    "random": bytes(range(256)) * 4,
    "header-cut": (PCAPS / "modbus.pcap").read_bytes()[:20],
}


def _run(*command):
    return subprocess.run([sys.executable, "-m", *command], capture_output=True, text=True, timeout=300)


def _damaged_files(tmp_path) -> list[str]:
    files = [_write(tmp_path, name, content) for name, (content, *_) in SHORT_LAST_BLOCKS.items()]
    files.append(_write(tmp_path, "tsresol", shb() + idb(1, tsresol=20) + epb(0, 1, FRAME)))
    truncated = tmp_path / "truncated.pcap"
    truncated.write_bytes((PCAPS / "modbus.pcap").read_bytes()[:-7])
    return [str(path) for path in [*files, truncated]]


def test_sensor_read_says_what_it_skipped_in_damaged_files(tmp_path):
    result = _run("sensor", "read", *_damaged_files(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == len(SHORT_LAST_BLOCKS) + 3  # one per file; the tsresol file says two things
    assert all(line.startswith("sensor: warning: ") for line in lines), result.stderr
    assert "malformed: 5" in result.stdout


@pytest.mark.parametrize("name", sorted(NOT_CAPTURES))
def test_sensor_read_refuses_a_file_that_is_no_capture_in_one_line(tmp_path, name):
    path = tmp_path / f"{name}.pcap"
    path.write_bytes(NOT_CAPTURES[name])
    result = _run("sensor", "read", str(path))
    assert result.returncode == 2
    assert result.stderr.startswith(f"sensor: error: {path}: ") and result.stderr.count("\n") == 1


def test_analyze_refuses_files_that_are_no_captures_in_one_line(tmp_path):
    for name, content in NOT_CAPTURES.items():
        path = tmp_path / f"{name}.pcap"
        path.write_bytes(content)
        result = _run("appliance", "analyze", str(PCAPS / "modbus.pcap"), str(path))
        assert result.returncode == 1, (name, result.stderr)
        assert result.stderr.startswith(f"appliance analyze: error: {path}: "), (name, result.stderr)
        assert result.stderr.count("\n") == 1, (name, result.stderr)


def test_analyze_reads_damaged_files_and_says_what_it_skipped(tmp_path):
    result = _run("appliance", "analyze", *_damaged_files(tmp_path))
    assert result.returncode == 0, result.stderr
    *said, summary = result.stderr.splitlines()
    warnings = [line for line in said if line.startswith("appliance analyze: warning: ")]
    assert len(warnings) == len(SHORT_LAST_BLOCKS) + 3
    stages = [line.split(": ")[1] for line in said if line not in warnings]  # progress, one line per stage
    assert stages == ["checking captures", "decoding captures", "loading the scoring model", "detecting"], said
    assert "(5 malformed)" in summary and "OT_UNAUTHORIZED_WRITE" in result.stdout
