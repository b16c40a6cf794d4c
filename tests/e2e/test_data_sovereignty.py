"""THE data-sovereignty test: a real box (Granian) with a real sensor shipping captures full of attacks, the
real engine turning them into alerts and traces, and the box's cloud link pointed at a loopback server that
records every byte of every request. What left must be the license id, the box id, versions and counts:
none of the captures' addresses, names or content, nor anything of the alerts or traces."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import parse_qsl, urlsplit

import msgspec
import pytest

from appliance.box_identity import box_id
from appliance.licensing.sovereignty import CloudHeartbeat
from sensor.records import Flow, decode_batch
from tests.agents import licensed_box
from tests.billing.recording_cloud import RecordingCloud
from tests.conftest import PCAPS, login
from tests.licensing import conftest as licensing_fixtures
from tests.shipping.appliance_process import Appliance

pytestmark = pytest.mark.e2e

# The licensed-box fixtures, which tests/e2e/conftest.py (not ours) does not provide.
vendor_key, make_license = licensing_fixtures.vendor_key, licensing_fixtures.make_license
trusted_vendor, current_license, license_key = (
    licensed_box.trusted_vendor,
    licensed_box.current_license,
    licensed_box.license_key,
)

# Record fields that carry addresses, names or content (flows and every event kind). Not ALPN: its values
# are protocol tokens ("http/1.1", "h2") that every HTTP request carries anyway.
IDENTIFYING_FIELDS = {
    "src_ip",
    "dst_ip",
    "src_mac",
    "dst_mac",
    "src_mac_alt",
    "dst_mac_alt",
    "query",
    "answers",
    "sni",
    "host",
    "uri",
    "user_agent",
    "banner",
    "username",
    "service",
    "realm",
    "hostname",
    "client_mac",
    "server_id",
    "offered_ip",
    "requested_ip",
    "sender_mac",
    "sender_ip",
    "target_mac",
    "target_ip",
    "ja3",
    "ja3_hash",
    "ja4",
}
# The recording server's own address is in every request line (Host header): it is not from the captures.
LOOPBACK = {"127.0.0.1"}
ALLOWED_HEADERS = {
    "host",
    "accept",
    "accept-encoding",
    "connection",
    "user-agent",
    "x-license-key",
    "content-type",
    "content-length",
}


def identifying_strings(records: list) -> set[str]:
    found: set[str] = set()
    for record in records:
        for name, value in msgspec.structs.asdict(record).items():
            if name in IDENTIFYING_FIELDS and not (name == "service" and isinstance(record, Flow)):
                # a flow's service is a protocol name ("http"); a Kerberos event's is a principal
                found.update(v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str))
    return {text for text in found if len(text) >= 4} - LOOPBACK


def alert_and_trace_strings(store) -> set[str]:
    found: set[str] = set()
    for row in store.query("SELECT id, rule_name, source_ip, dest_ip, incident_key, trace_id FROM alerts"):
        found.update(str(value) for value in row.values() if value)
    for row in store.query("SELECT id, content_sha256, hash FROM decision_traces"):
        found.update(row.values())
    return found


def split_requests(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (h.partition(":") for h in header_lines)}
    return request_line, headers, body


def test_only_license_id_box_id_versions_and_counts_leave_the_box(
    store,
    data_dir,
    license_key,
    current_license,
    tmp_path,
):
    license = current_license[0]
    pcaps = sorted(str(path) for path in PCAPS.glob("*.pcap"))
    box = Appliance(data_dir)
    with RecordingCloud() as cloud:
        box.start()
        try:
            with box.server.client() as client:
                admin = login(client)
                assert (
                    client.put("/settings/cloud", headers=admin, json={"enabled": True, "url": cloud.url}).status_code
                    == 200
                )
                shipped = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "sensor",
                        "read",
                        *pcaps,
                        "--json",
                        "--appliance",
                        box.url,
                        "--license-key",
                        license_key,
                        "--agent-id",
                        "plant-mirror",
                        "--spool-dir",
                        str(tmp_path / "spool"),
                    ],
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                assert shipped.returncode == 0, shipped.stderr
                engine = subprocess.run(
                    [sys.executable, "-m", "appliance", "engine", "--data-dir", str(data_dir.root), "--once"],
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                assert engine.returncode == 0, engine.stderr
                for _ in range(2):
                    assert client.post("/settings/cloud/sync", headers=admin).status_code == 200
                # Billing goes out too (the recorder refuses it): those requests must be as clean.
                client.get("/billing/subscription", headers=admin)
                client.post("/billing/checkout", headers=admin, json={"plan": "enterprise", "billing_cycle": "annual"})
                client.post("/billing/portal", headers=admin)
                shown = client.get("/settings/cloud", headers=admin).json()
        finally:
            box.stop()
        requests = list(cloud.requests)

    batches = [decode_batch(row["payload"]) for row in store.query("SELECT payload FROM ingest_batches")]
    records = [record for batch in batches for record in (*batch.flows, *batch.events)]
    alerts = store.query_one("SELECT count(*) AS n FROM alerts")["n"]
    assert len(records) > 10_000 and alerts > 0, "the box must hold plenty to leak"
    secrets = identifying_strings(records) | alert_and_trace_strings(store)
    assert {
        "10.0.0.3",
        "de:ad:be:ef:aa:bb",
        "HTTP/dc-mantvydas.offense.local",
        "OFFENSE.LOCAL",
    } <= secrets  # the collection itself works

    assert len(requests) == 5
    everything = b"".join(requests).decode("latin-1").lower()
    leaked = sorted(text for text in secrets if text.lower() in everything)
    assert leaked == []

    heartbeats = []
    for raw in requests:
        request_line, headers, body = split_requests(raw)
        assert set(headers) <= ALLOWED_HEADERS, headers
        assert headers["x-license-key"] == license_key
        method, target, _ = request_line.split(" ")
        path, query = urlsplit(target).path, dict(parse_qsl(urlsplit(target).query))
        if path == "/v1/heartbeat":
            heartbeats.append(msgspec.json.decode(body, type=CloudHeartbeat))  # refuses any unknown field
        elif path == "/v1/billing/subscription":
            assert method == "GET" and query == {"license_id": license.license_id} and body == b""
        else:
            assert path in ("/v1/billing/checkout", "/v1/billing/portal") and method == "POST"
            assert set(json.loads(body)) <= {"license_id", "plan", "billing_cycle", "return_url"}
            assert json.loads(body)["license_id"] == license.license_id
    assert len(heartbeats) == 2
    for heartbeat in heartbeats:
        assert heartbeat.license_id == license.license_id and heartbeat.box_id == box_id(store)
        assert heartbeat.sensor_version == "0.1.0" and heartbeat.counts.sensors == 1
        assert heartbeat.counts.alerts_24h == alerts
        assert heartbeat.counts.flows_24h == sum(len(batch.flows) for batch in batches)
    assert shown["payload"] == msgspec.to_builtins(heartbeats[-1])  # what the admin is shown is what left
