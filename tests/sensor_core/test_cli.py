"""`sensor read` and `sensor capture` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.sensor_core.conftest import PCAPS


def _sensor(*args):
    return subprocess.run([sys.executable, "-m", "sensor", *args], capture_output=True, text=True, timeout=60,
                          check=False)


def test_read_json_summary_counts_packets_and_flows():
    result = _sensor("read", str(PCAPS / "icmp-and-ssh.pcap"), str(PCAPS / "arp-scan.pcap"), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["packets"] == 362 + 534 and summary["decoded"] == 362 + 534
    assert summary["flows"] == 3 and summary["malformed"] == 0 and summary["packets_per_second"] > 0


def test_read_flows_prints_one_json_object_per_flow_then_the_summary():
    result = _sensor("read", str(PCAPS / "icmp-portscan.pcap"), "--flows", "--json")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    flows, summary = lines[:-1], lines[-1]
    assert len(flows) == summary["flows"] == 18
    assert {f["src_ip"] for f in flows} == {"192.168.1.109"} and {f["proto"] for f in flows} == {"ICMP"}


def test_read_plain_summary_is_human_readable():
    result = _sensor("read", str(PCAPS / "modbus.pcap"))
    assert result.returncode == 0 and "packets: 99" in result.stdout


def test_read_errors_are_one_line_on_stderr(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not a capture")
    for path in (bad, tmp_path / "missing.pcap"):
        result = _sensor("read", str(path))
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("sensor: error:")


def test_truncated_capture_warns_and_still_summarises(tmp_path):
    cut = tmp_path / "cut.pcap"
    cut.write_bytes((PCAPS / "modbus.pcap").read_bytes()[:-5])
    result = _sensor("read", str(cut), "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["read_errors"] == 1 and "truncated" in result.stderr


def test_capture_subcommand_needs_an_interface():
    result = _sensor("capture")
    assert result.returncode == 2 and "--iface" in result.stderr
