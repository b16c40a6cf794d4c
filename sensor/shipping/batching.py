"""How one drain of the pipeline is cut into batches, the same for a remote sensor's shipper and the box's
own capture-file path.

Records go in packet-time order (a flow when it ends, an event when it happens), so the engine's rules never
see time run backwards from one batch to the next. A batch's capture counters are those of the packets since
the previous batch, and ride on a drain's last part only: the box sums them over batches (capture loss on the
compliance page), so each packet is counted once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import msgspec

from sensor.records import CaptureStats, Event, Flow


def arrival(record: Flow | Event) -> float:
    return record.ts_end if isinstance(record, Flow) else record.ts


def counters_since(totals: CaptureStats, before: CaptureStats) -> CaptureStats:
    """The pipeline keeps running totals; a batch carries what they grew by since the last one shipped."""
    return CaptureStats(**{
        field.name: max(0, getattr(totals, field.name) - getattr(before, field.name))
        for field in msgspec.structs.fields(CaptureStats)
    })


def split_drain(
    flows: Sequence[Flow], events: Sequence[Event], stats: CaptureStats, max_records: int
) -> Iterator[tuple[list[Flow], list[Event], CaptureStats]]:
    """Parts of at most `max_records` records; one empty part when only the counters have news."""
    records = sorted([*flows, *events], key=arrival)
    if not records:
        if stats != CaptureStats():
            yield [], [], stats
        return
    for start in range(0, len(records), max_records):
        part = records[start : start + max_records]
        last = start + max_records >= len(records)
        yield (
            [r for r in part if isinstance(r, Flow)],
            [r for r in part if not isinstance(r, Flow)],
            stats if last else CaptureStats(),
        )
