"""A message as labelled lines ("What", "Who", "Since", ...): the words every channel format shows."""

from __future__ import annotations

import datetime
import json

from appliance.notifications.messages import AlertSummary, Message, who


def utc(epoch: float | None) -> str:
    if epoch is None:
        return "unknown"
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def reasons_text(summary: AlertSummary) -> str:
    if not summary.reasons:
        return "no single feature stands out"
    parts = []
    for reason in summary.reasons:
        value = "" if reason.value is None else f" = {reason.value:g}"
        parts.append(f"{reason.feature}{value} (+{reason.contribution:.2f})")
    return ", ".join(parts)


def alert_facts(summary: AlertSummary) -> list[tuple[str, str]]:
    protocol = f" ({summary.protocol})" if summary.protocol else ""
    facts = [
        ("What", summary.what),
        ("Who", who(summary) + protocol),
        ("Since", f"{utc(summary.first_seen)}, latest activity {utc(summary.last_seen or summary.first_seen)}"),
        ("Severity", f"{summary.severity}, score {summary.score:.2f}"),
        ("Why", reasons_text(summary)),
    ]
    if summary.sensor:
        facts.append(("Sensor", summary.sensor))
    if summary.evidence:
        facts.append(("Evidence", json.dumps(summary.evidence, sort_keys=True)))
    facts.append(("Alert", summary.link or f"id {summary.alert_id} (set the box's address for a link)"))
    return facts


def digest_facts(message: Message) -> list[tuple[str, str]]:
    return [
        ("Alerts", str(message.total_alerts)),
        ("Since", utc(message.since)),
        ("Severities", ", ".join(f"{severity} {count}" for severity, count in message.by_severity.items())),
        ("Rules", ", ".join(f"{rule} {count}" for rule, count in message.by_rule.items())),
    ] + ([("All alerts", message.link)] if message.link else [])


def alert_line(summary: AlertSummary) -> str:
    """One line per alert in a digest."""
    link = f" {summary.link}" if summary.link else ""
    return f"{summary.severity} {summary.rule_name} {who(summary)}, since {utc(summary.first_seen)}, " \
           f"score {summary.score:.2f}{link}"


def text_body(message: Message) -> str:
    """The plain-text body (e-mail), also the fallback text of chat formats."""
    if message.kind == "digest":
        lines = [message.title, "", *(f"{label}: {value}" for label, value in digest_facts(message)), ""]
        lines += [alert_line(summary) for summary in message.alerts]
        if message.total_alerts > len(message.alerts):
            lines.append(f"... and {message.total_alerts - len(message.alerts)} more on the box.")
    else:
        width = max(len(label) for label, _ in alert_facts(message.alerts[0])) + 1
        lines = [message.title, "", *(f"{label + ':':<{width}} {value}" for label, value in
                                      alert_facts(message.alerts[0]))]
    lines += ["", f"-- {message.box} (message {message.message_id})"]
    return "\n".join(lines) + "\n"
