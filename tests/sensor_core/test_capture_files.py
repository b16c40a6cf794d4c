"""Reading pcap / pcapng files: every public capture, every timestamp format, truncation."""

from __future__ import annotations

import random
import struct

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

from sensor.pcap import CaptureFile, CaptureFormatError
from tests.sensor_core.conftest import PCAPS, manifest_counts, run_file
from tests.sensor_core.mutations import capture_paths
from tests.sensor_core.pcapng_blocks import epb, idb, shb, spb
from tests.sensor_core.wiretap import DAMAGED_TRACES, WIRETAP_DIFFERS, capinfos_count, sensor_count


@pytest.mark.parametrize("name,count", sorted(manifest_counts().items()))
def test_every_public_capture_decodes_with_its_manifest_packet_count(name, count):
    drained, errors = run_file(PCAPS / name)
    assert errors == []
    assert drained.stats.packets == count
    assert drained.stats.decoded == count
    assert drained.stats.malformed == 0


def test_manifest_lists_all_fifteen_captures():
    assert len(manifest_counts()) == 15


def _packets(n=5):
    packets = []
    for i in range(n):
        p = (
            Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
            / IP(src="10.0.0.1", dst="10.0.0.2")
            / UDP(sport=1000 + i, dport=53)
            / (b"x" * i)
        )
        p.time = 1_700_000_000 + i * 0.25 + 0.000123456
        packets.append(p)
    return packets


def _to_big_endian(data: bytes) -> bytes:
    """Rewrites a little-endian pcap as the same capture written on a big-endian host."""
    out = bytearray(struct.pack(">IHHiIII", *struct.unpack_from("<IHHiIII", data, 0)))
    position = 24
    while position < len(data):
        header = struct.unpack_from("<IIII", data, position)
        out += struct.pack(">IIII", *header) + data[position + 16 : position + 16 + header[2]]
        position += 16 + header[2]
    return bytes(out)


@pytest.mark.parametrize("nano", [False, True])
@pytest.mark.parametrize("big_endian", [False, True])
def test_classic_pcap_magics_give_the_same_frames_and_times(write_pcap, tmp_path, nano, big_endian):
    path = write_pcap(_packets(), nano=nano)
    if big_endian:
        path.write_bytes(_to_big_endian(path.read_bytes()))
    frames = list(CaptureFile(path).frames())
    assert [len(f) for _, _, f in frames] == [len(p) for p in _packets()]
    assert {lt for _, lt, _ in frames} == {1}
    for (ts, _, _), packet in zip(frames, _packets(), strict=True):
        assert ts == pytest.approx(float(packet.time), abs=2e-6)


def test_nanosecond_timestamps_keep_sub_microsecond_digits(write_pcap):
    packet = _packets(1)[0]
    packet.time = 1_700_000_000.123456789
    ((ts, _, _),) = CaptureFile(write_pcap([packet], nano=True)).frames()
    assert ts == pytest.approx(1_700_000_000.123456789, abs=5e-7)
    assert round((ts % 1) * 1e9) % 1000 != 0  # not rounded to microseconds


def test_pcapng_with_two_interfaces_of_different_link_types_and_resolutions(tmp_path):
    ether = bytes(
        Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b")
        / IP(src="10.0.0.1", dst="10.0.0.2")
        / TCP(sport=1, dport=2, flags="S")
    )
    raw = bytes(IP(src="10.0.0.3", dst="10.0.0.4") / UDP(sport=3, dport=4) / b"hello")
    data = (
        shb()
        + idb(1)
        + idb(101, tsresol=9)
        + epb(0, 1_700_000_000_250_000, ether)  # microseconds
        + epb(1, 1_700_000_000_500_000_001, raw)  # nanoseconds
        + spb(ether)
    )  # simple packet block: interface 0, no time
    path = tmp_path / "two.pcapng"
    path.write_bytes(data)
    frames = list(CaptureFile(path).frames())
    assert [(lt, bytes(f)) for _, lt, f in frames] == [(1, ether), (101, raw), (1, ether)]
    assert frames[0][0] == pytest.approx(1_700_000_000.25)
    assert frames[1][0] == pytest.approx(1_700_000_000.500000001, abs=1e-6)
    drained, errors = run_file(path)
    assert errors == [] and drained.stats.decoded == 3
    assert {(f.proto, f.pkts_orig) for f in drained.flows} == {("TCP", 2), ("UDP", 1)}


def test_big_endian_pcapng_section(tmp_path):
    frame = bytes(Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b") / IP() / UDP())

    def block(block_type, body):
        length = 12 + len(body)
        return struct.pack(">II", block_type, length) + body + struct.pack(">I", length)

    data = (
        block(0x0A0D0D0A, struct.pack(">IHHq", 0x1A2B3C4D, 1, 0, -1))
        + block(1, struct.pack(">HHI", 1, 0, 0))
        + block(6, struct.pack(">IIIII", 0, 0, 5_000_000, len(frame), len(frame)) + frame + b"\0" * (-len(frame) % 4))
    )
    path = tmp_path / "be.pcapng"
    path.write_bytes(data)
    ((ts, lt, f),) = CaptureFile(path).frames()
    assert (ts, lt, bytes(f)) == (5.0, 1, frame)


@pytest.mark.parametrize("cut", [1, 10, 17, 40])
def test_truncated_pcap_counts_an_error_and_keeps_the_complete_records(write_pcap, cut):
    path = write_pcap(_packets(5))
    data = path.read_bytes()
    path.write_bytes(data[:-cut])
    drained, errors = run_file(path)
    assert len(errors) == 1 and "truncated" in errors[0]
    assert drained.stats.packets == 4


def test_truncated_pcapng_counts_an_error(tmp_path):
    frame = bytes(Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b") / IP() / UDP())
    path = tmp_path / "cut.pcapng"
    path.write_bytes((shb() + idb(1) + epb(0, 1, frame) + epb(0, 2, frame))[:-6])
    drained, errors = run_file(path)
    assert len(errors) == 1 and drained.stats.packets == 1


@pytest.mark.parametrize("content", [
    b"",
    b"hello world, not a capture",
    b"\xd4\xc3\xb2\xa1\x02\x00",  # a classic magic, then the file ends
    b"\x0a\x0d\x0d\x0a",  # a pcapng magic alone
    b"\x0a\x0d\x0d\x0a" + bytes(40),  # a pcapng section header without its byte-order magic
])
def test_files_that_are_not_captures_raise_a_clear_error(tmp_path, content):
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    with pytest.raises(CaptureFormatError, match=r"bad\.pcap"):
        CaptureFile(path)


def test_packet_counts_agree_with_wiretap_on_a_sample_of_the_test_traces():
    """Every pcapng trace, every trace wiretap calls damaged, and a fresh sample of the rest (the whole set
    is compared by tests/benchmarks/bench_fuzz_decoders.py)."""
    paths = [p for p in capture_paths() if p.parent != PCAPS]
    odd = [p for p in paths if p.suffix != ".pcap" or str(p.relative_to(PCAPS)) in DAMAGED_TRACES]
    sample = odd + random.sample([p for p in paths if p not in odd], 40)
    differ = {}
    for path in sample:
        ours, problems = sensor_count(path)
        theirs, complaint = capinfos_count(path)
        if ours != theirs and str(path.relative_to(PCAPS)) not in WIRETAP_DIFFERS:
            differ[str(path)] = (ours, problems, theirs, complaint)
    assert len(sample) > 80 and differ == {}
