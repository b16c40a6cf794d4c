"""Alert shapes at the API edge: exactly the seed's fields."""

from __future__ import annotations

import enum
from typing import Annotated, Any

import msgspec

from appliance.api.json_schema import at_least_one_of


class Severity(enum.StrEnum):
    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class AlertStatus(enum.StrEnum):
    open = "open"
    reviewed = "reviewed"
    resolved = "resolved"
    false_positive = "false_positive"


class AlertFacts(msgspec.Struct):
    """What every view of an alert carries: the seed's fields but the model's explanation (the API's Alert
    names it shap_json, a report's record shap)."""

    id: str
    severity: str
    rule_name: str
    source_ip: str
    dest_ip: str | None
    port: int | None
    protocol: str | None
    score: float
    timestamp: int
    status: str


class Alert(AlertFacts):
    shap_json: dict[str, Any]


class AlertDetail(Alert):
    """One alert with what the list leaves out: the analyst's notes and the engine's incident evidence."""

    notes: str = ""
    trace_id: str | None = None  # the latest decision trace about this alert
    evidence: dict[str, Any] = {}
    first_seen: float | None = None  # packet time of the incident's first and latest activity
    last_seen: float | None = None


class AlertList(msgspec.Struct):
    alerts: list[Alert]
    total: int


class AlertUpdate(msgspec.Struct, forbid_unknown_fields=True):
    status: AlertStatus | None = None
    notes: Annotated[str, msgspec.Meta(max_length=10_000)] | None = msgspec.field(default=None)

    def __post_init__(self) -> None:
        if self.status is None and self.notes is None:
            raise ValueError("give at least one of status, notes")


AlertUpdateBody = Annotated[AlertUpdate, msgspec.Meta(extra_json_schema=at_least_one_of("status", "notes"))]
