"""Reporting regimes (NIS2 Art.23, GDPR Art.33) read from data, and the deadlines they give an incident.

The shipped files are appliance/compliance/rules/<name>.json. A box can carry its own copy in
<data dir>/compliance-rules/<name>.json (national transposition, a changed EU deadline): that copy wins.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Literal

import msgspec

LOCAL_RULES_DIRECTORY = "compliance-rules"
# The reports of NIS2 Art.23(4), as the API names them: a local rules file changes their deadlines, not these.
Nis2Stage = Literal["early_warning", "notification", "intermediate", "final", "progress"]
# GDPR Art.33 has one notification (given in phases when need be: each phase is that notification, updated).
GdprStage = Literal["notification"]


class Due(msgspec.Struct, forbid_unknown_fields=True):
    """When a stage is due: `hours` or calendar `months` after an event (`awareness`, `request`, or the
    submission of an earlier stage, named by its id). No amount: due whenever that event happens."""

    from_: str = msgspec.field(name="from")
    hours: float | None = None
    months: int | None = None


class Item(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    label: str


class Stage(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    title: str
    article: str
    due: Due
    items: list[Item]
    only_while_ongoing: bool = False


class DueOverride(msgspec.Struct, forbid_unknown_fields=True):
    hours: float | None = None
    months: int | None = None


class MemberState(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    recipient: str | None = None
    stages: dict[str, DueOverride] = {}


class Regime(msgspec.Struct, forbid_unknown_fields=True):
    regime: str
    title: str
    legal_basis: str
    recipient: str
    stages: list[Stage]
    member_states: dict[str, MemberState] = {}
    sectors: list[str] = []
    significance_criteria: list[dict] = []
    reference_thresholds: dict | None = None
    phased_reporting: str = ""
    register_article: str = ""

    def stage(self, stage_id: str) -> Stage | None:
        return next((stage for stage in self.stages if stage.id == stage_id), None)


class RegimeDataError(RuntimeError):
    pass


def rules_file(name: str, data_root: Path | None) -> Path | resources.abc.Traversable:
    if data_root is not None:
        local = data_root / LOCAL_RULES_DIRECTORY / f"{name}.json"
        if local.exists():
            return local
    return resources.files("appliance.compliance.rules") / f"{name}.json"


def load_regime(name: str, data_root: Path | None = None, member_state: str | None = None) -> Regime:
    """The regime `name`, with the member state's overrides (deadlines, recipient) applied."""
    source = rules_file(name, data_root)
    try:
        regime = msgspec.json.decode(source.read_bytes(), type=Regime)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as error:
        raise RegimeDataError(f"{source}: {error}") from error
    national = regime.member_states.get(member_state or "")
    if national is None:
        return regime
    stages = [
        msgspec.structs.replace(stage, due=msgspec.structs.replace(
            stage.due, hours=national.stages[stage.id].hours, months=national.stages[stage.id].months))
        if stage.id in national.stages else stage
        for stage in regime.stages
    ]
    return msgspec.structs.replace(regime, stages=stages, recipient=national.recipient or regime.recipient)


class StageDeadline(msgspec.Struct):
    stage: str
    title: str
    article: str
    basis: str                # e.g. "72 h after awareness"
    due_at: float | None      # None: due on request, not yet requested, or not applicable
    submitted_at: float | None
    state: str                # submitted, pending, overdue, on_request, not_applicable
    overdue: bool
    late: bool                # submitted after the deadline


def add_months(moment: float, months: int) -> float:
    """Calendar months in UTC, the day clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    start = datetime.fromtimestamp(moment, tz=UTC)
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day).timestamp()


def describe_due(due: Due, stage_titles: dict[str, str]) -> str:
    event = {"awareness": "awareness", "request": "the authority's request"}.get(
        due.from_, f"the {stage_titles.get(due.from_, due.from_).lower()}")
    if due.hours is not None:
        return f"{due.hours:g} h after {event}"
    if due.months is not None:
        return f"{due.months} month{'s' if due.months != 1 else ''} after {event}"
    return f"on {event}" if due.from_ == "request" else f"at {event}"


def stage_deadlines(regime: Regime, *, aware_at: float, submissions: dict[str, float],
                    requested_at: float | None, ongoing: bool, now: float) -> list[StageDeadline]:
    """Every stage's deadline. A stage counted from an earlier one that has not been sent yet is counted
    from that stage's own deadline: the latest it may be sent."""
    events: dict[str, float | None] = {"awareness": aware_at, "request": requested_at}
    titles = {stage.id: stage.title for stage in regime.stages}
    deadlines = []
    for stage in regime.stages:
        submitted = submissions.get(stage.id)
        start = events.get(stage.due.from_)
        due_at = None
        if start is not None:
            if stage.due.hours is not None:
                due_at = start + stage.due.hours * 3600
            elif stage.due.months is not None:
                due_at = add_months(start, stage.due.months)
            else:
                due_at = start
        events[stage.id] = submitted if submitted is not None else due_at
        if stage.only_while_ongoing and not ongoing and submitted is None:
            state, due_at = "not_applicable", None
        elif submitted is not None:
            state = "submitted"
        elif due_at is None:
            state = "on_request"
        else:
            state = "overdue" if now > due_at else "pending"
        deadlines.append(StageDeadline(
            stage=stage.id, title=stage.title, article=stage.article, basis=describe_due(stage.due, titles),
            due_at=due_at, submitted_at=submitted, state=state, overdue=state == "overdue",
            late=submitted is not None and due_at is not None and submitted > due_at,
        ))
    return deadlines
