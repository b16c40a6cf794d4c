"""The README's first command: `appliance demo` brings up a real box that raises real alerts from an office
that keeps producing new traffic (never the same capture twice), and stops cleanly."""

from __future__ import annotations

import itertools
import os
import signal
import ssl
import subprocess
import sys
import time

import httpx
import msgspec
import pytest

from appliance.engine.baseline import Baseline
from appliance.engine.network import SiteConfig
from appliance.store import keys
from appliance.store.data_dir import DataDirectory
from appliance.store.database import Store
from tests.conftest import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.netns]
SEGMENTS = 10  # every attack family of the schedule starts within the first ten segments


def test_demo_raises_alerts_from_replayed_traffic_and_cleans_up(tmp_path):
    data = tmp_path / "demo"
    port = free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "appliance", "demo", "--data-dir", str(data), "--port", str(port), "--duration", "60",
         "--speed", "20", "--loops", str(SEGMENTS), "--learning", "200"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        banner = [demo.stdout.readline() for _ in range(5)]
        assert "live capture on a veth pair" in banner[0], banner
        namespace = f"nsx-demo-{demo.pid}"
        assert namespace in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        url = f"https://127.0.0.1:{port}/api/v1"
        certificate = str(data / "tls" / "cert.pem")
        password = (data / "admin-password.txt").read_text().strip()
        with httpx.Client(base_url=url, verify=ssl.create_default_context(cafile=certificate), timeout=30) as client:
            token = client.post("/auth/login", json={"username": "admin", "password": password}).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            rules: set[str] = set()
            expected = {"DNS_TUNNELING", "PORT_SCAN", "KERBEROASTING", "OT_UNAUTHORIZED_WRITE", "SHADOW_AI"}
            deadline = time.monotonic() + 150
            while time.monotonic() < deadline and not (expected <= rules and len(rules) >= 8):
                time.sleep(3)
                alerts = client.get("/alerts/", params={"limit": 100}, headers=headers).json()["alerts"]
                rules = {alert["rule_name"] for alert in alerts}
            agents = client.get("/agents", headers=headers).json()["agents"]
            # the box's sensor kept the packets: the port scan's come back as a pcap
            scan = next(alert for alert in alerts if alert["rule_name"] == "PORT_SCAN")
            pcap = client.get(f"/alerts/{scan['id']}/pcap", headers=headers)
            assert pcap.status_code == 200, pcap.text
            assert pcap.content[:4] == b"\xd4\xc3\xb2\xa1" and len(pcap.content) > 24 + 16 * 10
        # The simulator's attacks came through the mirror, the sensor (an agent of the box) and the engine.
        assert expected <= rules and len(rules) >= 8, rules
        assert [agent["agent_id"] for agent in agents] == ["demo-sensor"]
        os.kill(demo.pid, signal.SIGTERM)
        assert demo.wait(timeout=90) == 0
        # The office's ordinary history went first, and the baseline learned the site from it.
        store = Store(DataDirectory.at(data), keys.load_key(DataDirectory.at(data)))
        try:
            saved = store.query_one("SELECT value FROM engine_state WHERE key = 'baseline'")["value"]
            assert store.get_setting("engine")["site"]["learning_period_s"] == 200  # read as a file: its own time
        finally:
            store.close()
        baseline = Baseline.from_bytes(saved, SiteConfig())
        assert baseline.finished
        assert all(map(baseline.knows_ip, ["10.20.1.10", "10.20.1.20", "10.20.1.30", "10.20.20.10"]))
        # Each segment was new traffic continuing the last one's timeline; played ones were removed, so at most
        # the two the stream keeps ready are left.
        manifest = (data / "stream" / "segments.jsonl").read_bytes().splitlines()
        segments = [msgspec.json.decode(line) for line in manifest]
        assert len(segments) >= 2
        assert [segment["index"] for segment in segments] == list(range(len(segments)))
        for earlier, later in itertools.pairwise(segments):
            assert later["start"] == earlier["end"]
            assert later["sha256"] != earlier["sha256"]
        assert len(list((data / "stream").glob("segment-*.pcap"))) <= 2
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
            # The demo's own children run in process groups of their own: a killed demo cannot stop them.
            subprocess.run(["pkill", "-KILL", "-f", str(data)], check=False)
            subprocess.run(["ip", "netns", "delete", f"nsx-demo-{demo.pid}"], capture_output=True, check=False)
    assert namespace not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    leftovers = subprocess.run(["pgrep", "-f", str(data)], capture_output=True, text=True).stdout.split()
    assert leftovers == []
