"""A full data disk (issue 12): the box's store on a small tmpfs that fills up. Detection goes on, the packet store
sheds its oldest packets to keep room for the database, the admin is told (health, packet store status), nothing
in the database is lost, and the warning clears once space returns. Real captures, real engine, real store."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest
from litestar.testing import TestClient

from appliance.auth import users
from appliance.engine.process import Engine
from appliance.evidence import packets
from appliance.ingest.local_sensor import queue_capture_files
from appliance.server.app import create_app
from appliance.store import lifecycle
from appliance.store.data_dir import DataDirectory
from appliance.store.database import Store
from sensor.packets.ring import list_segments
from sensor.pcap import CaptureFile
from sensor.pcap.batch import FrameBatch
from tests.conftest import ADMIN_PASSWORD, PCAPS, login

DISK_MIB = 64
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


@pytest.fixture
def small_disk(tmp_path):
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MIB}m", "tmpfs", str(mountpoint)], check=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=True)


def fill(path: Path) -> int:
    """Write until the file system refuses: what an ever-growing log or a careless copy does."""
    written = 0
    with open(path, "wb", buffering=0) as file:
        while True:
            try:
                written += file.write(b"\0" * 65536)
            except OSError as error:
                assert error.errno == errno.ENOSPC
                return written


def older_packets(store: Store, minutes: int) -> None:
    """The sensor's ring as a busy box has it: the capture's packets, again and again, minutes before now."""
    batch = next(CaptureFile(PCAPS / "dhcp-request-flood.pcap").batches())
    ring = packets.open_ring(store, "local")
    for minute in range(minutes):
        ring.append(FrameBatch(batch.buffer, batch.offsets, batch.caplen, batch.wirelen,
                               batch.ts - 3600 + 60 * minute, batch.linktype))
    ring.close()


def detect(store: Store, scorer, name: str) -> list[str]:
    """The box's sensor and engine on one capture: the alerts raised."""
    before = {row["id"] for row in store.query("SELECT id FROM alerts")}
    queue_capture_files(store, [PCAPS / name])
    Engine(store, scorer).process_all()
    return [row["id"] for row in store.query("SELECT id FROM alerts") if row["id"] not in before]


def test_a_full_disk_sheds_the_oldest_packets_keeps_detecting_and_recovers(small_disk, scorer):
    data_dir = DataDirectory.at(small_disk / "data")
    store = Store(data_dir, lifecycle.create_database(data_dir))
    users.create_user(store, "admin", ADMIN_PASSWORD, "admin")
    first_alerts = detect(store, scorer, "kerberoast.pcap")
    older_packets(store, minutes=5)
    segments_before = list_segments(packets.ring_directory(store, "local"))
    flows_before = store.query_one("SELECT count(*) AS n FROM flow_log")["n"]
    assert first_alerts and len(segments_before) >= 4

    filler = small_disk / "filler"
    fill(filler)
    assert os.statvfs(small_disk).f_bavail == 0
    full_alerts = detect(store, scorer, "ftp-cleartext-login.pcap")  # the disk is full now

    assert full_alerts, "detection stopped on a full disk"
    segments_after = list_segments(packets.ring_directory(store, "local"))
    shed = [segment.seq for segment in segments_before if segment not in segments_after]
    assert shed and shed == [segment.seq for segment in segments_before[: len(shed)]]  # the oldest went first
    assert segments_after[-1].seq > segments_before[-1].seq  # the new capture's packets are in
    assert store.query_one("PRAGMA integrity_check")["integrity_check"] == "ok"
    assert {row["id"] for row in store.query("SELECT id FROM alerts")} >= set(first_alerts)  # nothing lost
    assert store.query_one("SELECT count(*) AS n FROM flow_log")["n"] > flows_before

    with TestClient(create_app(data_dir), base_url="http://testserver.local/api/v1") as api:
        admin = login(api)
        health = api.get("/health").json()
        assert health["status"] == "ok" and "disk is full" in health["warnings"][0]
        status = api.get("/packets/status", headers=admin).json()
        assert status["full"] is True
        ring = status["sensors"][0]
        assert ring["agent_id"] == "local" and ring["segments_shed"] == len(shed)
        assert "disk is full" in ring["message"] and "shed" in ring["message"]
        download = api.get(f"/alerts/{full_alerts[0]}/pcap", headers=admin)
        assert download.status_code == 200 and len(download.content) > 24  # the new alert's packets are there

        filler.unlink()  # the admin frees space
        assert detect(store, scorer, "dns-tunnel-txt.pcap")
        assert api.get("/health").json()["warnings"] == []
        recovered = api.get("/packets/status", headers=admin).json()
        assert recovered["full"] is False and recovered["sensors"][0]["message"] == ""
    store.close()
