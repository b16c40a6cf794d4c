"""POST /reports/nis2 and /reports/gdpr: every PDF read back with pypdf, item by item."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from appliance.compliance.regimes import load_regime, stage_deadlines
from appliance.reports.content import when
from appliance.traces import chain
from appliance.traces.verify import verify_proof_trail
from tests.compliance.sample_alerts import add_alert
from tests.reports.conftest import ENTITY, SETTINGS, ReadBack, install_license

NIS2 = load_regime("nis2", member_state="ES")
GDPR = load_regime("gdpr")


def report(api, headers, kind: str, **body) -> ReadBack:
    response = api.post(f"/reports/{kind}", json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].endswith('.pdf"')
    return ReadBack(response.content)


def expected_deadlines(case, **overrides) -> dict[str, str]:
    arguments = {"aware_at": case.aware_at, "submissions": {}, "requested_at": None, "ongoing": True,
                 "now": time.time()} | overrides
    return {d.stage: when(d.due_at) for d in stage_deadlines(NIS2, **arguments) if d.due_at is not None}


@pytest.mark.parametrize("stage", [stage.id for stage in NIS2.stages])
def test_nis2_report_holds_every_item_of_its_stage(api, admin_headers, case, stage):
    pdf = report(api, admin_headers, "nis2", alert_id=case.c2, stage=stage)
    title = NIS2.stage(stage).title
    for text in (f"NIS2 {title}", NIS2.stage(stage).article, ENTITY, "Spain (ES)", "drinking water",
                 SETTINGS["csirt_contact"], SETTINGS["entity_contact"], case.incident["reference"],
                 "C2 beaconing and exfiltration from the SCADA HMI", f"Entity became aware {when(case.aware_at)}",
                 "INCIBE-CERT"):
        assert pdf.has(text), (stage, text)
    for item in NIS2.stage(stage).items:
        assert pdf.has(item.label), (stage, item.label)
    for deadline in expected_deadlines(case).values():
        assert pdf.has(deadline)
    # the model's explanation and the detections
    assert pdf.has("interval regularity +0.410") and pdf.has("C2_BEACON") and pdf.has("185.220.101.4:443")
    assert pdf.has("TO COMPLETE")
    assert pdf.metadata.title == f"NIS2 {title} — {case.incident['reference']}"
    assert pdf.metadata.author == "NetSenX appliance"
    assert "Directive (EU) 2022/2555" in pdf.metadata.subject
    assert "NIS2" in pdf.metadata["/Keywords"] and case.incident["reference"] in pdf.metadata["/Keywords"]
    assert abs(pdf.metadata.creation_date.timestamp() - time.time()) < 120
    evidence = pdf.attachment_json()
    assert {alert["id"] for alert in evidence["alerts"]} == {case.c2, case.exfil}
    assert evidence["incident"]["reference"] == case.incident["reference"]


def test_early_warning_prefills_from_the_detections_and_asks_for_the_rest(api, admin_headers, case):
    pdf = report(api, admin_headers, "nis2", alert_id=case.c2)
    assert pdf.has("Detections indicate command-and-control beaconing, data exfiltration.")
    assert pdf.has("Addresses outside the internal networks involved: 185.220.101.4.")
    assert pdf.has("TO COMPLETE: State Yes or No")
    assert pdf.has(f"» Early warning Art. 23(4)(a) 24 h after awareness {expected_deadlines(case)['early_warning']}")


def test_notification_lists_the_indicators_of_compromise(api, admin_headers, case):
    pdf = report(api, admin_headers, "nis2", incident_id=case.incident["id"], stage="notification")
    for indicator in ("C2_BEACON 10.0.0.23 → 185.220.101.4:443/TCP", "domains: update.bad-example.net",
                      "TLS client fingerprints (JA3): e7d705a3286e19ea42f587b344ee6865",
                      "Highest detected severity: CRITICAL"):
        assert pdf.has(indicator), indicator
    for count in ("beacons", "bytes_out", "interval_s"):  # how the rule measured, not what to look for
        assert not pdf.has(count), count


def test_what_the_admin_recorded_replaces_the_to_complete_boxes(api, admin_headers, case):
    sent = case.aware_at + 3600
    update = {"suspected_malicious": True, "cross_border": False, "description": "Beaconing HMI workstation.",
              "impact": "Telemetry of 3 pumping stations unavailable for 2 h.", "root_cause": "Phished VPN account.",
              "mitigation": "Account disabled; HMI reimaged.", "status": "resolved",
              "submissions": {"early_warning": sent, "notification": sent + 60}}
    assert api.put(f"/compliance/incidents/{case.incident['id']}", json=update,
                   headers=admin_headers).status_code == 200
    pdf = report(api, admin_headers, "nis2", alert_id=case.exfil, stage="final")
    for text in ("Phished VPN account.", "Account disabled; HMI reimaged.", "Beaconing HMI workstation.",
                 "Impact: Telemetry of 3 pumping stations unavailable for 2 h.", f"submitted {when(sent)}",
                 f"Final report Art. 23(4)(d) 1 month after the incident notification "
                 f"{expected_deadlines(case, submissions={'notification': sent + 60})['final']}"):
        assert pdf.has(text), text
    assert not pdf.has("TO COMPLETE: State the root cause")
    assert not pdf.has("TO COMPLETE: List the mitigation")
    assert pdf.has("Progress report Art. 23(4)(e)") and pdf.has("not applicable")  # resolved: no progress report


def test_an_alert_outside_any_incident_is_reported_on_its_own(api, admin_headers, case):
    pdf = report(api, admin_headers, "nis2", alert_id=case.lone, stage="early_warning")
    assert pdf.has(f"ALERT-{case.lone[:8]}") and pdf.has("(assumed: the first detection)")
    assert pdf.has("TO COMPLETE: These alerts are not grouped into an incident yet")
    assert [alert["id"] for alert in pdf.attachment_json()["alerts"]] == [case.lone]


def test_gdpr_report_from_the_breach_register(api, admin_headers, case):
    breach = {"title": "SCADA operator contacts exfiltrated", "aware_at": case.aware_at,
              "incident_id": case.incident["id"], "nature": "Export of the operator directory sent to 185.220.101.4",
              "data_categories": ["names", "phone numbers"], "data_subjects_approx": 84, "records_approx": 84,
              "likely_consequences": "Targeted phishing of operators.", "measures": "Operators warned; MFA enforced.",
              "high_risk": True, "notified": True, "notified_at": case.aware_at + 7200}
    assert api.post("/compliance/breaches", json=breach, headers=admin_headers).status_code == 201
    pdf = report(api, admin_headers, "gdpr", alert_id=case.c2)
    for item in GDPR.stage("notification").items:
        assert pdf.has(item.label), item.label
    for text in ("GDPR Personal Data Breach Notification", ENTITY, SETTINGS["dpo_contact"],
                 SETTINGS["authority_contact"], "Export of the operator directory sent to 185.220.101.4",
                 "Categories of personal data: names, phone numbers.",
                 "Data subjects: approx. 84; Records: approx. 84.",
                 "Targeted phishing of operators.", "Operators warned; MFA enforced.",
                 "Not applicable: within the deadline", "High risk: Art. 34 requires informing the data subjects",
                 when(case.aware_at + 72 * 3600), "Art. 33(4)"):
        assert pdf.has(text), text
    assert pdf.metadata.title.startswith("GDPR Personal Data Breach Notification")
    assert "GDPR" in pdf.metadata["/Keywords"]
    assert pdf.attachment_json()["report"]["kind"] == "gdpr"


def test_gdpr_report_without_a_breach_record_marks_what_is_missing(api, admin_headers, case):
    pdf = report(api, admin_headers, "gdpr", incident_id=case.incident["id"])
    assert pdf.has("TO COMPLETE: Describe the breach") and pdf.has("TO COMPLETE: Describe the likely consequences")
    assert pdf.has(SETTINGS["dpo_contact"])


def test_the_proof_trail_of_the_decision_traces_is_attached_and_verifies(store, api, admin_headers, case):
    connection = store.connection()
    box_key = Ed25519PrivateKey.generate()
    with store.write_transaction():
        for outcome in ("alert_raised", "alert_updated"):
            chain.append(connection, {"outcome": outcome, "rule_name": "C2_BEACON", "incident_key": "k1",
                                      "alert_id": case.c2, "source_ip": "10.0.0.23", "dest_ip": "185.220.101.4",
                                      "score": 0.93, "evidence": {"beacons": 48}})
        chain.checkpoint(connection, box_key, "box-1")
    pdf = report(api, admin_headers, "nis2", alert_id=case.c2)
    assert pdf.has("2 decision trace(s)")
    [trails] = pdf.attachment_json()["proof_trails"]
    assert trails["alert_id"] == case.c2 and len(trails["trails"]) == 2
    for trail in trails["trails"]:
        assert verify_proof_trail(trail) == []


def test_the_pdf_embeds_dejavu_so_any_name_renders(api, admin_headers, case):
    pdf = report(api, admin_headers, "nis2", alert_id=case.c2)
    assert any("DejaVu" in font for font in pdf.fonts())
    assert pdf.has("Łódź")


def test_every_page_renders_with_the_title_band_and_ink(api, admin_headers, case, tmp_path):
    response = api.post("/reports/nis2", json={"alert_id": case.c2, "stage": "final"}, headers=admin_headers)
    assert shutil.which("pdftoppm"), "rasterising needs poppler-utils (apt-get install poppler-utils)"
    (tmp_path / "report.pdf").write_bytes(response.content)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(tmp_path / "report.pdf"), str(tmp_path / "page")], check=True)
    pages = [Image.open(path).convert("RGB") for path in sorted(tmp_path.glob("page-*.png"))]
    assert len(pages) == len(ReadBack(response.content).reader.pages) >= 2
    assert pages[0].getpixel((5, 5)) == (22, 43, 72)  # the navy title band
    for page in pages:
        ink = int((np.asarray(page, dtype=np.int32).sum(axis=2) < 600).sum())
        assert ink > 0.005 * page.width * page.height  # no blank or near-blank page


def test_bad_requests(api, admin_headers, case):
    cases = [
        ({"alert_id": "no-such-alert"}, 404, "no alert no-such-alert"),
        ({"incident_id": "no-such-incident"}, 404, "no incident no-such-incident"),
        ({"alert_id": case.c2, "stage": "postcard"}, 400, "stage"),
        ({}, 400, "alert_id"),
        ({"alert_id": case.c2, "incident_id": case.incident["id"]}, 400, "exactly one"),
        ({"alert_id": case.c2, "format": "docx"}, 400, "format"),
    ]
    for body, status, detail in cases:
        response = api.post("/reports/nis2", json=body, headers=admin_headers)
        assert response.status_code == status and detail in response.json()["detail"], (body, response.text)
    assert api.post("/reports/gdpr", json={"alert_id": "nope"}, headers=admin_headers).status_code == 404


def test_reports_are_audited(api, admin_headers, case):
    report(api, admin_headers, "gdpr", alert_id=case.c2)
    [entry] = [e for e in api.get("/settings/audit-log", headers=admin_headers).json()["entries"]
               if e["action"] == "report.generated"]
    assert entry["target"] == case.incident["reference"] and entry["details"]["kind"] == "gdpr"


def test_no_license_or_a_locked_one_answers_423(store, api, admin_headers, vendor_key):
    alert = add_alert(store.connection())
    response = api.post("/reports/nis2", json={"alert_id": alert}, headers=admin_headers)
    assert response.status_code == 423 and "locked" in response.json()["detail"]
    install_license(store, vendor_key, expires_in_days=-60)  # expired beyond the grace period
    for kind in ("nis2", "gdpr"):
        response = api.post(f"/reports/{kind}", json={"alert_id": alert}, headers=admin_headers)
        assert response.status_code == 423 and "locked" in response.json()["detail"]


def test_the_reports_made_from_an_incident_are_listed_with_it(api, admin_headers, case):
    incident_path = f"/compliance/incidents/{case.incident['id']}"
    assert api.get(incident_path, headers=admin_headers).json()["reports"] == []
    early = api.post("/reports/nis2", json={"alert_id": case.c2}, headers=admin_headers)  # via its alert
    final = api.post("/reports/nis2", json={"incident_id": case.incident["id"], "stage": "final"},
                     headers=admin_headers)
    assert early.status_code == final.status_code == 200
    listed = api.get(incident_path, headers=admin_headers).json()["reports"]
    assert [(item["kind"], item["title"]) for item in listed] == [("nis2", "NIS2 Final report"),
                                                                   ("nis2", "NIS2 Early warning")]
    assert listed[0]["sha256"] == hashlib.sha256(final.content).hexdigest()
    assert listed[1]["sha256"] == hashlib.sha256(early.content).hexdigest()
    assert listed[0]["generated_by"] == "admin"
