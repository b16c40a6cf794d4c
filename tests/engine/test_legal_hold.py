"""Legal holds (issue 12): an incident under hold keeps its traces, flows and packets through retention until an
admin releases it; who, when and why are in the incident and the audit log; the chains still verify."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest

from appliance.audit.log import verify_chain
from appliance.auth import users
from appliance.evidence import packets, retention
from appliance.evidence.retention import DAY, RetentionSettings
from appliance.traces.chain import proof_trail
from appliance.traces.verify import verify_proof_trail
from tests.conftest import ADMIN_PASSWORD, PCAPS, login

TSHARK = shutil.which("tshark")
EVERYTHING_OLD = RetentionSettings(flows_days=1, traces_days=1)


def evidence_uids(store, alert_id: str) -> set[str]:
    return {uid for row in store.query("SELECT content FROM decision_traces WHERE alert_id = ?", (alert_id,))
            for uid in json.loads(row["content"]).get("evidence_flow_uids", [])}


@pytest.fixture
def closed_incident(store, analyse, api, admin_headers):
    """A handled (closed) incident of the first alert with evidence flows, after three other captures' alerts."""
    for name in ["ftp-cleartext-login.pcap", "kerberoast.pcap", "dns-tunnel-txt.pcap", "modbus.pcap"]:
        analyse(PCAPS / name)
    alert_id = store.query_one("SELECT alert_id FROM decision_traces WHERE alert_id IS NOT NULL "
                               "AND content LIKE '%\"evidence_flows\":[{%' ORDER BY seq LIMIT 1")["alert_id"]
    incident = api.post("/compliance/incidents", headers=admin_headers,
                        json={"title": "credentials in clear", "alert_ids": [alert_id], "aware_at": time.time()})
    assert incident.status_code == 201, incident.text
    incident_id = incident.json()["id"]
    api.put(f"/compliance/incidents/{incident_id}", json={"status": "closed"}, headers=admin_headers)
    return incident_id, alert_id


def test_a_held_incident_keeps_its_evidence_until_released(store, api, admin_headers, closed_incident, tmp_path):
    incident_id, alert_id = closed_incident
    path = f"/compliance/incidents/{incident_id}/legal-hold"
    users.create_user(store, "hunter", ADMIN_PASSWORD, "analyst")
    assert api.put(path, json={"held": True, "reason": "police request"},
                   headers=login(api, "hunter")).status_code == 403
    blank = api.put(path, json={"held": True, "reason": "  "}, headers=admin_headers)
    assert blank.status_code == 400 and "reason" in blank.json()["detail"]
    assert api.put("/compliance/incidents/nope/legal-hold", json={"held": True, "reason": "x"},
                   headers=admin_headers).status_code == 404

    placed = api.put(path, json={"held": True, "reason": "public prosecutor's request 2026/41"}, headers=admin_headers)

    assert placed.status_code == 200, placed.text
    hold = api.get(f"/compliance/incidents/{incident_id}", headers=admin_headers).json()["legal_hold"]
    assert hold["reason"] == "public prosecutor's request 2026/41" and hold["placed_by"] == "admin"
    assert abs(hold["placed_at"] - time.time()) < 60
    audit = api.get("/settings/audit-log", headers=admin_headers).json()["entries"]
    entry = next(entry for entry in audit if entry["action"] == "incident.legal_hold_placed")
    assert entry["target"] == incident_id and entry["details"]["reason"] == hold["reason"]
    assert entry["details"]["packets_preserved"] > 0

    uids = evidence_uids(store, alert_id)
    traces_of_alert = {row["id"] for row in store.query("SELECT id FROM decision_traces WHERE alert_id = ?",
                                                        (alert_id,))}
    shutil.rmtree(packets.ring_directory(store, "local"))  # the ring moved on: every packet of the time is gone
    retention.prune(store, EVERYTHING_OLD, now=time.time() + 400 * DAY)

    kept_uids = {row["uid"] for row in store.query("SELECT uid FROM flow_log")}
    assert uids and kept_uids == uids  # the held incident's flows stay, every other one went
    assert {row["id"] for row in store.query("SELECT id FROM decision_traces WHERE alert_id = ?",
                                             (alert_id,))} == traces_of_alert
    for row in store.query("SELECT id FROM decision_traces"):
        assert verify_proof_trail(proof_trail(store.connection(), row["id"])) == []
    assert verify_chain(store)[0]
    download = api.get(f"/compliance/incidents/{incident_id}/pcap", headers=admin_headers)
    assert download.status_code == 200, download.text
    assert download.headers["x-content-sha256"] == entry["details"]["packets_sha256"]
    if TSHARK:
        pcap = tmp_path / "held.pcap"
        pcap.write_bytes(download.content)
        read = subprocess.run([TSHARK, "-r", str(pcap)], capture_output=True, text=True, check=True).stdout
        assert len(read.splitlines()) == entry["details"]["packets_preserved"]

    released = api.put(path, json={"held": False, "reason": "case closed by the court"}, headers=admin_headers)
    assert released.status_code == 200 and released.json()["legal_hold"] is None
    audit = api.get("/settings/audit-log", headers=admin_headers).json()["entries"]
    entry = next(entry for entry in audit if entry["action"] == "incident.legal_hold_released")
    assert entry["details"] == {"reason": "case closed by the court", "was_held": True}
    retention.prune(store, EVERYTHING_OLD, now=time.time() + 400 * DAY)
    assert store.query_one("SELECT count(*) AS n FROM flow_log")["n"] == 0
    # only the chain's head stays: the trace naming the pcap downloaded above
    assert [row["outcome"] for row in store.query("SELECT outcome FROM decision_traces WHERE alert_id = ?",
                                                  (alert_id,))] == ["packets_downloaded"]
    assert api.get(f"/compliance/incidents/{incident_id}/pcap", headers=admin_headers).status_code == 404
