"""Notes on alerts and incidents as a history: who wrote what, when; never overwritten; roles as in the API."""

from __future__ import annotations

from appliance.alerts.repository import insert_alert
from appliance.auth import users
from tests.conftest import login


def an_alert(store) -> str:
    return insert_alert(store.connection(), severity="HIGH", rule_name="PORT_SCAN", source_ip="10.0.0.7",
                        dest_ip="10.0.0.5", port=None, protocol="TCP", score=0.7, timestamp=1000, shap_json={})


def test_alert_notes_keep_every_author_and_the_latest_is_the_alerts_notes(api, admin_headers, store):
    alert_id = an_alert(store)
    users.create_user(store, "ana", "a long enough password", "analyst")
    analyst = login(api, "ana", "a long enough password")
    first = api.post(f"/alerts/{alert_id}/notes", json={"text": "Scanner of the IT team?"}, headers=analyst)
    assert first.status_code == 201 and first.json()["author"] == "ana"
    changed = api.put(f"/alerts/{alert_id}", json={"notes": "No: not on the list."}, headers=admin_headers)
    assert changed.status_code == 200
    notes = api.get(f"/alerts/{alert_id}/notes", headers=admin_headers).json()["notes"]
    assert [(note["author"], note["text"]) for note in notes] == [
        ("ana", "Scanner of the IT team?"), ("admin", "No: not on the list.")]
    assert notes[0]["written_at"] <= notes[1]["written_at"]
    assert api.get(f"/alerts/{alert_id}", headers=admin_headers).json()["notes"] == "No: not on the list."
    audit = api.get("/settings/audit-log", headers=admin_headers).json()["entries"]
    assert [entry["username"] for entry in audit if entry["action"] == "alert.note_added"] == ["ana"]


def test_incident_notes_and_the_errors(api, admin_headers, store):
    alert_id = an_alert(store)
    incident = api.post("/compliance/incidents", json={"title": "Scan of the PLCs", "alert_ids": [alert_id]},
                        headers=admin_headers).json()
    added = api.post(f"/compliance/incidents/{incident['id']}/notes", json={"text": "CSIRT called at 10:05"},
                     headers=admin_headers)
    assert added.status_code == 201
    listed = api.get(f"/compliance/incidents/{incident['id']}/notes", headers=admin_headers).json()
    assert [note["text"] for note in listed["notes"]] == ["CSIRT called at 10:05"]

    missing = api.post("/compliance/incidents/INC-nope/notes", json={"text": "x"}, headers=admin_headers)
    assert missing.status_code == 404 and missing.json() == {"detail": "no incident INC-nope"}
    assert api.get("/alerts/nope/notes", headers=admin_headers).json() == {"detail": "no alert nope"}
    empty = api.post(f"/alerts/{alert_id}/notes", json={"text": ""}, headers=admin_headers)
    assert empty.status_code == 400 and "text" in empty.json()["detail"]

    users.create_user(store, "watcher", "a long enough password", "viewer")
    viewer = login(api, "watcher", "a long enough password")
    assert api.get(f"/alerts/{alert_id}/notes", headers=viewer).status_code == 200
    refused = api.post(f"/alerts/{alert_id}/notes", json={"text": "hi"}, headers=viewer)
    assert refused.status_code == 403
    assert api.get(f"/alerts/{alert_id}/notes", headers=admin_headers).json()["notes"] == []
