"""`appliance serve` stops on SIGTERM at any moment of its start-up, workers and all (`systemctl restart`).

The signal goes to the main process only, as systemd sends it. Each moment is a point of start-up named by
what the server has said so far (or a delay), never a bet on how long start-up takes: the test passes when
the process and everything it started have gone after the signal, however long each step took.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.e2e

GENEROUS_WAIT = 90.0  # systemd's default stop timeout: a box that needs longer is what the issue is about
# (log line to wait for, or None; then seconds to wait)
MOMENTS = {
    "at once": (None, 0.0),
    "while python starts": (None, 1.5),
    "listening, no worker yet": ("Listening at", 0.0),
    "workers just forked, loading the app": ("Spawning worker-2", 0.0),
    "a worker loading the app": ("Spawning worker-2", 1.0),
    "first worker started": ("Started worker-1", 0.0),
    "answering": ("answers", 0.0),
}


def _session_members(session: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == session and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _wait_for(log: Path, line: str, server: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + GENEROUS_WAIT
    while time.monotonic() < deadline and server.poll() is None:
        if line == "answers":
            try:
                httpx.get(url, timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                pass
        elif line in log.read_text():
            return
        time.sleep(0.02)
    raise AssertionError(f"the server never got to {line!r}: {log.read_text()}")


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_sigterm_at_any_moment_of_start_up_stops_everything(store, data_dir, tmp_path, moment):
    line, delay = MOMENTS[moment]
    port = free_port()
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "appliance", "serve", "--data-dir", str(data_dir.root), "--http",
               "--port", str(port), "--workers", "2"]
    with open(log, "wb") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if line is not None:
            _wait_for(log, line, server, f"http://127.0.0.1:{port}/api/v1/health")
        time.sleep(delay)
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=GENEROUS_WAIT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {GENEROUS_WAIT:.0f} s after SIGTERM ({moment}): {log.read_text()}")
        deadline = time.monotonic() + GENEROUS_WAIT
        while _session_members(server.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _session_members(server.pid) == [], f"left behind ({moment}): {log.read_text()}"
    finally:
        for pid in _session_members(server.pid):
            os.kill(pid, signal.SIGKILL)
        if server.poll() is None:
            server.kill()
        server.wait()
