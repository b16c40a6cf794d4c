"""GET /devices: the hosts the engine logged flows for, with first and last seen, role and alerts."""

from __future__ import annotations

from appliance.alerts.repository import insert_alert
from appliance.evidence.flow_log import record_batch
from sensor.records import Batch, Flow


def flow(uid: str, src: str, dst: str, at: float) -> Flow:
    return Flow(uid=uid, ts_start=at, ts_end=at + 1, proto="TCP", src_ip=src, dst_ip=dst, src_port=40000,
                dst_port=443)


def log_flows(store, *flows: Flow) -> None:
    with store.write_transaction() as connection:
        record_batch(connection, 1, Batch(agent_id="plant-mirror", seq=1, sent_at=0, flows=list(flows)))


def test_inventory_of_internal_hosts_with_roles_and_alerts(api, admin_headers, store):
    assert api.put("/settings/site", json={"dns_resolvers": ["10.0.0.53"], "gateway_ips": ["10.0.0.1"]},
                   headers=admin_headers).status_code == 200
    log_flows(store, flow("a", "10.0.0.20", "203.0.113.9", 1000), flow("b", "10.0.0.20", "10.0.0.53", 1500),
              flow("c", "10.0.0.21", "10.0.0.53", 1200))
    log_flows(store, flow("d", "10.0.0.20", "10.0.0.1", 900))  # a later batch with an earlier flow
    insert_alert(store.connection(), severity="HIGH", rule_name="PORT_SCAN", source_ip="10.0.0.20",
                 dest_ip="10.0.0.53", port=None, protocol="TCP", score=0.7, timestamp=1500, shap_json={})

    body = api.get("/devices/", headers=admin_headers).json()
    assert body["total"] == 4 and [device["ip"] for device in body["devices"]] == [
        "10.0.0.20", "10.0.0.53", "10.0.0.21", "10.0.0.1"]  # latest seen first; the internet peer is left out
    workstation, resolver = body["devices"][0], body["devices"][1]
    assert (workstation["first_seen"], workstation["last_seen"]) == (900, 1500)
    assert (workstation["flows_started"], workstation["flows_answered"]) == (3, 0)
    assert (workstation["alerts"], workstation["open_alerts"]) == (1, 1) and workstation["risk_score"] > 0
    assert resolver["roles"] == ["DNS resolver"] and resolver["flows_answered"] == 2 and resolver["alerts"] == 0
    assert body["devices"][3]["roles"] == ["Gateway"]

    everything = api.get("/devices/", params={"include_peers": "true"}, headers=admin_headers).json()
    peer = next(device for device in everything["devices"] if device["ip"] == "203.0.113.9")
    assert everything["total"] == 5 and peer["internal"] is False
    searched = api.get("/devices/", params={"search": "10.0.0.2", "limit": 1}, headers=admin_headers).json()
    assert searched["total"] == 2 and [device["ip"] for device in searched["devices"]] == ["10.0.0.20"]
    refused = api.get("/devices/", params={"limit": 0}, headers=admin_headers)
    assert refused.status_code == 400 and "limit" in refused.json()["detail"]
