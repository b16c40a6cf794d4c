"""Alerts as the engine stores them, for the compliance, report and analytics tests."""

from __future__ import annotations

import json

from appliance.alerts.repository import insert_alert

C2_SHAP = {"base_value": 0.2, "features": {"interval_regularity": 0.41, "bytes_out_ratio": 0.17, "dst_rarity": 0.09,
                                           "duration_s": -0.03}}
C2_EVIDENCE = {"beacons": 48, "interval_s": 60.2, "sni": ["update.bad-example.net"],
               "ja3": "e7d705a3286e19ea42f587b344ee6865"}


def add_alert(connection, *, severity: str = "HIGH", rule_name: str = "PORT_SCAN", source_ip: str = "10.0.0.23",
              dest_ip: str | None = "10.0.0.5", port: int | None = 22, protocol: str | None = "TCP",
              score: float = 0.8, timestamp: int = 1_790_000_000, status: str = "open", shap: dict | None = None,
              evidence: dict | None = None, now: float | None = None) -> str:
    alert_id = insert_alert(connection, severity=severity, rule_name=rule_name, source_ip=source_ip, dest_ip=dest_ip,
                            port=port, protocol=protocol, score=score, timestamp=timestamp, shap_json=shap or {},
                            status=status, now=now)
    if evidence is not None:
        connection.execute("UPDATE alerts SET evidence = ? WHERE id = ?", (json.dumps(evidence), alert_id))
    return alert_id
