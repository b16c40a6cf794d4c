"""The box's heartbeat to the vendor cloud: settings, the exact payload, renewals, failures, the runner."""

from __future__ import annotations

import json
import time

from appliance.alerts.repository import insert_alert
from appliance.api.box import Box
from appliance.audit import log as audit
from appliance.box_identity import box_id
from appliance.cloud_sync.background import CloudSyncRunner
from appliance.cloud_sync.heartbeat import sync_once
from appliance.cloud_sync.settings import CloudSettings, load_status, save_settings
from appliance.licensing import box_license
from appliance.licensing.keys import encode_license
from tests.agents.licensed_box import DAY
from tests.billing.recording_cloud import RecordingCloud
from tests.billing.vendor_process import LATEST_SENSOR_VERSION
from tests.conftest import free_port
from vendor_cloud.licensing.store import VendorStore


def register_sensors(store, *versions: str) -> None:
    for number, version in enumerate(versions):
        store.execute(
            "INSERT INTO agents (agent_id, name, hostname, os_type, agent_version, created_at, last_seen) "
            "VALUES (?, ?, 'h', 'linux', ?, 0, 0)",
            (f"s{number}", f"s{number}", version),
        )


def test_the_admin_sees_exactly_what_would_leave(api, store, admin_headers, license_key, current_license):
    register_sensors(store, "0.10.0", "0.9.2")
    store.execute(
        "INSERT INTO ingest_batches (agent_id, seq, received_at, payload, flows) VALUES ('s0', 0, ?, x'80', 40)",
        (time.time(),),
    )
    insert_alert(
        store.connection(),
        severity="HIGH",
        rule_name="PORT_SCAN",
        source_ip="10.1.2.3",
        dest_ip=None,
        port=None,
        protocol=None,
        score=0.9,
        timestamp=1,
        shap_json={},
    )
    view = api.get("/settings/cloud", headers=admin_headers).json()
    assert view["settings"] == {"enabled": False, "url": "https://licensing.netsenx.com", "interval_seconds": 3600}
    assert view["status"]["result"] == "never"
    assert view["payload"] == {
        "license_id": current_license[0].license_id,
        "box_id": box_id(store),
        "appliance_version": "0.1.0",
        "sensor_version": "0.9.2",
        "counts": {"sensors": 2, "alerts_24h": 1, "flows_24h": 40},
    }
    assert [field["field"] for field in view["fields"]] == [
        "license_id",
        "box_id",
        "appliance_version",
        "sensor_version",
        "counts.sensors",
        "counts.alerts_24h",
        "counts.flows_24h",
    ]
    assert "X-License-Key" in view["request"]


def test_settings_changes_are_validated_audited_and_admin_only(api, store, admin_headers):
    for body in ({"url": "ftp://x"}, {"url": "not a url"}, {"interval_seconds": 5}, {"surprise": 1}):
        assert api.put("/settings/cloud", headers=admin_headers, json=body).status_code == 400, body
    changed = api.put(
        "/settings/cloud",
        headers=admin_headers,
        json={"enabled": True, "url": "https://licensing.example.eu/", "interval_seconds": 600},
    )
    assert changed.json()["settings"] == {
        "enabled": True,
        "url": "https://licensing.example.eu",
        "interval_seconds": 600,
    }
    off = api.put("/settings/cloud", headers=admin_headers, json={"enabled": False}).json()["settings"]
    assert off["enabled"] is False and off["url"] == "https://licensing.example.eu"
    assert [e.action for e in audit.page(store, 10, 0)[0]].count("cloud_sync.changed") == 2
    assert api.post("/settings/cloud/sync", headers=admin_headers).status_code == 409  # switched off


def test_sync_against_the_vendor_learns_versions_and_picks_up_a_renewal(
    api, store, admin_headers, linked_box, license_key, current_license, vendor_key
):
    first = api.post("/settings/cloud/sync", headers=admin_headers)
    assert first.status_code == 200, first.text
    assert first.json()["result"] == "ok" and first.json()["latest_sensor_version"] == LATEST_SENSOR_VERSION
    license, _ = current_license
    renewed = type(license)(
        **{
            **{f: getattr(license, f) for f in license.__struct_fields__},
            "issued_at": license.issued_at + 10,
            "expires_at": license.expires_at + 365 * DAY,
        }
    )
    VendorStore(linked_box.db).record_key(license.license_id, encode_license(renewed, vendor_key), renewed.issued_at)
    second = api.post("/settings/cloud/sync", headers=admin_headers).json()
    assert second["license_refreshed_at"] is not None
    now_installed = api.get("/license", headers=admin_headers).json()
    assert now_installed["license"]["expires_at"] == renewed.expires_at and now_installed["source"] == "cloud"
    assert "license.refreshed" in [e.action for e in audit.page(store, 10, 0)[0]]


def test_a_revocation_by_the_vendor_is_shown(api, admin_headers, linked_box, current_license):
    VendorStore(linked_box.db).revoke(current_license[0].license_id, int(time.time()))
    status = api.post("/settings/cloud/sync", headers=admin_headers).json()
    assert status["result"] == "ok" and status["revoked"] is True


def test_unreachable_cloud_retries_with_back_off_and_records_the_failure(store, license_key):
    save_settings(store, CloudSettings(enabled=True, url=f"http://127.0.0.1:{free_port()}"))
    waits: list[float] = []
    status = sync_once(store, box_license.trusted_keys(), attempts=4, sleep=waits.append)
    assert waits == [1.0, 2.0, 4.0]
    assert status.result == "unavailable" and "unreachable" in status.detail and status.last_success_at is None
    assert load_status(store).result == "unavailable"


def test_unreachable_sync_now_is_502(api, admin_headers, license_key):
    api.put("/settings/cloud", headers=admin_headers, json={"enabled": True, "url": f"http://127.0.0.1:{free_port()}"})
    response = api.post("/settings/cloud/sync", headers=admin_headers)
    assert response.status_code == 502 and "heartbeat failed" in response.json()["detail"]


def test_one_runner_sends_and_only_when_enabled(store, data_dir, license_key):
    lock = data_dir.runtime / "cloud_sync.lock"
    boxes = [Box(data_dir), Box(data_dir)]
    runners = [CloudSyncRunner(box, lock, tick_seconds=0.05) for box in boxes]
    with RecordingCloud() as cloud:
        save_settings(store, CloudSettings(enabled=False, url=cloud.url, interval_seconds=60))
        for runner in runners:
            runner.start()
        try:
            time.sleep(0.4)
            assert cloud.requests == []  # off: nothing leaves
            save_settings(store, CloudSettings(enabled=True, url=cloud.url, interval_seconds=60))
            deadline = time.monotonic() + 5
            while not cloud.requests and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.4)  # more ticks: the interval (60 s) has not passed, and the other worker has no lock
        finally:
            for runner in runners:
                runner.stop()
            for box in boxes:
                box.close()
        assert len(cloud.requests) == 1
        sent = json.loads(cloud.requests[0].split(b"\r\n\r\n", 1)[1])
        assert sent["box_id"] == box_id(store)
    assert load_status(store).result == "ok"


def test_the_app_starts_the_heartbeat_by_itself_when_the_link_is_on(store, data_dir, license_key):
    from litestar.testing import TestClient

    from appliance.server.app import create_app

    with RecordingCloud() as cloud:
        save_settings(store, CloudSettings(enabled=True, url=cloud.url))
        with TestClient(create_app(data_dir)):
            deadline = time.monotonic() + 10
            while not cloud.requests and time.monotonic() < deadline:
                time.sleep(0.05)
        assert len(cloud.requests) == 1 and cloud.requests[0].startswith(b"POST /v1/heartbeat ")
