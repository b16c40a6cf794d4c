"""Notification channels, their routing and content, the outbox: the shapes at the API edge.

A channel's secrets (an SMTP password, a webhook signing secret) are write-only: they are stored, used and
never returned; `secrets_set` says which ones a channel has.
"""

from __future__ import annotations

import zoneinfo
from typing import Annotated, Literal

import msgspec

from appliance.alerts.models import Severity
from appliance.delivery import destinations
from appliance.delivery.smtp import Security
from appliance.delivery.syslog import Transport
from appliance.delivery.webhook import check_secret, check_url
from appliance.whitelist.models import RuleName

SECRET_FIELDS = ("password", "secret")

_LABEL = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = rf"{_LABEL}(\.{_LABEL})*\.?"
_IPV6 = r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*"
Host = Annotated[str, msgspec.Meta(min_length=1, max_length=253, pattern=rf"^({_HOST_NAME}|{_IPV6})$",
                                   description="a host name or an IPv4/IPv6 address")]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
EmailAddress = Annotated[str, msgspec.Meta(max_length=254,
                                           pattern=r"^[^@\s<>\"(),;:\\\[\]]{1,64}@[A-Za-z0-9.-]{1,189}$")]
CaPem = Annotated[str, msgspec.Meta(max_length=32_768, description="PEM CA certificate(s) to trust instead of the "
                                                                    "system's (a private CA)")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
ClockTime = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM")]
TimeZone = Literal[tuple(sorted(zoneinfo.available_timezones()))]
SensorId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class EmailSettings(msgspec.Struct, tag="email", tag_field="kind", forbid_unknown_fields=True, kw_only=True):
    """Mail through the organisation's own server. `security`: starttls (port 587), tls (implicit, 465) or
    none (a relay on the local network; nothing is encrypted)."""

    host: Host
    port: Port = 587
    security: Security = "starttls"
    username: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    password: Annotated[str, msgspec.Meta(max_length=1024)] | None = None
    from_address: EmailAddress
    from_name: Annotated[str, msgspec.Meta(max_length=64, pattern=r"^[^\x00-\x1f\x7f]*$")] = "NetSenX"
    to: Annotated[list[EmailAddress], msgspec.Meta(min_length=1, max_length=20)]
    ca_pem: CaPem | None = None


class SyslogSettings(msgspec.Struct, tag="syslog", tag_field="kind", forbid_unknown_fields=True, kw_only=True):
    """RFC 5424 to a syslog receiver or a SIEM's syslog input. TCP and TLS confirm delivery; UDP cannot."""

    host: Host
    port: Port = 6514
    transport: Transport = "tls"
    facility: Annotated[int, msgspec.Meta(ge=0, le=23)] = 16  # local0
    app_name: Annotated[str, msgspec.Meta(min_length=1, max_length=48, pattern=r"^[!-~]+$")] = "netsenx"
    ca_pem: CaPem | None = None


class WebhookSettings(msgspec.Struct, tag="webhook", tag_field="kind", forbid_unknown_fields=True, kw_only=True):
    """HTTPS POST. `format`: json (this box's message, signed: Standard Webhooks), slack (an incoming webhook)
    or teams (a Workflows webhook taking an Adaptive Card). `secret`: whsec_ + base64; made up by the box for
    a json channel that has none, and shown once."""

    url: Annotated[str, msgspec.Meta(min_length=8, max_length=2048, pattern=r"^https?://[^\s/?#@]+([/?#]\S*)?$")]
    format: Literal["json", "slack", "teams"] = "json"
    secret: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    ca_pem: CaPem | None = None


ChannelSettings = EmailSettings | SyslogSettings | WebhookSettings


class QuietHours(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Between `start` and `end` (local time in `timezone`; end before start spans midnight) alerts below
    `let_through` are held and sent as one digest when the quiet hours end."""

    start: ClockTime
    end: ClockTime
    timezone: TimeZone = "UTC"
    let_through: Severity | None = Severity.CRITICAL


class Digest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Storm folding: up to `max_immediate` alerts go out one by one within `window_seconds`; the rest of that
    window's alerts are folded into one digest sent when the window ends. 0 sends every alert as a digest."""

    window_seconds: Annotated[int, msgspec.Meta(ge=60, le=86_400)] = 300
    max_immediate: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 5


class Routing(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Which alerts a channel gets: at least `min_severity`, of these `rules` and from these `sensors`
    (agent ids; an empty list means all)."""

    min_severity: Severity = Severity.HIGH
    rules: Annotated[list[RuleName], msgspec.Meta(max_length=64)] = []
    sensors: Annotated[list[SensorId], msgspec.Meta(max_length=64)] = []
    quiet_hours: QuietHours | None = None
    digest: Digest = msgspec.field(default_factory=Digest)


class Content(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What a message carries besides rule, severity, score, top reasons, times, sensor and alert id.

    `addresses` (default on): the source and target IP addresses and port, which the admin needs to find the
    device; off, a message says only "a host". `evidence` (default off): the rule's evidence, which can hold
    user names (logins in clear, Kerberos), domain and host names visited (DNS, TLS SNI, HTTP Host), MAC
    addresses and query samples, for an operator who should not read them. `link` (default on): a link to the
    alert on this box (needs the box's address in the notification settings). Analysts' notes never leave."""

    addresses: bool = True
    evidence: bool = False
    link: bool = True


class ChannelIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name
    enabled: bool = True
    settings: ChannelSettings
    routing: Routing = msgspec.field(default_factory=Routing)
    content: Content = msgspec.field(default_factory=Content)


class ChannelState(msgspec.Struct, kw_only=True):
    """How delivery goes: consecutive failures, when the next try is due, messages waiting and dead."""

    failures: int = 0
    retry_at: float | None = None
    last_error: str = ""
    last_success_at: float | None = None
    last_failure_at: float | None = None
    pending: int = 0
    dead: int = 0
    held: int = 0  # alerts held for the next digest


class Channel(msgspec.Struct, kw_only=True):
    id: str
    name: str
    kind: str
    enabled: bool
    settings: ChannelSettings  # secrets always null here: see secrets_set
    secrets_set: list[str]
    routing: Routing
    content: Content
    created_by: str
    created_at: float
    updated_at: float
    state: ChannelState = msgspec.field(default_factory=ChannelState)
    generated_secret: str | None = None  # a webhook secret the box made up: in this one answer only


class ChannelList(msgspec.Struct):
    channels: list[Channel]
    total: int


class NotificationSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`box_name` names this box in every message (and as the syslog HOSTNAME); `box_url` is where people
    reach its web UI, for the links in messages (e.g. https://netsenx.example.lan)."""

    box_name: Name = "NetSenX"
    box_url: Annotated[str, msgspec.Meta(max_length=512, pattern=r"^https?://[^\s/?#@]+(/\S*)?$")] | None = None


class TestResult(msgspec.Struct):
    detail: str
    message_id: str
    elapsed_ms: float


class OutboxEntry(msgspec.Struct, kw_only=True):
    id: int
    channel_id: str
    channel_name: str
    kind: str  # alert or digest
    title: str
    message_id: str
    status: str  # pending, sent or dead
    attempts: int
    next_attempt_at: float | None
    last_error: str
    created_at: float
    last_attempt_at: float | None
    sent_at: float | None
    alert_ids: list[str]
    alerts_total: int


class OutboxList(msgspec.Struct):
    entries: list[OutboxEntry]
    total: int


OutboxStatus = Literal["pending", "sent", "dead"]


class InvalidChannel(ValueError):
    """The message starts with the field, as the API's 400 details do."""


def check_channel(channel: ChannelIn) -> None:
    """What the schema cannot say: the host, URL, secret and certificate rules themselves."""
    settings = channel.settings
    for field, check in (("host", destinations.check_host), ("url", check_url), ("secret", check_secret),
                         ("ca_pem", destinations.check_ca_pem)):
        value = getattr(settings, field, None)
        if value is not None:
            try:
                check(value)
            except ValueError as error:
                raise InvalidChannel(f"settings.{field}: {error}") from error
    if isinstance(settings, EmailSettings) and settings.password and not settings.username:
        raise InvalidChannel("settings.password: give the username it belongs to")
    quiet = channel.routing.quiet_hours
    if quiet is not None and quiet.start == quiet.end:
        raise InvalidChannel("routing.quiet_hours: start and end are the same time")
