"""The shipping side of the `sensor` command line: `--appliance URL --license-key KEY [--spool-dir D]` on
`sensor read` (ship a capture file's records) and `sensor capture` (the live service).

The shipper, the packet store and the pipeline are imported by the functions that open them: defining the
options must not cost the HTTP client's and numpy's import time (`sensor --help`)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sensor.packets.ring import PacketRing
    from sensor.pipeline import Drained
    from sensor.shipping.shipper import Shipper

LICENSE_KEY_ENV = "NETSENX_LICENSE_KEY"
DRAIN_INTERVAL = 1.0  # seconds between hand-overs from the live pipeline to the shipper


class ShippingSetupError(Exception):
    """Bad shipping options; the CLI prints it as one line."""


def add_shipping_arguments(parser: argparse.ArgumentParser, drain_timeout: float) -> None:
    group = parser.add_argument_group("shipping to the appliance")
    group.add_argument("--appliance", metavar="URL", help="the appliance, e.g. https://box.example:8443")
    group.add_argument(
        "--license-key",
        metavar="KEY",
        default=os.environ.get(LICENSE_KEY_ENV),
        help=f"the box's license key (default: ${LICENSE_KEY_ENV})",
    )
    group.add_argument("--agent-id", default=os.uname().nodename,  # gethostname's answer, without loading socket
                       help="this sensor's id (default: hostname)")
    group.add_argument(
        "--spool-dir",
        help="on-disk queue for batches not delivered yet (default: ~/.local/state/netsenx-sensor/<agent-id>)",
    )
    group.add_argument(
        "--spool-key-file",
        help="key file the spool is encrypted with (created on first use, mode 0600; default: spool.key in the spool)",
    )
    group.add_argument("--spool-max-mb", type=int, default=256, help="spool cap; the oldest batches go first")
    group.add_argument("--ca-cert", metavar="FILE", help="trust only this certificate / CA for the appliance")
    group.add_argument("--insecure", action="store_true", help="do not verify the appliance's TLS certificate")
    group.add_argument("--batch-records", type=int, default=5000, help="most records in one batch")
    group.add_argument(
        "--drain-timeout",
        type=float,
        default=drain_timeout,
        help="seconds to keep delivering spooled batches before exiting",
    )
    packets = parser.add_argument_group("packet store")
    packets.add_argument("--packet-store", metavar="DIR",
                         help="keep the most recent packets here: a ring of sealed pcap segments")
    packets.add_argument("--packet-store-key-file", metavar="FILE",
                         help="key the segments are sealed with (created on first use, mode 0600; default: "
                              "packets.key in the store)")
    packets.add_argument("--packet-store-mb", type=int, default=2048, help="the ring's size; the oldest go first")


def open_shipper(args: argparse.Namespace) -> Shipper | None:
    """The Shipper the options ask for, or None without --appliance."""
    if not args.appliance:
        return None
    from sensor.shipping.shipper import Shipper
    from sensor.shipping.spool import SpoolError

    if not args.license_key:
        raise ShippingSetupError(f"--appliance needs --license-key (or ${LICENSE_KEY_ENV})")
    if args.batch_records < 1 or args.spool_max_mb < 1:
        raise ShippingSetupError("--batch-records and --spool-max-mb must be at least 1")
    spool_dir = Path(args.spool_dir) if args.spool_dir else default_spool_dir(args.agent_id)
    try:
        return Shipper(
            args.appliance,
            args.license_key,
            args.agent_id,
            spool_dir,
            ca_file=args.ca_cert,
            insecure=args.insecure,
            max_spool_bytes=args.spool_max_mb * 1024 * 1024,
            spool_key_file=args.spool_key_file,
            max_records=args.batch_records,
        )
    except (SpoolError, OSError, ValueError) as error:
        raise ShippingSetupError(str(error)) from error


def default_spool_dir(agent_id: str) -> Path:
    state_home = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state_home) / "netsenx-sensor" / agent_id


def ship_drained(shipper: Shipper | None, drained: Drained) -> None:
    """A drain with records, or with capture counters only (packets of flows still open, kernel drops): both
    reach the box, so its capture-loss figures count every packet."""
    if shipper is not None:
        shipper.ship(drained.flows, drained.events, drained.stats)


def finish_shipping(shipper: Shipper | None, args: argparse.Namespace) -> int:
    """Deliver what is spooled (up to --drain-timeout), report, and give the exit code."""
    if shipper is None:
        return 0
    remaining = shipper.close(drain_timeout=args.drain_timeout)
    stats = shipper.stats
    print(
        f"sensor: shipped {stats.delivered} batches to {args.appliance} ({stats.duplicates} already there, "
        f"{stats.rejected} rejected, {stats.lost} dropped by the spool cap)",
        file=sys.stderr,
    )
    if remaining:
        print(
            f"sensor: error: {remaining} batches could not be delivered yet ({stats.last_error}); they stay in "
            f"{shipper.spool.directory} and go with the next run",
            file=sys.stderr,
        )
        return 1
    return 0


def capture_and_ship(args: argparse.Namespace) -> int:
    """`sensor capture --iface IFACE [--filter EXPR] --appliance URL --license-key KEY`: the live service."""
    from sensor.capture.live import CaptureError, LiveCapture
    from sensor.capture.netns import network_namespace
    from sensor.packets.recorder import PacketRecorder
    from sensor.pipeline import Pipeline

    # Opened first, so a bad interface or filter is refused before anything is spooled or sent. The capture
    # socket is bound in the interface's namespace; shipping then uses this one's network.
    try:
        with network_namespace(args.netns):
            capture = LiveCapture(args.iface, bpf=args.filter)
    except (CaptureError, OSError) as error:
        raise ShippingSetupError(f"cannot capture on {args.iface}: {error}") from error
    try:
        ring = open_packet_ring(args)
        shipper = open_shipper(args)
    except ShippingSetupError:
        capture.close()
        raise
    recorder = PacketRecorder(ring) if ring is not None else None  # live: writing never holds up detection
    pipeline = Pipeline(tap=recorder.offer if recorder is not None else None)
    handed_over = time.monotonic()
    try:
        with capture:
            for batch in capture.frame_batches(idle_after=DRAIN_INTERVAL):
                pipeline.feed_batch(batch)
                if time.monotonic() - handed_over >= DRAIN_INTERVAL:
                    pipeline.advance(time.time())
                    pipeline.stats.kernel_drops = capture.stats().drops
                    ship_drained(shipper, pipeline.drain())
                    handed_over = time.monotonic()
    except KeyboardInterrupt:
        pass
    except (CaptureError, OSError) as error:
        shipper.close()
        raise ShippingSetupError(f"cannot capture on {args.iface}: {error}") from error
    finally:
        if recorder is not None:
            stored = recorder.close()
            print(f"sensor: packet store kept {stored.packets_stored} packets, dropped {stored.packets_dropped}"
                  + (f" ({stored.last_error})" if stored.last_error else ""), file=sys.stderr)
    ship_drained(shipper, pipeline.close())
    return finish_shipping(shipper, args)


def open_packet_ring(args: argparse.Namespace) -> PacketRing | None:
    """The packet store the options ask for, or None without --packet-store."""
    if not getattr(args, "packet_store", None):
        return None
    from sensor.packets.ring import PacketRing
    from sensor.shipping.spool_cipher import SpoolKeyError, create_key_file, read_key_file

    if args.packet_store_mb < 1:
        raise ShippingSetupError("--packet-store-mb must be at least 1")
    directory = Path(args.packet_store)
    key_file = Path(args.packet_store_key_file) if args.packet_store_key_file else directory / "packets.key"
    try:
        key = read_key_file(key_file) if key_file.exists() else create_key_file(key_file)
        return PacketRing(directory, key, args.agent_id, max_bytes=args.packet_store_mb * 1024 * 1024)
    except (SpoolKeyError, OSError, ValueError) as error:
        raise ShippingSetupError(f"packet store: {error}") from error
