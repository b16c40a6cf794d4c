"""SIEM export destinations (syslog over TCP or TLS) at the API edge."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from appliance.notifications.models import CaPem, Host, Name, Port
from appliance.siem.events import RecordKind

Schema = Literal["eve", "ecs"]
RecordKinds = Annotated[list[RecordKind], msgspec.Meta(min_length=1, max_length=3)]


class ExportDestinationIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A syslog receiver (rsyslog, syslog-ng, a SIEM's syslog input) that gets the export stream: one RFC 5424
    message per record, its MSG the record as one JSON line in `schema` (eve: Suricata EVE JSON, ecs: Elastic
    Common Schema). TCP or TLS only: both confirm that the receiver read a page before the cursor moves on.
    `records`: alerts, and if chosen flows and protocol_events. `evidence`: the alerts' rule evidence (user
    names, domains...). `start` (creation only): now, or the beginning of what the box holds."""

    name: Name
    enabled: bool = True
    host: Host
    port: Port = 6514
    transport: Literal["tcp", "tls"] = "tls"
    schema: Schema = "eve"
    records: RecordKinds = msgspec.field(default_factory=lambda: ["alerts"])
    evidence: bool = False
    facility: Annotated[int, msgspec.Meta(ge=0, le=23)] = 16
    ca_pem: CaPem | None = None
    start: Literal["now", "beginning"] = "now"


class ExportDestination(msgspec.Struct, kw_only=True):
    id: str
    name: str
    enabled: bool
    host: str
    port: int
    transport: str
    schema: str
    records: list[str]
    evidence: bool
    facility: int
    ca_pem: str | None
    cursor: str  # everything up to here has been delivered
    events_sent: int
    failures: int
    retry_at: float | None
    last_error: str
    last_sent_at: float | None
    created_by: str
    created_at: float
    updated_at: float


class ExportDestinationList(msgspec.Struct):
    destinations: list[ExportDestination]
    total: int
