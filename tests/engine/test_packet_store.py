"""The packet store (issue 12): the box's sensor keeps its packets in a bounded, sealed ring, and an analyst
downloads the packets of an alert's or an incident's flows as a pcap that tshark reads. Real captures through
the real sensor and engine, a real store, tshark as the reader."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from appliance.auth import users
from appliance.evidence import packets
from appliance.traces.chain import proof_trail
from appliance.traces.verify import verify_proof_trail
from sensor.packets.ring import PacketRing, SegmentCipher, UnreadableSegment, list_segments, read_segment
from sensor.pcap import CaptureFile
from sensor.pcap.batch import FrameBatch
from sensor.shipping.spool_cipher import read_key_file
from tests.conftest import ADMIN_PASSWORD, PCAPS, login

FIELDS = ["frame.time_epoch", "ip.proto", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport",
          "udp.srcport", "udp.dstport"]


def tshark_packets(path: Path) -> list[dict[str, str]]:
    """Every packet of the file as tshark decodes it. A missing tshark fails the test: a skip would hide the gap."""
    tshark = shutil.which("tshark")
    assert tshark, "tshark is not installed: run `just system-packages`"
    out = subprocess.run([tshark, "-r", str(path), "-T", "fields", *(arg for field in FIELDS for arg in ("-e", field)),
                          "-E", "separator=|"], capture_output=True, text=True, check=True).stdout
    return [dict(zip(FIELDS, line.split("|"), strict=True)) for line in out.splitlines()]


def conversation(packet: dict[str, str]) -> frozenset:
    """Both ends (address, port) of a packet, whichever way it went."""
    src, dst = packet["ip.src"] or packet["ipv6.src"], packet["ip.dst"] or packet["ipv6.dst"]
    sport = packet["tcp.srcport"] or packet["udp.srcport"]
    dport = packet["tcp.dstport"] or packet["udp.dstport"]
    return frozenset({(src, int(sport or 0)), (dst, int(dport or 0))})


def trace_flows(store, alert_id: str) -> list[dict]:
    flows = {}
    for row in store.query("SELECT content FROM decision_traces WHERE alert_id = ?", (alert_id,)):
        for flow in json.loads(row["content"]).get("evidence_flows", []):  # a download's trace names none
            flows[flow["uid"]] = flow
    return list(flows.values())


def frames_of(name: str) -> FrameBatch:
    return next(CaptureFile(PCAPS / name).batches())


@pytest.fixture
def alerted(store, analyse):
    analyse(PCAPS / "ftp-cleartext-login.pcap", PCAPS / "kerberoast.pcap")
    alert = store.query_one("SELECT a.id FROM alerts a JOIN decision_traces t ON t.alert_id = a.id "
                            "WHERE t.content LIKE '%\"evidence_flows\":[{%' ORDER BY a.id LIMIT 1")
    assert alert is not None
    return alert["id"]


def test_an_alerts_pcap_holds_exactly_the_packets_of_its_flows(store, api, alerted, tmp_path):
    users.create_user(store, "watcher", ADMIN_PASSWORD, "viewer")
    users.create_user(store, "hunter", ADMIN_PASSWORD, "analyst")
    assert api.get(f"/alerts/{alerted}/pcap", headers=login(api, "watcher")).status_code == 403
    analyst = login(api, "hunter")

    answer = api.get(f"/alerts/{alerted}/pcap", params={"padding": 0}, headers=analyst)

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/vnd.tcpdump.pcap"
    assert answer.headers["x-content-sha256"] == hashlib.sha256(answer.content).hexdigest()
    path = tmp_path / "alert.pcap"
    path.write_bytes(answer.content)
    read = tshark_packets(path)
    flows = trace_flows(store, alerted)
    assert {conversation(packet) for packet in read} == {
        frozenset({(flow["src_ip"], flow.get("src_port", 0)), (flow["dst_ip"], flow.get("dst_port", 0))})
        for flow in flows}
    assert len(read) == sum(flow.get("pkts_orig", 0) + flow.get("pkts_resp", 0) for flow in flows)
    audit = api.get("/settings/audit-log", headers=login(api)).json()["entries"]
    downloaded = [entry for entry in audit if entry["action"] == "packets.downloaded"]
    assert len(downloaded) == 1 and downloaded[0]["username"] == "hunter"
    assert downloaded[0]["details"]["sha256"] == answer.headers["x-content-sha256"]
    assert downloaded[0]["details"]["packets"] == len(read)
    [trace] = store.query("SELECT id, content FROM decision_traces WHERE alert_id = ? AND outcome = "
                          "'packets_downloaded'", (alerted,))
    named = json.loads(trace["content"])["packets"]
    assert named["pcap_sha256"] == answer.headers["x-content-sha256"] and named["downloaded_by"] == "hunter"
    trail = proof_trail(store.connection(), trace["id"])
    assert trail["checkpoint"] is not None and verify_proof_trail(trail) == []


def test_an_incidents_pcap_and_clear_errors(store, api, admin_headers, alerted, tmp_path):
    incident = api.post("/compliance/incidents", headers=admin_headers,
                        json={"title": "ftp login", "alert_ids": [alerted], "aware_at": time.time()}).json()
    answer = api.get(f"/compliance/incidents/{incident['id']}/pcap", headers=admin_headers)
    assert answer.status_code == 200, answer.text
    path = tmp_path / "incident.pcap"
    path.write_bytes(answer.content)
    assert len(tshark_packets(path)) >= sum(f.get("pkts_orig", 0) + f.get("pkts_resp", 0)
                                            for f in trace_flows(store, alerted))
    assert 'filename="incident-' in answer.headers["content-disposition"]

    missing = api.get("/alerts/no-such-alert/pcap", headers=admin_headers)
    assert missing.status_code == 404 and "no alert" in missing.json()["detail"]
    assert api.get("/alerts/x/pcap", params={"padding": 301}, headers=admin_headers).status_code == 400
    shutil.rmtree(store.data_dir.packets)  # the ring was lost (or everything in it pruned)
    gone = api.get(f"/alerts/{alerted}/pcap", headers=admin_headers)
    assert gone.status_code == 404 and "holds no packets" in gone.json()["detail"]


def test_the_ring_stays_within_its_budget_dropping_the_oldest_first(tmp_path):
    batch = frames_of("tls-handshake.pcap")
    key = bytes(range(32))
    ring = PacketRing(tmp_path / "ring", key, "sensor-1", max_bytes=3 * 4096, segment_bytes=4096)
    written = []
    for round_ in range(12):  # the same packets, a minute later each time
        shifted = FrameBatch(batch.buffer, batch.offsets, batch.caplen, batch.wirelen, batch.ts + 60 * round_,
                             batch.linktype)
        ring.append(shifted)
        ring.flush()
        written.append(float(shifted.ts.min()))
    segments = list_segments(tmp_path / "ring")
    assert sum(segment.size for segment in segments) <= 3 * 4096 == ring.max_bytes
    assert ring.stats.segments_pruned == 12 - len(segments) > 0 and ring.stats.packets_dropped == 0
    assert [segment.first for segment in segments] == pytest.approx(written[-len(segments):], abs=1e-6)  # newest kept
    newest = segments[-1]
    raw = newest.path.read_bytes()
    assert batch.frame(0).tobytes()[-16:] not in raw  # sealed at rest
    pcap = read_segment(newest, ring.cipher)
    assert pcap[:4] == b"\xd4\xc3\xb2\xa1"
    copy = tmp_path / "segment.pcap"
    copy.write_bytes(pcap)
    assert len(tshark_packets(copy)) == len(batch)
    reopened = PacketRing(tmp_path / "ring", key, "sensor-1", max_bytes=3 * 4096, segment_bytes=4096)
    reopened.append(batch)
    reopened.flush()
    assert list_segments(tmp_path / "ring")[-1].seq == newest.seq + 1  # a restart continues the ring


def test_segments_open_only_with_their_key_sensor_and_name(tmp_path):
    ring = PacketRing(tmp_path / "a", bytes(32), "sensor-a", max_bytes=1 << 20)
    ring.append(frames_of("modbus.pcap"))
    ring.flush()
    segment = list_segments(tmp_path / "a")[0]
    other = PacketRing(tmp_path / "b", bytes(32), "sensor-b", max_bytes=1 << 20)
    with pytest.raises(UnreadableSegment, match="does not open"):
        read_segment(segment, other.cipher)
    assert np.frombuffer(read_segment(segment, ring.cipher)[:4], dtype="<u4")[0] == 0xA1B2C3D4


def test_a_remote_sensor_keeps_its_packets_with_its_own_key(tmp_path):
    store_dir = tmp_path / "packets"
    read = subprocess.run([sys.executable, "-m", "sensor", "read", "--json", "--agent-id", "edge-1",
                           "--packet-store", str(store_dir), str(PCAPS / "icmp-and-ssh.pcap")],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert read.returncode == 0, read.stderr
    key_file = store_dir / "packets.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    [segment] = list_segments(store_dir)
    pcap = read_segment(segment, SegmentCipher(read_key_file(key_file), "edge-1"))
    copy = tmp_path / "kept.pcap"
    copy.write_bytes(pcap)
    assert len(tshark_packets(copy)) == json.loads(read.stdout)["packets"] > 0


def test_a_sensor_process_on_the_box_writes_into_the_boxs_packet_store(store):
    """What the box's own live sensor is started with (appliance/demo/box.py): its packets open with the store."""
    arguments = packets.sensor_arguments(store, "mirror-1")
    read = subprocess.run([sys.executable, "-m", "sensor", "read", "--flows", *arguments,
                           str(PCAPS / "icmp-and-ssh.pcap")], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert read.returncode == 0, read.stderr
    flows = [json.loads(line) for line in read.stdout.splitlines() if line.startswith("{")]
    flows = [flow for flow in flows if "uid" in flow]
    asked = [packets.PacketFlow(agent_id="mirror-1", proto=flow["proto"], src_ip=flow["src_ip"],
                                src_port=flow.get("src_port", 0), dst_ip=flow["dst_ip"],
                                dst_port=flow.get("dst_port", 0), ts_start=flow["ts_start"], ts_end=flow["ts_end"])
             for flow in flows]

    extract = packets.extract(store, asked, padding=0)

    assert flows and extract.packets == sum(flow.get("pkts_orig", 0) + flow.get("pkts_resp", 0) for flow in flows)
    key_file = Path(arguments[arguments.index("--packet-store-key-file") + 1])
    assert key_file.parent == store.data_dir.runtime and not key_file.is_relative_to(store.data_dir.root)
    assert key_file.stat().st_mode & 0o777 == 0o600  # the key stays off the data disk, readable by the box only
