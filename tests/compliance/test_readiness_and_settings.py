"""GET /compliance/status (readiness evidence from the box itself) and PUT /compliance/settings."""

from __future__ import annotations

import time

from appliance.auth import users
from appliance.compliance.readiness import LAST_BACKUP_SETTING
from sensor.records import Batch, CaptureStats, encode_batch
from tests.compliance.sample_alerts import add_alert
from tests.conftest import login, tamper_with_audit_log

FULL_SETTINGS = {
    "entity_name": "Aguas de Castilla S.A.", "sector": "drinking_water", "member_state": "es",
    "entity_contact": "SOC +34 600 000 000", "csirt_contact": "incidentes@incibe-cert.es",
    "authority_contact": "aepd.es", "dpo_contact": "dpo@aguas.example", "irp_reference": "IRP-2024-v3.pdf",
    "supply_chain_assessed": True,
}


def checks(api, headers) -> dict:
    response = api.get("/compliance/status", headers=headers)
    assert response.status_code == 200, response.text
    return {check["id"]: check for check in response.json()["checks"]} | {"_body": response.json()}


def register_sensor(store, *, packets: int, kernel_drops: int, seen_ago: float = 10) -> None:
    now = time.time()
    store.execute("INSERT INTO agents (agent_id, name, hostname, os_type, agent_version, created_at, last_seen) "
                  "VALUES ('s1', 'core-switch', 'sensor1', 'linux', '1.0', ?, ?)", (now, now - seen_ago))
    batch = Batch(agent_id="s1", seq=1, sent_at=now, stats=CaptureStats(packets=packets, kernel_drops=kernel_drops))
    store.execute("INSERT INTO ingest_batches (agent_id, seq, received_at, payload) VALUES ('s1', 1, ?, ?)",
                  (now, encode_batch(batch)))


def make_box_ready(store, api, headers) -> None:
    assert api.put("/compliance/settings", json=FULL_SETTINGS, headers=headers).status_code == 200
    store.execute("UPDATE users SET totp_enabled = 1 WHERE role = 'admin'")
    store.set_setting(LAST_BACKUP_SETTING, time.time() - 86400)
    register_sensor(store, packets=1_000_000, kernel_drops=12)
    add_alert(store.connection(), severity="LOW", rule_name="NEW_DEVICE", source_ip="10.0.0.77")


def test_fresh_box_reports_eight_checks_with_evidence_and_remediation(api, admin_headers):
    result = checks(api, admin_headers)
    body = result.pop("_body")
    assert len(result) == 8 and body["total"] == 8
    articles = " ".join(check["article"] for check in result.values())
    for letter in "bcdfhij":
        assert f"21(2)({letter})" in articles
    for check in result.values():
        assert check["evidence"]
        assert check["passed"] == (check["remediation"] == "")
    assert not result["admin_mfa"]["passed"] and "admin" in result["admin_mfa"]["remediation"]
    assert result["cryptography"]["passed"] and "chacha20" in result["cryptography"]["evidence"]
    assert not result["monitoring_coverage"]["passed"]
    assert body["score"] == round(100 * body["passed"] / 8)
    assert "does not establish compliance" in body["disclaimer"]


def test_a_ready_box_passes_every_check(store, api, admin_headers):
    make_box_ready(store, api, admin_headers)
    result = checks(api, admin_headers)
    body = result.pop("_body")
    assert {name: check["passed"] for name, check in result.items()} == dict.fromkeys(result, True)
    assert body["score"] == 100
    assert "1 of 1 registered sensors" in result["monitoring_coverage"]["evidence"]
    assert "1,000,000 packets captured, 12 kernel drops" in result["monitoring_coverage"]["evidence"]
    assert "IRP-2024-v3.pdf" in result["incident_response"]["evidence"]
    assert "1 of 1 active admin" in result["admin_mfa"]["evidence"]


def test_evidence_turns_checks_red(store, api, admin_headers):
    make_box_ready(store, api, admin_headers)
    store.execute("UPDATE ingest_batches SET payload = ?",
                  (encode_batch(Batch(agent_id="s1", seq=1, sent_at=time.time(),
                                      stats=CaptureStats(packets=1000, kernel_drops=50))),))
    add_alert(store.connection(), severity="MEDIUM", rule_name="CLEARTEXT_CREDENTIALS", port=21)
    tamper_with_audit_log(store, "UPDATE audit_log SET details = '{\"forged\":1}' WHERE id = 1")
    store.set_setting(LAST_BACKUP_SETTING, time.time() - 30 * 86400)
    result = checks(api, admin_headers)
    assert not result["monitoring_coverage"]["passed"] and "(4.762%)" in result["monitoring_coverage"]["evidence"]
    assert not result["cryptography"]["passed"] and "1 unresolved" in result["cryptography"]["evidence"]
    assert not result["audit_log"]["passed"] and "BROKEN at entry 1" in result["audit_log"]["evidence"]
    assert not result["backups"]["passed"] and "30.0 days ago" in result["backups"]["evidence"]
    assert result["_body"]["score"] == 50


def test_a_silent_sensor_fails_coverage(store, api, admin_headers):
    register_sensor(store, packets=10, kernel_drops=0, seen_ago=3600)
    coverage = checks(api, admin_headers)["monitoring_coverage"]
    assert not coverage["passed"] and "0 of 1" in coverage["evidence"]
    assert "No sensor is reporting" in coverage["remediation"]


def test_seed_body_updates_only_its_fields_and_is_audited(api, admin_headers):
    assert api.put("/compliance/settings", json=FULL_SETTINGS, headers=admin_headers).status_code == 200
    seed_body = {"csirt_contact": "csirt@example.es", "irp_reference": "IRP-2025-v4.pdf",
                 "supply_chain_assessed": False}
    response = api.put("/compliance/settings", json=seed_body, headers=admin_headers)
    assert response.status_code == 200
    saved = api.get("/compliance/settings", headers=admin_headers).json()
    assert saved == FULL_SETTINGS | seed_body | {"member_state": "ES"}
    entries = api.get("/settings/audit-log", headers=admin_headers).json()["entries"]
    assert entries[0]["action"] == "compliance.settings_updated"
    assert entries[0]["details"] == {"fields": sorted(seed_body)}


def test_invalid_settings_name_the_field(api, admin_headers):
    cases = [
        ({"member_state": "XX"}, "member_state"),
        ({"sector": "knitting"}, "sector"),
        ({"entity_name": "x" * 301}, "entity_name"),
        ({"dpo_contact": "a\nb"}, "dpo_contact"),
        ({"supply_chain_assessed": "yes"}, "supply_chain_assessed"),
        ({"csirt": "typo"}, "csirt"),
    ]
    for body, field in cases:
        response = api.put("/compliance/settings", json=body, headers=admin_headers)
        assert response.status_code == 400, body
        assert field in response.json()["detail"], response.json()


def test_only_admins_change_settings_and_viewers_read_status(store, api):
    users.create_user(store, "auditor", "a long viewer password", "viewer")
    viewer = login(api, "auditor", "a long viewer password")
    assert api.put("/compliance/settings", json={"entity_name": "x"}, headers=viewer).status_code == 403
    assert api.get("/compliance/status", headers=viewer).status_code == 200
    assert api.get("/compliance/status").status_code == 401
