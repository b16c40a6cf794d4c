from __future__ import annotations

import time

import pytest

from appliance.alerts.repository import insert_alert


def add_alert(store, source_ip, dest_ip="198.51.100.7", port=443, rule="C2_BEACON"):
    return insert_alert(
        store.connection(),
        severity="HIGH",
        rule_name=rule,
        source_ip=source_ip,
        dest_ip=dest_ip,
        port=port,
        protocol="TCP",
        score=0.9,
        timestamp=1000,
        shap_json={},
    )


def test_add_list_delete(api, admin_headers):
    created = api.post(
        "/settings/whitelist",
        json={
            "cidr": "10.9.0.7",
            "port": 53,
            "direction": "source",
            "rule_name": "DNS_TUNNELING",
            "comment": "resolver",
            "expires_at": int(time.time()) + 3600,
        },
        headers=admin_headers,
    )
    assert created.status_code == 201
    entry = created.json()
    assert entry["cidr"] == "10.9.0.7/32" and entry["created_by"] == "admin"
    listed = api.get("/settings/whitelist", headers=admin_headers).json()
    assert listed["total"] == 1 and listed["entries"][0]["id"] == entry["id"]
    assert api.delete(f"/settings/whitelist/{entry['id']}", headers=admin_headers).status_code == 200
    assert api.get("/settings/whitelist", headers=admin_headers).json()["total"] == 0
    assert api.delete(f"/settings/whitelist/{entry['id']}", headers=admin_headers).status_code == 404


@pytest.mark.parametrize(
    "body, field",
    [
        ({"cidr": "10.0.0.0/33"}, "cidr"),
        ({"cidr": "not-an-ip"}, "cidr"),
        ({"cidr": "2001:db8::/129"}, "cidr"),
        ({"cidr": "10.0.0.1", "port": 70000}, "port"),
        ({"cidr": "10.0.0.1", "port": -1}, "port"),
        ({"cidr": "10.0.0.1", "comment": "x" * 501}, "comment"),
        ({"cidr": "10.0.0.1", "direction": "up"}, "direction"),
        ({"cidr": "10.0.0.1", "rule_name": "NOPE"}, "rule_name"),
        ({"cidr": "10.0.0.1", "expires_at": 5}, "expires_at"),
        ({"port": 22}, "cidr"),
        ({"cidr": "10.0.0.1", "colour": "red"}, "colour"),
    ],
)
def test_invalid_entries_are_400_naming_the_field(api, admin_headers, body, field):
    response = api.post("/settings/whitelist", json=body, headers=admin_headers)
    assert response.status_code == 400 and field in response.json()["detail"], response.json()
    assert api.get("/settings/whitelist", headers=admin_headers).json()["total"] == 0


def test_ipv6_networks(api, admin_headers):
    response = api.post("/settings/whitelist", json={"cidr": "2001:DB8::1/64"}, headers=admin_headers)
    assert response.status_code == 201 and response.json()["cidr"] == "2001:db8::/64"


def test_adding_an_entry_resolves_matching_open_alerts_only(api, admin_headers, store):
    covered = add_alert(store, "10.7.7.7")
    other_host = add_alert(store, "10.7.8.1")
    other_rule = add_alert(store, "10.7.7.8", rule="PORT_SCAN")
    wrong_direction = add_alert(store, "192.0.2.1", dest_ip="10.7.7.9")
    api.post(
        "/settings/whitelist",
        json={"cidr": "10.7.7.0/24", "direction": "source", "rule_name": "C2_BEACON", "comment": "backup agent"},
        headers=admin_headers,
    )
    status = {
        alert_id: api.get(f"/alerts/{alert_id}", headers=admin_headers).json()
        for alert_id in (covered, other_host, other_rule, wrong_direction)
    }
    assert status[covered]["status"] == "resolved" and "whitelist" in status[covered]["notes"]
    assert [status[a]["status"] for a in (other_host, other_rule, wrong_direction)] == ["open"] * 3
    audit = api.get("/settings/audit-log", headers=admin_headers).json()["entries"][0]
    assert audit["action"] == "whitelist.added" and audit["details"]["alerts_suppressed"] == 1


def test_viewer_cannot_change_the_whitelist(api, store):
    from appliance.auth import users
    from tests.conftest import login

    users.create_user(store, "v", "viewer password", "viewer")
    headers = login(api, "v", "viewer password")
    assert api.get("/settings/whitelist", headers=headers).status_code == 200
    assert api.post("/settings/whitelist", json={"cidr": "10.0.0.1"}, headers=headers).status_code == 403
