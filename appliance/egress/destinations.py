"""Every place data leaves this box for, with exactly what each one receives ("what leaves the box").

The vendor cloud (licensing heartbeat), each notification channel and each SIEM export destination. For each:
where it goes and how (encrypted or not), which fields it receives under the current settings, what it never
receives, and an example rendered by the very code that sends (a made-up alert with documentation addresses).
"""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Literal

import msgspec

from appliance.cloud_sync import heartbeat
from appliance.cloud_sync.settings import load_settings as load_cloud_settings
from appliance.intel import feeds
from appliance.intel import repository as intel_repository
from appliance.intel.repository import Source
from appliance.licensing import box_license, sovereignty
from appliance.licensing.protocol import LICENSE_KEY_HEADER
from appliance.notifications import formats
from appliance.notifications import repository as channels
from appliance.notifications.messages import sample_message
from appliance.notifications.models import (
    Channel,
    Content,
    EmailSettings,
    NotificationSettings,
    SyslogSettings,
    WebhookSettings,
)
from appliance.notifications.sending import describe_destination
from appliance.siem import repository as exports
from appliance.siem.cursor import ExportCursor
from appliance.siem.events import ExportRecord
from appliance.siem.models import ExportDestination
from appliance.siem.stream import document
from appliance.store.database import Store

Kind = Literal["cloud", "email", "syslog", "webhook", "siem_export", "threat_intel_feed"]

NOTIFICATION_FIELDS = [
    "rule name and what the rule means",
    "severity, score and the three features that raised the score most (names and values)",
    "when the activity started and was last seen",
    "the sensor's name, the alert id, this box's name, the message id",
    "a digest instead: counts by severity and rule, and these fields for up to 20 alerts",
]
NOTIFICATIONS_NEVER = ["analysts' notes", "packet payloads and flow records", "decision traces",
                       "passwords (the box never records them)"]
SIEM_FIELDS = {
    "alerts": "alerts (each new alert and each update): rule, severity, score and reasons, source and target "
              "addresses and ports, protocol, times, incident key, alert and trace ids, sensor",
    "flows": "flow records: addresses, ports, MAC addresses, VLAN, packets and bytes per direction, timing, "
             "TCP state",
    "protocol_events": "protocol events: DNS queries and answers, TLS server names and JA3/JA4, HTTP hosts, URLs "
                       "and user agents, SSH banners, Kerberos service names, DHCP host names, user names of "
                       "logins seen in clear, OT (Modbus, DNP3, BACnet) commands, ARP",
}


class Endpoint(msgspec.Struct, frozen=True):
    host: str
    port: int
    protocol: Literal["tcp", "udp"]


class EgressDestination(msgspec.Struct, kw_only=True):
    kind: Kind
    id: str | None
    name: str
    enabled: bool
    address: str  # where and how, in words
    encrypted: bool
    endpoints: list[Endpoint]
    receives: list[str]
    never: list[str]
    example: str  # exactly what is sent, for a made-up alert (or today's heartbeat)
    last_result: str | None = None  # a threat-intel feed's last fetch, in words


class EgressView(msgspec.Struct):
    destinations: list[EgressDestination]


def egress(store: Store, now: float) -> EgressView:
    settings = channels.load_settings(store)
    found = [cloud(store)]
    found += [channel_destination(channel, settings, now) for channel in channels.list_channels(store)]
    found += [export_destination(destination, settings, now) for destination in exports.list_all(store)]
    found += [feed_destination(source) for source in intel_repository.list_sources(store) if source.kind != "file"]
    return EgressView(destinations=found)


def cloud(store: Store) -> EgressDestination:
    settings = load_cloud_settings(store)
    current = box_license.installed(store, box_license.trusted_keys())
    payload = heartbeat.payload(store, current.license) if current is not None else None
    parts = urllib.parse.urlsplit(settings.url)
    return EgressDestination(
        kind="cloud", id=None, name="Vendor licensing service", enabled=settings.enabled,
        address=f"POST {settings.url}/v1/heartbeat (HTTPS), the license key in {LICENSE_KEY_HEADER}",
        encrypted=parts.scheme == "https",
        endpoints=[Endpoint(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80), "tcp")],
        receives=[f"{name}: {meaning}" for name, meaning in sovereignty.FIELD_DESCRIPTIONS.items()],
        never=["flows, alerts, IP or MAC addresses, host names, traces, reports"],
        example=json.dumps(msgspec.to_builtins(payload), indent=2) if payload else "(no license: nothing to send)",
    )


def channel_fields(channel: Channel) -> list[str]:
    fields = list(NOTIFICATION_FIELDS)
    if channel.content.addresses:
        fields.insert(2, "source and target IP addresses, port and protocol")
    if channel.content.link:
        fields.append("a link to the alert on this box")
    if channel.content.evidence:
        fields.append("the rule's evidence: may hold user names, domain and host names, MAC addresses")
    return fields


def channel_never(channel: Channel) -> list[str]:
    never = list(NOTIFICATIONS_NEVER)
    if not channel.content.addresses:
        never.insert(0, "IP addresses and ports (left out by this channel's settings)")
    if not channel.content.evidence:
        never.insert(0, "the rule's evidence (user names, domain and host names, MAC addresses)")
    return never


def channel_destination(channel: Channel, settings: NotificationSettings, now: float) -> EgressDestination:
    message = sample_message(channel.content, settings, "nsx-example", now)
    match channel.settings:
        case EmailSettings() as mail:
            example = formats.email(mail, message).as_string()
            endpoints, encrypted = [Endpoint(mail.host, mail.port, "tcp")], mail.security != "none"
        case SyslogSettings() as target:
            example = formats.syslog_line(target, message).decode()
            protocol = "udp" if target.transport == "udp" else "tcp"
            endpoints, encrypted = [Endpoint(target.host, target.port, protocol)], target.transport == "tls"
        case WebhookSettings() as hook:
            example = json.dumps(json.loads(formats.webhook_body(hook.format, message)), indent=2)
            parts = urllib.parse.urlsplit(hook.url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            endpoints, encrypted = [Endpoint(parts.hostname or "", port, "tcp")], parts.scheme == "https"
    return EgressDestination(
        kind=channel.kind, id=channel.id, name=channel.name, enabled=channel.enabled,
        address=describe_destination(channel.settings), encrypted=encrypted, endpoints=endpoints,
        receives=channel_fields(channel), never=channel_never(channel), example=example,
    )


def export_destination(destination: ExportDestination, settings: NotificationSettings,
                       now: float) -> EgressDestination:
    sample = sample_message(Content(evidence=destination.evidence), settings, "nsx-example", now).alerts[0]
    content = {"rule_name": sample.rule_name, "severity": sample.severity, "score": sample.score,
               "source_ip": sample.source_ip, "dest_ip": sample.dest_ip, "port": sample.port,
               "protocol": sample.protocol, "first_seen": sample.first_seen, "last_seen": sample.last_seen,
               "incident_key": "example", "alert_id": sample.alert_id, "outcome": "alert_raised",
               "rule_version": "1.0.0", "evidence": sample.evidence, "decided_at": now,
               "shap": {"features": {reason.feature: reason.contribution for reason in sample.reasons}}}
    record = ExportRecord(ExportCursor(1, 0, 0), "alert", content, "mirror-port-1")
    transport = "TLS" if destination.transport == "tls" else "TCP, NOT ENCRYPTED"
    receives = [SIEM_FIELDS[kind] for kind in destination.records]
    if destination.evidence:
        receives.append("the alerts' evidence: may hold user names, domain and host names, MAC addresses")
    return EgressDestination(
        kind="siem_export", id=destination.id, name=destination.name, enabled=destination.enabled,
        address=f"{destination.host}:{destination.port} (syslog RFC 5424 over {transport}, "
                f"{destination.schema.upper()} JSON)",
        encrypted=destination.transport == "tls", endpoints=[Endpoint(destination.host, destination.port, "tcp")],
        receives=receives, never=["analysts' notes", "packet payloads", "passwords (never recorded)"],
        example=json.dumps(document(destination.schema, record, settings.box_name, evidence=destination.evidence),
                           indent=2),
    )


def feed_destination(source: Source) -> EgressDestination:
    """A threat-intel feed: the box only asks; the request carries nothing about the site."""
    parts = urllib.parse.urlsplit(source.url or "")
    receives = ["nothing about this site: a request for the feed's list, with the headers below"]
    if source.username:
        receives.append(f"the user name {source.username!r} and the password set for this feed (HTTP basic auth)")
    if source.kind == "taxii":
        receives.append("the collection id and, after the first fetch, the time of the last success (added_after)")
    headers = "\n".join(f"{name}: {value}" for name, value in feeds.request_headers(source).items())
    return EgressDestination(
        kind="threat_intel_feed", id=source.id, name=source.name, enabled=source.enabled,
        address=f"{feeds.request_line(source)} (HTTPS), every {source.interval_seconds or 0:g} s",
        encrypted=parts.scheme == "https",
        endpoints=[Endpoint(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80), "tcp")],
        receives=receives,
        never=["flows, alerts, IP or MAC addresses, host names, what matched, which indicators this box holds"],
        example=f"{feeds.request_line(source)}\n{headers}",
        last_result=feed_result(source),
    )


def feed_result(source: Source) -> str:
    if source.last_attempt_at is None:
        return "not fetched yet"
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(source.last_attempt_at))
    if source.last_result == "error":
        return f"failed at {when}: {source.last_error}"
    refused = f", {source.last_refused} entries refused" if source.last_refused else ""
    return f"fetched at {when}: {source.indicator_count} indicators{refused}"
