"""Long commands show their progress on stderr (appliance/cli/progress.py): bars on a terminal, one plain line
per stage elsewhere, nothing with --json; stdout stays what it was."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys

import pytest

from appliance.cli.progress import Progress
from appliance.store import lifecycle
from tests.conftest import PCAPS

STAGE_LINE = re.compile(r"appliance (?P<command>[\w-]+): (?P<stage>[^:]+): (?P<took>.+ s)( \(.+/s\))?$")


def appliance(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appliance", *arguments], capture_output=True, text=True)


def stages(stderr: str, command: str) -> list[str]:
    lines = [STAGE_LINE.fullmatch(line) for line in stderr.splitlines()]
    assert all(lines), stderr
    assert {line["command"] for line in lines} == {command}, stderr
    return [line["stage"] for line in lines]


class Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


def test_off_a_terminal_each_finished_stage_is_one_line():
    shown = Pipe()
    with Progress("backup", stream=shown) as progress:
        for done in (0, 100, 256):
            progress("copying pages", done, 256, "pages")
        progress("writing the backup file", 3 << 20, 3 << 20, "bytes")
        progress("syncing", 0, None, "")
    lines = shown.getvalue().splitlines()
    assert [line.split(" in ")[0] for line in lines[:2]] == [
        "appliance backup: copying pages: 256 pages",
        "appliance backup: writing the backup file: 3.0 MiB",
    ]
    assert re.fullmatch(r"appliance backup: syncing: \d+\.\d s", lines[2])


def test_a_failed_stage_is_not_reported_as_done_and_quiet_shows_nothing():
    shown = Pipe()
    with pytest.raises(OSError), Progress("restore", stream=shown) as progress:
        progress("reading the backup", 10, 20, "bytes")
        raise OSError("disk full")
    assert shown.getvalue() == ""
    with Progress("analyze", quiet=True, stream=shown) as progress:
        progress("decoding captures", 10, 20, "bytes")
    assert shown.getvalue() == ""


def test_backup_restore_and_rekey_say_each_stage_on_stderr(data_dir, tmp_path):
    lifecycle.create_database(data_dir)
    out = tmp_path / "box.backup"
    backup = appliance("backup", "--data-dir", str(data_dir.root), "--out", str(out))
    assert backup.returncode == 0 and backup.stdout.startswith(f"backup written to {out} (schema ")
    assert stages(backup.stderr, "backup") == ["copying pages", "writing the backup file"]
    restore = appliance("restore", "--data-dir", str(data_dir.root), "--from", str(out))
    assert restore.returncode == 0 and restore.stdout.startswith(f"restored {out} (schema version ")
    assert stages(restore.stderr, "restore") == [
        "reading the backup", "checking the backup's integrity", "copying pages", "migrating the schema"
    ]
    rekey = appliance("rekey", "--data-dir", str(data_dir.root))
    assert rekey.returncode == 0 and rekey.stdout == "re-encrypted under a new random key file\n"
    assert stages(rekey.stderr, "rekey") == ["folding the WAL in", "re-encrypting pages"]


def test_analyze_says_its_stages_and_nothing_with_json():
    capture = str(PCAPS / "icmp-portscan.pcap")
    shown = appliance("analyze", capture)
    assert shown.returncode == 0, shown.stderr
    *progress, summary = shown.stderr.splitlines()
    assert stages("\n".join(progress), "analyze") == [
        "checking captures", "decoding captures", "loading the scoring model", "detecting"
    ]
    assert summary.startswith("1 alert(s) from ")
    quiet = appliance("analyze", "--json", capture)
    assert quiet.returncode == 0 and quiet.stderr == ""
    alerts = [json.loads(line) for line in quiet.stdout.splitlines()]
    assert [(alert["rule_name"], alert["source_ip"]) for alert in alerts] == [("NETWORK_SWEEP", "192.168.1.109")]
    assert "NETWORK_SWEEP" in shown.stdout and alerts[0]["trace_id"] not in shown.stdout  # two runs, two stores


def test_simulate_says_its_stages(tmp_path):
    simulated = appliance("simulate", "port-scan", "--out", str(tmp_path / "scan.pcap"), "--duration", "20")
    assert simulated.returncode == 0 and simulated.stdout.startswith(f"{tmp_path / 'scan.pcap'}: ")
    said = stages(simulated.stderr, "simulate")
    assert said == ["simulating the office", "adding the attacks", "writing the capture"]


def test_on_a_terminal_each_stage_is_a_bar_with_counts_and_time_left(data_dir, tmp_path):
    lifecycle.create_database(data_dir)
    terminal, pty_end = pty.openpty()
    backup = subprocess.Popen(
        [sys.executable, "-m", "appliance", "backup", "--data-dir", str(data_dir.root), "--out", str(tmp_path / "b")],
        stdout=subprocess.PIPE, stderr=pty_end, text=True, env=dict(os.environ, COLUMNS="120", TERM="xterm"),
    )
    os.close(pty_end)
    stdout, _ = backup.communicate(timeout=120)
    drawn = b""
    while True:
        try:
            chunk = os.read(terminal, 65536)
        except OSError:  # the command ended and closed its side
            break
        if not chunk:
            break
        drawn += chunk
    os.close(terminal)
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn.decode())  # without the colours and cursor moves
    assert backup.returncode == 0 and stdout.startswith("backup written to ")
    copied = re.findall(r"copying pages +━+ (\d+)/(\d+) pages .*?left", screen)  # each redraw, the last full
    assert copied and copied[-1][0] == copied[-1][1], screen
    written = re.findall(r"writing the backup file +━+ ([\d.]+ KiB)/([\d.]+ KiB) .*?left", screen)
    assert written and written[-1][0] == written[-1][1], screen
