from __future__ import annotations

import json
import time

import pytest

from appliance.alerts.repository import insert_alert
from appliance.traces import chain
from tests.notifications.receivers import make_ca, rsyslog_receiver, smtp_server, webhook_receiver


@pytest.fixture(scope="session")
def ca(tmp_path_factory):
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def receiver(ca):
    with webhook_receiver(ca) as started:
        yield started


@pytest.fixture
def starttls_smtp(ca):
    with smtp_server(ca, implicit_tls=False) as started:
        yield started


@pytest.fixture
def rsyslog(ca, tmp_path):
    with rsyslog_receiver(ca, tmp_path / "rsyslog") as started:
        yield started


class AlertMaker:
    """Alerts as the engine leaves them: the alert row and its decision trace, in one transaction."""

    def __init__(self, store) -> None:
        self.store = store
        self.count = 0

    def raise_alert(self, rule: str = "PORT_SCAN", severity: str = "HIGH", *, source: str | None = None,
                    agent: str = "sensor-1", evidence: dict | None = None, now: float | None = None) -> str:
        self.count += 1
        now = time.time() if now is None else now
        source = source or f"10.0.{self.count // 250}.{self.count % 250 + 1}"
        with self.store.write_transaction() as connection:
            alert_id = insert_alert(connection, severity=severity, rule_name=rule, source_ip=source,
                                    dest_ip="10.0.9.9", port=445, protocol="TCP", score=0.91, timestamp=int(now),
                                    shap_json={"features": {"distinct_ports": 1.7, "syn_only_ratio": 0.6}})
            key = f"{rule}:{source}"
            connection.execute("UPDATE alerts SET incident_key = ?, evidence = ?, first_seen = ?, last_seen = ? "
                               "WHERE id = ?", (key, json.dumps(evidence or {}), now - 30, now, alert_id))
            chain.append(connection, self.content("alert_raised", alert_id, rule, severity, source, agent, evidence,
                                                  now))
        return alert_id

    def update_alert(self, alert_id: str, severity: str | None = None, now: float | None = None) -> None:
        now = time.time() if now is None else now
        row = self.store.query_one("SELECT * FROM alerts WHERE id = ?", (alert_id,))
        severity = severity or row["severity"]
        with self.store.write_transaction() as connection:
            connection.execute("UPDATE alerts SET severity = ?, last_seen = ?, updated_at = ? WHERE id = ?",
                               (severity, now, now, alert_id))
            chain.append(connection, self.content("alert_updated", alert_id, row["rule_name"], severity,
                                                  row["source_ip"], "sensor-1", None, now))

    @staticmethod
    def content(outcome, alert_id, rule, severity, source, agent, evidence, now) -> dict:
        return {"outcome": outcome, "rule_name": rule, "rule_version": "1.0.0", "severity": severity,
                "incident_key": f"{rule}:{source}", "alert_id": alert_id, "source_ip": source, "dest_ip": "10.0.9.9",
                "port": 445, "protocol": "TCP", "first_seen": now - 30, "last_seen": now, "score": 0.91,
                "features": {"distinct_ports": 48.0, "syn_only_ratio": 0.97}, "evidence": evidence or {},
                "evidence_flows": [{"src_ip": source, "dst_ip": "10.0.9.9", "src_port": 50123, "dst_port": 445,
                                    "proto": "TCP"}],
                "shap": {"features": {"distinct_ports": 1.7, "syn_only_ratio": 0.6, "duration_s": -0.3}},
                "model": {"version": "test"}, "batch": {"agent_id": agent, "seq": 1}}


@pytest.fixture
def alerts(store) -> AlertMaker:
    return AlertMaker(store)
