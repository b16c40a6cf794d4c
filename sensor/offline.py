"""`sensor read`: capture files through the pipeline, each batch of frames at a time, and the records out
(stdout, the shipper) as they finish, so memory stays flat whatever the files' size."""

from __future__ import annotations

import argparse
import sys
import time
from typing import IO, TYPE_CHECKING

import msgspec

from sensor.pcap import CaptureFormatError
from sensor.pipeline import Drained, Pipeline, default_extractor
from sensor.shipping.commands import finish_shipping, open_packet_ring, open_shipper, ship_drained

if TYPE_CHECKING:
    from sensor.shipping.shipper import Shipper


class ReadSummary(msgspec.Struct):
    packets: int
    bytes: int
    decoded: int
    malformed: int
    fragments: int
    flows: int
    events: int
    flows_evicted: int
    read_errors: int
    seconds: float
    packets_per_second: float


class RecordOutput:
    """Where what the pipeline drains goes: the shipper, and stdout as JSON lines (--flows, --events)."""

    def __init__(self, args: argparse.Namespace, out: IO[bytes], shipper: Shipper | None) -> None:
        self.flows = self.events = 0
        self._args, self._out, self._shipper = args, out, shipper

    def __call__(self, drained: Drained) -> None:
        ship_drained(self._shipper, drained)
        if self._args.flows:
            for flow in drained.flows:
                self._out.write(msgspec.json.encode(flow) + b"\n")
        if self._args.events:
            for event in drained.events:
                self._out.write(msgspec.json.encode(event) + b"\n")
        self.flows += len(drained.flows)
        self.events += len(drained.events)


def read(args: argparse.Namespace) -> int:
    ring = open_packet_ring(args)
    shipper = open_shipper(args)
    pipeline = Pipeline(extractor=None if args.no_metadata else default_extractor(),
                        tap=ring.append if ring is not None else None)
    out = sys.stdout.buffer
    output = RecordOutput(args, out, shipper)
    started = time.perf_counter()
    read_errors = 0
    try:
        for path in args.pcaps:
            for problem in pipeline.feed_file(path, on_drained=output):
                read_errors += 1
                print(f"sensor: warning: {path}: {problem}", file=sys.stderr)
    except CaptureFormatError as error:
        print(f"sensor: error: {error}", file=sys.stderr)
        if shipper is not None:
            shipper.close()
        return 2
    output(pipeline.close())
    if ring is not None:
        ring.close()
    seconds = time.perf_counter() - started
    stats = pipeline.stats
    summary = ReadSummary(
        packets=stats.packets, bytes=stats.bytes, decoded=stats.decoded, malformed=stats.malformed,
        fragments=stats.fragments, flows=output.flows, events=output.events, flows_evicted=stats.flows_evicted,
        read_errors=read_errors, seconds=round(seconds, 3),
        packets_per_second=round(stats.packets / seconds if seconds > 0 else 0.0, 1),
    )
    if args.json:
        out.write(msgspec.json.encode(summary) + b"\n")
    else:
        for field in summary.__struct_fields__:
            out.write(f"{field:>20}: {getattr(summary, field)}\n".encode())
    out.flush()
    return finish_shipping(shipper, args)
