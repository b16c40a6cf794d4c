"""Replay a capture onto a network interface (AF_PACKET), keeping the packets' relative timing.

Only ever onto the interface named by the caller: the demo replays into a veth pair it created, whose
other end the sensor captures."""

from __future__ import annotations

import argparse
import errno
import socket
import sys
import time
from pathlib import Path

import msgspec

from appliance.simulate.pcap import PcapFormatError, read_pcap

_BUSY_RETRIES = 1000


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


def replay(pcap: Path, interface: str, speed: float | None = 1.0) -> ReplayStats:
    """Send every frame of `pcap` onto `interface`. speed 2.0 plays twice as fast as recorded;
    None sends as fast as possible."""
    if speed is not None and not speed > 0:
        raise ReplayError("speed must be positive (or None for as fast as possible)")
    frames = sent_bytes = 0
    sock = open_interface(interface)
    began = time.monotonic()
    first_ts: float | None = None
    try:
        for ts, frame in read_pcap(pcap):
            if speed is not None:
                first_ts = ts if first_ts is None else first_ts
                delay = (ts - first_ts) / speed - (time.monotonic() - began)
                if delay > 0:
                    time.sleep(delay)
            _send(sock, frame)
            frames += 1
            sent_bytes += len(frame)
    finally:
        sock.close()
    return ReplayStats(frames=frames, bytes=sent_bytes, seconds=time.monotonic() - began)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m appliance.simulate.replay",
        description="replay a pcap onto a network interface, keeping its timing",
    )
    parser.add_argument("pcap", type=Path)
    parser.add_argument("--iface", required=True, help="interface to send on (e.g. one end of a veth pair)")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, default=1.0, help="speed factor (default 1.0: as recorded)")
    pace.add_argument("--fast", action="store_true", help="as fast as possible, ignoring timestamps")
    args = parser.parse_args(argv)
    try:
        stats = replay(args.pcap, args.iface, None if args.fast else args.speed)
    except (ReplayError, PcapFormatError) as error:
        print(f"replay: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"replay: {args.pcap}: {error.strerror}", file=sys.stderr)
        return 1
    print(f"replayed {stats.frames} frames ({stats.bytes} bytes) in {stats.seconds:.2f} s onto {args.iface}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
