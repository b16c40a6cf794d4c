"""GET /flows: the flow log (every flow and protocol event the box received), searched and exported.

The seed has no flow section; these paths follow its style (a list with `total`, limit/offset, epoch times).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Literal, get_args

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import FromQuery, Parameter
from litestar.response import Stream

from appliance.api.box import Box
from appliance.api.security import viewer
from appliance.evidence import flow_log
from appliance.evidence.flow_log import EventPage, EventQuery, FlowPage, FlowQuery
from appliance.store import keys
from appliance.store.connection import open_encrypted
from appliance.store.database import Store
from appliance.whitelist.models import IP_ADDRESS_PATTERN
from sensor.records import AnyEvent

NAME_CHARS = 253  # a DNS name's longest
# gt=-1, not ge=0: Litestar leaves a falsy bound of an optional parameter out of the OpenAPI
PORT = Parameter(default=None, gt=-1, le=65535, description="the responder's port (the service's)")
EventKind = Literal[tuple(event.__struct_config__.tag for event in get_args(AnyEvent))]


def flow_query(ip, port, protocol, service, since, until) -> FlowQuery:
    return FlowQuery(ip=ip, port=port, protocol=protocol.upper() if protocol else None,
                     service=service.lower() if service else None, since=since, until=until)


def exported_flows(box: Box, query: FlowQuery) -> Iterator[bytes]:
    """A read-only connection of its own: the stream is read chunk by chunk on whatever thread serves it, and a
    thread's shared connection may meanwhile serve another request."""
    connection = open_encrypted(box.data_dir.database, keys.load_key(box.data_dir), readonly=True)
    try:
        yield from flows_as_csv(flow_log.iter_flows(connection, query))
    finally:
        connection.close()


def flows_as_csv(flows: Iterator[flow_log.LoggedFlow]) -> Iterator[bytes]:
    columns = flow_log.FLOW_COLUMNS.split(", ")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for count, flow in enumerate(flows, 1):
        writer.writerow([getattr(flow, column) for column in columns])
        if count % 1000 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


class FlowsController(Controller):
    path = "/flows"
    tags = ["flows"]
    guards = [viewer]

    @get("/", sync_to_thread=True, raises=[ValidationException],
         summary="Logged flows, newest first; `ip` matches either side, `port` the responder's")
    def list_flows(
        self,
        store: NamedDependency[Store],
        ip: str | None = Parameter(default=None, max_length=64, pattern=IP_ADDRESS_PATTERN,
                                   description="an IPv4 or IPv6 address, either side of the flow"),
        port: int | None = PORT,
        protocol: str | None = Parameter(default=None, max_length=16, description="TCP, UDP, ICMP ..."),
        service: str | None = Parameter(default=None, max_length=32, description="dns, tls, http, ssh ..."),
        since: float | None = Parameter(default=None, description="flows that started at or after (epoch s)"),
        until: float | None = Parameter(default=None, description="flows that started at or before (epoch s)"),
        limit: int = Parameter(default=30, ge=1, le=100),
        offset: int = Parameter(default=0, ge=0, le=100_000),
    ) -> FlowPage:
        query = flow_query(ip, port, protocol, service, since, until)
        return flow_log.search_flows(store.connection(), query, limit=limit, offset=offset)

    @get("/events", sync_to_thread=True, raises=[ValidationException],
         summary="Logged protocol events (DNS, TLS, HTTP ...), newest first; `name` matches a domain and its "
                 "subdomains")
    def list_events(
        self,
        store: NamedDependency[Store],
        ip: str | None = Parameter(default=None, max_length=64, pattern=IP_ADDRESS_PATTERN,
                                   description="an IPv4 or IPv6 address, either side of the flow"),
        kind: FromQuery[EventKind | None] = None,
        name: str | None = Parameter(default=None, max_length=NAME_CHARS),
        since: float | None = Parameter(default=None),
        until: float | None = Parameter(default=None),
        limit: int = Parameter(default=30, ge=1, le=100),
        offset: int = Parameter(default=0, ge=0, le=100_000),
    ) -> EventPage:
        query = EventQuery(ip=ip, kind=kind, name=name, since=since, until=until)
        return flow_log.search_events(store.connection(), query, limit=limit, offset=offset)

    @get("/export", sync_to_thread=True, media_type="text/csv", raises=[ValidationException],
         summary="Every matching flow as CSV, oldest first (same filters as the list)")
    def export_flows(
        self,
        box: NamedDependency[Box],
        ip: str | None = Parameter(default=None, max_length=64, pattern=IP_ADDRESS_PATTERN,
                                   description="an IPv4 or IPv6 address, either side of the flow"),
        port: int | None = PORT,
        protocol: str | None = Parameter(default=None, max_length=16),
        service: str | None = Parameter(default=None, max_length=32),
        since: float | None = Parameter(default=None),
        until: float | None = Parameter(default=None),
    ) -> Stream:
        query = flow_query(ip, port, protocol, service, since, until)
        return Stream(exported_flows(box, query), media_type="text/csv",
                      headers={"Content-Disposition": 'attachment; filename="flows.csv"', "Cache-Control": "no-store"})
