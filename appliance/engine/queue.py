"""The durable ingest queue: batches from sensors wait in the encrypted store until the engine takes them."""

from __future__ import annotations

import time

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

