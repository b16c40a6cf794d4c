"""The box's own sensor path for capture files: decode them and queue the records as batches, exactly
as a remote sensor's batches arrive through the ingest endpoint. Their packets go into the sensor's packet
store on the box (appliance/evidence/packets.py), so an alert's packets can be downloaded."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

from appliance.evidence.packets import open_ring
from appliance.ingest.queue import enqueue_records
from appliance.store.database import Store
from sensor.pipeline import Drained, Pipeline
from sensor.records import Batch, CaptureStats
from sensor.shipping.batching import split_drain

RECORDS_PER_BATCH = 5000


def batches_from(drained: Drained, agent_id: str, first_seq: int) -> list[Batch]:
    return [
        Batch(agent_id=agent_id, seq=first_seq + index, sent_at=time.time(), flows=flows, events=events, stats=stats)
        for index, (flows, events, stats) in enumerate(
            split_drain(drained.flows, drained.events, drained.stats, RECORDS_PER_BATCH)
        )
    ]


def queue_capture_files(
    store: Store,
    paths: Iterable[str | os.PathLike],
    agent_id: str = "local",
    bytes_read: Callable[[int], None] = lambda total: None,
) -> CaptureStats:
    """Decode the files (one sensor run: flows spanning files stay one flow), keep their packets and queue
    their batches. `bytes_read(n)` is told how many bytes of all the files are read so far."""
    ring = open_ring(store, agent_id)
    pipeline = Pipeline(tap=ring.append)
    before = 0
    for path in paths:
        pipeline.feed_file(path, read_up_to=lambda offset, before=before: bytes_read(before + offset))
        before += os.path.getsize(path)
    drained = pipeline.close()
    ring.close()
    last = store.query_one("SELECT max(seq) AS seq FROM ingest_batches WHERE agent_id = ?", (agent_id,))
    next_seq = (last["seq"] or 0) + 1 if last else 1
    with store.write_transaction() as connection:
        for batch in batches_from(drained, agent_id, next_seq):
            enqueue_records(connection, batch)
    return drained.stats
