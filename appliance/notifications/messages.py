"""What a notification says, before any channel's format: one alert, a digest of many, or a test.

Every message answers what happened (the rule and what it means), who (the source and its target, unless the
channel leaves addresses out), since when (first and latest activity, packet time), how bad (severity, score
and the features that pushed the score up most), and where to act (a link to the alert on this box).
"""

from __future__ import annotations

import functools
import inspect
import json
from collections import Counter
from typing import Literal

import msgspec

from appliance.notifications.models import Content, NotificationSettings
from appliance.notifications.routing import SEVERITY_RANK

TOP_REASONS = 3
DIGEST_DETAILED = 20


class Reason(msgspec.Struct):
    """A feature that pushed the score up: its SHAP contribution (log-odds) and, when known, its value."""

    feature: str
    contribution: float
    value: float | None = None


class AlertSummary(msgspec.Struct, kw_only=True, omit_defaults=True):
    alert_id: str
    rule_name: str
    what: str
    severity: str
    score: float
    reasons: list[Reason]
    first_seen: float | None = None
    last_seen: float | None = None
    escalated: bool = False  # an update that made an alert worth this channel's while
    sensor: str | None = None
    source_ip: str | None = None
    dest_ip: str | None = None
    port: int | None = None
    protocol: str | None = None
    evidence: dict | None = None
    link: str | None = None


class Message(msgspec.Struct, kw_only=True):
    kind: Literal["alert", "digest", "test"]
    message_id: str
    box: str
    title: str
    created_at: float
    alerts: list[AlertSummary]
    total_alerts: int
    by_severity: dict[str, int]
    by_rule: dict[str, int]
    since: float | None = None  # a digest: when its first alert was held
    link: str | None = None  # a digest: the alert list on this box


@functools.cache
def rule_summary(rule_name: str) -> str:
    """The rule's own one-sentence description (its module's docstring), e.g. "one source probing many
    destination ports on one host (vertical scan)"."""
    from appliance.engine.rules import RULE_MODULES

    module = RULE_MODULES.get(rule_name)
    doc = inspect.getdoc(module) if module else None
    if not doc:
        return rule_name.replace("_", " ").lower()
    paragraph = " ".join(doc.split("\n\n")[0].split())
    sentence = paragraph.removeprefix(f"{rule_name}:").strip()
    for end in (". ", ".\n"):
        if end in sentence:
            sentence = sentence[: sentence.index(end)]
    return sentence.rstrip(".")


def top_reasons(shap: dict, features: dict | None) -> list[Reason]:
    contributions = (shap or {}).get("features") or {}
    upward = sorted(((value, name) for name, value in contributions.items() if value > 0), reverse=True)
    return [
        Reason(feature=name, contribution=round(value, 3),
               value=None if features is None or name not in features else features[name])
        for value, name in upward[:TOP_REASONS]
    ]


def alert_link(settings: NotificationSettings, alert_id: str) -> str | None:
    return f"{settings.box_url.rstrip('/')}/#/alerts/{alert_id}" if settings.box_url else None


def summarise(
    alert: dict,
    content: Content,
    settings: NotificationSettings,
    *,
    sensor: str | None,
    features: dict | None = None,
    escalated: bool = False,
) -> AlertSummary:
    """An alert row (id, severity, rule_name, addresses, score, shap_json, evidence, first/last_seen) as the
    channel's content options allow it to be told."""
    shap = alert["shap_json"] if isinstance(alert["shap_json"], dict) else json.loads(alert["shap_json"] or "{}")
    summary = AlertSummary(
        alert_id=alert["id"],
        rule_name=alert["rule_name"],
        what=rule_summary(alert["rule_name"]),
        severity=alert["severity"],
        score=round(alert["score"], 3),
        reasons=top_reasons(shap, features),
        first_seen=alert.get("first_seen") or alert.get("timestamp"),
        last_seen=alert.get("last_seen"),
        escalated=escalated,
        sensor=sensor,
    )
    if content.addresses:
        summary.source_ip = alert["source_ip"]
        summary.dest_ip = alert.get("dest_ip") or None
        summary.port = alert.get("port") or None
        summary.protocol = alert.get("protocol") or None
    if content.evidence:
        evidence = alert.get("evidence")
        summary.evidence = json.loads(evidence) if isinstance(evidence, str) else evidence
    if content.link:
        summary.link = alert_link(settings, alert["id"])
    return summary


def who(summary: AlertSummary) -> str:
    if summary.source_ip is None:
        return "a host on the monitored network"
    target = f" → {summary.dest_ip}" if summary.dest_ip else ""
    port = f":{summary.port}" if summary.port and summary.dest_ip else ""
    return f"{summary.source_ip}{target}{port}"


def alert_message(summary: AlertSummary, settings: NotificationSettings, message_id: str, now: float) -> Message:
    update = " (escalated)" if summary.escalated else ""
    return Message(
        kind="alert",
        message_id=message_id,
        box=settings.box_name,
        title=f"{summary.severity} {summary.rule_name}{update}: {who(summary)}",
        created_at=now,
        alerts=[summary],
        total_alerts=1,
        by_severity={summary.severity: 1},
        by_rule={summary.rule_name: 1},
    )


def digest_message(
    top: list[AlertSummary],
    *,
    total: int,
    by_severity: dict[str, int],
    by_rule: dict[str, int],
    settings: NotificationSettings,
    message_id: str,
    now: float,
    since: float,
) -> Message:
    """Many alerts in one message: counts of all of them, details of the `top` (the most severe first)."""
    worst = max(by_severity, key=lambda severity: SEVERITY_RANK.get(severity, 0), default="LOW")
    rules = ", ".join(f"{rule} x{count}" for rule, count in Counter(by_rule).most_common(3))
    return Message(
        kind="digest",
        message_id=message_id,
        box=settings.box_name,
        title=f"{total} alerts (worst {worst}): {rules}",
        created_at=now,
        alerts=top,
        total_alerts=total,
        by_severity={name: by_severity[name] for name in reversed(SEVERITY_RANK) if by_severity.get(name)},
        by_rule=dict(Counter(by_rule).most_common()),
        since=since,
        link=f"{settings.box_url.rstrip('/')}/#/alerts" if settings.box_url else None,
    )


SAMPLE_ALERT = {
    "id": "00000000-0000-7000-8000-000000000000",
    "severity": "HIGH",
    "rule_name": "PORT_SCAN",
    "source_ip": "192.0.2.10",
    "dest_ip": "192.0.2.20",
    "port": 0,
    "protocol": "TCP",
    "score": 0.93,
    "timestamp": 0,
    "shap_json": {"features": {"distinct_ports": 2.1, "syn_only_ratio": 0.8, "duration_s": -0.2}},
    "evidence": {"ports_sample": [22, 23, 80, 443], "example_user": "alice"},
}


def sample_summary(content: Content, settings: NotificationSettings, now: float) -> AlertSummary:
    """A made-up alert (documentation addresses, RFC 5737) to show or test exactly what a channel sends."""
    alert = SAMPLE_ALERT | {"timestamp": now - 120, "first_seen": now - 120, "last_seen": now - 5}
    return summarise(alert, content, settings, sensor="mirror-port-1", features={"distinct_ports": 48.0,
                                                                                 "syn_only_ratio": 0.97})


def sample_message(content: Content, settings: NotificationSettings, message_id: str, now: float) -> Message:
    message = alert_message(sample_summary(content, settings, now), settings, message_id, now)
    message.kind = "test"
    message.title = f"TEST from {settings.box_name}: this is what an alert looks like ({message.title})"
    return message
