"""Reports that hold up (issue 12): the embedded evidence verifies with the command the PDF gives, indicators are
indicators, the model's reasons are in words, the incident's real span, the site's own internal networks, and
requests the GDPR endpoint cannot serve are refused. Every PDF is read back with pypdf."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from appliance.engine.process import Engine
from appliance.engine.scoring.features import rule_feature_names
from appliance.ingest.local_sensor import queue_capture_files
from appliance.reports.plain_words import FEATURE_WORDS
from tests.compliance.sample_alerts import add_alert
from tests.conftest import PCAPS
from tests.reports.conftest import SETTINGS, ReadBack, install_license

SPAN_START = 1_790_005_330.0  # 2026-09-21 15:42:10 UTC
SPAN_END = SPAN_START + 88 * 60  # 17:10:10


@pytest.fixture(scope="module")
def scorer():
    from appliance.engine.scoring import Scorer

    return Scorer.load()


def report(api, headers, kind: str, **body) -> ReadBack:
    response = api.post(f"/reports/{kind}", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return ReadBack(response.content)


def traces_verify(path, *arguments) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appliance", "traces", "verify", str(path), *arguments],
                          capture_output=True, text=True, timeout=60)


def open_incident(api, headers, alert_ids: list[str]) -> dict:
    assert api.put("/compliance/settings", json=SETTINGS, headers=headers).status_code == 200
    response = api.post("/compliance/incidents", headers=headers, json={
        "title": "Ticket harvesting and an upload", "alert_ids": alert_ids, "aware_at": time.time() - 3600})
    assert response.status_code == 201, response.text
    return response.json()


def test_every_attachment_verifies_with_the_command_the_pdf_gives(store, api, admin_headers, vendor_key, scorer,
                                                                 tmp_path):
    install_license(store, vendor_key, expires_in_days=200)
    queue_capture_files(store, [PCAPS / "kerberoast.pcap", PCAPS / "dns-tunnel-txt.pcap"], agent_id="local")
    Engine(store, scorer).process_all()
    alerts = {row["rule_name"]: row["id"] for row in store.query("SELECT id, rule_name FROM alerts")}
    assert set(alerts) == {"KERBEROASTING", "DNS_TUNNELING"}
    incident = open_incident(api, admin_headers, list(alerts.values()))
    box_key = api.get("/traces/box-key", headers=admin_headers).json()["public_key"]

    for kind, body in (("nis2", {"stage": "notification"}), ("gdpr", {})):
        pdf = report(api, admin_headers, kind, incident_id=incident["id"], **body)
        assert pdf.has("Verify offline: appliance traces verify proof-trail.json")
        assert list(pdf.attachments) == ["proof-trail.json"]
        for name, (content,) in pdf.attachments.items():
            path = tmp_path / kind / name
            path.parent.mkdir()
            path.write_bytes(content)
            checked = traces_verify(path, "--public-key", box_key)
            assert checked.returncode == 0, checked.stderr
            assert checked.stdout.startswith(f"OK: report {incident['reference']}: ")
            assert "of 2 alert(s)" in checked.stdout
        evidence = pdf.attachment_json()
        assert {group["alert_id"] for group in evidence["proof_trails"]} == set(alerts.values())

    tampered = json.loads(path.read_text())
    trail = tampered["proof_trails"][0]["trails"][0]
    trail["trace"]["content"]["score"] = 0.01
    path.write_text(json.dumps(tampered))
    checked = traces_verify(path)
    assert checked.returncode == 1 and "its content has been altered" in checked.stderr
    assert f"alert {tampered['proof_trails'][0]['alert_id']}" in checked.stderr

    moved = json.loads(path.read_text())
    first, second = moved["proof_trails"]
    first["trails"], second["trails"] = second["trails"], first["trails"]  # each alert's proof filed under the other
    path.write_text(json.dumps(moved))
    checked = traces_verify(path)
    assert checked.returncode == 1 and "the trace decided about alert" in checked.stderr

    other_box = traces_verify(tmp_path / "nis2" / "proof-trail.json", "--public-key", "00" * 32)
    assert other_box.returncode == 1 and "different key" in other_box.stderr


@pytest.fixture
def upload_and_tickets(store, api, admin_headers, vendor_key):
    """An upload to a private address outside the site's internal networks, and Kerberos ticket harvesting
    explained by the model, over an hour and a half."""
    install_license(store, vendor_key, expires_in_days=200)
    store.set_setting("engine", {"site": {"internal_networks": ["10.0.0.0/24"]}})
    connection = store.connection()
    upload = add_alert(connection, severity="HIGH", rule_name="DATA_EXFILTRATION", source_ip="10.0.0.23",
                       dest_ip="192.168.77.9", port=443, score=0.71, timestamp=int(SPAN_START),
                       evidence={"upload_bytes": 734_003_200, "download_bytes": 1200, "ports": [443, 8443],
                                 "off_hours": False, "effective_min_upload_bytes": 500_000_000})
    tickets = add_alert(connection, severity="HIGH", rule_name="KERBEROASTING", source_ip="10.0.0.23",
                        dest_ip="10.0.0.6", port=88, score=0.88, timestamp=int(SPAN_START + 600),
                        shap={"base_value": 0.2, "features": {"weak_tickets": 0.41, "tgs_requests": 0.12,
                                                              "incident_duration_s": -0.02}},
                        evidence={"tgs_requests": 14, "weak_tickets": 9, "client_offered_aes": True,
                                  "services_sample": ["MSSQLSvc/sql01.corp.example:1433"]})
    connection.execute("UPDATE alerts SET first_seen = ?, last_seen = ? WHERE id = ?",
                       (SPAN_START, SPAN_START + 900, upload))
    connection.execute("UPDATE alerts SET first_seen = ?, last_seen = ? WHERE id = ?",
                       (SPAN_START + 600, SPAN_END, tickets))
    return open_incident(api, admin_headers, [upload, tickets])


def test_indicators_are_indicators_and_the_model_speaks_plain_words(api, admin_headers, upload_and_tickets):
    pdf = report(api, admin_headers, "nis2", incident_id=upload_and_tickets["id"], stage="notification")
    for indicator in ("DATA_EXFILTRATION 10.0.0.23 → 192.168.77.9:443/TCP", "ports: 443, 8443",
                      "KERBEROASTING 10.0.0.23 → 10.0.0.6:88/TCP"):
        assert pdf.has(indicator), indicator
    for internal in ("effective_min_upload_bytes", "off_hours", "upload_bytes", "client_offered_aes",
                     "500000000", "weak_tickets", "tgs_requests", "incident_duration_s"):
        assert not pdf.has(internal), internal
    assert pdf.has("Kerberos service tickets with weak (RC4) encryption, which can be cracked offline +0.410")
    assert pdf.has("Kerberos service tickets requested +0.120")


def test_every_feature_of_every_rule_has_plain_words():
    features = {feature for names in rule_feature_names().values() for feature in names}
    assert features <= set(FEATURE_WORDS), sorted(features - set(FEATURE_WORDS))
    for feature in features:
        assert "_" not in FEATURE_WORDS[feature], feature


def test_the_report_shows_the_incidents_real_span_and_the_sites_own_networks(api, admin_headers,
                                                                              upload_and_tickets):
    final = report(api, admin_headers, "nis2", incident_id=upload_and_tickets["id"], stage="final")
    assert final.has("Activity detected from 2026-09-21 15:42 UTC to 2026-09-21 17:10 UTC (1 h 28 min)")
    assert final.has("First activity observed 2026-09-21 15:42 UTC")
    assert final.has("Last activity observed 2026-09-21 17:10 UTC")
    assert final.has("WARNING: the incident is still open") and final.has("progress report (Art. 23(4)(e))")
    early = report(api, admin_headers, "nis2", incident_id=upload_and_tickets["id"])
    # 192.168.77.9 is a private address, but not one of this site's internal networks
    assert early.has("Addresses outside the internal networks involved: 192.168.77.9.")
    assert not early.has("Only addresses of the internal networks")
    assert not early.has("WARNING")

    resolved = api.put(f"/compliance/incidents/{upload_and_tickets['id']}", json={"status": "resolved"},
                       headers=admin_headers)
    assert resolved.status_code == 200, resolved.text
    assert not report(api, admin_headers, "nis2", incident_id=upload_and_tickets["id"], stage="final").has("WARNING")


def test_the_gdpr_endpoint_refuses_what_it_cannot_serve(api, admin_headers, upload_and_tickets):
    incident = upload_and_tickets["id"]
    refused = api.post("/reports/gdpr", json={"incident_id": incident, "stage": "final"}, headers=admin_headers)
    assert refused.status_code == 400 and "stage" in refused.json()["detail"], refused.text
    assert report(api, admin_headers, "gdpr", incident_id=incident, stage="notification").has(
        "GDPR Personal Data Breach Notification")
    for headers in (admin_headers, {**admin_headers, "Content-Type": "application/json"}):
        empty = api.post("/reports/gdpr", headers=headers)
        assert empty.status_code == 400
        assert empty.json() == {"detail": "the request body is missing: send a JSON object"}
