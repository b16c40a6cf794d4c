"""Replay captures onto a network interface (AF_PACKET), keeping the packets' relative timing.

Only ever onto the interface named by the caller: the demo replays into a veth pair it created, whose
other end the sensor captures. Several captures play as one timeline when each continues where the last
ended (the demo's segments); a capture from another time (the office's history before them) starts at
once. With --follow the replay also plays the segments a stream writes into a directory, as they appear,
and removes each once played."""

from __future__ import annotations

import argparse
import errno
import itertools
import socket
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec

from appliance.simulate.labels import labels_path
from appliance.simulate.pcap import PcapFormatError, read_pcap

_BUSY_RETRIES = 1000
CONTINUATION_GAP_S = 60.0  # a capture starting within this much packet time after the last one continues it
LATE_S = 1.0  # a capture that could only start this late (its file was not there yet) starts from now


class ReplayStats(msgspec.Struct, kw_only=True):
    frames: int
    bytes: int
    seconds: float  # wall-clock time the replay took


class ReplayError(RuntimeError):
    pass


def open_interface(interface: str) -> socket.socket:
    """A send-only packet socket (protocol 0: the kernel delivers it nothing) bound to `interface`."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        sock.bind((interface, 0))
    except OSError as error:
        sock.close()
        raise ReplayError(f"cannot use interface {interface!r}: {error.strerror}") from None
    return sock


def _send(sock: socket.socket, frame: bytes) -> None:
    for _ in range(_BUSY_RETRIES):
        try:
            sock.send(frame)
            return
        except OSError as error:
            if error.errno != errno.ENOBUFS:  # the qdisc is full in as-fast-as-possible mode: wait a little
                raise ReplayError(f"sending a {len(frame)}-byte frame failed: {error.strerror}") from None
            time.sleep(0.0005)
    raise ReplayError("the interface stayed busy (ENOBUFS)")


def replay(pcaps: Iterable[Path], interface: str, speed: float | None = 1.0) -> ReplayStats:
    """Send every frame of each capture onto `interface`, in order. speed 2.0 plays twice as fast as
    recorded; None sends as fast as possible."""
    if speed is not None and not speed > 0:
        raise ReplayError("speed must be positive (or None for as fast as possible)")
    frames = sent_bytes = 0
    sock = open_interface(interface)
    began = time.monotonic()
    anchor: tuple[float, float] | None = None  # (packet time, monotonic time) the pacing counts from
    last_ts: float | None = None
    try:
        for pcap in pcaps:
            first = True
            for ts, frame in read_pcap(pcap):
                if speed is not None:
                    if first:
                        anchor = _anchor_for(anchor, last_ts, ts, speed)
                        first = False
                    delay = (ts - anchor[0]) / speed - (time.monotonic() - anchor[1])
                    if delay > 0:
                        time.sleep(delay)
                _send(sock, frame)
                frames += 1
                sent_bytes += len(frame)
                last_ts = ts
    finally:
        sock.close()
    return ReplayStats(frames=frames, bytes=sent_bytes, seconds=time.monotonic() - began)


def _anchor_for(anchor: tuple[float, float] | None, last_ts: float | None, first_ts: float,
                speed: float) -> tuple[float, float]:
    """Keep the timeline when this capture continues the last one on time; otherwise start it now."""
    now = time.monotonic()
    if anchor is None or last_ts is None or not last_ts <= first_ts <= last_ts + CONTINUATION_GAP_S:
        return first_ts, now
    if (first_ts - anchor[0]) / speed - (now - anchor[1]) < -LATE_S:
        return first_ts, now
    return anchor


def segment_path(directory: Path, index: int) -> Path:
    """Where a stream writes its segment `index` (and where --follow waits for it)."""
    return directory / f"segment-{index:05d}.pcap"


def follow(directory: Path, count: int | None = None, poll_s: float = 0.1) -> Iterator[Path]:
    """DIR/segment-00000.pcap, segment-00001.pcap, ... as each appears; each one (and its labels) is removed
    once the consumer asks for the next. Stops after `count` segments, or never."""
    index = 0
    while count is None or index < count:
        path = segment_path(directory, index)
        while not path.exists():
            time.sleep(poll_s)
        yield path
        path.unlink(missing_ok=True)
        labels_path(path).unlink(missing_ok=True)
        index += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m appliance.simulate.replay",
        description="replay a pcap onto a network interface, keeping its timing",
    )
    parser.add_argument("pcaps", type=Path, nargs="*", metavar="PCAP")
    parser.add_argument("--iface", required=True, help="interface to send on (e.g. one end of a veth pair)")
    parser.add_argument("--follow", type=Path, metavar="DIR",
                        help="then play DIR/segment-NNNNN.pcap in turn as they appear, removing each once played")
    parser.add_argument("--count", type=int, help="with --follow: stop after this many segments (default: never)")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, default=1.0, help="speed factor (default 1.0: as recorded)")
    pace.add_argument("--fast", action="store_true", help="as fast as possible, ignoring timestamps")
    args = parser.parse_args(argv)
    if not args.pcaps and args.follow is None:
        parser.error("give a PCAP to replay, or --follow DIR")
    if args.follow is not None and not args.follow.is_dir():
        print(f"replay: directory {str(args.follow)!r} does not exist", file=sys.stderr)
        return 1
    pcaps: Iterable[Path] = args.pcaps
    if args.follow is not None:
        pcaps = itertools.chain(args.pcaps, follow(args.follow, args.count))
    try:
        stats = replay(pcaps, args.iface, None if args.fast else args.speed)
    except (ReplayError, PcapFormatError) as error:
        print(f"replay: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"replay: {error.filename}: {error.strerror}", file=sys.stderr)
        return 1
    print(f"replayed {stats.frames} frames ({stats.bytes} bytes) in {stats.seconds:.2f} s onto {args.iface}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
