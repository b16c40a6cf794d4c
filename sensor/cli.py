"""`sensor` command line: `sensor read PCAP...` decodes capture files; `sensor capture --iface IFACE` runs
live capture (sensor.capture.live)."""

from __future__ import annotations

import argparse
import sys
import time

import msgspec

from sensor.pcap import CaptureFormatError
from sensor.pipeline import Pipeline
from sensor.shipping.commands import (
    ShippingSetupError,
    add_shipping_arguments,
    capture_and_ship,
    finish_shipping,
    open_packet_ring,
    open_shipper,
    ship_drained,
)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sensor", description="Network sensor: capture, decode, flows.")
    commands = parser.add_subparsers(dest="command", required=True)
    read = commands.add_parser("read", help="decode capture files (pcap / pcapng) and summarise them")
    read.add_argument("pcaps", nargs="+", metavar="PCAP")
    read.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    read.add_argument("--flows", action="store_true", help="print each flow as one JSON object per line")
    read.add_argument("--events", action="store_true", help="print each protocol event as one JSON line")
    add_shipping_arguments(read, drain_timeout=60.0)
    capture = commands.add_parser("capture", help="capture live from an interface and ship to the appliance")
    capture.add_argument("--iface", required=True)
    capture.add_argument("--netns", metavar="NAME", help="the interface lives in this network namespace (ip netns)")
    capture.add_argument(
        "--filter",
        metavar="EXPR",
        help="capture only what this tcpdump filter expression matches, e.g. 'not port 22' (compiled by libpcap)",
    )
    add_shipping_arguments(capture, drain_timeout=10.0)
    args = parser.parse_args(argv)
    try:
        if args.command == "read":
            return _read(args)
        return _capture(args)
    except ShippingSetupError as error:
        print(f"sensor: error: {error}", file=sys.stderr)
        return 1


def _read(args: argparse.Namespace) -> int:
    ring = open_packet_ring(args)
    shipper = open_shipper(args)
    pipeline = Pipeline(tap=ring.append if ring is not None else None)
    out = sys.stdout.buffer
    started = time.perf_counter()
    flows = events = read_errors = 0
    try:
        for path in args.pcaps:
            for problem in pipeline.feed_file(path):
                read_errors += 1
                print(f"sensor: warning: {path}: {problem}", file=sys.stderr)
            flows, events = _emit(pipeline.drain(), args, out, flows, events, shipper)
    except CaptureFormatError as error:
        print(f"sensor: error: {error}", file=sys.stderr)
        if shipper is not None:
            shipper.close()
        return 2
    flows, events = _emit(pipeline.close(), args, out, flows, events, shipper)
    if ring is not None:
        ring.close()
    seconds = time.perf_counter() - started
    stats = pipeline.stats
    summary = ReadSummary(
        packets=stats.packets, bytes=stats.bytes, decoded=stats.decoded, malformed=stats.malformed,
        fragments=stats.fragments, flows=flows, events=events, flows_evicted=stats.flows_evicted,
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


def _emit(drained, args, out, flows: int, events: int, shipper=None) -> tuple[int, int]:
    ship_drained(shipper, drained)
    if args.flows:
        for flow in drained.flows:
            out.write(msgspec.json.encode(flow) + b"\n")
    if args.events:
        for event in drained.events:
            out.write(msgspec.json.encode(event) + b"\n")
    return flows + len(drained.flows), events + len(drained.events)


def _capture(args: argparse.Namespace) -> int:
    if args.appliance:
        return capture_and_ship(args)
    try:
        from sensor.capture import live
    except ImportError as error:
        print(f"sensor: error: live capture is not available ({error})", file=sys.stderr)
        return 1
    run = getattr(live, "main", None)
    if run is None:
        print("sensor: error: sensor.capture.live has no main() entry point yet", file=sys.stderr)
        return 1
    return run(["--iface", args.iface]
               + (["--appliance", args.appliance] if args.appliance else [])
               + (["--license-key", args.license_key] if args.license_key else []))


if __name__ == "__main__":
    sys.exit(main())
