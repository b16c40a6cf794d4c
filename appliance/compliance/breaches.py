"""The GDPR Art.33(5) breach register: every personal-data breach, notified or not, and why not."""

from __future__ import annotations

import json
import time
import uuid
from typing import Annotated

import msgspec

from appliance.api.updates import partial_update
from appliance.compliance.incidents import (
    CLOCK_SKEW_S,
    EpochSeconds,
    InvalidRecord,
    Title,
    UnknownRecord,
    next_reference,
)
from appliance.compliance.regimes import Regime
from appliance.store.database import Store

TEXT_LIMIT = 10_000
MAX_CATEGORIES = 50


Text = Annotated[str, msgspec.Meta(max_length=TEXT_LIMIT)]
Category = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"\S")]
Approximately = Annotated[int, msgspec.Meta(ge=0)]


class BreachIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A breach as recorded. When `notified` is false, `not_notified_reason` is required (Art.33(5));
    when true, `notified_at`. `delay_reason` explains a notification later than the deadline."""

    title: Title
    aware_at: EpochSeconds
    incident_id: str | None = None
    nature: Text = ""
    data_categories: Annotated[list[Category], msgspec.Meta(max_length=MAX_CATEGORIES)] = []
    data_subjects_approx: Approximately | None = None
    records_approx: Approximately | None = None
    likely_consequences: Text = ""
    measures: Text = ""
    high_risk: bool = False
    notified: bool = False
    notified_at: float | None = None
    not_notified_reason: Text = ""
    delay_reason: Text = ""
    subjects_informed: bool = False


BreachUpdate = partial_update(
    BreachIn, "BreachUpdate", "Only the fields given change; the result must still be a valid register entry.")


class Breach(BreachIn, kw_only=True):
    id: str
    reference: str
    notification_due_at: float
    late: bool                # notified after the deadline
    late_without_reason: bool  # ... and no reason for the delay recorded (Art.33(1))
    created_by: str
    created_at: float
    updated_at: float


class BreachList(msgspec.Struct):
    breaches: list[Breach]
    total: int


def validated(store: Store, breach: BreachIn, now: float) -> BreachIn:
    """What the Struct's field limits cannot say (they hold already: the API decoded the body against them)."""
    if breach.aware_at > now + CLOCK_SKEW_S:
        raise InvalidRecord("aware_at: must be epoch seconds, not in the future")
    if breach.notified:
        if breach.notified_at is None:
            raise InvalidRecord("notified_at: required when notified is true")
        if breach.notified_at < breach.aware_at or breach.notified_at > now + CLOCK_SKEW_S:
            raise InvalidRecord("notified_at: must lie between aware_at and now")
    elif not breach.not_notified_reason.strip():
        raise InvalidRecord("not_notified_reason: Art.33(5) requires the reason a breach was not notified")
    if breach.incident_id is not None and store.query_one(
            "SELECT 1 FROM incidents WHERE id = ?", (breach.incident_id,)) is None:
        raise UnknownRecord(f"incident_id: no incident {breach.incident_id}")
    return msgspec.structs.replace(breach, title=breach.title.strip(),
                                   data_categories=[category.strip() for category in breach.data_categories],
                                   notified_at=breach.notified_at if breach.notified else None)


COLUMNS = list(BreachIn.__struct_fields__)


def _row_values(breach: BreachIn) -> list:
    values = msgspec.to_builtins(breach)
    values["data_categories"] = json.dumps(values["data_categories"])
    return [values.get(name) for name in COLUMNS]


def create(store: Store, data: BreachIn, username: str, now: float | None = None) -> str:
    now = time.time() if now is None else now
    breach_id = str(uuid.uuid4())
    with store.write_transaction():
        breach = validated(store, data, now)
        store.execute(
            f"INSERT INTO breaches (id, reference, {', '.join(COLUMNS)}, created_by, created_at, updated_at) "
            f"VALUES ({', '.join('?' * (len(COLUMNS) + 5))})",
            (breach_id, next_reference(store, "BR", "breaches", now), *_row_values(breach), username, now, now))
    return breach_id


def update(store: Store, breach_id: str, data: BreachUpdate, now: float | None = None) -> list[str]:
    """Returns the names of the fields changed. KeyError if there is no such breach."""
    now = time.time() if now is None else now
    changes = msgspec.to_builtins(data)
    with store.write_transaction():
        row = store.query_one(f"SELECT {', '.join(COLUMNS)} FROM breaches WHERE id = ?", (breach_id,))
        if row is None:
            raise KeyError(breach_id)
        current = _breach_in(row)
        breach = validated(store, msgspec.convert(msgspec.to_builtins(current) | changes, BreachIn), now)
        assignments = ", ".join(f"{name} = ?" for name in COLUMNS)
        store.execute(f"UPDATE breaches SET {assignments}, updated_at = ? WHERE id = ?",
                      (*_row_values(breach), now, breach_id))
    return sorted(changes)


def _breach_in(row: dict) -> BreachIn:
    return msgspec.convert(row | {"data_categories": json.loads(row["data_categories"])}, BreachIn, strict=False)


def _breach(row: dict, regime: Regime) -> Breach:
    record = _breach_in({name: row[name] for name in COLUMNS})
    due = row["aware_at"] + regime.stage("notification").due.hours * 3600
    late = record.notified and record.notified_at > due
    return Breach(**msgspec.structs.asdict(record), id=row["id"], reference=row["reference"], notification_due_at=due,
                  late=late, late_without_reason=late and not record.delay_reason.strip(),
                  created_by=row["created_by"], created_at=row["created_at"], updated_at=row["updated_at"])


def get(store: Store, breach_id: str, regime: Regime) -> Breach | None:
    row = store.query_one("SELECT * FROM breaches WHERE id = ?", (breach_id,))
    return None if row is None else _breach(row, regime)


def list_page(store: Store, regime: Regime, limit: int, offset: int) -> BreachList:
    rows = store.query("SELECT * FROM breaches ORDER BY aware_at DESC, id LIMIT ? OFFSET ?", (limit, offset))
    total = store.query_one("SELECT count(*) AS n FROM breaches")["n"]
    return BreachList(breaches=[_breach(row, regime) for row in rows], total=total)


def for_incident(store: Store, incident_id: str) -> BreachIn | None:
    row = store.query_one(f"SELECT {', '.join(COLUMNS)} FROM breaches WHERE incident_id = ? "
                          "ORDER BY created_at DESC LIMIT 1", (incident_id,))
    return None if row is None else _breach_in(row)
