"""/export: the SIEM export, pulled (`GET /export/events?after=...`, NDJSON) or streamed to syslog destinations.

Both need the licence's `siem_export` feature (403 without it, 423 once the licence is locked, like reports);
listing and removing destinations always work. Detection and the alerts never depend on the export.
"""

from __future__ import annotations

import json
import time

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath, FromQuery, JSONBody, Parameter

from appliance.api.errors import BadGateway, Conflict, Locked
from appliance.api.security import admin, viewer
from appliance.audit.requests import record_request
from appliance.delivery import destinations
from appliance.delivery import syslog as syslog_transport
from appliance.licensing import box_license
from appliance.notifications.repository import load_settings
from appliance.notifications.trial import send_trial
from appliance.siem import repository
from appliance.siem.cursor import CURSOR_PATTERN, START, ExportCursor
from appliance.siem.events import MAX_PAGE, ExportRecord, read_page
from appliance.siem.models import ExportDestination, ExportDestinationIn, ExportDestinationList, Schema
from appliance.siem.stream import document, syslog_message, target
from appliance.store.database import Store

NDJSON = "application/x-ndjson"
NEXT_CURSOR_HEADER = "X-Export-Next"
MORE_HEADER = "X-Export-More"
RECORDS_PATTERN = r"^(alerts|flows|protocol_events)(,(alerts|flows|protocol_events))*$"


def export_gate(store) -> None:
    box_license.raise_unless_allowed(box_license.siem_export_gate(store))


def checked(data: ExportDestinationIn) -> ExportDestinationIn:
    try:
        destinations.check_host(data.host)
        if data.ca_pem is not None:
            destinations.check_ca_pem(data.ca_pem)
    except ValueError as error:
        field = "ca_pem" if data.ca_pem and "PEM" in str(error) else "host"
        raise ValidationException(f"{field}: {error}") from error
    return data


def existing(store, destination_id: str) -> ExportDestination:
    found = repository.get(store, destination_id)
    if found is None:
        raise NotFoundException(f"no export destination {destination_id}")
    return found


class ExportController(Controller):
    path = "/export"
    tags = ["siem export"]

    @get(
        "/events",
        guards=[viewer],
        sync_to_thread=True,
        media_type=NDJSON,
        raises=[Locked],
        response_headers=[
            ResponseHeader(name=NEXT_CURSOR_HEADER, documentation_only=True, required=True,
                           description="the cursor after the last line: pass it as `after` for the next page"),
            ResponseHeader(name=MORE_HEADER, documentation_only=True, required=True,
                           description="true when the page is full and more is waiting"),
        ],
        summary="The export stream after a cursor, as NDJSON (one EVE or ECS document per line)",
        description=(
            "Each line carries its own cursor (netsenx.cursor); the response header X-Export-Next is the cursor "
            "after the last line and X-Export-More says whether more is waiting. Pass either as `after` to resume "
            "exactly there: no gaps, no repeats. `records`: alerts (default), flows, protocol_events, "
            "comma-separated."
        ),
    )
    def events(
        self,
        store: NamedDependency[Store],
        after: str = Parameter(default=START, pattern=CURSOR_PATTERN, max_length=48,
                               description="a cursor from a previous page; 0-0-0 is the start"),
        schema: FromQuery[Schema] = "eve",
        records: str = Parameter(default="alerts", pattern=RECORDS_PATTERN, max_length=64),
        evidence: bool = Parameter(default=False, description="include the alerts' rule evidence (user names, "
                                                              "domains, MAC addresses)"),
        limit: int = Parameter(default=500, ge=1, le=MAX_PAGE),
    ) -> Response[bytes]:
        export_gate(store)
        try:
            position = ExportCursor.parse(after)
        except ValueError as error:
            raise ValidationException(f"after: {error}") from error
        page = read_page(store, position, frozenset(records.split(",")), limit)
        box_name = load_settings(store).box_name
        lines = [json.dumps(document(schema, record, box_name, evidence=evidence), separators=(",", ":"),
                            ensure_ascii=False)
                 for record in page.records]
        body = ("\n".join(lines) + "\n").encode() if lines else b""
        return Response(body, media_type=NDJSON, headers={NEXT_CURSOR_HEADER: str(page.next),
                                                           MORE_HEADER: "true" if page.more else "false"})

    @get("/destinations", guards=[viewer], sync_to_thread=True, summary="SIEM export destinations (syslog)")
    def list_destinations(self, store: NamedDependency[Store]) -> ExportDestinationList:
        found = repository.list_all(store)
        return ExportDestinationList(destinations=found, total=len(found))

    @post("/destinations", guards=[admin], sync_to_thread=True, raises=[ValidationException, Conflict, Locked],
          summary="Stream the export to a syslog receiver (TCP or TLS)")
    def create_destination(self, data: JSONBody[ExportDestinationIn], request: Request,
                           store: NamedDependency[Store]) -> ExportDestination:
        export_gate(store)
        try:
            created = repository.create(store, checked(data), request.user.name)
        except repository.DestinationNameTaken as error:
            raise Conflict(str(error)) from error
        record_request(store, request, action="export_destination.created", target=created.id,
                       details=_audit(created))
        return created

    @get("/destinations/{destination_id:str}", guards=[viewer], sync_to_thread=True, summary="One destination")
    def get_destination(self, destination_id: FromPath[str], store: NamedDependency[Store]) -> ExportDestination:
        return existing(store, destination_id)

    @put("/destinations/{destination_id:str}", guards=[admin], sync_to_thread=True,
         raises=[ValidationException, Conflict, Locked],
         summary="Change a destination; its stream goes on from its cursor")
    def update_destination(self, destination_id: FromPath[str], data: JSONBody[ExportDestinationIn],
                           request: Request, store: NamedDependency[Store]) -> ExportDestination:
        existing(store, destination_id)
        export_gate(store)
        try:
            changed = repository.update(store, destination_id, checked(data))
        except repository.DestinationNameTaken as error:
            raise Conflict(str(error)) from error
        record_request(store, request, action="export_destination.changed", target=destination_id,
                       details=_audit(changed))
        return changed

    @delete("/destinations/{destination_id:str}", guards=[admin], status_code=200, sync_to_thread=True,
            summary="Stop exporting to a destination")
    def delete_destination(self, destination_id: FromPath[str], request: Request, store: NamedDependency[Store]
                           ) -> dict[str, str]:
        found = existing(store, destination_id)
        repository.delete(store, destination_id)
        record_request(store, request, action="export_destination.deleted", target=destination_id,
                       details=_audit(found))
        return {"detail": f"export destination {destination_id} deleted"}

    @post("/destinations/{destination_id:str}/test", guards=[admin], status_code=200, sync_to_thread=True,
          raises=[BadGateway, Locked], summary="Send one made-up alert record now; 502 says why it failed")
    def test_destination(self, destination_id: FromPath[str], request: Request,
                         store: NamedDependency[Store]) -> dict[str, str]:
        found = existing(store, destination_id)
        export_gate(store)
        now = time.time()
        record = ExportRecord(ExportCursor.parse(found.cursor), "alert", sample_alert_record(now), None)
        line = syslog_message(found, record, load_settings(store).box_name, now)
        send_trial(store, request, action="export_destination.tested", target=destination_id, what="record",
                   attempt=lambda: syslog_transport.send(target(found), [line], timeout=15.0))
        return {"detail": f"a test record reached {found.host}:{found.port}"}


def sample_alert_record(now: float) -> dict:
    """A made-up alert (documentation addresses) flagged as a test in its incident key and alert id."""
    return {"rule_name": "PORT_SCAN", "severity": "LOW", "score": 0.0, "source_ip": "192.0.2.10",
            "dest_ip": "192.0.2.20", "protocol": "TCP", "first_seen": now, "last_seen": now, "decided_at": now,
            "incident_key": "netsenx-export-test", "alert_id": "netsenx-export-test", "outcome": "alert_raised",
            "rule_version": "1.0.0", "shap": {}}


def _audit(destination: ExportDestination) -> dict:
    return {"name": destination.name, "address": f"{destination.host}:{destination.port}",
            "transport": destination.transport, "schema": destination.schema, "records": destination.records,
            "evidence": destination.evidence, "enabled": destination.enabled}
