"""`sensor` command line: `sensor read PCAP...` decodes capture files; `sensor capture --iface IFACE` runs
live capture (sensor.capture.live).

Each command imports what it needs when it runs (numpy, the pipeline, the shipper's HTTP client), so
`sensor --help` and a bad option answer at once (sensor.offline is `sensor read`)."""

from __future__ import annotations

import argparse
import sys

from sensor.shipping.commands import ShippingSetupError, add_shipping_arguments, capture_and_ship


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sensor", description="Network sensor: capture, decode, flows.")
    commands = parser.add_subparsers(dest="command", required=True)
    read = commands.add_parser("read", help="decode capture files (pcap / pcapng) and summarise them")
    read.add_argument("pcaps", nargs="+", metavar="PCAP")
    read.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    read.add_argument("--flows", action="store_true", help="print each flow as one JSON object per line")
    read.add_argument("--events", action="store_true", help="print each protocol event as one JSON line")
    read.add_argument("--no-metadata", action="store_true",
                      help="skip the protocol analysers: flows and counters only (no events, no service or login "
                           "fields on flows)")
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
            from sensor.offline import read

            return read(args)
        return _capture(args)
    except ShippingSetupError as error:
        print(f"sensor: error: {error}", file=sys.stderr)
        return 1


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
