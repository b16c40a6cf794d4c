from __future__ import annotations

import pytest

from appliance.alerts.repository import insert_alert
from appliance.auth import users
from tests.conftest import login

SEED_FIELDS = {
    "id",
    "severity",
    "rule_name",
    "source_ip",
    "dest_ip",
    "port",
    "protocol",
    "score",
    "timestamp",
    "status",
    "shap_json",
}


@pytest.fixture
def stored_alerts(store):
    rows = [
        ("HIGH", "PORT_SCAN", "10.0.0.1", 100),
        ("CRITICAL", "C2_BEACON", "10.0.0.2", 300),
        ("HIGH", "PORT_SCAN", "10.0.0.3", 200),
        ("LOW", "NEW_DEVICE", "10.0.0.4", 400),
    ]
    ids = {}
    for severity, rule, source, timestamp in rows:
        ids[source] = insert_alert(
            store.connection(),
            severity=severity,
            rule_name=rule,
            source_ip=source,
            dest_ip="192.0.2.9",
            port=22,
            protocol="TCP",
            score=0.5,
            timestamp=timestamp,
            shap_json={"base_value": 0.1, "features": {"ports": 0.4}, "model_version": "t"},
        )
    return ids


def test_list_is_newest_first_with_exactly_the_seed_fields(api, admin_headers, stored_alerts):
    body = api.get("/alerts/", headers=admin_headers).json()
    assert body["total"] == 4
    assert [alert["timestamp"] for alert in body["alerts"]] == [400, 300, 200, 100]
    assert set(body["alerts"][0]) == SEED_FIELDS
    assert body["alerts"][0]["shap_json"]["features"] == {"ports": 0.4}


def test_filters_and_paging(api, admin_headers, stored_alerts):
    high = api.get("/alerts/", params={"severity": "HIGH"}, headers=admin_headers).json()
    assert high["total"] == 2 and {a["source_ip"] for a in high["alerts"]} == {"10.0.0.1", "10.0.0.3"}
    by_rule = api.get("/alerts/", params={"rule": "C2_BEACON"}, headers=admin_headers).json()
    assert [a["source_ip"] for a in by_rule["alerts"]] == ["10.0.0.2"]
    page = api.get("/alerts/", params={"limit": 1, "offset": 1}, headers=admin_headers).json()
    assert page["total"] == 4 and [a["timestamp"] for a in page["alerts"]] == [300]
    assert api.get("/alerts/", headers=admin_headers).json()["alerts"].__len__() == 4


@pytest.mark.parametrize(
    "params, field",
    [
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"severity": "SEVERE"}, "severity"),
        ({"status": "closed"}, "status"),
        ({"limit": "ten"}, "limit"),
    ],
)
def test_bad_query_parameters_are_400_naming_the_field(api, admin_headers, stored_alerts, params, field):
    response = api.get("/alerts/", params=params, headers=admin_headers)
    assert response.status_code == 400
    assert set(response.json()) == {"detail"} and field in response.json()["detail"]


def test_default_page_is_30(api, admin_headers, store):
    for timestamp in range(35):
        insert_alert(
            store.connection(),
            severity="LOW",
            rule_name="NEW_DEVICE",
            source_ip="10.1.1.1",
            dest_ip=None,
            port=None,
            protocol=None,
            score=0.1,
            timestamp=timestamp,
            shap_json={},
        )
    body = api.get("/alerts/", headers=admin_headers).json()
    assert len(body["alerts"]) == 30 and body["total"] == 35


def test_get_update_and_audit(api, admin_headers, stored_alerts):
    alert_id = stored_alerts["10.0.0.1"]
    assert api.get(f"/alerts/{alert_id}", headers=admin_headers).json()["status"] == "open"
    updated = api.put(
        f"/alerts/{alert_id}", json={"status": "false_positive", "notes": "lab scanner"}, headers=admin_headers
    )
    assert updated.status_code == 200
    assert updated.json()["status"] == "false_positive" and updated.json()["notes"] == "lab scanner"
    assert api.get(f"/alerts/{alert_id}", headers=admin_headers).json()["status"] == "false_positive"
    audit = api.get("/settings/audit-log", headers=admin_headers).json()
    assert audit["entries"][0]["action"] == "alert.updated" and audit["entries"][0]["target"] == alert_id
    assert audit["entries"][0]["details"]["status"] == ["open", "false_positive"]


@pytest.mark.parametrize("body", [{"status": "closed"}, {}, {"status": "open", "colour": "red"}, {"notes": 5}])
def test_invalid_updates_change_nothing(api, admin_headers, stored_alerts, body):
    alert_id = stored_alerts["10.0.0.1"]
    response = api.put(f"/alerts/{alert_id}", json=body, headers=admin_headers)
    assert response.status_code == 400 and set(response.json()) == {"detail"}
    assert api.get(f"/alerts/{alert_id}", headers=admin_headers).json()["status"] == "open"


def test_unknown_alert_is_404(api, admin_headers):
    assert api.get("/alerts/00000000-0000-0000-0000-000000000000", headers=admin_headers).status_code == 404
    response = api.put("/alerts/nope", json={"status": "reviewed"}, headers=admin_headers)
    assert response.status_code == 404 and response.json() == {"detail": "no alert nope"}


def test_viewer_reads_but_cannot_update(api, store, stored_alerts):
    users.create_user(store, "watcher", "a long enough password", "viewer")
    headers = login(api, "watcher", "a long enough password")
    assert api.get("/alerts/", headers=headers).status_code == 200
    response = api.put(f"/alerts/{stored_alerts['10.0.0.1']}", json={"status": "reviewed"}, headers=headers)
    assert response.status_code == 403 and "analyst" in response.json()["detail"]


def test_totals_follow_inserts_updates_and_deletes(api, admin_headers, store, stored_alerts):
    def total(**params):
        return api.get("/alerts/", params=params, headers=admin_headers).json()["total"]

    assert (total(), total(severity="HIGH"), total(status="open", rule="PORT_SCAN")) == (4, 2, 2)
    api.put(f"/alerts/{stored_alerts['10.0.0.1']}", json={"status": "resolved"}, headers=admin_headers)
    assert (total(status="open", rule="PORT_SCAN"), total(status="resolved", severity="HIGH")) == (1, 1)
    store.execute("DELETE FROM alerts WHERE source_ip = '10.0.0.2'")
    assert (total(), total(severity="CRITICAL")) == (3, 0)


def test_detail_carries_the_incident_evidence_and_trace(api, admin_headers, store, stored_alerts):
    alert_id = stored_alerts["10.0.0.1"]
    store.execute(
        "UPDATE alerts SET evidence = '{\"ports\": [22, 23]}', trace_id = 't-1', first_seen = 5, last_seen = 9 "
        "WHERE id = ?", (alert_id,)
    )
    detail = api.get(f"/alerts/{alert_id}", headers=admin_headers).json()
    assert (detail["evidence"], detail["trace_id"], detail["first_seen"], detail["last_seen"]) == (
        {"ports": [22, 23]}, "t-1", 5, 9)
    listed = api.get("/alerts/", headers=admin_headers).json()["alerts"][0]
    assert "evidence" not in listed and "trace_id" not in listed  # the list stays exactly the seed's shape


def test_host_and_time_range_filters_with_their_totals(api, admin_headers, stored_alerts):
    def listed(**params):
        body = api.get("/alerts/", params=params, headers=admin_headers).json()
        return body["total"], [alert["source_ip"] for alert in body["alerts"]]

    assert listed(host="10.0.0.3") == (1, ["10.0.0.3"])
    assert listed(host="192.0.2.9") == (4, ["10.0.0.4", "10.0.0.2", "10.0.0.3", "10.0.0.1"])  # as destination
    assert listed(since=200, until=400) == (2, ["10.0.0.2", "10.0.0.3"])  # until is exclusive
    assert listed(host="192.0.2.9", severity="HIGH", since=150) == (1, ["10.0.0.3"])
    assert listed(host="10.9.9.9") == (0, [])
    assert listed(since=400, until=300) == (0, [])  # an empty range matches nothing: not an error
    response = api.get("/alerts/", params={"since": 2**63}, headers=admin_headers)
    assert response.status_code == 400 and "since" in response.json()["detail"]
