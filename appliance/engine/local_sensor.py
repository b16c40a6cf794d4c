"""The box's own sensor path for capture files: decode them and queue the records as batches, exactly
as a remote sensor's batches arrive through the ingest endpoint."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from appliance.engine.queue import enqueue_records
from appliance.store.database import Store
from sensor.pipeline import Drained, Pipeline
from sensor.records import Batch, CaptureStats

RECORDS_PER_BATCH = 5000


def batches_from(drained: Drained, agent_id: str, first_seq: int) -> list[Batch]:
    """Split one drain into batches of bounded size, keeping packet-time order within each."""
    records = [(flow.ts_end, "flow", flow) for flow in drained.flows] + [(e.ts, "event", e) for e in drained.events]
    records.sort(key=lambda item: item[0])
    batches = []
    for start in range(0, max(len(records), 1), RECORDS_PER_BATCH):
        chunk = records[start : start + RECORDS_PER_BATCH]
        batches.append(
            Batch(
                agent_id=agent_id,
                seq=first_seq + len(batches),
                sent_at=time.time(),
                flows=[record for _, kind, record in chunk if kind == "flow"],
                events=[record for _, kind, record in chunk if kind == "event"],
                stats=drained.stats if start + RECORDS_PER_BATCH >= len(records) else CaptureStats(),
            )
        )
    return batches


def queue_capture_files(store: Store, paths: Iterable[str | os.PathLike], agent_id: str = "local") -> CaptureStats:
    """Decode the files (one sensor run: flows spanning files stay one flow) and queue their batches."""
    pipeline = Pipeline()
    for path in paths:
        pipeline.feed_file(path)
    drained = pipeline.close()
    last = store.query_one("SELECT max(seq) AS seq FROM ingest_batches WHERE agent_id = ?", (agent_id,))
    next_seq = (last["seq"] or 0) + 1 if last else 1
    with store.write_transaction() as connection:
        for batch in batches_from(drained, agent_id, next_seq):
            enqueue_records(connection, batch)
    return drained.stats
