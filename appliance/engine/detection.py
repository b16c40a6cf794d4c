"""What a rule says when it fires, how an admin's override reaches a rule, and how one attack stays one incident.

A `Detection` is the rule layer's whole output. The engine upserts it by `incident_key`: a rule re-emits the
same key with grown evidence while an attack lasts, so a 1,000-port scan is one alert, not 1,000.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import msgspec

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO")
MAX_EVIDENCE_FLOWS = 20  # flow uids kept per incident: enough to show the traffic, bounded for the trace


# Threshold types: an override outside these ranges is refused when the rule set is built, not at 3 a.m.
Count = Annotated[int, msgspec.Meta(ge=1)]  # how many of something must be seen
Minimum = Annotated[int, msgspec.Meta(ge=0)]  # a floor that may be switched off with 0
Seconds = Annotated[float, msgspec.Meta(gt=0)]  # a span of packet time
Positive = Annotated[float, msgspec.Meta(gt=0)]  # a factor, ratio or score bar
Fraction = Annotated[float, msgspec.Meta(gt=0, lt=1)]


class Detection(msgspec.Struct, kw_only=True):
    rule_name: str
    severity: str
    incident_key: str  # "RULE|subject...|opened-at": the same for every update of one incident
    source_ip: str
    dest_ip: str  # "" when the incident has many targets (sweeps, floods)
    port: int  # 0 when not one port
    protocol: str
    first_seen: float  # packet time
    last_seen: float
    evidence: dict[str, Any]  # counts and samples (ports, hosts, queries...) for the analyst
    evidence_flow_uids: list[str]  # at most MAX_EVIDENCE_FLOWS
    features: dict[str, float]  # the rule family's FEATURES, every name always present, for the model
    rule_version: str
    thresholds: dict[str, Any]  # the effective thresholds (defaults merged with the admin's overrides)


class RuleConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An admin's per-rule settings. Threshold overrides replace single defaults; the rest stay."""

    enabled: bool = True
    severity: str | None = None  # None keeps the rule's default severity
    thresholds: dict[str, Any] = {}

    def __post_init__(self) -> None:
        if self.severity is not None and self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}; expected one of {', '.join(SEVERITIES)}")


T = TypeVar("T", bound=msgspec.Struct)


def merge_thresholds(rule_name: str, defaults: T, overrides: dict[str, Any]) -> T:
    """Defaults with the overrides applied, type-checked. An unknown name or a wrong type is a ValueError
    that names the rule and the threshold, so a typo in an override never silently keeps the default."""
    known = msgspec.structs.fields(defaults)
    names = {field.name for field in known}
    for name in overrides:
        if name not in names:
            raise ValueError(
                f"{rule_name}: unknown threshold {name!r}; known thresholds: {', '.join(sorted(names))}"
            )
    merged = msgspec.structs.asdict(defaults) | overrides
    try:
        return msgspec.convert(merged, type=type(defaults))
    except msgspec.ValidationError as exc:
        raise ValueError(f"{rule_name}: invalid threshold override: {exc}") from None


class _Incident:
    __slots__ = ("key", "last_activity", "pending", "reported_count")

    def __init__(self, key: str, last_activity: float):
        self.key = key
        self.reported_count = 0
        self.last_activity = last_activity
        # The newest update not yet emitted: while the batch that made it runs, the rule's `build` (which reads
        # the rule's state as it is then); once packet time advances past the batch (`expire`), the Detection
        # that `build` made. So between batches the book holds only data, and a checkpoint can store it.
        self.pending: Callable[[str], Detection] | Detection | None = None


def _build_with(build: Callable[..., Detection], args: tuple, kwargs: dict, incident: str) -> Detection:
    return build(incident, *args, **kwargs)


class IncidentBook:
    """The open incidents of one rule, and when their Detections are emitted.

    An incident opens the first time a subject crosses the rule's threshold and stays open while activity
    continues; it closes after `idle_close_s` of packet time without activity. While open it re-emits only
    when its count has grown by `growth` (x2 by default), so a long attack costs O(log n) detections; the
    last state, if it grew since the last emit, is emitted once more when the incident closes.

    Its state is plain data between batches (see _Incident.pending): the engine checkpoints it, and a restart
    continues exactly where an uninterrupted run would.
    """

    def __init__(
        self,
        *,
        rule_name: str,
        version: str,
        severity: str,
        thresholds: msgspec.Struct,
        idle_close_s: float,
        max_open: int,
        growth: float = 2.0,
    ):
        self.rule_name = rule_name
        self.version = version
        self.severity = severity
        self.thresholds = msgspec.structs.asdict(thresholds)
        self.idle_close_s = idle_close_s
        self.growth = growth
        self._open: OrderedDict[tuple, _Incident] = OrderedDict()
        self._max_open = max_open

    def update(
        self, subject: tuple, count: int, ts: float, build: Callable[..., Detection], *args: Any, **kwargs: Any
    ) -> list[Detection]:
        """Report that `subject` is over threshold with `count` at packet time `ts`. Returns the Detection
        `build(incident_key, *args, **kwargs)` when it is new or has grown enough, else keeps it for the closing
        emit (the newest one: a later update at the same count still refreshes what the incident will close
        with). An incident idle for longer than idle_close_s is closed first (its pending update returned too),
        so when an incident ends never depends on where batches begin and end."""
        if args or kwargs:
            build = functools.partial(_build_with, build, args, kwargs)
        closed = []
        incident = self._open.get(subject)
        if incident is not None and ts - incident.last_activity > self.idle_close_s:
            # Idle long enough to be closed, but packet time has not advanced past it yet (the activity resumes
            # within one batch, or in the first batch after a restart): it closes now and this opens a new one,
            # wherever the batch boundaries fall.
            del self._open[subject]
            closed = self._final(incident)
            incident = None
        if incident is None:
            key = "|".join([self.rule_name, *map(str, subject), str(int(ts))])
            incident = self._open[subject] = _Incident(key, ts)
            if len(self._open) > self._max_open:
                self._open.popitem(last=False)
        else:
            self._open.move_to_end(subject)
            incident.last_activity = max(incident.last_activity, ts)
        if incident.reported_count and count < incident.reported_count * self.growth:
            if count > incident.reported_count or (count == incident.reported_count and incident.pending is not None):
                incident.pending = build
            return closed
        incident.reported_count = max(count, 1)
        incident.pending = None
        return [*closed, build(incident.key)]

    def expire(self, now: float) -> list[Detection]:
        """Close incidents idle for `idle_close_s`; returns their final, not yet emitted, updates. The updates
        still pending on open incidents are built now: from here on they are data."""
        final = []
        for subject, incident in list(self._open.items()):
            if now - incident.last_activity > self.idle_close_s:
                del self._open[subject]
                final += self._final(incident)
            elif incident.pending is not None and not isinstance(incident.pending, Detection):
                incident.pending = incident.pending(incident.key)
        return final

    @staticmethod
    def _final(incident: _Incident) -> list[Detection]:
        """What a closing incident still has to say: its newest update not yet emitted, if any."""
        pending = incident.pending
        if pending is None:
            return []
        return [pending if isinstance(pending, Detection) else pending(incident.key)]

    def __len__(self) -> int:
        return len(self._open)

    def open_incidents(self) -> OrderedDict[tuple, _Incident]:
        """The book's state, for a checkpoint: plain data once packet time has advanced (see expire)."""
        return self._open

    def restore_incidents(self, incidents: OrderedDict[tuple, _Incident]) -> None:
        self._open = incidents

    def detection(
        self,
        key: str,
        *,
        source_ip: str,
        dest_ip: str = "",
        port: int = 0,
        protocol: str = "",
        first_seen: float,
        last_seen: float,
        evidence: dict[str, Any],
        flow_uids: list[str] | tuple[str, ...] = (),
        features: dict[str, float],
    ) -> Detection:
        return Detection(
            rule_name=self.rule_name,
            severity=self.severity,
            incident_key=key,
            source_ip=source_ip,
            dest_ip=dest_ip,
            port=port,
            protocol=protocol,
            first_seen=first_seen,
            last_seen=last_seen,
            evidence=evidence,
            evidence_flow_uids=list(flow_uids)[:MAX_EVIDENCE_FLOWS],
            features={name: float(value) for name, value in features.items()},
            rule_version=self.version,
            thresholds=dict(self.thresholds),
        )
