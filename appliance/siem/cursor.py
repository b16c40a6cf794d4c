"""The export cursor: where a reader is in the export stream, as one opaque-looking string "T-B-R".

T: the decision-trace seq up to which alerts were read; B-R: the ingested batch (id) and record (index, flows
first, then protocol events) up to which flows and events were read. Traces and batches are both append-only
and numbered in commit order, so everything after a cursor is exactly what a reader has not seen: no gaps and
no repeats, and a cursor stays valid for good.
"""

from __future__ import annotations

import re

import msgspec

CURSOR_PATTERN = r"^[0-9]{1,18}-[0-9]{1,18}-[0-9]{1,9}$"
START = "0-0-0"


class ExportCursor(msgspec.Struct, frozen=True, order=True):
    trace_seq: int = 0
    batch_id: int = 0
    record: int = 0  # records of batch `batch_id` already read

    def __str__(self) -> str:
        return f"{self.trace_seq}-{self.batch_id}-{self.record}"

    @classmethod
    def parse(cls, text: str) -> ExportCursor:
        if not re.fullmatch(CURSOR_PATTERN, text):
            raise ValueError(f"{text!r} is not an export cursor (three numbers like '1520-88-412', from a previous "
                             "page; '0-0-0' is the start)")
        trace_seq, batch_id, record = (int(part) for part in text.split("-"))
        return cls(trace_seq, batch_id, record)
