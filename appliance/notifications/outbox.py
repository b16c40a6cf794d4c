"""The durable outbox: messages wait in the encrypted store until their channel took them.

Each message keeps one id for its whole life (the e-mail Message-ID, the webhook-id, the syslog message_id),
so a message sent again after a crash is the same message to its receiver: delivery is at-least-once, and
recognisably so. An attempt is counted (and committed) before the message leaves; success and failure are
recorded after. A failure the destination may recover from backs the channel off (30 s, doubling, at most
30 min, jittered); a message that keeps failing for a day, or that the destination refused for good, goes to
the dead-letter list, where an admin sees why and can send it again.
"""

from __future__ import annotations

import random
import time

import msgspec

from appliance.delivery.errors import DeliveryError
from appliance.notifications.messages import Message
from appliance.notifications.models import OutboxEntry
from appliance.store.database import Store

_MESSAGE = msgspec.json.Decoder(Message)
ERROR_LENGTH = 1000


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    first_delay: float = 30.0
    max_delay: float = 1800.0
    give_up_after: float = 86_400.0  # a message failing this long goes to the dead letters...
    min_attempts: int = 3  # ...once it was tried at least this often
    jitter: float = 0.2

    def delay(self, failures: int) -> float:
        base = min(self.max_delay, self.first_delay * 2 ** max(0, failures - 1))
        return base * (1 + random.uniform(-self.jitter, self.jitter))


class Due(msgspec.Struct, frozen=True):
    id: int
    message: Message
    attempts: int
    created_at: float


def queue(connection, channel_id: str, message: Message, now: float) -> int:
    """A message to send as soon as the channel is up. Returns its outbox id."""
    connection.execute(
        "INSERT INTO notification_outbox (channel_id, kind, message_id, message, next_attempt_at, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (channel_id, message.kind, message.message_id, msgspec.json.encode(message).decode(), now, now),
    )
    return connection.last_insert_rowid()


def record_routing(connection, channel_id: str, alert_id: str, reason: str, now: float, outbox_id: int | None) -> None:
    """The channel has this alert: in a queued message (`outbox_id`) or held for its next digest (None)."""
    connection.execute(
        "INSERT INTO notification_alerts (channel_id, alert_id, reason, routed_at, outbox_id) VALUES (?, ?, ?, ?, ?)",
        (channel_id, alert_id, reason, now, outbox_id),
    )


def due(store: Store, channel_id: str, now: float, limit: int = 50) -> list[Due]:
    rows = store.query(
        "SELECT id, message, attempts, created_at FROM notification_outbox "
        "WHERE channel_id = ? AND status = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?",
        (channel_id, now, limit),
    )
    return [Due(row["id"], _MESSAGE.decode(row["message"]), row["attempts"], row["created_at"]) for row in rows]


def begin_attempt(store: Store, outbox_id: int, now: float) -> None:
    store.execute("UPDATE notification_outbox SET attempts = attempts + 1, last_attempt_at = ? WHERE id = ?",
                  (now, outbox_id))


def delivered(store: Store, channel_id: str, outbox_id: int, now: float, note: str = "") -> None:
    with store.write_transaction():
        store.execute("UPDATE notification_outbox SET status = 'sent', sent_at = ?, last_error = ? WHERE id = ?",
                      (now, note[:ERROR_LENGTH], outbox_id))
        store.execute(
            "INSERT INTO notification_channel_state (channel_id, failures, retry_at, last_success_at) "
            "VALUES (?, 0, 0, ?) ON CONFLICT (channel_id) DO UPDATE SET failures = 0, retry_at = 0, "
            "last_success_at = excluded.last_success_at",
            (channel_id, now),
        )


def failed(store: Store, channel_id: str, entry: Due, error: DeliveryError, now: float, policy: RetryPolicy) -> bool:
    """Record a failed attempt. Returns True when the channel should pause (back-off), False when only this
    message was at fault (it went to the dead letters) and the next one may go."""
    detail = str(error)[:ERROR_LENGTH]
    attempts = entry.attempts + 1
    gave_up = now - entry.created_at >= policy.give_up_after and attempts >= policy.min_attempts
    with store.write_transaction():
        if error.permanent or gave_up:
            reason = detail if error.permanent else f"gave up after {attempts} attempts: {detail}"
            store.execute("UPDATE notification_outbox SET status = 'dead', last_error = ? WHERE id = ?",
                          (reason[:ERROR_LENGTH], entry.id))
        if error.permanent:
            return False
        state = store.query_one("SELECT failures FROM notification_channel_state WHERE channel_id = ?", (channel_id,))
        failures = (state["failures"] if state else 0) + 1
        retry_at = now + max(policy.delay(failures), error.retry_after or 0.0)
        store.execute("UPDATE notification_outbox SET next_attempt_at = ?, last_error = ? WHERE id = ? "
                      "AND status = 'pending'", (retry_at, detail, entry.id))
        store.execute(
            "INSERT INTO notification_channel_state (channel_id, failures, retry_at, last_error, last_failure_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (channel_id) DO UPDATE SET failures = excluded.failures, "
            "retry_at = excluded.retry_at, last_error = excluded.last_error, "
            "last_failure_at = excluded.last_failure_at",
            (channel_id, failures, retry_at, detail, now),
        )
    return True


def channel_paused_until(store: Store, channel_id: str) -> float:
    row = store.query_one("SELECT retry_at FROM notification_channel_state WHERE channel_id = ?", (channel_id,))
    return row["retry_at"] if row else 0.0


def send_again(store: Store, outbox_id: int, now: float | None = None) -> bool:
    """A dead letter back into the queue, due now, with its attempts counted afresh (same message id): it gets
    at least `min_attempts` more tries before it can be given up again."""
    now = time.time() if now is None else now
    with store.write_transaction():
        changed = store.execute(
            "UPDATE notification_outbox SET status = 'pending', attempts = 0, next_attempt_at = ? "
            "WHERE id = ? AND status = 'dead'", (now, outbox_id))
        if changed:
            channel = store.query_one("SELECT channel_id FROM notification_outbox WHERE id = ?", (outbox_id,))
            store.execute("UPDATE notification_channel_state SET retry_at = 0 WHERE channel_id = ?",
                          (channel["channel_id"],))
    return changed > 0


def discard(store: Store, outbox_id: int) -> bool:
    """Drop a dead letter for good (its alerts stay marked as routed to the channel: never sent twice)."""
    return store.execute("DELETE FROM notification_outbox WHERE id = ? AND status = 'dead'", (outbox_id,)) > 0


def entries(
    store: Store, *, status: str | None, channel_id: str | None, alert_id: str | None, limit: int, offset: int
) -> tuple[list[OutboxEntry], int]:
    conditions, parameters = [], []
    if status is not None:
        conditions.append("o.status = ?")
        parameters.append(status)
    if channel_id is not None:
        conditions.append("o.channel_id = ?")
        parameters.append(channel_id)
    if alert_id is not None:
        conditions.append("o.id IN (SELECT outbox_id FROM notification_alerts WHERE alert_id = ?)")
        parameters.append(alert_id)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    rows = store.query(
        f"SELECT o.*, c.name AS channel_name FROM notification_outbox o JOIN notification_channels c "
        f"ON c.id = o.channel_id {where} ORDER BY o.id DESC LIMIT ? OFFSET ?", (*parameters, limit, offset))
    total = store.query_one(f"SELECT count(*) AS n FROM notification_outbox o {where}", parameters)["n"]
    return [_entry(store, row) for row in rows], total


def entry(store: Store, outbox_id: int) -> OutboxEntry | None:
    row = store.query_one("SELECT o.*, c.name AS channel_name FROM notification_outbox o JOIN notification_channels c "
                          "ON c.id = o.channel_id WHERE o.id = ?", (outbox_id,))
    return None if row is None else _entry(store, row)


ALERT_IDS_SHOWN = 100


def _entry(store: Store, row: dict) -> OutboxEntry:
    message = _MESSAGE.decode(row["message"])
    alert_ids = [item["alert_id"] for item in store.query(
        "SELECT alert_id FROM notification_alerts WHERE outbox_id = ? ORDER BY alert_id LIMIT ?",
        (row["id"], ALERT_IDS_SHOWN))]
    return OutboxEntry(
        id=row["id"], channel_id=row["channel_id"], channel_name=row["channel_name"], kind=row["kind"],
        title=message.title, message_id=row["message_id"], status=row["status"], attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"] if row["status"] == "pending" else None,
        last_error=row["last_error"], created_at=row["created_at"], last_attempt_at=row["last_attempt_at"],
        sent_at=row["sent_at"], alert_ids=alert_ids, alerts_total=message.total_alerts,
    )
