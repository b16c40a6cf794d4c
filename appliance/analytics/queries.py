"""Analytics answers read from the trigger-kept roll-ups (migrations 0003 and 0006), never by scanning
the alerts: each costs a handful of rows whether the box holds a thousand alerts or a million."""

from __future__ import annotations

import math
import time

import msgspec

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
SECONDS_PER_DAY = 86400
SECONDS_PER_HOUR = 3600
# A device's risk score is 100 * (1 - e^(-points / RISK_SCALE)): one critical alert (10 points) gives 18,
# five give 63, and the score approaches 100 without ever needing a cap.
RISK_SCALE = 50.0
# The same weights as the generated column device_risk.points (migration 0006).
SEVERITY_POINTS = {"CRITICAL": 10, "HIGH": 5, "MEDIUM": 2, "LOW": 1}
RULES_PER_DEVICE = 3


class Summary(msgspec.Struct):
    total_alerts: int
    open_alerts: int
    triaged_alerts: int                    # reviewed, resolved or false_positive
    false_positives: int
    false_positive_rate: float | None      # false positives / triaged; None until something is triaged
    responded_alerts: int
    average_response_seconds: float | None  # alert stored -> first status change; None until one responded


class DayCount(msgspec.Struct):
    date: str                              # YYYY-MM-DD, UTC
    total: int
    by_severity: dict[str, int]


class AlertsOverTime(msgspec.Struct):
    days: int
    series: list[DayCount]


class HourCount(msgspec.Struct):
    hour_start: int                        # Unix seconds, on the hour
    total: int
    by_severity: dict[str, int]


class AlertsPerHour(msgspec.Struct):
    hours: int
    series: list[HourCount]                # oldest first, every hour present (zero when quiet)


class SeverityCount(msgspec.Struct):
    severity: str
    count: int
    share: float                           # of all alerts, 0..1


class SeverityDistribution(msgspec.Struct):
    total: int
    severities: list[SeverityCount]


class RuleCount(msgspec.Struct):
    rule_name: str
    count: int
    open: int


class TopRules(msgspec.Struct):
    rules: list[RuleCount]


class DeviceRule(msgspec.Struct):
    rule_name: str
    count: int


class DeviceRisk(msgspec.Struct):
    device: str                            # the source IP the alerts name
    risk_score: int                        # 0..100
    points: int                            # 10 per critical, 5 per high, 2 per medium, 1 per low alert
    alerts: int                            # not counting false positives
    open_alerts: int
    false_positives: int
    by_severity: dict[str, int]
    top_rules: list[DeviceRule]
    last_seen: int
    drivers: list[str]                     # why the score is what it is, biggest contribution first


class DeviceRiskList(msgspec.Struct):
    devices: list[DeviceRisk]  # riskiest first


def summary(connection) -> Summary:
    by_status = dict(connection.execute("SELECT status, sum(n) FROM alert_counts GROUP BY status").fetchall())
    total = sum(by_status.values())
    false_positives = by_status.get("false_positive", 0)
    triaged = total - by_status.get("open", 0)
    responded, seconds = connection.execute("SELECT responded, seconds FROM alert_response_totals").fetchall()[0]
    return Summary(
        total_alerts=total, open_alerts=by_status.get("open", 0), triaged_alerts=triaged,
        false_positives=false_positives, false_positive_rate=round(false_positives / triaged, 4) if triaged else None,
        responded_alerts=responded, average_response_seconds=round(seconds / responded, 1) if responded else None,
    )


def alerts_over_time(connection, days: int, now: float | None = None) -> AlertsOverTime:
    """The last `days` UTC days up to and including today, every day present (zero when quiet)."""
    today = int(time.time() if now is None else now) // SECONDS_PER_DAY
    first = today - days + 1
    counts: dict[int, dict[str, int]] = {}
    for day, severity, n in connection.execute(
            "SELECT day, severity, n FROM alert_daily_counts WHERE day BETWEEN ? AND ? AND n > 0", (first, today)):
        counts.setdefault(day, {})[severity] = n
    series = []
    for day in range(first, today + 1):
        by_severity = {severity: counts.get(day, {}).get(severity, 0) for severity in SEVERITIES}
        series.append(DayCount(date=time.strftime("%Y-%m-%d", time.gmtime(day * SECONDS_PER_DAY)),
                               total=sum(by_severity.values()), by_severity=by_severity))
    return AlertsOverTime(days=days, series=series)


def alerts_per_hour(connection, hours: int, now: float | None = None) -> AlertsPerHour:
    """The last `hours` hours up to and including the current one, by the severity each alert has now. Counted
    from the alerts themselves (their time index bounds the scan to the window asked)."""
    current = int(time.time() if now is None else now) // SECONDS_PER_HOUR
    first = current - hours + 1
    counts: dict[int, dict[str, int]] = {}
    for hour, severity, n in connection.execute(
            "SELECT timestamp / ? AS hour, severity, count(*) FROM alerts WHERE timestamp >= ? "
            "GROUP BY hour, severity", (SECONDS_PER_HOUR, first * SECONDS_PER_HOUR)):
        if hour <= current:
            counts.setdefault(hour, {})[severity] = n
    series = []
    for hour in range(first, current + 1):
        by_severity = {severity: counts.get(hour, {}).get(severity, 0) for severity in SEVERITIES}
        series.append(HourCount(hour_start=hour * SECONDS_PER_HOUR, total=sum(by_severity.values()),
                                by_severity=by_severity))
    return AlertsPerHour(hours=hours, series=series)


def severity_distribution(connection) -> SeverityDistribution:
    counts = dict(connection.execute("SELECT severity, sum(n) FROM alert_counts GROUP BY severity").fetchall())
    total = sum(counts.values())
    return SeverityDistribution(total=total, severities=[
        SeverityCount(severity, counts.get(severity, 0), round(counts.get(severity, 0) / total, 4) if total else 0.0)
        for severity in SEVERITIES
    ])


def top_rules(connection, limit: int) -> TopRules:
    rows = connection.execute(
        "SELECT rule_name, sum(n) AS total, sum(CASE WHEN status = 'open' THEN n ELSE 0 END) FROM alert_counts "
        "GROUP BY rule_name HAVING total > 0 ORDER BY total DESC, rule_name LIMIT ?", (limit,)).fetchall()
    return TopRules(rules=[RuleCount(*row) for row in rows])


def risk_score(points: int) -> int:
    return round(100 * (1 - math.exp(-points / RISK_SCALE)))


def drivers(by_severity: dict[str, int], open_alerts: int, rules: list[DeviceRule]) -> list[str]:
    contributions = sorted(((SEVERITY_POINTS[severity] * count, severity, count)
                            for severity, count in by_severity.items() if count), reverse=True)
    reasons = [f"{count} {severity.lower()} alert{'s' if count != 1 else ''} (+{points} points)"
               for points, severity, count in contributions]
    if rules:
        reasons.append("mostly " + ", ".join(f"{rule.rule_name} x{rule.count}" for rule in rules))
    if open_alerts:
        reasons.append(f"{open_alerts} still open")
    return reasons


def device_risk(connection, limit: int) -> DeviceRiskList:
    devices = []
    for ip, critical, high, medium, low, false_positives, open_alerts, last_seen, points in connection.execute(
            "SELECT source_ip, critical, high, medium, low, false_positives, open_alerts, last_seen, points "
            "FROM device_risk WHERE points > 0 ORDER BY points DESC, last_seen DESC LIMIT ?", (limit,)).fetchall():
        rules = [DeviceRule(rule, n) for rule, n in connection.execute(
            "SELECT rule_name, n FROM device_rule_counts WHERE source_ip = ? AND n > 0 ORDER BY n DESC, rule_name "
            "LIMIT ?", (ip, RULES_PER_DEVICE)).fetchall()]
        by_severity = dict(zip(SEVERITIES, (critical, high, medium, low), strict=True))
        devices.append(DeviceRisk(
            device=ip, risk_score=risk_score(points), points=points, alerts=critical + high + medium + low,
            open_alerts=open_alerts, false_positives=false_positives, by_severity=by_severity, top_rules=rules,
            last_seen=last_seen, drivers=drivers(by_severity, open_alerts, rules)))
    return DeviceRiskList(devices=devices)
