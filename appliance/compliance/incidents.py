"""The NIS2 incident register: incidents group related alerts and carry the Art.23 reporting deadlines."""

from __future__ import annotations

import json
import time
import uuid
from typing import Annotated, Literal, get_args

import msgspec

from appliance.compliance.regimes import Nis2Stage, Regime, StageDeadline, stage_deadlines
from appliance.store.database import Store

Status = Literal["open", "contained", "resolved", "closed"]
STATUSES = get_args(Status)
ONGOING = ("open", "contained")
MAX_ALERTS_PER_CALL = 1000
CLOCK_SKEW_S = 300
TEXT_LIMITS = {"title": 200, "description": 10_000, "impact": 10_000, "root_cause": 10_000, "mitigation": 10_000}


class InvalidRecord(ValueError):
    """A register entry that cannot be stored; the message starts with the field name."""


class UnknownRecord(InvalidRecord):
    """The entry refers to an alert or incident that does not exist (the API answers 404)."""


Title = Annotated[str, msgspec.Meta(min_length=1, max_length=TEXT_LIMITS["title"], pattern=r"\S")]
EpochSeconds = Annotated[float, msgspec.Meta(gt=0)]

class IncidentIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`aware_at`: epoch seconds the entity became aware of the incident (default: now)."""

    title: Title
    alert_ids: Annotated[list[str], msgspec.Meta(min_length=1, max_length=MAX_ALERTS_PER_CALL)]
    aware_at: EpochSeconds | None = None
    description: str = ""
    significant: bool | None = None
    suspected_malicious: bool | None = None
    cross_border: bool | None = None


class IncidentUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Only the fields given change. `submissions` records when a stage's report was sent:
    {"early_warning": epoch, ...}; `add_alert_ids` attaches more alerts."""

    title: Title | None = None
    description: str | None = None
    status: Status | None = None
    aware_at: EpochSeconds | None = None
    significant: bool | None = None
    suspected_malicious: bool | None = None
    cross_border: bool | None = None
    impact: str | None = None
    root_cause: str | None = None
    mitigation: str | None = None
    submissions: dict[Nis2Stage, EpochSeconds] | None = None
    intermediate_requested_at: EpochSeconds | None = None
    add_alert_ids: Annotated[list[str], msgspec.Meta(max_length=MAX_ALERTS_PER_CALL)] | None = None


class IncidentReport(msgspec.Struct):
    kind: str  # nis2, gdpr
    title: str  # with the NIS2 stage
    sha256: str  # of the PDF handed out
    generated_by: str
    generated_at: float


class LegalHold(msgspec.Struct):
    """The incident's evidence is kept whatever retention says until an admin releases it
    (appliance/evidence/legal_hold.py)."""

    reason: str
    placed_by: str
    placed_at: float


class Incident(msgspec.Struct):
    id: str
    reference: str
    title: str
    description: str
    status: str
    aware_at: float
    significant: bool | None
    suspected_malicious: bool | None
    cross_border: bool | None
    impact: str
    root_cause: str
    mitigation: str
    submissions: dict[str, float]
    intermediate_requested_at: float | None
    alert_ids: list[str]
    deadlines: list[StageDeadline]
    overdue: bool
    created_by: str
    created_at: float
    updated_at: float
    reports: list[IncidentReport] = []  # newest first
    legal_hold: LegalHold | None = None


class IncidentList(msgspec.Struct):
    incidents: list[Incident]
    total: int


def check_text(name: str, value: str) -> str:
    value = value.strip()
    if len(value) > TEXT_LIMITS[name]:
        raise InvalidRecord(f"{name}: at most {TEXT_LIMITS[name]} characters")
    return value


def check_time(name: str, value: float, now: float) -> float:
    if value <= 0 or value > now + CLOCK_SKEW_S:
        raise InvalidRecord(f"{name}: must be epoch seconds, not in the future")
    return value


def check_alert_ids(store: Store, alert_ids: list[str]) -> list[str]:
    unique = list(dict.fromkeys(alert_ids))
    if len(unique) > MAX_ALERTS_PER_CALL:
        raise InvalidRecord(f"alert_ids: at most {MAX_ALERTS_PER_CALL} per request")
    known = {row["id"] for row in store.query(
        f"SELECT id FROM alerts WHERE id IN ({','.join('?' * len(unique))})", unique)} if unique else set()
    unknown = [alert_id for alert_id in unique if alert_id not in known]
    if unknown:
        raise UnknownRecord(f"alert_ids: no such alert(s): {', '.join(unknown[:5])}")
    return unique


def next_reference(store: Store, prefix: str, table: str, now: float) -> str:
    year = time.gmtime(now).tm_year
    count = store.query_one(f"SELECT count(*) AS n FROM {table} WHERE reference LIKE ?", (f"{prefix}-{year}-%",))["n"]
    return f"{prefix}-{year}-{count + 1:04d}"


def create(store: Store, data: IncidentIn, username: str, now: float | None = None) -> str:
    now = time.time() if now is None else now
    title = check_text("title", data.title)
    if not title:
        raise InvalidRecord("title: must not be empty")
    if not data.alert_ids:
        raise InvalidRecord("alert_ids: give at least one alert")
    aware_at = now if data.aware_at is None else check_time("aware_at", data.aware_at, now)
    incident_id = str(uuid.uuid4())
    with store.write_transaction():
        alert_ids = check_alert_ids(store, data.alert_ids)
        store.execute(
            "INSERT INTO incidents (id, reference, title, description, aware_at, significant, suspected_malicious, "
            "cross_border, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (incident_id, next_reference(store, "INC", "incidents", now), title,
             check_text("description", data.description), aware_at, data.significant, data.suspected_malicious,
             data.cross_border, username, now, now))
        attach_alerts(store, incident_id, alert_ids, now)
    return incident_id


def attach_alerts(store: Store, incident_id: str, alert_ids: list[str], now: float) -> None:
    store.connection().executemany(
        "INSERT OR IGNORE INTO incident_alerts (incident_id, alert_id, added_at) VALUES (?, ?, ?)",
        [(incident_id, alert_id, now) for alert_id in alert_ids])


def update(store: Store, incident_id: str, data: IncidentUpdate, regime: Regime, now: float | None = None) -> dict:
    """Apply the changes; returns what changed (for the audit log). KeyError if there is no such incident."""
    now = time.time() if now is None else now
    changes: dict = {}
    for name in ("title", "description", "impact", "root_cause", "mitigation"):
        if (value := getattr(data, name)) is not None:
            changes[name] = check_text(name, value)
    if changes.get("title") == "":
        raise InvalidRecord("title: must not be empty")
    if data.status is not None:
        if data.status not in STATUSES:
            raise InvalidRecord(f"status: must be one of {', '.join(STATUSES)}")
        changes["status"] = data.status
    for name in ("aware_at", "intermediate_requested_at"):
        if (value := getattr(data, name)) is not None:
            changes[name] = check_time(name, value, now)
    for name in ("significant", "suspected_malicious", "cross_border"):
        if (value := getattr(data, name)) is not None:
            changes[name] = value
    with store.write_transaction():
        row = store.query_one("SELECT submissions FROM incidents WHERE id = ?", (incident_id,))
        if row is None:
            raise KeyError(incident_id)
        if data.submissions is not None:
            stage_ids = {stage.id for stage in regime.stages}
            for stage, sent_at in data.submissions.items():
                if stage not in stage_ids:
                    raise InvalidRecord(f"submissions: unknown stage {stage!r}; one of {', '.join(stage_ids)}")
                check_time(f"submissions.{stage}", sent_at, now)
            changes["submissions"] = json.dumps(json.loads(row["submissions"]) | data.submissions)
        if changes:
            assignments = ", ".join(f"{name} = ?" for name in changes)
            store.execute(f"UPDATE incidents SET {assignments}, updated_at = ? WHERE id = ?",
                          (*changes.values(), now, incident_id))
        if data.add_alert_ids:
            attach_alerts(store, incident_id, check_alert_ids(store, data.add_alert_ids), now)
            changes["added_alerts"] = len(data.add_alert_ids)
    return changes


def _incident(store: Store, row: dict, regime: Regime, now: float) -> Incident:
    submissions = json.loads(row.pop("submissions"))
    alert_ids = [link["alert_id"] for link in store.query(
        "SELECT alert_id FROM incident_alerts WHERE incident_id = ? ORDER BY added_at, alert_id", (row["id"],))]
    deadlines = stage_deadlines(regime, aware_at=row["aware_at"], submissions=submissions,
                                requested_at=row["intermediate_requested_at"], ongoing=row["status"] in ONGOING,
                                now=now)
    for name in ("significant", "suspected_malicious", "cross_border"):
        row[name] = None if row[name] is None else bool(row[name])
    hold = store.query_one("SELECT reason, placed_by, placed_at FROM legal_holds WHERE incident_id = ?", (row["id"],))
    return Incident(**row, submissions=submissions, alert_ids=alert_ids, deadlines=deadlines,
                    overdue=any(deadline.overdue for deadline in deadlines), reports=reports_of(store, row["id"]),
                    legal_hold=LegalHold(**hold) if hold else None)


def record_report(store: Store, incident_id: str, report: IncidentReport) -> None:
    store.execute(
        "INSERT INTO incident_reports (incident_id, kind, title, sha256, generated_by, generated_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (incident_id, report.kind, report.title, report.sha256, report.generated_by, report.generated_at))


def reports_of(store: Store, incident_id: str) -> list[IncidentReport]:
    rows = store.query(
        "SELECT kind, title, sha256, generated_by, generated_at FROM incident_reports WHERE incident_id = ? "
        "ORDER BY generated_at DESC, id DESC", (incident_id,))
    return [IncidentReport(**row) for row in rows]


def get(store: Store, incident_id: str, regime: Regime, now: float | None = None) -> Incident | None:
    row = store.query_one("SELECT * FROM incidents WHERE id = ?", (incident_id,))
    return None if row is None else _incident(store, row, regime, time.time() if now is None else now)


def list_page(store: Store, regime: Regime, limit: int, offset: int, now: float | None = None) -> IncidentList:
    now = time.time() if now is None else now
    rows = store.query("SELECT * FROM incidents ORDER BY aware_at DESC, id LIMIT ? OFFSET ?", (limit, offset))
    total = store.query_one("SELECT count(*) AS n FROM incidents")["n"]
    return IncidentList(incidents=[_incident(store, row, regime, now) for row in rows], total=total)


def incident_for_alert(store: Store, alert_id: str) -> str | None:
    """The newest incident that groups this alert."""
    row = store.query_one(
        "SELECT incident_id FROM incident_alerts JOIN incidents ON incidents.id = incident_id "
        "WHERE alert_id = ? ORDER BY incidents.created_at DESC LIMIT 1", (alert_id,))
    return row["incident_id"] if row else None
