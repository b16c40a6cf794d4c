"""What the engine takes from a stored batch: its records, in the shape the rules can reason about.

Ingest refuses what no sensor sends (the value ranges of sensor/records.py), but the engine defends itself
anyway: a batch stored before those checks existed may hold anything, and some values that pass them are
odd but real. So:
- a batch whose records break the contract (only one stored before ingest checked it) keeps the records that
  satisfy it; the others are dropped and counted;
- every time is clamped into [0, LATEST_TIME], the range every calendar computation can take (a crafted
  pcapng gives any finite time), and a flow that ends before it starts (a capture clock stepping back) ends
  when it starts;
- negative inter-arrival times (the same clock) become 0.
All of it is a pure function of the payload, so replaying a batch after a restart gives the same records.
"""

from __future__ import annotations

import msgspec

from sensor.records import AnyEvent, Batch, Flow, decode_batch

LATEST_TIME = 253370764800.0  # 9999-01-01 UTC: a datetime in any time zone (business hours) can hold it


class Intake(msgspec.Struct):
    batch: Batch
    dropped: int = 0  # records that broke the record contract (a batch stored before ingest checked them)
    first_problem: str = ""  # what was wrong with the first of them
    adjusted: int = 0  # records whose times were clamped or reordered


def read_batch(payload: bytes) -> Intake:
    """The batch's records, made safe. Raises msgspec.DecodeError when the payload is no batch at all."""
    try:
        intake = Intake(decode_batch(payload))
    except msgspec.ValidationError as error:
        intake = _salvage(payload, error)
    intake.adjusted = normalise(intake.batch)
    return intake


def _salvage(payload: bytes, error: msgspec.ValidationError) -> Intake:
    """Every record of the stored batch that satisfies the contract; the batch's own fields must."""
    raw = msgspec.msgpack.decode(payload)
    if not isinstance(raw, dict) or not all(isinstance(raw.get(name, []), list) for name in ("flows", "events")):
        raise error
    kept: dict[str, list] = {"flows": [], "events": []}
    problems = []
    for name, record_type in (("flows", Flow), ("events", AnyEvent)):
        for index, record in enumerate(raw.get(name, [])):
            try:
                kept[name].append(msgspec.convert(record, record_type))
            except msgspec.ValidationError as problem:
                problems.append(f"{name}[{index}]: {problem}")
    header = {key: value for key, value in raw.items() if key not in kept}
    batch = msgspec.convert(header, Batch)
    batch.flows, batch.events = kept["flows"], kept["events"]
    return Intake(batch, dropped=len(problems), first_problem=problems[0] if problems else "")


def _clamped(ts: float) -> float:
    return min(max(ts, 0.0), LATEST_TIME)


def normalise(batch: Batch) -> int:
    """Clamp times and inter-arrival times into what the rules expect; returns how many records changed."""
    adjusted = 0
    for flow in batch.flows:
        if not 0.0 <= flow.ts_start <= flow.ts_end <= LATEST_TIME:
            flow.ts_start = _clamped(flow.ts_start)
            flow.ts_end = max(flow.ts_start, _clamped(flow.ts_end))
            adjusted += 1
        if flow.iat_min < 0.0 or flow.iat_mean < 0.0 or flow.iat_max < 0.0:
            flow.iat_min = max(flow.iat_min, 0.0)
            flow.iat_mean = max(flow.iat_mean, 0.0)
            flow.iat_max = max(flow.iat_max, 0.0)
            adjusted += 1
    for event in batch.events:
        if not 0.0 <= event.ts <= LATEST_TIME:
            event.ts = _clamped(event.ts)
            adjusted += 1
    return adjusted
