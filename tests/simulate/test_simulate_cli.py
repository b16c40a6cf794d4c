"""The command line: listing, writing, determinism, and one-line errors for bad input."""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.simulate import SCENARIOS, cli, write
from appliance.simulate.pcap import PcapFormatError, read_pcap


def _simulate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "appliance.simulate", *args], capture_output=True, text=True, timeout=120
    )


def test_list_names_every_scenario():
    result = _simulate("--list")
    assert result.returncode == 0
    listed = [line.split()[0] for line in result.stdout.splitlines()]
    assert listed == list(SCENARIOS)
    assert {"benign-office", "mixed", "c2-beacon", "new-device"} <= set(listed)


def test_writes_pcap_labels_and_indicators(tmp_path):
    out = tmp_path / "intel.pcap"
    result = _simulate("threat-intel-match", "--out", str(out), "--seed", "5", "--duration", "20")
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:4] == bytes.fromhex("d4c3b2a1")  # little-endian microsecond pcap
    assert (tmp_path / "intel.labels.json").read_text().startswith("[")
    assert "192.0.2.66" in (tmp_path / "intel.indicators.txt").read_text()
    assert "packets" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["no-such-scenario", "--out", "x.pcap"], "unknown scenario"),
        (["mixed"], "--out"),
        ([], "SCENARIO"),
        (["mixed", "--out", "/nonexistent/dir/x.pcap"], "does not exist"),
        (["mixed", "--out", "x.pcap", "--duration", "5"], "between"),
        (["mixed", "--out", "x.pcap", "--duration", "1e9"], "between"),
        (["mixed", "--out", "x.pcap", "--duration", "nan"], "between"),
        (["mixed", "--out", "x.pcap", "--start", "nan"], "outside"),
        (["mixed", "--out", "x.pcap", "--start", "1969-12-31T23:00:00"], "outside"),
        (["mixed", "--out", "x.pcap", "--duration", "many"], "invalid float"),
        (["mixed", "--out", "x.pcap", "--start", "yesterday"], "--start"),
    ],
)
def test_bad_input_is_one_line_on_stderr(tmp_path, args, message):
    result = subprocess.run(
        [sys.executable, "-m", "appliance.simulate", *args], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr
    assert not list(tmp_path.iterdir())


def test_registers_as_a_subcommand_of_the_appliance_cli(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="appliance")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "simulate",
            "benign-office",
            "--out",
            str(tmp_path / "b.pcap"),
            "--duration",
            "20",
            "--start",
            "2026-03-07T10:00:00",
        ]
    )
    assert args.run(args) == 0
    first_ts = next(read_pcap(tmp_path / "b.pcap"))[0]
    assert 1772877600 <= first_ts < 1772877620  # Saturday 7 March 2026, 10:00 UTC
    assert "b.pcap" in capsys.readouterr().out


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    paths = {key: tmp_path / f"{key}.pcap" for key in ("a", "b", "c")}
    write("mixed", paths["a"], seed=11, duration=20)
    write("mixed", paths["b"], seed=11, duration=20)
    write("mixed", paths["c"], seed=12, duration=20)
    assert _digest(paths["a"]) == _digest(paths["b"])
    assert _digest(tmp_path / "a.labels.json") == _digest(tmp_path / "b.labels.json")
    assert _digest(paths["a"]) != _digest(paths["c"])


def test_determinism_does_not_depend_on_the_process(tmp_path):
    """Hash randomisation differs per process; the bytes must not."""
    here = tmp_path / "here.pcap"
    write("benign-office", here, seed=4, duration=20)
    assert (
        _simulate("benign-office", "--out", str(tmp_path / "there.pcap"), "--seed", "4", "--duration", "20").returncode
        == 0
    )
    assert _digest(here) == _digest(tmp_path / "there.pcap")


def test_pcap_reader_rejects_what_it_cannot_read(tmp_path):
    not_pcap = tmp_path / "x.pcap"
    not_pcap.write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(40))  # a pcapng section header
    with pytest.raises(PcapFormatError, match="pcapng"):
        list(read_pcap(not_pcap))
    truncated = tmp_path / "t.pcap"
    write("benign-office", truncated, seed=1, duration=20)
    truncated.write_bytes(truncated.read_bytes()[:-7])
    with pytest.raises(PcapFormatError, match="truncated"):
        list(read_pcap(truncated))
