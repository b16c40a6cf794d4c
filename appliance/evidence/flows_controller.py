"""GET /flows: the flow log (every flow and protocol event the box received), searched and exported.

The seed has no flow section; these paths follow its style: a list with `total`, `limit` (default 30, at most
100) and `offset`, times in seconds since the epoch. Viewers search, like alerts and traces; exporting the whole
matching log (everyone's traffic, personal data under the GDPR) is an analyst's act and goes into the audit log.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Literal, get_args

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import FromQuery, Parameter
from litestar.response import Stream

from appliance.api.box import Box
from appliance.api.paging import Offset
from appliance.api.security import analyst, viewer
from appliance.audit.requests import record_request
from appliance.evidence import flow_log
from appliance.evidence.flow_log import EventPage, EventQuery, FlowPage, FlowQuery, LoggedFlow
from appliance.store import keys
from appliance.store.connection import open_encrypted
from appliance.store.database import Store
from appliance.whitelist.models import IP_ADDRESS_PATTERN
from sensor.records import AnyEvent

NAME_CHARS = 253  # a DNS name's longest
CSV_CHUNK = 1000  # flows per chunk of the export stream
EventKind = Literal[tuple(event.__struct_config__.tag for event in get_args(AnyEvent))]

IP = Parameter(default=None, max_length=64, pattern=IP_ADDRESS_PATTERN,
               description="an IPv4 or IPv6 address, either side of the flow")
# gt=-1, not ge=0: Litestar leaves a falsy bound of an optional parameter out of the OpenAPI
PORT = Parameter(default=None, gt=-1, le=65535, description="the responder's port (the service's)")
PROTOCOL = Parameter(default=None, max_length=16, description="TCP, UDP, ICMP ... (any case)")
SERVICE = Parameter(default=None, max_length=32, description="dns, tls, http, ssh ... (any case)")
SINCE = Parameter(default=None, description="flows that started at or after this time (epoch seconds)")
UNTIL = Parameter(default=None, description="flows that started at or before this time (epoch seconds)")
LIMIT = Parameter(default=30, ge=1, le=100)


def checked_ip(ip: str | None) -> str | None:
    """The address as the sensor writes it (compressed IPv6); a 400 naming `ip` for what the pattern let by."""
    if ip is None:
        return None
    try:
        return flow_log.canonical_ip(ip)
    except ValueError as error:
        raise ValidationException(f"ip: {error}") from error


def flow_query(ip, port, protocol, service, since, until) -> FlowQuery:
    return FlowQuery(ip=checked_ip(ip), port=port, protocol=flow_log.canonical_protocol(protocol) if protocol else None,
                     service=service.lower() if service else None, since=since, until=until)


def exported_flows(box: Box, query: FlowQuery) -> Iterator[bytes]:
    """A read-only connection of its own: the stream is read chunk by chunk on whatever thread serves it, and a
    thread's shared connection may meanwhile serve another request."""
    connection = open_encrypted(box.data_dir.database, keys.load_key(box.data_dir), readonly=True)
    try:
        yield from flows_as_csv(flow_log.iter_flows(connection, query))
    finally:
        connection.close()


def flows_as_csv(flows: Iterator[LoggedFlow]) -> Iterator[bytes]:
    columns = flow_log.FLOW_COLUMNS.split(", ")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for count, flow in enumerate(flows, 1):
        writer.writerow([getattr(flow, column) for column in columns])
        if count % CSV_CHUNK == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


class FlowsController(Controller):
    path = "/flows"
    tags = ["flows"]

    @get("/", guards=[viewer], sync_to_thread=True, raises=[ValidationException],
         summary="Logged flows, newest first; `ip` matches either side, `port` the responder's")
    def list_flows(
        self,
        store: NamedDependency[Store],
        ip: str | None = IP,
        port: int | None = PORT,
        protocol: str | None = PROTOCOL,
        service: str | None = SERVICE,
        since: float | None = SINCE,
        until: float | None = UNTIL,
        limit: int = LIMIT,
        offset: Offset = 0,
    ) -> FlowPage:
        query = flow_query(ip, port, protocol, service, since, until)
        return flow_log.search_flows(store.connection(), query, limit=limit, offset=offset)

    @get("/events", guards=[viewer], sync_to_thread=True, raises=[ValidationException],
         summary="Logged protocol events (DNS, TLS, HTTP ...), newest first; `name` matches a domain and its "
                 "subdomains")
    def list_events(
        self,
        store: NamedDependency[Store],
        ip: str | None = IP,
        kind: FromQuery[EventKind | None] = None,
        name: str | None = Parameter(default=None, max_length=NAME_CHARS,
                                     description="a domain: DNS query, TLS SNI, HTTP host ... and its subdomains"),
        since: float | None = Parameter(default=None, description="events at or after this time (epoch seconds)"),
        until: float | None = Parameter(default=None, description="events at or before this time (epoch seconds)"),
        limit: int = LIMIT,
        offset: Offset = 0,
    ) -> EventPage:
        query = EventQuery(ip=checked_ip(ip), kind=kind, name=name, since=since, until=until)
        return flow_log.search_events(store.connection(), query, limit=limit, offset=offset)

    @get("/export", guards=[analyst], sync_to_thread=True, media_type="text/csv", raises=[ValidationException],
         summary="Every matching flow as CSV, oldest first (the list's filters); recorded in the audit log")
    def export_flows(
        self,
        request: Request,
        store: NamedDependency[Store],
        box: NamedDependency[Box],
        ip: str | None = IP,
        port: int | None = PORT,
        protocol: str | None = PROTOCOL,
        service: str | None = SERVICE,
        since: float | None = SINCE,
        until: float | None = UNTIL,
    ) -> Stream:
        query = flow_query(ip, port, protocol, service, since, until)
        filters = {field: value for field in query.__struct_fields__ if (value := getattr(query, field)) is not None}
        record_request(store, request, action="flows.exported", details=filters)
        return Stream(exported_flows(box, query), media_type="text/csv",
                      headers={"Content-Disposition": 'attachment; filename="flows.csv"', "Cache-Control": "no-store"})
