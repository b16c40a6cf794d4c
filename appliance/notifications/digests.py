"""Held alerts become one digest: when a storm's window ends, or when the quiet hours that held them are over.

A digest counts every alert it folds (by severity and by rule) and details the most severe few, so a storm of
ten thousand alerts is one message; its alerts are marked with the digest's outbox id in the same transaction
as the digest is queued.
"""

from __future__ import annotations

from appliance.notifications import outbox
from appliance.notifications.messages import DIGEST_DETAILED, digest_message, summarise
from appliance.notifications.models import Channel, NotificationSettings
from appliance.notifications.router import ALERT_FIELDS, new_message_id
from appliance.notifications.routing import SEVERITY_RANK, in_quiet_hours
from appliance.store.database import Store

_RANK_SQL = "CASE a.severity " + " ".join(f"WHEN '{name}' THEN {rank}" for name, rank in SEVERITY_RANK.items()) + " END"


def flush_due(store: Store, channels: list[Channel], settings: NotificationSettings, now: float) -> int:
    """Queue the digests that are due. Returns how many."""
    queued = 0
    for channel in channels:
        oldest = store.query_one("SELECT min(routed_at) AS at FROM notification_alerts WHERE channel_id = ? AND "
                                 "outbox_id IS NULL", (channel.id,))["at"]
        if oldest is not None and is_due(channel, oldest, now):
            queue_digest(store, channel, settings, now)
            queued += 1
    return queued


def is_due(channel: Channel, oldest_held_at: float, now: float) -> bool:
    quiet = channel.routing.quiet_hours
    if in_quiet_hours(quiet, now):
        return False
    if in_quiet_hours(quiet, oldest_held_at):
        return True  # held by quiet hours that are over now
    return now >= oldest_held_at + channel.routing.digest.window_seconds


def queue_digest(store: Store, channel: Channel, settings: NotificationSettings, now: float) -> None:
    held = ("FROM notification_alerts n JOIN alerts a ON a.id = n.alert_id "
            "WHERE n.channel_id = ? AND n.outbox_id IS NULL")
    with store.write_transaction() as connection:
        totals = store.query(f"SELECT a.severity, a.rule_name, count(*) AS n, min(n.routed_at) AS since {held} "
                             "GROUP BY a.severity, a.rule_name", (channel.id,))
        if not totals:
            return
        top = store.query(
            f"SELECT {', '.join('a.' + name for name in ALERT_FIELDS.split(', '))} {held} "
            f"ORDER BY {_RANK_SQL} DESC, a.score DESC, a.id LIMIT ?", (channel.id, DIGEST_DETAILED))
        by_severity, by_rule = {}, {}
        for row in totals:
            by_severity[row["severity"]] = by_severity.get(row["severity"], 0) + row["n"]
            by_rule[row["rule_name"]] = by_rule.get(row["rule_name"], 0) + row["n"]
        message = digest_message(
            [summarise(row, channel.content, settings, sensor=None) for row in top],
            total=sum(row["n"] for row in totals), by_severity=by_severity, by_rule=by_rule, settings=settings,
            message_id=new_message_id(), now=now, since=min(row["since"] for row in totals),
        )
        outbox_id = outbox.queue(connection, channel.id, message, now)
        connection.execute("UPDATE notification_alerts SET outbox_id = ? WHERE channel_id = ? AND outbox_id IS NULL",
                           (outbox_id, channel.id))
