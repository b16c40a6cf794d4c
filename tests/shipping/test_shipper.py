"""`Shipper` against a real appliance process: delivery, heartbeat and config, spooling while the box is
down, restarts of either side, token refresh, revoked sensors, rejected batches.

The tests share one box (starting one costs seconds) and keep apart by each using its own agent_id."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import msgspec
import pytest

from sensor.pipeline import Pipeline
from sensor.records import CaptureStats, DnsEvent, Flow, decode_batch
from sensor.shipping.shipper import Shipper
from tests.conftest import PCAPS, login


@pytest.fixture
def agent(request) -> str:
    return request.node.name.removeprefix("test_")[:60]


def flows(count: int, start: int = 0) -> list[Flow]:
    return [
        Flow(
            uid=f"F{n}",
            ts_start=float(n),
            ts_end=n + 1.0,
            proto="TCP",
            src_ip="10.9.0.1",
            dst_ip="10.9.0.2",
            src_port=1024 + n,
            dst_port=80,
        )
        for n in range(start, start + count)
    ]


def stored(box, agent: str) -> list[tuple[int, int]]:
    """(seq, number of flows) for every batch the box holds from `agent`."""
    rows = box.store.query("SELECT seq, payload FROM ingest_batches WHERE agent_id = ? ORDER BY seq", (agent,))
    return [(row["seq"], len(decode_batch(row["payload"]).flows)) for row in rows]


def shipper_for(box, agent: str, spool_dir, **options) -> Shipper:
    return Shipper(box.appliance.url, box.license_key, agent, spool_dir, max_records=10, max_backoff=0.5, **options)


def test_records_arrive_once_in_batches_with_heartbeat_and_config(shared_box, agent, tmp_path):
    shipper = shipper_for(shared_box, agent, tmp_path / "spool")
    events = [DnsEvent(ts=1.5, src_ip="10.9.0.1", query="example.org")]  # between the 1st and 2nd flow's end
    assert shipper.ship(flows(25), events, CaptureStats(packets=99)) == [0, 1, 2]
    assert shipper.flush(timeout=20)
    deadline = time.monotonic() + 5
    while shipper.config is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert shipper.close() == 0
    assert stored(shared_box, agent) == [(0, 9), (1, 10), (2, 6)]  # in packet-time order, the event in the first
    rows = shared_box.store.query("SELECT payload FROM ingest_batches WHERE agent_id = ? ORDER BY seq", (agent,))
    first, *_, last = [decode_batch(row["payload"]) for row in rows]
    assert first.events[0].query == "example.org"
    assert [b.stats.packets for b in (first, last)] == [0, 99]  # counters once, on the drain's last batch
    assert shipper.stats.delivered == 3 and shipper.stats.pending == 0
    assert shipper.last_heartbeat["license"]["status"] == "valid"
    assert shipper.config == {"rule_overrides": {}, "whitelist": []}


def test_a_sensor_that_lost_its_spool_continues_after_the_boxs_seqs(shared_box, agent, tmp_path):
    first = shipper_for(shared_box, agent, tmp_path / "old-spool")
    first.ship(flows(20), [], CaptureStats())
    assert first.flush(timeout=20) and first.close() == 0
    fresh = shipper_for(shared_box, agent, tmp_path / "new-spool")
    assert fresh.ship(flows(3), [], CaptureStats()) == [2]
    assert fresh.flush(timeout=20) and fresh.close() == 0
    assert stored(shared_box, agent) == [(0, 10), (1, 10), (2, 3)]


def test_an_expired_token_is_renewed_transparently(shared_box, agent, tmp_path):
    shipper = shipper_for(shared_box, agent, tmp_path / "spool")
    shipper.client._token = "not-a-valid-token"  # as if it had expired
    shipper.ship(flows(4), [], CaptureStats())
    assert shipper.flush(timeout=20) and shipper.close() == 0
    assert stored(shared_box, agent) == [(0, 4)]


def test_a_revoked_sensor_keeps_its_batches_spooled(shared_box, agent, tmp_path):
    shipper = shipper_for(shared_box, agent, tmp_path / "spool")
    with shared_box.appliance.server.client() as admin:
        assert admin.post(f"/agents/{agent}/revoke", headers=login(admin)).status_code == 200
    shipper.ship(flows(4), [], CaptureStats())
    assert not shipper.flush(timeout=1.5)
    assert shipper.close() == 1
    assert "revoked" in shipper.stats.last_error
    assert stored(shared_box, agent) == []


def test_a_batch_the_box_rejects_is_dropped_and_counted_not_retried_forever(shared_box, agent, tmp_path):
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    (spool_dir / f"{0:020d}.batch").write_bytes(msgspec.msgpack.encode({"not": "a batch"}))
    shipper = shipper_for(shared_box, agent, spool_dir)
    shipper.ship(flows(2), [], CaptureStats())
    assert shipper.flush(timeout=20) and shipper.close() == 0
    assert shipper.stats.rejected == 1 and shipper.stats.delivered == 1
    assert stored(shared_box, agent) == [(1, 2)]


def test_batches_wait_in_the_spool_while_the_box_is_down(shared_box, agent, tmp_path):
    box = shared_box.appliance
    box.stop()
    try:
        shipper = shipper_for(shared_box, agent, tmp_path / "spool")
        shipper.ship(flows(30), [], CaptureStats())
        assert shipper.close(drain_timeout=0.5) == 3  # the sensor stops too
    finally:
        box.start()
    restarted = shipper_for(shared_box, agent, tmp_path / "spool")
    assert restarted.ship(flows(5, start=30), [], CaptureStats()) == [3]  # no seq reused
    assert restarted.flush(timeout=20) and restarted.close() == 0
    assert stored(shared_box, agent) == [(0, 10), (1, 10), (2, 10), (3, 5)]


def conversations(flows: list[Flow]) -> Counter:
    return Counter((f.proto, f.src_ip, f.src_port, f.dst_ip, f.dst_port, f.pkts_orig, f.pkts_resp) for f in flows)


def event_kinds(events: list) -> Counter:
    return Counter(msgspec.json.encode(msgspec.structs.replace(e, ts=0.0, flow_uid="")) for e in events)


def capture_bound(pid: int) -> bool:
    """Has process `pid` bound its AF_PACKET capture socket (the ring is mapped before the bind)?

    Every packet socket of the process must be bound: while a filter expression is compiled, libpcap's own
    short-lived handle is bound and the capture socket is not yet."""
    with open("/proc/net/packet") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    bound_by_inode = {fields[-1]: int(fields[3], 16) != 0 for fields in rows}
    try:
        links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    except FileNotFoundError:
        return False
    packet_sockets = [link[8:-1] for link in links if link.startswith("socket:[") and link[8:-1] in bound_by_inode]
    return bool(packet_sockets) and all(bound_by_inode[inode] for inode in packet_sockets)


def run_live_sensor(shared_box, agent: str, tmp_path, frames: list[bytes], *options: str) -> list:
    """`sensor capture` on a veth pair while `frames` arrive, until SIGTERM; the batches the box received."""
    from tests.sensor_capture.netns_veth import veth_pair

    if os.geteuid() != 0:
        pytest.fail("live capture needs root (network namespaces, AF_PACKET)")
    with veth_pair() as veth:
        sensor = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sensor",
                "capture",
                "--iface",
                veth.host_iface,
                *options,
                "--appliance",
                shared_box.appliance.url,
                "--license-key",
                shared_box.license_key,
                "--agent-id",
                agent,
                "--spool-dir",
                str(tmp_path / "spool"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 20
            while not capture_bound(sensor.pid) and time.monotonic() < deadline and sensor.poll() is None:
                time.sleep(0.05)
            veth.send(frames)
            time.sleep(1.5)  # the ring hands blocks over every 20 ms; leave the sensor time to decode them
            sensor.send_signal(signal.SIGTERM)  # ends the capture; open flows are flushed and shipped
            _, err = sensor.communicate(timeout=30)
        finally:
            if sensor.poll() is None:
                sensor.kill()
                sensor.wait()
    assert sensor.returncode == 0, err
    rows = shared_box.store.query("SELECT payload FROM ingest_batches WHERE agent_id = ?", (agent,))
    return [decode_batch(row["payload"]) for row in rows]


def capture_frames(name: str) -> list[bytes]:
    """A capture's own bytes: re-building them from dissected packets would let whatever scapy layers the
    session happens to have loaded rewrite them."""
    from scapy.utils import RawPcapReader

    return [data for data, _ in RawPcapReader(str(PCAPS / name))]


@pytest.mark.netns
def test_sensor_capture_ships_live_traffic(shared_box, agent, tmp_path):
    frames = capture_frames("modbus.pcap")
    shipped = run_live_sensor(shared_box, agent, tmp_path, frames)
    offline = Pipeline()
    offline.feed_file(PCAPS / "modbus.pcap")
    expected = offline.close()
    # each batch counts the packets since the one before: summed, every packet once (the compliance page sums)
    assert sum(b.stats.packets for b in shipped) == len(frames) and sum(b.stats.kernel_drops for b in shipped) == 0
    assert conversations([f for b in shipped for f in b.flows]) == conversations(expected.flows)
    assert event_kinds([e for b in shipped for e in b.events]) == event_kinds(expected.events)


@pytest.mark.netns
def test_sensor_capture_filter_keeps_only_what_it_matches(shared_box, agent, tmp_path):
    modbus, dnp3 = capture_frames("modbus.pcap"), capture_frames("dnp3-write.pcap")
    shipped = run_live_sensor(shared_box, agent, tmp_path, dnp3 + modbus, "--filter", "tcp port 502")
    offline = Pipeline()
    offline.feed_file(PCAPS / "modbus.pcap")
    expected = offline.close()
    assert sum(b.stats.packets for b in shipped) == len(modbus)
    assert conversations([f for b in shipped for f in b.flows]) == conversations(expected.flows)


def test_https_trusts_the_pinned_certificate_and_nothing_else_unless_told(
    serve, store, data_dir, license_key, tmp_path
):
    from appliance.server.tls import create_self_signed_certificate

    create_self_signed_certificate(data_dir)
    server = serve(data_dir, https=True, workers=1)
    url = server.url.removesuffix("/api/v1")
    strict = Shipper(url, license_key, "tls-default", tmp_path / "default", max_backoff=0.2)
    strict.ship(flows(1), [], CaptureStats())
    assert strict.close(drain_timeout=1.0) == 1 and "CERTIFICATE_VERIFY_FAILED" in strict.stats.last_error
    for agent, options in [
        ("tls-pinned", {"ca_file": str(data_dir.certificate)}),
        ("tls-insecure", {"insecure": True}),
    ]:
        shipper = Shipper(url, license_key, agent, tmp_path / agent, **options)
        shipper.ship(flows(1), [], CaptureStats())
        assert shipper.flush(timeout=20) and shipper.close() == 0
    agents = {row["agent_id"] for row in store.query("SELECT agent_id FROM ingest_batches")}
    assert agents == {"tls-pinned", "tls-insecure"}
