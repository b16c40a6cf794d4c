"""The flow log: every flow record and protocol event the engine receives, kept and searchable.

The engine writes a batch's records in the transaction that marks the batch done (record_batch), so a batch
is logged exactly once; a batch the engine set aside keeps its records in the queue and joins the log when an
admin retries it. Readers: the /flows API and its export (flows_controller.py) and other code (a retro-hunt
over past traffic, appliance/intel/retro_hunt.py, calls flows_touching / events_naming, or walks the log by id
with flows_by_id / events_by_id). Retention (retention.py) removes what is older than the admin's flows_days.

Addresses are matched on either side of a flow through flow_log_addresses (migration 0011), a port is the
responder's port (the service's: 443 for every HTTPS flow, not the client's ephemeral one), times are packet
times in seconds since the epoch, and pages come newest first.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator

import msgspec

from sensor.decode.layers import PROTO_NAMES
from sensor.records import (
    AnyEvent,
    Batch,
    CleartextLoginEvent,
    DhcpEvent,
    DnsEvent,
    Flow,
    HttpRequestEvent,
    KerberosEvent,
    TlsClientHelloEvent,
)

PROTOCOL_NAMES = {name.lower(): name for name in PROTO_NAMES.values()}  # other protocols: their number
COUNT_LIMIT = 10_000  # a page's total is counted up to here: counting a busy address's whole week costs seconds
EARLIEST, LATEST = -1e308, 1e308

# The application protocol an event shows its flow speaks (content the sensor parsed, never a port guess).
SERVICE_OF_EVENT = {
    "dns": "dns",
    "tls_client_hello": "tls",
    "tls_certificate": "tls",
    "http_request": "http",
    "ssh_banner": "ssh",
    "kerberos": "kerberos",
    "dhcp": "dhcp",
    "modbus": "modbus",
    "dnp3": "dnp3",
    "bacnet": "bacnet",
}

FLOW_COLUMNS = (
    "id, agent_id, uid, ts_start, ts_end, proto, service, src_ip, src_port, dst_ip, dst_port, "
    "pkts_orig, pkts_resp, bytes_orig, bytes_resp, conn_state, end_reason"
)
EVENT_COLUMNS = "id, agent_id, ts, kind, proto, src_ip, src_port, dst_ip, dst_port, flow_uid, name, detail"
EVENT_INSERT = (
    "INSERT INTO event_log (batch_id, agent_id, ts, kind, proto, src_ip, src_port, dst_ip, dst_port, flow_uid, name, "
    "detail, name_reversed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class LoggedFlow(msgspec.Struct, kw_only=True):
    id: int
    agent_id: str
    uid: str
    ts_start: float
    ts_end: float
    proto: str
    service: str
    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int
    pkts_orig: int
    pkts_resp: int
    bytes_orig: int
    bytes_resp: int
    conn_state: str
    end_reason: str


class LoggedEvent(msgspec.Struct, kw_only=True):
    id: int
    agent_id: str
    ts: float
    kind: str
    proto: str
    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int
    flow_uid: str
    name: str
    detail: dict


class FlowQuery(msgspec.Struct, kw_only=True, frozen=True):
    ip: str | None = None  # either side
    port: int | None = None  # the responder's
    protocol: str | None = None  # TCP, UDP, ICMP ...
    service: str | None = None  # dns, tls, http, ssh ...
    since: float | None = None  # packet time the flow started, inclusive
    until: float | None = None
    agent_id: str | None = None


class EventQuery(msgspec.Struct, kw_only=True, frozen=True):
    ip: str | None = None  # either side
    kind: str | None = None
    name: str | None = None  # a domain: matches it and its subdomains
    since: float | None = None
    until: float | None = None


class Page(msgspec.Struct, kw_only=True):
    total: int  # matches, counted up to COUNT_LIMIT
    total_exact: bool  # False: there are more than `total`


class FlowPage(Page):
    flows: list[LoggedFlow]


class EventPage(Page):
    events: list[LoggedEvent]


def canonical_ip(text: str) -> str:
    """The form the sensor writes (compressed IPv6, no zone); ValueError names what is wrong."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise ValueError(f"{text!r} is not an IPv4 or IPv6 address") from None


def canonical_protocol(text: str) -> str:
    """The protocol as the sensor names it, whatever the case it was asked in ("icmpv6" is "ICMPv6")."""
    return PROTOCOL_NAMES.get(text.strip().lower(), text.strip())


def domain_reversed(name: str) -> str:
    return name.strip().rstrip(".").lower()[::-1]


# --- writing (the engine) ------------------------------------------------------------------------------------
def record_batch(connection, batch_id: int, batch: Batch) -> None:
    """Log every flow and event of a batch; runs inside the engine's transaction for that batch."""
    services = {event.flow_uid: event_service(event) for event in batch.events if event.flow_uid}
    for flow in batch.flows:
        flow_id = _insert_flow(connection, batch_id, batch.agent_id, flow, services.get(flow.uid, ""))
        for ip in {flow.src_ip, flow.dst_ip}:
            connection.execute(
                "INSERT INTO flow_log_addresses (ip, ts_start, flow_id) VALUES (?, ?, ?)", (ip, flow.ts_start, flow_id)
            )
    connection.executemany(EVENT_INSERT, [_event_row(batch_id, batch.agent_id, event) for event in batch.events])


def _insert_flow(connection, batch_id: int, agent_id: str, flow: Flow, event_service_name: str) -> int:
    # The sensor names a flow's service from its content (Flow.service); a flow it could not name may still carry
    # a protocol event that does (a DNS query on an unusual port, a Kerberos request).
    service = flow.service or event_service_name
    connection.execute(
        "INSERT INTO flow_log (batch_id, agent_id, uid, ts_start, ts_end, proto, service, src_ip, src_port, dst_ip, "
        "dst_port, pkts_orig, pkts_resp, bytes_orig, bytes_resp, conn_state, end_reason) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (batch_id, agent_id, flow.uid, flow.ts_start, flow.ts_end, flow.proto, service, flow.src_ip, flow.src_port,
         flow.dst_ip, flow.dst_port, flow.pkts_orig, flow.pkts_resp, flow.bytes_orig, flow.bytes_resp,
         flow.conn_state, flow.end_reason),
    )
    return connection.last_insert_rowid()


def event_service(event: AnyEvent) -> str:
    if isinstance(event, CleartextLoginEvent):
        return "http" if event.protocol == "http_basic" else event.protocol
    return SERVICE_OF_EVENT.get(type(event).__struct_config__.tag, "")


def event_name(event: AnyEvent) -> str:
    """The name an investigator searches an event by."""
    if isinstance(event, DnsEvent):
        return event.query
    if isinstance(event, TlsClientHelloEvent):
        return event.sni
    if isinstance(event, HttpRequestEvent):
        return event.host.rsplit(":", 1)[0] if event.host.count(":") == 1 else event.host
    if isinstance(event, DhcpEvent):
        return event.hostname
    if isinstance(event, KerberosEvent):
        return event.service
    return ""


def _event_row(batch_id: int, agent_id: str, event: AnyEvent) -> tuple:
    name = event_name(event).strip().rstrip(".").lower()
    return (batch_id, agent_id, event.ts, type(event).__struct_config__.tag, event.proto, event.src_ip,
            event.src_port, event.dst_ip, event.dst_port, event.flow_uid, name,
            msgspec.json.encode(event).decode(), name[::-1])


# --- reading -------------------------------------------------------------------------------------------------
def _time_range(time_column: str, since: float | None, until: float | None) -> tuple[list[str], list]:
    """Always bounded: the index on time then serves the order even when no range is asked for."""
    return [f"{time_column} >= ?", f"{time_column} <= ?"], [
        EARLIEST if since is None else since,
        LATEST if until is None else until,
    ]


def _flow_filters(query: FlowQuery, time_column: str) -> tuple[list[str], list]:
    conditions, parameters = _time_range(time_column, query.since, query.until)
    for column, value in (("f.dst_port", query.port), ("f.proto", query.protocol), ("f.service", query.service),
                          ("f.agent_id", query.agent_id)):
        if value is not None:
            conditions.append(f"{column} = ?")
            parameters.append(value)
    return conditions, parameters


def _flow_select(query: FlowQuery) -> tuple[str, list]:
    """FROM .. WHERE for a query, and its parameters, with the order column `t` and tie-breaker `i`."""
    if query.ip is not None:
        conditions, parameters = _flow_filters(query, "a.ts_start")
        return (
            "FROM flow_log_addresses a JOIN flow_log f ON f.id = a.flow_id "
            f"WHERE a.ip = ? AND {' AND '.join(conditions)}",
            [canonical_ip(query.ip), *parameters],
        )
    conditions, parameters = _flow_filters(query, "f.ts_start")
    return f"FROM flow_log f WHERE {' AND '.join(conditions)}", parameters


def _order(query: FlowQuery, direction: str) -> str:
    if query.ip is not None:
        return f"ORDER BY a.ts_start {direction}, a.flow_id {direction}"
    return f"ORDER BY f.ts_start {direction}, f.id {direction}"


def _flow(row: tuple) -> LoggedFlow:
    return LoggedFlow(**dict(zip(FLOW_COLUMNS.split(", "), row, strict=True)))


def _count(connection, source: str, parameters: list) -> tuple[int, bool]:
    counted = connection.execute(
        f"SELECT count(*) FROM (SELECT 1 {source} LIMIT ?)", (*parameters, COUNT_LIMIT + 1)
    ).fetchall()[0][0]
    return min(counted, COUNT_LIMIT), counted <= COUNT_LIMIT


def search_flows(connection, query: FlowQuery, *, limit: int = 100, offset: int = 0) -> FlowPage:
    """One page of matching flows, newest first."""
    source, parameters = _flow_select(query)
    columns = ", ".join(f"f.{column}" for column in FLOW_COLUMNS.split(", "))
    rows = connection.execute(
        f"SELECT {columns} {source} {_order(query, 'DESC')} LIMIT ? OFFSET ?", (*parameters, limit, offset)
    ).fetchall()
    total, exact = _count(connection, source, parameters)
    return FlowPage(flows=[_flow(row) for row in rows], total=total, total_exact=exact)


def iter_flows(connection, query: FlowQuery) -> Iterator[LoggedFlow]:
    """Every matching flow, oldest first (exports, retro-hunts): the rows are read as they are consumed."""
    source, parameters = _flow_select(query)
    columns = ", ".join(f"f.{column}" for column in FLOW_COLUMNS.split(", "))
    for row in connection.execute(f"SELECT {columns} {source} {_order(query, 'ASC')}", parameters):
        yield _flow(row)


def flows_touching(
    connection, addresses: Iterable[str], since: float | None = None, until: float | None = None
) -> Iterator[LoggedFlow]:
    """Every logged flow with any of `addresses` on either side between `since` and `until` (a retro-hunt),
    address by address, oldest first within each; a flow between two of them comes once per address."""
    for address in addresses:
        yield from iter_flows(connection, FlowQuery(ip=address, since=since, until=until))


def flows_by_id(connection, after_id: int, through_id: int) -> list[LoggedFlow]:
    """The logged flows with ids in (after_id, through_id], in id order: a retro-hunt walks the log a page at
    a time."""
    rows = connection.execute(
        f"SELECT {FLOW_COLUMNS} FROM flow_log WHERE id > ? AND id <= ? ORDER BY id", (after_id, through_id)
    )
    return [_flow(row) for row in rows]


def _event_select(query: EventQuery) -> tuple[str, list]:
    conditions, parameters = _time_range("e.ts", query.since, query.until)
    if query.ip is not None:
        conditions.append("(e.src_ip = ? OR e.dst_ip = ?)")
        parameters += [canonical_ip(query.ip)] * 2
    if query.kind is not None:
        conditions.append("e.kind = ?")
        parameters.append(query.kind)
    if query.name is not None:
        reversed_name = domain_reversed(query.name)
        # the name itself, or one ending in ".name": "moc.elpmaxe." up to (not including) "moc.elpmaxe/"
        conditions.append("(e.name_reversed = ? OR (e.name_reversed > ? AND e.name_reversed < ?))")
        parameters += [reversed_name, reversed_name + ".", reversed_name + "/"]
    return f"FROM event_log e WHERE {' AND '.join(conditions)}", parameters


def _event(row: tuple) -> LoggedEvent:
    values = dict(zip(EVENT_COLUMNS.split(", "), row, strict=True))
    return LoggedEvent(**{**values, "detail": msgspec.json.decode(values["detail"])})


def search_events(connection, query: EventQuery, *, limit: int = 100, offset: int = 0) -> EventPage:
    """One page of matching protocol events, newest first."""
    source, parameters = _event_select(query)
    columns = ", ".join(f"e.{column}" for column in EVENT_COLUMNS.split(", "))
    rows = connection.execute(
        f"SELECT {columns} {source} ORDER BY e.ts DESC, e.id DESC LIMIT ? OFFSET ?", (*parameters, limit, offset)
    ).fetchall()
    total, exact = _count(connection, source, parameters)
    return EventPage(events=[_event(row) for row in rows], total=total, total_exact=exact)


def events_by_id(connection, after_id: int, through_id: int, kinds: Iterable[str]) -> list[LoggedEvent]:
    """The logged events of `kinds` with ids in (after_id, through_id], in id order (a retro-hunt's page)."""
    kinds = list(kinds)
    marks = ",".join("?" * len(kinds))
    rows = connection.execute(
        f"SELECT {EVENT_COLUMNS} FROM event_log WHERE id > ? AND id <= ? AND kind IN ({marks}) ORDER BY id",
        (after_id, through_id, *kinds),
    )
    return [_event(row) for row in rows]


def events_naming(
    connection, domains: Iterable[str], since: float | None = None, until: float | None = None
) -> Iterator[LoggedEvent]:
    """Every logged event naming one of `domains` or a subdomain (DNS query, TLS SNI, HTTP host ...), domain by
    domain, oldest first within each: a retro-hunt for domain indicators."""
    columns = ", ".join(f"e.{column}" for column in EVENT_COLUMNS.split(", "))
    for domain in domains:
        source, parameters = _event_select(EventQuery(name=domain, since=since, until=until))
        for row in connection.execute(f"SELECT {columns} {source} ORDER BY e.ts, e.id", parameters):
            yield _event(row)
