"""LiveCapture on a real veth pair: what is sent from the namespace end must come out of the ring intact."""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
from scapy.packet import Raw

from sensor.capture.live import CaptureError, KernelStats, LiveCapture
from sensor.capture.netns import network_namespace
from sensor.pcap import FrameBatch
from sensor.pipeline import Pipeline
from tests.sensor_capture.netns_veth import collect, run

IFF_PROMISC = 0x100
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
REPO = Path(__file__).resolve().parents[2]  # children import `sensor` from here


def marked_frames(count: int, size: int = 120) -> list[bytes]:
    """UDP frames on the namespace's addresses, each carrying a unique marker, padded to `size` bytes."""
    frames = []
    for i in range(count):
        marker = f"marker-{i:06d}".encode()
        packet = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="10.199.0.1", dst="10.199.0.2")
        packet = packet / UDP(sport=40000 + i % 1000, dport=9999) / Raw(marker)
        frames.append(bytes(packet) + bytes(max(0, size - len(packet))))
    return frames


def wait_until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_every_sent_frame_arrives_intact_in_order_with_rising_timestamps(veth):
    frames = marked_frames(2000)
    with LiveCapture(veth.host_iface) as capture:
        veth.send(frames)
        packets = collect(capture, wanted=len(frames))
        stats = capture.stats()

    assert [frame for _, _, frame in packets] == frames
    assert {linktype for _, linktype, _ in packets} == {1}
    timestamps = [ts for ts, _, _ in packets]
    assert timestamps == sorted(timestamps)
    assert abs(timestamps[0] - time.time()) < 60  # a real epoch time, not ticks since boot
    assert stats == KernelStats(packets=len(frames), drops=0, freeze_q_cnt=0)


def test_batches_hand_over_many_packets_per_ring_block(veth):
    frames = marked_frames(1000)
    with LiveCapture(veth.host_iface) as capture:
        veth.send(frames)
        timer = threading.Timer(3, capture.stop)
        timer.start()
        batches = []
        for batch in capture.batches():
            batches.append(batch)
            if sum(map(len, batches)) >= len(frames):
                break
        timer.cancel()

    assert sum(map(len, batches)) == len(frames)
    assert len(batches) < len(frames) / 10  # the point of the block ring: few wakeups for many packets


def test_iterating_yields_packets_one_by_one(veth):
    frames = marked_frames(50)
    with LiveCapture(veth.host_iface) as capture:
        veth.send(frames)
        safety = threading.Timer(3, capture.stop)
        safety.start()
        seen = []
        for _ts, _linktype, frame in capture:
            seen.append(frame)
            if len(seen) == len(frames):
                capture.stop()  # still hands out the rest of the current block, then ends
        safety.cancel()
    assert seen == frames


def read_frame_batches(capture: LiveCapture, wanted: int, timeout: float = 3.0) -> list[FrameBatch]:
    safety = threading.Timer(timeout, capture.stop)
    safety.start()
    batches: list[FrameBatch] = []
    for batch in capture.frame_batches():
        batches.append(batch)
        if sum(map(len, batches)) >= wanted:
            break
    safety.cancel()
    return batches


def test_frame_batches_carry_the_same_frames_as_the_tuple_api(veth):
    frames = marked_frames(1500, size=300)
    with LiveCapture(veth.host_iface) as capture:
        veth.send(frames)
        batches = read_frame_batches(capture, len(frames))

    assert [bytes(batch.frame(i)) for batch in batches for i in range(len(batch))] == frames
    timestamps = [ts for batch in batches for ts in batch.ts.tolist()]
    assert timestamps == sorted(timestamps) and abs(timestamps[0] - time.time()) < 60
    for batch in batches:
        assert (batch.wirelen == batch.caplen).all() and (batch.linktype == 1).all()


def test_blocks_waiting_for_a_slow_reader_come_as_one_batch_also_across_the_ring_end(veth):
    block_size = 16384  # about 40 of these 300-byte frames per block; 16 blocks hold about 650
    first, second = marked_frames(500, size=300), marked_frames(1000, size=300)[500:]
    with LiveCapture(veth.host_iface, block_size=block_size, block_count=16) as capture:
        veth.send(first)  # all in the ring before the first read: a reader that is behind
        wait_until(lambda: capture.stats().packets >= len(first))
        time.sleep(0.1)  # past the retire timeout, so the last, partly filled block is handed over too
        early = read_frame_batches(capture, len(first))
        veth.send(second)  # fills the blocks after the ones read, then those at the start of the ring again
        wait_until(lambda: capture.stats().packets >= len(first) + len(second))
        time.sleep(0.1)
        late = read_frame_batches(capture, len(second))
        stats = capture.stats()

    assert [len(batch) for batch in early] == [len(first)]  # one batch of the dozen blocks that were waiting
    assert len(late) == 2  # the blocks up to the ring's end, then those from its start (two copies)
    received = [bytes(batch.frame(i)) for batch in early + late for i in range(len(batch))]
    assert received == first + second and stats.drops == 0
    timestamps = [ts for batch in early + late for ts in batch.ts.tolist()]
    assert timestamps == sorted(timestamps)


def vlan_tagged_frames() -> list[bytes]:
    macs = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}
    udp = IP(src="10.199.0.1", dst="10.199.0.2") / UDP(sport=1234, dport=5678)
    return [
        bytes(Ether(**macs) / Dot1Q(vlan=42, prio=3) / udp / Raw(b"802.1Q")),
        bytes(Ether(**macs) / Dot1AD(vlan=100) / Dot1Q(vlan=200) / udp / Raw(b"QinQ, outer 0x88a8")),
        bytes(Ether(**macs) / Dot1Q(vlan=4094) / udp / Raw(b"highest vlan id")),
    ]


@pytest.mark.parametrize("read_as", ["tuples", "frame_batches"])
def test_vlan_tags_taken_off_by_the_kernel_are_put_back(veth, read_as):
    plain = marked_frames(3)
    tagged = vlan_tagged_frames()
    frames = [plain[0], tagged[0], tagged[1], plain[1], tagged[2], plain[2]]  # interleaved in one block
    with LiveCapture(veth.host_iface) as capture:
        veth.send(frames)
        if read_as == "tuples":
            received = [frame for _, _, frame in collect(capture, wanted=len(frames))]
        else:
            batches = read_frame_batches(capture, len(frames))
            received = [bytes(batch.frame(i)) for batch in batches for i in range(len(batch))]
            wirelen = [int(length) for batch in batches for length in batch.wirelen]
            assert wirelen == [len(frame) for frame in frames]
    assert received == frames


def test_live_frames_become_flows_in_the_sensor_pipeline(veth):
    frames = marked_frames(200)  # 200 UDP flows 10.199.0.1:40000+i -> 10.199.0.2:9999
    pipeline = Pipeline()
    with LiveCapture(veth.host_iface) as capture:
        veth.send(frames)
        for batch in read_frame_batches(capture, len(frames)):
            pipeline.feed_batch(batch)
    flows = pipeline.close().flows
    assert pipeline.stats.packets == len(frames)
    assert {(f.src_ip, f.src_port, f.dst_ip, f.dst_port) for f in flows} == {
        ("10.199.0.1", 40000 + i, "10.199.0.2", 9999) for i in range(200)
    }


def test_drops_are_counted_and_accumulated_when_a_tiny_ring_is_not_read(veth):
    frames = marked_frames(400, size=800)
    with LiveCapture(veth.host_iface, block_size=4096, block_count=2) as capture:
        veth.send(frames)
        wait_until(lambda: capture.stats().packets == len(frames))
        first = capture.stats()
        again = capture.stats()  # the kernel zeroed its counters on the previous read; ours must not
        received = collect(capture, timeout=0.5)

    assert first.drops > 300  # 8 KiB of ring hold about ten 800-byte frames
    assert first.packets == len(frames)
    assert first.freeze_q_cnt >= 1
    assert again == first
    assert len(received) == len(frames) - first.drops


def test_promiscuous_mode_is_on_while_capturing_and_off_after_close(veth):
    flags_file = f"/sys/class/net/{veth.host_iface}/flags"

    def promiscuous() -> bool:
        with open(flags_file) as flags:
            return bool(int(flags.read(), 16) & IFF_PROMISC)

    with LiveCapture(veth.host_iface):
        assert promiscuous()
    assert not promiscuous()
    with LiveCapture(veth.host_iface, promisc=False):
        assert not promiscuous()


def test_fanout_group_splits_flows_between_sockets_without_duplicates(veth):
    frames = marked_frames(600)  # 600 distinct UDP source ports: many flows to hash
    with (
        LiveCapture(veth.host_iface, fanout_group=4242) as first,
        LiveCapture(veth.host_iface, fanout_group=4242) as second,
    ):
        veth.send(frames)
        got_first = [frame for _, _, frame in collect(first, timeout=0.5)]
        got_second = [frame for _, _, frame in collect(second, timeout=0.5)]

    assert got_first and got_second
    assert sorted(got_first + got_second) == sorted(frames)


@pytest.mark.parametrize("name", ["nosuchif0", "", "lo\x00", "lo" + "-but-longer-than-linux-allows"])
def test_missing_or_impossible_interface_is_a_one_line_error(name):
    with pytest.raises(CaptureError) as error:
        LiveCapture(name)
    assert str(error.value) == f"no network interface named {name!r}"


def test_tun_interface_gives_raw_ip_linktype_and_filters_by_expression(veth):
    # Packets written to a tun device's file arrive on its interface as raw IP, no Ethernet header.
    packets = [
        bytes(IP(src="10.199.0.1", dst="10.199.0.2") / UDP(sport=5353, dport=53) / Raw(b"query")),
        bytes(IP(src="10.199.0.1", dst="10.199.0.2") / UDP(sport=5353, dport=5354) / Raw(b"other")),
    ]
    with network_namespace(veth.namespace):  # the tun device and the sockets made here stay in the namespace
        tun = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", b"captun0", IFF_TUN | IFF_NO_PI))
        run("ip", "-n", veth.namespace, "link", "set", "captun0", "up")
        capture = LiveCapture("captun0", bpf="udp port 53")
    try:
        with capture:
            for packet in packets:
                os.write(tun, packet)
            captured = collect(capture, timeout=0.3)
    finally:
        os.close(tun)
    assert [(linktype, frame) for _, linktype, frame in captured] == [(101, packets[0])]


def test_a_process_without_cap_net_raw_gets_a_clear_permission_error(veth):
    # Root stripped of every capability, not another user: the interpreter's packages may live where only root
    # can read them (a pyenv under /root), and what the kernel checks for AF_PACKET is CAP_NET_RAW, not the uid.
    program = f"from sensor.capture.live import LiveCapture; LiveCapture({veth.host_iface!r})"
    result = subprocess.run(
        [
            "setpriv",
            "--bounding-set=-all",
            "--inh-caps=-all",
            sys.executable,
            "-c",
            program,
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=30,
    )
    assert result.returncode != 0
    assert f"capturing on '{veth.host_iface}' needs root or the CAP_NET_RAW capability" in result.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"block_size": 1000}, "ring block size must be a multiple of the page size"),
        ({"block_count": 0}, "ring needs at least one block"),
        ({"fanout_group": 70000}, "fanout group must be 0..65535"),
        ({"bpf": "tcp port"}, "bad capture filter 'tcp port': can't parse filter expression: syntax error"),
        ({"bpf": [(0xFFFF, 0, 0, 0)]}, "kernel rejected the BPF filter"),
        ({"block_size": 1 << 30, "block_count": 1 << 12}, "needs 4194304 MiB, more than half of the"),
        ({"block_size": 1 << 20, "block_count": 1 << 24}, "needs 16777216 MiB"),
    ],
)
def test_bad_options_are_clear_errors(veth, options, message):
    with pytest.raises(CaptureError, match=message):
        LiveCapture(veth.host_iface, **options)


def test_interface_disappearing_mid_capture_ends_iteration_with_an_error(veth):
    with LiveCapture(veth.host_iface) as capture:
        threading.Timer(0.3, run, ("ip", "link", "del", veth.host_iface)).start()
        with pytest.raises(CaptureError, match=f"'{veth.host_iface}' disappeared during capture"):
            collect(capture, timeout=5)


def test_sigterm_ends_capture_cleanly_with_final_stats(veth):
    program = f"""
from sensor.capture.live import LiveCapture
with LiveCapture({veth.host_iface!r}) as capture:
    print("ready", flush=True)
    count = 0
    for batch in capture.batches():
        count += len(batch)
        print("so far", count, flush=True)
print("captured", count, "drops", capture.stats().drops, flush=True)
"""
    child = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True, cwd=REPO)
    watchdog = threading.Timer(10, child.kill)  # a hung child fails the test instead of hanging it
    watchdog.start()
    try:
        assert child.stdout.readline() == "ready\n"
        veth.send(marked_frames(30))
        for line in child.stdout:  # the 30 frames may arrive in more than one block
            if line == "so far 30\n":
                break
        child.send_signal(signal.SIGTERM)
        out, _ = child.communicate(timeout=5)
    finally:
        watchdog.cancel()
        child.kill()
    assert child.returncode == 0
    assert out == "captured 30 drops 0\n"


def test_closed_capture_keeps_its_final_stats_and_stops_iterating(veth):
    capture = LiveCapture(veth.host_iface)
    veth.send(marked_frames(10))
    wait_until(lambda: capture.stats().packets == 10)
    capture.close()
    capture.close()  # idempotent
    assert capture.stats().packets == 10
    assert list(capture.batches()) == []
