"""Replay onto one end of a veth pair inside a network namespace made for the test; a raw AF_PACKET socket
on the other end must receive every frame, byte for byte and in order."""

from __future__ import annotations

import hashlib
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from appliance.simulate import write
from appliance.simulate.pcap import read_pcap
from appliance.simulate.replay import _anchor_for

pytestmark = pytest.mark.netns

RECEIVER = """
import socket, sys, hashlib, time
iface, expected, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))  # ETH_P_ALL
sock.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE: keep up with the fast replay
sock.bind((iface, 0))
sock.settimeout(0.2)
print("ready", flush=True)
digest, count, deadline = hashlib.sha256(), 0, time.monotonic() + timeout
while count < expected and time.monotonic() < deadline:
    try:
        frame, address = sock.recvfrom(65535)
    except socket.timeout:
        continue
    if address[2] == socket.PACKET_OUTGOING:
        continue
    digest.update(frame)
    count += 1
print(count, digest.hexdigest(), flush=True)
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@contextmanager
def veth_namespace() -> Iterator[tuple[str, str, str]]:
    """A fresh namespace holding a veth pair (no IPv6, so the kernel adds no frames of its own)."""
    tag = secrets.token_hex(3)
    namespace, sender, receiver = f"simns-{tag}", f"sims{tag}", f"simr{tag}"
    _ip("netns", "add", namespace)
    try:
        for knob in ("all", "default"):
            _ip("netns", "exec", namespace, "sysctl", "-qw", f"net.ipv6.conf.{knob}.disable_ipv6=1")
        _ip("-n", namespace, "link", "add", sender, "type", "veth", "peer", "name", receiver)
        _ip("-n", namespace, "link", "set", sender, "up")
        _ip("-n", namespace, "link", "set", receiver, "up")
        yield namespace, sender, receiver
    finally:
        _ip("netns", "del", namespace)


def _replay_and_receive(pcap: Path, extra_args: list[str]) -> tuple[bool, float]:
    """Replay `pcap` in a fresh namespace; return whether the receiver got the same bytes, and how long it took."""
    frames = [frame for _, frame in read_pcap(pcap)]
    with veth_namespace() as (namespace, sender, receiver):
        listener = subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, "-c", RECEIVER, receiver, str(len(frames)), "30"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert listener.stdout.readline().strip() == "ready"
            began = time.monotonic()
            replayed = subprocess.run(
                [
                    "ip",
                    "netns",
                    "exec",
                    namespace,
                    sys.executable,
                    "-m",
                    "appliance.simulate.replay",
                    str(pcap),
                    "--iface",
                    sender,
                    *extra_args,
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            took = time.monotonic() - began
            assert replayed.returncode == 0, replayed.stderr
            assert f"replayed {len(frames)} frames" in replayed.stdout
            count, digest = listener.communicate(timeout=40)[0].split()
        finally:
            listener.kill()
            listener.wait()
    expected = hashlib.sha256(b"".join(frames)).hexdigest()
    assert int(count) == len(frames)
    return digest == expected, took


def test_fast_replay_delivers_every_frame_in_order(tmp_path):
    pcap = tmp_path / "office.pcap"
    write("brute-force", pcap, seed=2, duration=20)
    same_bytes, _ = _replay_and_receive(pcap, ["--fast"])
    assert same_bytes


def test_timed_replay_keeps_the_pace(tmp_path):
    pcap = tmp_path / "office.pcap"
    write("benign-office", pcap, seed=2, duration=20)
    timestamps = [ts for ts, _ in read_pcap(pcap)]
    span = timestamps[-1] - timestamps[0]
    same_bytes, took = _replay_and_receive(pcap, ["--speed", "8"])
    assert same_bytes
    assert took >= span / 8 * 0.95  # never faster than asked (it may be slower by process start-up)


def test_replay_refuses_an_interface_that_does_not_exist(tmp_path):
    pcap = tmp_path / "office.pcap"
    write("benign-office", pcap, seed=2, duration=20)
    result = subprocess.run(
        [sys.executable, "-m", "appliance.simulate.replay", str(pcap), "--iface", "nosuch9"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "replay: cannot use interface 'nosuch9': No such device"


def test_follow_plays_a_history_then_the_stream_segments_and_removes_them(tmp_path):
    """The demo's replay: the history first, then each segment as the stream writes it, every frame in
    order; each segment is removed once played, so the disk never holds more than a few."""
    history = tmp_path / "history.pcap"
    write("benign-office", history, seed=2, duration=20)
    segments = tmp_path / "segments"
    segments.mkdir()
    subprocess.run([sys.executable, "-m", "appliance.simulate.stream", "--scenario", "benign-office", "--seed", "2",
                    "--segment", "20", "--out-dir", str(segments), "--count", "2"], check=True, capture_output=True)
    frames = [frame for path in (history, segments / "segment-00000.pcap", segments / "segment-00001.pcap")
              for _, frame in read_pcap(path)]
    with veth_namespace() as (namespace, sender, receiver):
        listener = subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, "-c", RECEIVER, receiver, str(len(frames)), "30"],
            stdout=subprocess.PIPE, text=True,
        )
        try:
            assert listener.stdout.readline().strip() == "ready"
            replayed = subprocess.run(
                ["ip", "netns", "exec", namespace, sys.executable, "-m", "appliance.simulate.replay", str(history),
                 "--follow", str(segments), "--count", "2", "--iface", sender, "--fast"],
                capture_output=True, text=True, timeout=60,
            )
            assert replayed.returncode == 0, replayed.stderr
            count, digest = listener.communicate(timeout=40)[0].split()
        finally:
            listener.kill()
            listener.wait()
    assert int(count) == len(frames)
    assert digest == hashlib.sha256(b"".join(frames)).hexdigest()
    assert not list(segments.glob("segment-*"))
    assert history.exists()  # only the stream's segments are consumed


def test_replay_needs_something_to_play():
    result = subprocess.run([sys.executable, "-m", "appliance.simulate.replay", "--iface", "lo"], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 2
    assert "give a PCAP to replay, or --follow DIR" in result.stderr


def test_a_capture_that_continues_the_last_keeps_its_timeline_and_another_starts_at_once():
    """Pacing across files: the next segment (on time) keeps the anchor, so the timeline stays continuous; a
    capture from another time (the history before the stream) or one that could only start late re-anchors."""
    now = time.monotonic()
    anchor = (1000.0, now)
    assert _anchor_for(anchor, 1599.9, 1600.0, speed=10.0) == anchor
    assert _anchor_for(anchor, 1599.9, 90_000.0, speed=10.0)[0] == 90_000.0
    assert _anchor_for(anchor, 1599.9, 500.0, speed=10.0)[0] == 500.0
    late = (1000.0, now - 100.0)  # 100 s of wall time for 60 s of packets at 10x: far behind
    assert _anchor_for(late, 1599.9, 1600.0, speed=10.0)[0] == 1600.0
    assert _anchor_for(None, None, 42.0, speed=10.0)[0] == 42.0
