"""Retro-hunt: when a source brings indicators the box did not have, search the flow log for the traffic they
would have matched and raise those THREAT_INTEL_MATCH alerts, marked as found later.

An import or a feed refresh that adds indicators records a hunt (repository.store_indicators, migration
0015_intel_retro_hunts.sql). When the engine takes the indicator set holding them it sets the hunt's horizon:
the last logged flow and event it had matched without them. The hunt searches the log up to there and the
live path matches everything after, so no record is matched twice. How far back it looks is how long the flow
log keeps records (retention's flows_days).

The search runs in the engine, between batches, a bounded step at a time (Engine.process_pending), in phases:
- indicators: addresses, domains and URLs, a slice at a time, each looked up through the flow log's indexes
  (flows by address, events by name);
- networks: CIDR indicators, by walking the logged flows a page at a time (the log has no index by network);
- fingerprints: JA3 / JA4 and certificate SHA-1, by walking the logged TLS events a page at a time.
The records found go through the THREAT_INTEL_MATCH rule itself, with a set compiled from the hunt's
indicators alone and today's overrules (CDN and shared-hosting ranges, top sites, the site's allowlist; expiry
against packet time), so a hunt raises what the live engine would have raised, and nothing an overrule holds
back. A contact an alert already covers (the live path matched it through another source, an earlier hunt
found it) is counted, not raised again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, NamedTuple

import msgspec

from appliance.engine.detection import Detection
from appliance.engine.rules.rule import Rule
from appliance.engine.rules.threat_intel_match import NAME as RULE_NAME
from appliance.evidence import flow_log
from appliance.intel.matching import IndicatorSet
from appliance.intel.overrules import Overrules
from appliance.store.database import Store
from sensor.records import AnyEvent, Flow

FOUND_BY = "retro-hunt"
PHASES = ("indicators", "networks", "fingerprints", "done")
PHASE_KINDS = {
    "indicators": ("ip", "domain", "url"),
    "networks": ("cidr",),
    "fingerprints": ("ja3", "ja4", "cert_sha1"),
}
FINGERPRINT_EVENTS = ("tls_client_hello", "tls_certificate")
INDICATORS_PER_STEP = 200
RECORDS_PER_STEP = 2000  # flow or event ids walked per step


class Hunt(msgspec.Struct, kw_only=True):
    """A retro-hunt as the admin sees it: for the indicators one import or feed refresh brought."""

    id: int
    source_id: str
    indicators: int  # new indicators it searches for
    created_at: float  # when they arrived
    state: Literal["waiting", "searching", "done"]  # waiting: for the engine to take the indicators
    found: int  # alerts raised as found later
    already_alerted: int  # contacts an alert had already covered (the live path through another source ...)
    finished_at: float | None


class Progress(NamedTuple):
    """Where a hunt is: the engine's side of it."""

    id: int
    source_id: str
    added_at: float
    phase: str  # indicators | networks | fingerprints | done
    cursor: int
    flow_horizon: int
    event_horizon: int


class Step(NamedTuple):
    hunt: Progress
    detections: list[Detection]
    phase: str  # where the hunt is once this step is recorded
    cursor: int
    window_s: float = 0.0  # the rule's: how far apart two pieces of one contact may be


MakeRule = Callable[[IndicatorSet], Rule | None]  # the THREAT_INTEL_MATCH rule with a set; None: it is disabled


# --- the hunts -------------------------------------------------------------------------------------------------
def record_new(store: Store, source_id: str, added_at: float, indicators: int, generation: int) -> None:
    """A hunt for the indicators a source added at `added_at`; in the transaction that stored them."""
    store.execute(
        "INSERT INTO intel_retro_hunts (source_id, added_at, indicators, created_at, generation) "
        "VALUES (?, ?, ?, ?, ?)",
        (source_id, added_at, indicators, added_at, generation),
    )


def set_horizons(store: Store, loaded_generation: int) -> None:
    """The engine loaded the indicator set of `loaded_generation`: the hunts whose indicators it holds search the
    log as it is now, everything after is the live path's."""
    store.execute(
        "UPDATE intel_retro_hunts SET flow_horizon = (SELECT coalesce(max(id), 0) FROM flow_log), "
        "event_horizon = (SELECT coalesce(max(id), 0) FROM event_log) "
        "WHERE flow_horizon IS NULL AND generation <= ?",
        (loaded_generation,),
    )


_HUNT_COLUMNS = (
    "id, source_id, indicators, created_at, found, already_alerted, finished_at, "
    "CASE WHEN phase = 'done' THEN 'done' WHEN flow_horizon IS NULL THEN 'waiting' ELSE 'searching' END AS state"
)


def latest_hunts(store: Store) -> dict[str, Hunt]:
    """Each source's latest hunt, by source id."""
    rows = store.query(
        f"SELECT {_HUNT_COLUMNS} FROM intel_retro_hunts "
        "WHERE id IN (SELECT max(id) FROM intel_retro_hunts GROUP BY source_id)"
    )
    return {row["source_id"]: msgspec.convert(row, Hunt) for row in rows}


def hunts_of(store: Store, source_id: str) -> list[Hunt]:
    """A source's hunts, newest first."""
    rows = store.query(f"SELECT {_HUNT_COLUMNS} FROM intel_retro_hunts WHERE source_id = ? ORDER BY id DESC",
                       (source_id,))
    return [msgspec.convert(row, Hunt) for row in rows]


def _next_hunt(store: Store) -> Progress | None:
    row = store.query_one(
        "SELECT id, source_id, added_at, phase, cursor, flow_horizon, event_horizon FROM intel_retro_hunts "
        "WHERE phase != 'done' AND flow_horizon IS NOT NULL ORDER BY id LIMIT 1"
    )
    return Progress(**row) if row else None


# --- one step ----------------------------------------------------------------------------------------------------
def next_step(store: Store, make_rule: MakeRule, overrules: Overrules) -> Step | None:
    """The next bounded piece of the oldest unfinished hunt: what it found and where it goes on from. None when
    no hunt is waiting. Nothing is written: the engine records the step with the alerts it raises."""
    hunt = _next_hunt(store)
    if hunt is None:
        return None
    rows = _indicator_rows(store, hunt)
    rule = make_rule(IndicatorSet.from_rows(rows, overrules)) if rows else None
    if rule is None:  # nothing of this phase (or the rule is disabled): the next phase
        return Step(hunt, [], PHASES[PHASES.index(hunt.phase) + 1], 0)
    connection = store.connection()
    if hunt.phase == "indicators":
        flows, events = _indexed_records(connection, rule.intel, hunt)
        return Step(hunt, _detect(rule, flows, events), hunt.phase, rows[-1][-1], rule.t.window_s)
    start = hunt.cursor or _first_id(connection, "flow_log" if hunt.phase == "networks" else "event_log")
    horizon = hunt.flow_horizon if hunt.phase == "networks" else hunt.event_horizon
    through = min(start + RECORDS_PER_STEP, horizon)
    if hunt.phase == "networks":
        # a network of a CDN held back in favour of the domain the feed gave with it: that domain, on the first page
        named = [] if hunt.cursor else _indexed_records(connection, rule.intel, hunt)[1]
        found = _detect(rule, [_flow(flow) for flow in flow_log.flows_by_id(connection, start, through)], named)
    else:
        events = flow_log.events_by_id(connection, start, through, FINGERPRINT_EVENTS)
        found = _detect(rule, [], [_event(event) for event in events])
    if through >= horizon:
        return Step(hunt, found, PHASES[PHASES.index(hunt.phase) + 1], 0, rule.t.window_s)
    return Step(hunt, found, hunt.phase, through, rule.t.window_s)


def _indicator_rows(store: Store, hunt: Progress) -> list[tuple]:
    """The hunt's indicators of its phase (a slice of them in the indicators phase), as IndicatorSet.from_rows
    takes them, their id last. None of a source disabled since: it matches nothing."""
    kinds = PHASE_KINDS.get(hunt.phase, ())
    if not kinds:
        return []
    limit, after = (INDICATORS_PER_STEP, hunt.cursor) if hunt.phase == "indicators" else (-1, 0)
    cursor = store.connection().cursor()
    return list(cursor.execute(
        "SELECT i.kind, i.value, i.confidence, i.domain, i.expires_at, s.name, i.id "
        "FROM intel_indicators i JOIN intel_sources s ON s.id = i.source_id "
        f"WHERE i.source_id = ? AND i.added_at = ? AND s.enabled = 1 AND i.kind IN ({','.join('?' * len(kinds))}) "
        "AND i.id > ? ORDER BY i.id LIMIT ?",
        (hunt.source_id, hunt.added_at, *kinds, after, limit),
    ))


def _first_id(connection, table: str) -> int:
    """Where walking a log table starts: before its oldest row (retention removed the ones before)."""
    return connection.execute(f"SELECT coalesce(min(id), 1) - 1 FROM {table}").fetchall()[0][0]


def _indexed_records(connection, indicators: IndicatorSet, hunt: Progress) -> tuple[list[Flow], list]:
    """The logged flows touching the set's addresses and the events naming its domains or URL hosts, up to the
    hunt's horizon, each once. The set is the compiled one: an address held back as a CDN's gives its domain."""
    flows = {flow.id: flow for flow in flow_log.flows_touching(connection, indicators.listed("ip"))
             if flow.id <= hunt.flow_horizon}
    url_hosts = (url.split("/", 1)[0].rsplit(":", 1)[0] for url in indicators.listed("url"))
    names = {*indicators.listed("domain"), *url_hosts}
    events = {event.id: event for event in flow_log.events_naming(connection, sorted(names))
              if event.id <= hunt.event_horizon}
    return [_flow(flow) for flow in flows.values()], [_event(event) for event in events.values()]


def _flow(logged: flow_log.LoggedFlow) -> Flow:
    return Flow(uid=logged.uid, ts_start=logged.ts_start, ts_end=logged.ts_end, proto=logged.proto,
                src_ip=logged.src_ip, dst_ip=logged.dst_ip, src_port=logged.src_port, dst_port=logged.dst_port,
                pkts_orig=logged.pkts_orig, pkts_resp=logged.pkts_resp, bytes_orig=logged.bytes_orig,
                bytes_resp=logged.bytes_resp, conn_state=logged.conn_state, end_reason=logged.end_reason,
                service=logged.service)


def _event(logged: flow_log.LoggedEvent):
    return msgspec.convert(logged.detail, AnyEvent)


def _detect(rule: Rule, flows: list[Flow], events: list) -> list[Detection]:
    """The records through the rule in packet-time order (as the engine feeds it), every incident closed at the
    end: each incident's final detection."""
    records = sorted([(event.ts, 0, event) for event in events] + [(flow.ts_end, 1, flow) for flow in flows],
                     key=lambda record: (record[0], record[1]))
    found = []
    for _, is_flow, record in records:
        found += rule.on_flow(record) if is_flow else rule.on_event(record)
    found += rule.advance(math.inf)
    return list({detection.incident_key: detection for detection in found}.values())


# --- what a step found -------------------------------------------------------------------------------------------
def found_later(connection, detection: Detection, step: Step, now: float) -> Detection | None:
    """The detection to decide on, marked as found later; None when an alert already covers the contact (the
    live path through another source, another hunt, or this one through another of its indicators). A contact
    this hunt raised that ended shortly before continues that alert (a network or fingerprint contact spanning
    two pages of the log)."""
    indicator = detection.evidence["indicator"]
    alerts = connection.execute(
        "SELECT incident_key, first_seen, last_seen, evidence FROM alerts WHERE rule_name = ? AND source_ip = ? "
        "AND json_extract(evidence, '$.indicator') = ? AND first_seen <= ? AND last_seen >= ?",
        (RULE_NAME, detection.source_ip, indicator, detection.last_seen + step.window_s,
         detection.first_seen - step.window_s),
    ).fetchall()
    if any(first_seen <= detection.last_seen and last_seen >= detection.first_seen
           for _, first_seen, last_seen, _ in alerts):
        return None
    mark = {"found_by": FOUND_BY, "found_later_at": now, "retro_hunt_id": step.hunt.id}
    for key, first_seen, _, evidence_text in alerts:
        evidence = msgspec.json.decode(evidence_text)
        if evidence.get("retro_hunt_id") == step.hunt.id:
            matches = evidence.get("matches", 0) + detection.evidence.get("matches", 0)
            return msgspec.structs.replace(
                detection, incident_key=key, first_seen=min(first_seen, detection.first_seen),
                evidence={**detection.evidence, **mark, "matches": matches,
                          "found_later_at": evidence["found_later_at"]})
    return msgspec.structs.replace(detection, evidence={**detection.evidence, **mark})


def give_up(store: Store, now: float) -> int | None:
    """End the hunt under way (its step failed, and would again): what it found stays. Returns its id."""
    hunt = _next_hunt(store)
    if hunt is not None:
        store.execute("UPDATE intel_retro_hunts SET phase = 'done', finished_at = ? WHERE id = ?", (now, hunt.id))
    return hunt.id if hunt else None


def record_step(connection, step: Step, already_alerted: int, now: float) -> None:
    """Where the hunt goes on from, and what it has found so far; in the transaction of the step's alerts."""
    connection.execute(
        "UPDATE intel_retro_hunts SET phase = ?, cursor = ?, already_alerted = already_alerted + ?, "
        "found = (SELECT count(*) FROM alerts WHERE rule_name = ? AND json_extract(evidence, '$.retro_hunt_id') = ?), "
        "finished_at = CASE WHEN ? = 'done' THEN ? END WHERE id = ?",
        (step.phase, step.cursor, already_alerted, RULE_NAME, step.hunt.id, step.phase, now, step.hunt.id),
    )
