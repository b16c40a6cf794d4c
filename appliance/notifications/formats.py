"""A message in each channel's format: an e-mail, an RFC 5424 syslog line, a webhook body (this box's JSON,
a Slack incoming-webhook message, a Teams Adaptive Card)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formataddr, formatdate

import msgspec

from appliance.delivery import syslog
from appliance.notifications.facts import alert_facts, digest_facts, text_body
from appliance.notifications.messages import Message
from appliance.notifications.models import EmailSettings, SyslogSettings
from appliance.notifications.routing import SEVERITY_RANK

# RFC 5424 severities: 2 critical, 3 error, 4 warning, 5 notice; a test is informational (6).
SYSLOG_SEVERITY = {"CRITICAL": 2, "HIGH": 3, "MEDIUM": 4, "LOW": 5}
SYSLOG_INFORMATIONAL = 6


def worst_severity(message: Message) -> str:
    return max(message.by_severity, key=lambda severity: SEVERITY_RANK.get(severity, 0), default="LOW")


def email(settings: EmailSettings, message: Message) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = f"[{message.box}] {message.title}"
    mail["From"] = formataddr((settings.from_name, settings.from_address))
    mail["To"] = ", ".join(settings.to)
    mail["Date"] = formatdate(message.created_at, usegmt=True)
    # The same on every attempt: a copy sent again after a crash is recognisable (and dropped by many clients).
    mail["Message-ID"] = f"<{message.message_id}@{settings.from_address.rpartition('@')[2]}>"
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to the box
    mail["X-NetSenX-Kind"] = message.kind
    mail.set_content(text_body(message))
    return mail


def syslog_line(settings: SyslogSettings, message: Message) -> bytes:
    severity = SYSLOG_INFORMATIONAL if message.kind == "test" else SYSLOG_SEVERITY[worst_severity(message)]
    if message.kind == "digest":
        params = {"message_id": message.message_id, "alerts": message.total_alerts,
                  **{f"severity_{name.lower()}": count for name, count in message.by_severity.items()}}
        text = "; ".join([message.title, *(f"{label}: {value}" for label, value in digest_facts(message)[1:])])
    else:
        alert = message.alerts[0]
        params = {"message_id": message.message_id, "alert_id": alert.alert_id, "rule": alert.rule_name,
                  "severity": alert.severity, "score": f"{alert.score:.3f}", "src": alert.source_ip,
                  "dst": alert.dest_ip, "dport": alert.port, "first_seen": alert.first_seen, "link": alert.link}
        text = "; ".join([message.title, *(f"{label}: {value}" for label, value in alert_facts(alert)[:5])])
    return syslog.format_message(facility=settings.facility, severity=severity, at=message.created_at,
                                 hostname=message.box, app_name=settings.app_name, msgid=message.kind.upper(),
                                 params=params, text=text)


def webhook_body(format: str, message: Message) -> bytes:
    match format:
        case "slack":
            return msgspec.json.encode(slack(message))
        case "teams":
            return msgspec.json.encode(teams(message))
        case _:
            return msgspec.json.encode(message)


def _facts(message: Message) -> list[tuple[str, str]]:
    return digest_facts(message) if message.kind == "digest" else alert_facts(message.alerts[0])


def _link(message: Message) -> str | None:
    return message.link if message.kind == "digest" else message.alerts[0].link


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack(message: Message) -> dict:
    """Slack's incoming-webhook payload: `text` as the notification's fallback, Block Kit for the layout."""
    fields = [{"type": "mrkdwn", "text": f"*{label}*\n{_slack_escape(value)}"} for label, value in _facts(message)]
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": message.title[:150]}},
        *({"type": "section", "fields": fields[start:start + 10]} for start in range(0, len(fields), 10)),
        {"type": "context", "elements": [{"type": "mrkdwn",
                                          "text": _slack_escape(f"{message.box} · message {message.message_id}")}]},
    ]
    link = _link(message)
    if link:
        blocks.insert(-1, {"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Open on the box"}, "url": link}]})
    return {"text": _slack_escape(message.title), "blocks": blocks}


def teams(message: Message) -> dict:
    """A Teams Workflows webhook ("Post to a channel when a webhook request is received") takes a message
    whose attachment is an Adaptive Card (the retired Office 365 connectors took MessageCards)."""
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": message.title, "weight": "Bolder", "size": "Medium", "wrap": True,
             "color": "Attention" if worst_severity(message) in ("CRITICAL", "HIGH") else "Warning"},
            {"type": "FactSet", "facts": [{"title": label, "value": value} for label, value in _facts(message)]},
            {"type": "TextBlock", "text": f"{message.box} · message {message.message_id}", "isSubtle": True,
             "size": "Small", "wrap": True},
        ],
    }
    link = _link(message)
    if link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open on the box", "url": link}]
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}
