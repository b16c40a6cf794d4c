"""GET /analytics/*: right on the edge cases, and the trigger-kept roll-ups always agree with the alerts."""

from __future__ import annotations

import random
import time

import pytest

from appliance.alerts.repository import update_alert
from appliance.analytics import queries
from appliance.store import keys
from appliance.store.connection import open_encrypted
from appliance.store.migrations import latest_version, migrate
from tests.compliance.sample_alerts import add_alert

DAY = 86400
TODAY = int(time.time()) // DAY * DAY


def get(api, headers, path: str) -> dict:
    response = api.get(f"/analytics/{path}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_an_empty_box(api, admin_headers):
    assert get(api, admin_headers, "summary") == {
        "total_alerts": 0, "open_alerts": 0, "triaged_alerts": 0, "false_positives": 0, "false_positive_rate": None,
        "responded_alerts": 0, "average_response_seconds": None}
    series = get(api, admin_headers, "alerts-over-time?days=7")["series"]
    assert len(series) == 7 and all(day["total"] == 0 for day in series)
    assert series[-1]["date"] == time.strftime("%Y-%m-%d", time.gmtime())
    distribution = get(api, admin_headers, "severity-distribution")
    assert distribution["total"] == 0 and [s["count"] for s in distribution["severities"]] == [0, 0, 0, 0]
    assert get(api, admin_headers, "top-rules")["rules"] == []
    assert get(api, admin_headers, "device-risk") == {"devices": []}


def test_one_day_window_counts_only_today_and_zero_fills(store, api, admin_headers):
    connection = store.connection()
    add_alert(connection, severity="HIGH", timestamp=TODAY + 10)
    add_alert(connection, severity="LOW", rule_name="NEW_DEVICE", timestamp=TODAY + 20)
    add_alert(connection, severity="HIGH", timestamp=TODAY - 2 * DAY)
    [today] = get(api, admin_headers, "alerts-over-time?days=1")["series"]
    assert today["total"] == 2 and today["by_severity"] == {"CRITICAL": 0, "HIGH": 1, "MEDIUM": 0, "LOW": 1}
    week = get(api, admin_headers, "alerts-over-time?days=7")["series"]
    assert [day["total"] for day in week] == [0, 0, 0, 0, 1, 0, 2]


def test_all_false_positives(store, api, admin_headers):
    connection = store.connection()
    for n in range(4):
        add_alert(connection, source_ip=f"10.0.0.{n}", status="false_positive")
    summary = get(api, admin_headers, "summary")
    assert summary["false_positive_rate"] == 1.0 and summary["triaged_alerts"] == 4 and summary["open_alerts"] == 0
    # false positives carry no risk
    assert get(api, admin_headers, "device-risk")["devices"] == []
    assert get(api, admin_headers, "top-rules")["rules"] == [{"rule_name": "PORT_SCAN", "count": 4, "open": 0}]


def test_response_time_is_alert_to_first_review(store, api, admin_headers):
    connection = store.connection()
    first = add_alert(connection, now=1000.0)
    second = add_alert(connection, now=2000.0)
    add_alert(connection, now=3000.0)  # never looked at: not in the average
    update_alert(connection, first, status="reviewed", notes=None, now=1060.0)
    update_alert(connection, first, status="resolved", notes=None, now=5000.0)  # only the first response counts
    update_alert(connection, second, status="false_positive", notes=None, now=2180.0)
    summary = get(api, admin_headers, "summary")
    assert summary["responded_alerts"] == 2 and summary["average_response_seconds"] == 120.0
    assert summary["false_positive_rate"] == 0.5 and summary["total_alerts"] == 3


def test_device_risk_ranks_devices_and_explains_the_score(store, api, admin_headers):
    connection = store.connection()
    for _ in range(3):
        add_alert(connection, source_ip="10.0.0.9", severity="CRITICAL", rule_name="C2_BEACON")
    add_alert(connection, source_ip="10.0.0.9", severity="LOW", rule_name="NEW_DEVICE", status="resolved")
    add_alert(connection, source_ip="10.0.0.4", severity="HIGH", rule_name="PORT_SCAN")
    devices = get(api, admin_headers, "device-risk?limit=5")["devices"]
    assert [device["device"] for device in devices] == ["10.0.0.9", "10.0.0.4"]
    top = devices[0]
    assert top["points"] == 31 and top["risk_score"] == queries.risk_score(31) == 46
    assert top["open_alerts"] == 3 and top["alerts"] == 4
    assert top["top_rules"][0] == {"rule_name": "C2_BEACON", "count": 3}
    assert top["drivers"][0] == "3 critical alerts (+30 points)" and "3 still open" in top["drivers"]


def test_top_rules_limit_and_bad_parameters(store, api, admin_headers):
    connection = store.connection()
    for rule, count in (("C2_BEACON", 3), ("PORT_SCAN", 2), ("NEW_DEVICE", 1)):
        for _ in range(count):
            add_alert(connection, rule_name=rule)
    assert [r["rule_name"] for r in get(api, admin_headers, "top-rules?limit=2")["rules"]] == ["C2_BEACON", "PORT_SCAN"]
    for path in ("top-rules?limit=0", "top-rules?limit=101", "alerts-over-time?days=0", "alerts-over-time?days=x",
                 "device-risk?limit=1000"):
        response = api.get(f"/analytics/{path}", headers=admin_headers)
        assert response.status_code == 400 and response.json()["detail"], path


def brute_force(connection) -> dict:
    """The same answers computed the slow way, straight from the alerts."""
    def rows(sql):
        return sorted(connection.execute(sql).fetchall())

    return {
        "daily": rows("SELECT timestamp / 86400, severity, count(*) FROM alerts GROUP BY 1, 2"),
        "response": rows("SELECT count(*), coalesce(round(sum(first_response_at - created_at), 3), 0) FROM alerts "
                         "WHERE first_response_at IS NOT NULL"),
        "devices": rows("SELECT source_ip, sum(severity = 'CRITICAL' AND status <> 'false_positive'), "
                        "sum(severity = 'HIGH' AND status <> 'false_positive'), "
                        "sum(severity = 'MEDIUM' AND status <> 'false_positive'), "
                        "sum(severity = 'LOW' AND status <> 'false_positive'), sum(status = 'false_positive'), "
                        "sum(status = 'open') FROM alerts GROUP BY 1"),
        "rules": rows("SELECT source_ip, rule_name, count(*) FROM alerts WHERE status <> 'false_positive' "
                      "GROUP BY 1, 2"),
    }


def rollups(connection) -> dict:
    def rows(sql):
        return sorted(connection.execute(sql).fetchall())

    return {
        "daily": rows("SELECT day, severity, n FROM alert_daily_counts WHERE n > 0"),
        "response": rows("SELECT responded, round(seconds, 3) FROM alert_response_totals"),
        "devices": rows("SELECT source_ip, critical, high, medium, low, false_positives, open_alerts FROM device_risk "
                        "WHERE critical + high + medium + low + false_positives > 0"),
        "rules": rows("SELECT source_ip, rule_name, n FROM device_rule_counts WHERE n > 0"),
    }


def test_rollups_agree_with_the_alerts_through_inserts_updates_and_deletes(store):
    connection = store.connection()
    rng = random.Random(7)
    severities = ["CRITICAL", "HIGH", "MEDIUM", "LOW"]
    statuses = ["open", "reviewed", "resolved", "false_positive"]
    ids = []
    for n in range(300):
        ids.append(add_alert(connection, severity=rng.choice(severities), rule_name=rng.choice(["A", "B", "C"]),
                             source_ip=f"10.0.0.{rng.randrange(8)}", timestamp=TODAY - rng.randrange(5) * DAY,
                             status=rng.choice(statuses), now=1000.0 + n))
    for alert_id in rng.sample(ids, 120):
        update_alert(connection, alert_id, status=rng.choice(statuses), notes=None, now=5000.0 + rng.random() * 100)
    for alert_id in rng.sample(ids, 40):
        connection.execute("UPDATE alerts SET severity = ?, source_ip = ?, timestamp = timestamp - 86400 WHERE id = ?",
                           (rng.choice(severities), f"10.0.1.{rng.randrange(3)}", alert_id))
    connection.execute("UPDATE alerts SET score = 0.99 WHERE rowid % 7 = 0")  # the engine re-scoring: no effect
    for alert_id in rng.sample(ids, 50):
        connection.execute("DELETE FROM alerts WHERE id = ?", (alert_id,))
    assert rollups(connection) == brute_force(connection)


@pytest.mark.parametrize("start", [3, latest_version() - 1])
def test_migration_backfills_the_rollups_from_existing_alerts(tmp_path, start):
    connection = open_encrypted(tmp_path / "old.db", keys.generate_key())
    migrate(connection, target=start)
    for n, (severity, status) in enumerate([("HIGH", "open"), ("HIGH", "false_positive"), ("CRITICAL", "reviewed")]):
        connection.execute(
            "INSERT INTO alerts (id, severity, rule_name, source_ip, score, timestamp, status, created_at, updated_at, "
            "first_response_at) VALUES (?, ?, 'PORT_SCAN', '10.0.0.1', 0.5, ?, ?, 100, 100, ?)",
            (f"a{n}", severity, TODAY + n, status, None if status == "open" else 160))
    migrate(connection)
    assert rollups(connection) == brute_force(connection)
    assert queries.summary(connection).average_response_seconds == 60.0
    assert queries.device_risk(connection, 5).devices[0].points == 15


def test_alerts_per_hour_by_severity_with_quiet_hours(api, admin_headers, store):
    if time.time() % 3600 > 3590:  # the hour must not turn between seeding and asking
        time.sleep(11)
    this_hour = int(time.time()) // 3600 * 3600
    connection = store.connection()
    for severity, at in (("CRITICAL", this_hour + 1), ("LOW", this_hour + 2), ("HIGH", this_hour - 3600 * 2 + 5),
                         ("HIGH", this_hour - 3600 * 5)):  # the last one is before the window
        add_alert(connection, severity=severity, timestamp=at)
    body = get(api, admin_headers, "alerts-per-hour?hours=3")
    assert [(hour["hour_start"], hour["total"]) for hour in body["series"]] == [
        (this_hour - 7200, 1), (this_hour - 3600, 0), (this_hour, 2)]
    assert body["series"][0]["by_severity"] == {"CRITICAL": 0, "HIGH": 1, "MEDIUM": 0, "LOW": 0}
    assert body["series"][2]["by_severity"]["CRITICAL"] == 1
    assert api.get("/analytics/alerts-per-hour", params={"hours": 0}, headers=admin_headers).status_code == 400
