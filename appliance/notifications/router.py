"""From decision traces to queued messages: the notifier's first step.

The durable cursor is the decision-trace chain itself (`decision_traces.seq`): the engine appends a trace for
every decision in the same transaction as the alert, the chain only grows, and its order is the engine's
commit order. `notifier_cursor.trace_seq` says how far routing got; it moves in the same transaction as the
messages and holds it produced, so a crash repeats nothing and skips nothing.

Per trace that raised or updated an alert, per enabled channel that wants it (`routing.routes`):
- a raised alert is routed once; an update of an incident is NOT a new notification, unless it escalated
  the alert past the channel's minimum severity (then once, marked "escalated");
- in the channel's quiet hours (below `let_through`), or once `max_immediate` messages went out within the
  digest window (a storm), the alert is held for the channel's next digest instead of sent on its own.

Everything is read and decided before the write transaction, which then only inserts: the engine (the
box's main writer) waits for this notifier at most a few milliseconds per chunk.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter

import msgspec

from appliance.notifications import outbox
from appliance.notifications.messages import Message, alert_message, summarise
from appliance.notifications.models import Channel, NotificationSettings
from appliance.notifications.routing import in_quiet_hours, lets_through, routes
from appliance.store.database import Store

CHUNK = 50
ALERT_OUTCOMES = ("alert_raised", "alert_updated")
SKIPPED_STATUSES = ("false_positive", "resolved")  # an analyst dealt with it before it could be sent


def new_message_id() -> str:
    return f"nsx-{uuid.uuid4().hex}"


class Decision(msgspec.Struct, frozen=True):
    channel_id: str
    alert_id: str
    reason: str
    message: Message | None  # to queue now; None: held for the channel's next digest


def cursor(store: Store) -> int:
    return store.query_one("SELECT trace_seq FROM notifier_cursor WHERE id = 1")["trace_seq"]


def route_pending(store: Store, channels: list[Channel], settings: NotificationSettings, now: float) -> int:
    """Route the next chunk of decision traces. Returns how many traces it moved past (0: caught up)."""
    position = cursor(store)
    traces = store.query("SELECT seq, outcome, alert_id FROM decision_traces WHERE seq > ? ORDER BY seq LIMIT ?",
                         (position, CHUNK))
    if not traces:
        return 0
    decisions = plan(store, [trace for trace in traces if trace["outcome"] in ALERT_OUTCOMES and trace["alert_id"]],
                     [channel for channel in channels if channel.enabled], settings, now)
    with store.write_transaction() as connection:
        if cursor(store) != position:
            return 0  # another notifier moved on meanwhile (the lock file should prevent it): start again
        for decision in decisions:
            outbox_id = outbox.queue(connection, decision.channel_id, decision.message, now) if decision.message \
                else None
            outbox.record_routing(connection, decision.channel_id, decision.alert_id, decision.reason, now, outbox_id)
        connection.execute("UPDATE notifier_cursor SET trace_seq = ?, updated_at = ? WHERE id = 1",
                           (traces[-1]["seq"], now))
    return len(traces)


def plan(store: Store, traces: list[dict], channels: list[Channel], settings: NotificationSettings,
         now: float) -> list[Decision]:
    if not traces or not channels:
        return []
    alert_ids = sorted({trace["alert_id"] for trace in traces})
    alerts = _alerts(store, alert_ids)
    routed = _already_routed(store, alert_ids)
    sent_recently = Counter({
        channel.id: _immediate_since(store, channel.id, now - channel.routing.digest.window_seconds)
        for channel in channels})
    sensors = {row["agent_id"]: row["name"] for row in store.query("SELECT agent_id, name FROM agents")}
    decisions = []
    for trace in traces:
        row = alerts.get(trace["alert_id"])
        if row is None or row["status"] in SKIPPED_STATUSES:
            continue
        content = json.loads(store.query_one("SELECT content FROM decision_traces WHERE seq = ?",
                                             (trace["seq"],))["content"])
        alert = decided(row, content)
        agent_id = (content.get("batch") or {}).get("agent_id")
        previous = None if trace["outcome"] == "alert_raised" else _previous_severity(store, trace)
        for channel in channels:
            if (channel.id, alert["id"]) in routed or not routes(
                    channel.routing, severity=alert["severity"], rule_name=alert["rule_name"], agent_id=agent_id):
                continue
            if previous is not None and routes(channel.routing, severity=previous, rule_name=alert["rule_name"],
                                               agent_id=agent_id):
                continue  # an update of an incident the channel already wanted: not a new notification
            routed.add((channel.id, alert["id"]))
            reason = "raised" if trace["outcome"] == "alert_raised" else "escalated"
            decisions.append(_decide(channel, alert, reason, content.get("features"), sensors.get(agent_id), settings,
                                     sent_recently, now))
    return decisions


# What a decision trace knew about its alert at that moment; the alert row fills in what a trace lacks.
SNAPSHOT = ("severity", "score", "source_ip", "dest_ip", "port", "protocol", "first_seen", "last_seen", "evidence")


def decided(row: dict, content: dict) -> dict:
    """The alert as this decision saw it (a later update may have changed the row since)."""
    alert = dict(row) | {name: content[name] for name in SNAPSHOT if content.get(name) is not None}
    if content.get("shap"):
        alert["shap_json"] = content["shap"]
    return alert


def _decide(channel: Channel, alert: dict, reason: str, features: dict | None, sensor: str | None,
            settings: NotificationSettings, sent_recently: Counter, now: float) -> Decision:
    quiet = channel.routing.quiet_hours
    held = (in_quiet_hours(quiet, now) and not lets_through(quiet, alert["severity"])) or (
        sent_recently[channel.id] >= channel.routing.digest.max_immediate)
    if held:
        return Decision(channel.id, alert["id"], reason, None)
    sent_recently[channel.id] += 1
    summary = summarise(alert, channel.content, settings, sensor=sensor, features=features,
                        escalated=reason == "escalated")
    return Decision(channel.id, alert["id"], reason, alert_message(summary, settings, new_message_id(), now))


ALERT_FIELDS = "id, severity, rule_name, source_ip, dest_ip, port, protocol, score, timestamp, status, shap_json, " \
               "evidence, first_seen, last_seen"


def _alerts(store: Store, alert_ids: list[str]) -> dict[str, dict]:
    marks = ",".join("?" * len(alert_ids))
    return {row["id"]: row for row in store.query(f"SELECT {ALERT_FIELDS} FROM alerts WHERE id IN ({marks})",
                                                  alert_ids)}


def _already_routed(store: Store, alert_ids: list[str]) -> set[tuple[str, str]]:
    marks = ",".join("?" * len(alert_ids))
    return {(row["channel_id"], row["alert_id"]) for row in store.query(
        f"SELECT channel_id, alert_id FROM notification_alerts WHERE alert_id IN ({marks})", alert_ids)}


def _immediate_since(store: Store, channel_id: str, since: float) -> int:
    return store.query_one("SELECT count(*) AS n FROM notification_outbox WHERE channel_id = ? AND kind = 'alert' "
                           "AND created_at >= ?", (channel_id, since))["n"]


def _previous_severity(store: Store, trace: dict) -> str | None:
    """The alert's severity at its decision before this one (None: no earlier decision is known)."""
    row = store.query_one(
        "SELECT json_extract(content, '$.severity') AS severity FROM decision_traces WHERE alert_id = ? AND seq < ? "
        "ORDER BY seq DESC LIMIT 1", (trace["alert_id"], trace["seq"]))
    return row["severity"] if row else None
