"""The incident register (NIS2 deadlines from awareness) and the GDPR Art.33(5) breach register."""

from __future__ import annotations

import time

import pytest

from tests.compliance.sample_alerts import add_alert

HOUR = 3600


@pytest.fixture
def alerts(store) -> list[str]:
    connection = store.connection()
    return [add_alert(connection, rule_name="C2_BEACON", severity="CRITICAL", dest_ip="185.220.101.4", port=443),
            add_alert(connection, rule_name="DATA_EXFILTRATION", severity="CRITICAL"),
            add_alert(connection, rule_name="PORT_SCAN")]


def open_incident(api, headers, alert_ids, **extra) -> dict:
    response = api.post("/compliance/incidents", json={"title": "C2 on the HMI", "alert_ids": alert_ids, **extra},
                        headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def by_stage(incident: dict) -> dict:
    return {deadline["stage"]: deadline for deadline in incident["deadlines"]}


def test_incident_groups_alerts_and_gets_its_deadlines_from_awareness(api, admin_headers, alerts):
    aware = time.time() - 30 * HOUR
    incident = open_incident(api, admin_headers, alerts[:2], aware_at=aware)
    assert incident["reference"] == f"INC-{time.gmtime().tm_year}-0001"
    assert set(incident["alert_ids"]) == set(alerts[:2])
    stages = by_stage(incident)
    assert stages["early_warning"]["due_at"] == pytest.approx(aware + 24 * HOUR)
    assert stages["early_warning"]["overdue"] and incident["overdue"]
    assert stages["notification"]["due_at"] == pytest.approx(aware + 72 * HOUR)
    assert not stages["notification"]["overdue"]
    assert api.get(f"/compliance/incidents/{incident['id']}", headers=admin_headers).json() == incident


def test_recording_submissions_clears_overdue_and_moves_the_final_deadline(api, admin_headers, alerts):
    aware = time.time() - 30 * HOUR
    incident = open_incident(api, admin_headers, alerts[:1], aware_at=aware)
    sent = aware + 20 * HOUR
    response = api.put(f"/compliance/incidents/{incident['id']}", headers=admin_headers, json={
        "submissions": {"early_warning": sent - 10 * HOUR, "notification": sent}, "status": "contained",
        "add_alert_ids": [alerts[2]], "suspected_malicious": True, "root_cause": "phished VPN credentials"})
    assert response.status_code == 200, response.text
    updated = response.json()
    stages = by_stage(updated)
    assert stages["early_warning"]["state"] == "submitted" and not updated["overdue"]
    assert stages["notification"]["submitted_at"] == sent
    assert stages["final"]["due_at"] > sent + 28 * 86400
    assert set(updated["alert_ids"]) == {alerts[0], alerts[2]}
    assert updated["suspected_malicious"] is True and updated["status"] == "contained"
    audit = api.get("/settings/audit-log", headers=admin_headers).json()["entries"]
    assert [entry["action"] for entry in audit[:2]] == ["incident.updated", "incident.created"]


def test_incident_validation(api, admin_headers, alerts):
    cases = [
        ({"title": "x", "alert_ids": ["nope"]}, 404, "alert_ids"),  # it names an alert that does not exist
        ({"title": "x", "alert_ids": []}, 400, "alert_ids"),
        ({"title": " ", "alert_ids": alerts[:1]}, 400, "title"),
        ({"title": "x", "alert_ids": alerts[:1], "aware_at": time.time() + 86400}, 400, "aware_at"),
        ({"title": "x", "alert_ids": alerts[:1], "severity": "HIGH"}, 400, "severity"),
    ]
    for body, status, field in cases:
        response = api.post("/compliance/incidents", json=body, headers=admin_headers)
        assert response.status_code == status and field in response.json()["detail"], (body, response.text)
    incident = open_incident(api, admin_headers, alerts[:1])
    for body, status, field in [({"status": "done"}, 400, "status"),
                                ({"submissions": {"postcard": 1.0}}, 400, "submissions"),
                                ({"add_alert_ids": ["nope"]}, 404, "alert_ids")]:
        response = api.put(f"/compliance/incidents/{incident['id']}", json=body, headers=admin_headers)
        assert response.status_code == status and field in response.json()["detail"], response.text
    assert api.get("/compliance/incidents/missing", headers=admin_headers).status_code == 404
    assert api.put("/compliance/incidents/missing", json={"status": "closed"}, headers=admin_headers).status_code == 404


def test_incident_list_is_newest_awareness_first(api, admin_headers, alerts):
    older = open_incident(api, admin_headers, alerts[:1], aware_at=time.time() - 5 * 86400)
    newer = open_incident(api, admin_headers, alerts[1:2])
    listed = api.get("/compliance/incidents?limit=10", headers=admin_headers).json()
    assert listed["total"] == 2 and [i["id"] for i in listed["incidents"]] == [newer["id"], older["id"]]
    assert newer["reference"].endswith("-0002")


def breach_body(**overrides) -> dict:
    return {"title": "Customer e-mails exfiltrated", "aware_at": time.time() - 100 * HOUR,
            "nature": "Exfiltration of the CRM export", "data_categories": ["contact details", "billing address"],
            "data_subjects_approx": 1200, "records_approx": 1500, "likely_consequences": "phishing",
            "measures": "passwords reset", "high_risk": False, "notified": True,
            "notified_at": time.time() - 10 * HOUR, "delay_reason": ""} | overrides


def test_every_breach_is_registered_notified_or_not(api, admin_headers, alerts):
    incident = open_incident(api, admin_headers, alerts[:1])
    notified_late = api.post("/compliance/breaches", json=breach_body(incident_id=incident["id"]),
                             headers=admin_headers)
    assert notified_late.status_code == 201, notified_late.text
    breach = notified_late.json()
    assert breach["reference"].startswith("BR-") and breach["late"] and breach["late_without_reason"]
    assert breach["notification_due_at"] == pytest.approx(breach["aware_at"] + 72 * HOUR)
    not_notified = api.post("/compliance/breaches", headers=admin_headers, json=breach_body(
        notified=False, notified_at=None, not_notified_reason="encrypted laptop, key not compromised: no risk"))
    assert not_notified.status_code == 201 and not not_notified.json()["late"]
    fixed = api.put(f"/compliance/breaches/{breach['id']}", headers=admin_headers,
                    json={"delay_reason": "forensics needed to size the breach"})
    assert fixed.status_code == 200 and fixed.json()["late"] and not fixed.json()["late_without_reason"]
    register = api.get("/compliance/breaches", headers=admin_headers).json()
    assert register["total"] == 2
    assert {entry["notified"] for entry in register["breaches"]} == {True, False}


def test_breach_validation_names_the_field(api, admin_headers):
    cases = [
        (breach_body(notified=False, notified_at=None), "not_notified_reason"),
        (breach_body(notified_at=None), "notified_at"),
        (breach_body(notified_at=time.time() - 200 * HOUR), "notified_at"),
        (breach_body(data_subjects_approx=-1), "data_subjects_approx"),
        (breach_body(data_categories=[""]), "data_categories"),
    ]
    for body, field in cases:
        response = api.post("/compliance/breaches", json=body, headers=admin_headers)
        assert response.status_code == 400 and field in response.json()["detail"], (field, response.text)
    unknown_incident = api.post("/compliance/breaches", json=breach_body(incident_id="nope"), headers=admin_headers)
    assert unknown_incident.status_code == 404 and "incident_id" in unknown_incident.json()["detail"]
    created = api.post("/compliance/breaches", json=breach_body(), headers=admin_headers).json()
    response = api.put(f"/compliance/breaches/{created['id']}", json={"notified": False}, headers=admin_headers)
    assert response.status_code == 400 and "not_notified_reason" in response.json()["detail"]
    assert api.get("/compliance/breaches/nope", headers=admin_headers).status_code == 404



def test_breach_limits_are_in_the_schema_and_a_value_outside_them_is_a_400_naming_the_field(api, admin_headers):
    schemas = api.get("/schema/openapi.json").json()["components"]["schemas"]
    for shape in ("BreachIn", "BreachUpdate"):
        fields = schemas[shape]["properties"]
        assert '"minimum": 0' in str(fields["records_approx"]).replace("'", '"'), shape
        assert "maxLength" in str(fields["nature"]) and "maxItems" in str(fields["data_categories"]), shape
    created = api.post("/compliance/breaches", json=breach_body(), headers=admin_headers).json()
    cases = [
        ({"records_approx": -3}, "records_approx: Expected `int` >= 0"),
        ({"nature": "x" * 10_001}, "nature: Expected `str` of length <= 10000"),
        ({"data_categories": ["contact details"] * 51}, "data_categories: Expected `array` of length <= 50"),
        ({"data_categories": ["x" * 101]}, "data_categories[0]: Expected `str` of length <= 100"),
        ({"aware_at": 0}, "aware_at: Expected `float` > 0.0"),
    ]
    for change, detail in cases:
        for response in (api.post("/compliance/breaches", json=breach_body(**change), headers=admin_headers),
                         api.put(f"/compliance/breaches/{created['id']}", json=change, headers=admin_headers)):
            assert response.status_code == 400 and response.json() == {"detail": detail}, (change, response.text)
    unchanged = api.get(f"/compliance/breaches/{created['id']}", headers=admin_headers).json()
    assert unchanged == created
