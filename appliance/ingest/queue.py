"""The durable ingest queue: batches from sensors wait in the encrypted store until the engine takes them.

A batch is pending (done = 0), done (done = 1, with its place in the engine's processing order), or set aside
(failed_at and error set: the engine could not process it and went on without it) until an admin retries it.
Done batches are kept: after a restart the engine replays those finished since its last checkpoint.
"""

from __future__ import annotations

import time

import msgspec

from appliance.store.database import Store
from sensor.records import Batch, encode_batch


def enqueue(connection, agent_id: str, seq: int, payload: bytes, now: float | None = None) -> bool:
    """Store one batch. Returns False when (agent_id, seq) was already there: redelivery is a no-op."""
    before = connection.total_changes()
    connection.execute(
        "INSERT OR IGNORE INTO ingest_batches (agent_id, seq, received_at, payload) VALUES (?, ?, ?, ?)",
        (agent_id, seq, time.time() if now is None else now, payload),
    )
    return connection.total_changes() > before


def enqueue_records(connection, batch: Batch) -> bool:
    return enqueue(connection, batch.agent_id, batch.seq, encode_batch(batch))



class SetAsideBatch(msgspec.Struct):
    id: int
    agent_id: str
    seq: int
    received_at: float
    flows: int
    attempts: int  # tries the engine started on it: a process that died mid-batch counts too
    failed_at: float
    error: str


SET_ASIDE_COLUMNS = "id, agent_id, seq, received_at, flows, attempts, failed_at, error"


def set_aside(store: Store, limit: int, offset: int) -> tuple[list[SetAsideBatch], int]:
    """The batches the engine set aside, newest first, and how many there are."""
    rows = store.query(
        f"SELECT {SET_ASIDE_COLUMNS} FROM ingest_batches WHERE failed_at IS NOT NULL AND done = 0 "
        "ORDER BY failed_at DESC, id DESC LIMIT ? OFFSET ?",
        (limit, offset),
    )
    total = store.query_one("SELECT count(*) AS n FROM ingest_batches WHERE failed_at IS NOT NULL AND done = 0")["n"]
    return [SetAsideBatch(**row) for row in rows], total


def retry(store: Store, batch_id: int) -> SetAsideBatch | None:
    """Queue a set-aside batch again, its attempts counted afresh. Returns it as it was set aside, or None when
    no batch `batch_id` is."""
    with store.write_transaction():
        row = store.query_one(
            f"SELECT {SET_ASIDE_COLUMNS} FROM ingest_batches WHERE id = ? AND failed_at IS NOT NULL AND done = 0",
            (batch_id,),
        )
        if row is not None:
            store.execute(
                "UPDATE ingest_batches SET failed_at = NULL, error = NULL, attempts = 0 WHERE id = ?", (batch_id,)
            )
    return SetAsideBatch(**row) if row else None
