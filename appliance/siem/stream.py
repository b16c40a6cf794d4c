"""The SIEM export to syslog destinations: a step of the notifier's round.

Per enabled destination: read the next page of the export stream after its cursor, send every record as one
RFC 5424 message (MSG: the record as one JSON line, EVE or ECS) over TCP or TLS, and move the cursor only once
the receiver confirmed it read the page (appliance.delivery.syslog). A crash between sending and moving the
cursor sends that page again: at-least-once, and each record carries its own cursor (netsenx.cursor) for a
receiver that wants to drop repeats. A failing destination backs off (30 s doubling to 30 min) and resumes
where it stopped. Without the licence's `siem_export` feature the streams hold still, cursors kept.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from appliance.delivery import syslog
from appliance.delivery.errors import DeliveryError
from appliance.licensing import box_license
from appliance.notifications.formats import SYSLOG_INFORMATIONAL, SYSLOG_SEVERITY
from appliance.notifications.repository import load_settings
from appliance.siem import repository
from appliance.siem.cursor import ExportCursor
from appliance.siem.ecs import ecs
from appliance.siem.eve import eve
from appliance.siem.events import ExportRecord, read_page
from appliance.siem.models import ExportDestination
from appliance.store.database import Store

log = logging.getLogger("netsenx.siem")

PAGE = 500
LICENSE_RECHECK_SECONDS = 60
FIRST_DELAY, MAX_DELAY = 30.0, 1800.0


def document(schema: str, record: ExportRecord, box_name: str, *, evidence: bool) -> dict:
    shape = ecs if schema == "ecs" else eve
    return shape(record, box_name, evidence=evidence)


def syslog_message(destination: ExportDestination, record: ExportRecord, box_name: str, at: float) -> bytes:
    severity = SYSLOG_INFORMATIONAL
    if record.kind == "alert":
        severity = SYSLOG_SEVERITY.get(record.data.get("severity"), SYSLOG_INFORMATIONAL)
    text = json.dumps(document(destination.schema, record, box_name, evidence=destination.evidence),
                      separators=(",", ":"), ensure_ascii=False)
    return syslog.format_message(facility=destination.facility, severity=severity, at=at, hostname=box_name,
                                 app_name="netsenx", msgid=destination.schema.upper(), params={}, text=text)


def target(destination: ExportDestination) -> syslog.SyslogTarget:
    return syslog.SyslogTarget(host=destination.host, port=destination.port, transport=destination.transport,
                               ca_pem=destination.ca_pem)


class ExportStep:
    """Callable by the notifier with the round's time; returns how many records it delivered."""

    def __init__(self, store: Store, *, timeout: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.timeout = timeout
        self.clock = clock
        self._gate_checked_at = -LICENSE_RECHECK_SECONDS
        self._gate = None

    def allowed(self) -> tuple[bool, str]:
        if self.clock() - self._gate_checked_at >= LICENSE_RECHECK_SECONDS:
            self._gate = box_license.siem_export_gate(self.store)
            self._gate_checked_at = self.clock()
        return self._gate.allowed, self._gate.detail

    def __call__(self, now: float) -> int:
        destinations = repository.list_all(self.store, enabled_only=True)
        if not destinations:
            return 0
        allowed, detail = self.allowed()
        if not allowed:
            for destination in destinations:
                if destination.last_error != detail:
                    repository.failed(self.store, destination.id, detail, None)
            return 0
        box_name = load_settings(self.store).box_name
        return sum(self.send_page(destination, box_name, now) for destination in destinations
                   if (destination.retry_at or 0) <= now)

    def send_page(self, destination: ExportDestination, box_name: str, now: float) -> int:
        page = read_page(self.store, ExportCursor.parse(destination.cursor), frozenset(destination.records), PAGE)
        if str(page.next) == destination.cursor:
            return 0
        try:
            syslog.send(target(destination), [syslog_message(destination, record, box_name, now)
                                              for record in page.records], self.timeout)
        except DeliveryError as error:
            delay = min(MAX_DELAY, FIRST_DELAY * 2 ** destination.failures)
            log.warning("export to %s failed: %s (next try in %.0f s)", destination.name, error, delay)
            repository.failed(self.store, destination.id, str(error), now + delay)
            return 0
        repository.advanced(self.store, destination.id, str(page.next), len(page.records), now)
        return len(page.records)
