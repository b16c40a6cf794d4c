"""Fuzzing the sensor, a bounded number of cases per run (tests/benchmarks/bench_fuzz_decoders.py is the long
run): mutated real capture files, hypothesis-built pcapng and pcap structures, and mutated real frames
through the whole pipeline never raise; every record they give is one the engine can take."""

from __future__ import annotations

import random
import struct
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensor.pcap import CaptureFormatError
from sensor.pipeline import Pipeline
from tests.sensor_core.conftest import assert_same_flows
from tests.sensor_core.mutations import (
    fuzz_files,
    fuzz_frames,
    mutated_frames,
    record_problems,
    seed_files,
    seed_frames,
)

FILE_CASES = 200
FRAME_CASES = 40_000


def test_mutated_real_capture_files_never_raise(tmp_path):
    rng = random.Random()  # a new sample every run; a finding keeps its input file and is printed
    counts = fuzz_files(seed_files(rng, 60), FILE_CASES, rng, tmp_path)
    assert counts.crashes == []
    assert counts.bad_records == []
    assert counts.cases == FILE_CASES and counts.packets > 0
    assert counts.malformed > 0 and counts.reader_problems > 0  # the mutations do reach the checks


def test_mutated_frames_never_raise_and_every_frame_is_counted():
    counts = fuzz_frames(seed_frames(), FRAME_CASES, random.Random())
    assert counts.crashes == []
    assert counts.bad_records == []
    assert counts.packets == FRAME_CASES and counts.malformed > FRAME_CASES // 20


def test_mutated_frames_decode_the_same_on_both_paths():
    frames = list(mutated_frames(random.Random(11), seed_frames(), 20_000))
    results = []
    for vectorised in (True, False):
        pipeline = Pipeline(extractor=None, vectorised=vectorised)
        pipeline.feed(frames, batch_size=5000)
        results.append(pipeline.close())
    assert results[0].stats == results[1].stats
    assert_same_flows(results[0].flows, results[1].flows)


# ---- structures built by hypothesis ----------------------------------------------------------------------

FRAME = bytes.fromhex("02000000000b02000000000a08004500002100010000401100007f0000017f00000100350035000d000068656c6c6f")
SECTION_HEADER = 0x0A0D0D0A
BLOCK_TYPES = (SECTION_HEADER, 1, 2, 3, 4, 5, 6, 0x0BAD, 0x80000001)
U32 = st.integers(0, 2**32 - 1)
SHB_BODIES = (struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1), struct.pack(">IHHq", 0x1A2B3C4D, 1, 0, -1))
SHB = struct.pack("<II", SECTION_HEADER, 28) + SHB_BODIES[0] + struct.pack("<I", 28)


def _packet_body(interface: int, high: int, low: int, caplen: int) -> bytes:
    return struct.pack("<IIIII", interface, high, low, caplen, len(FRAME)) + FRAME


def _interface_body(linktype: int, option: int, size: int, value: bytes) -> bytes:
    return struct.pack("<HHIHH", linktype, 0, 0, option, size) + value


PACKET_BODIES = st.builds(_packet_body, st.integers(0, 3), U32, U32,
                          st.sampled_from((0, len(FRAME), len(FRAME) + 1, 2**32 - 1)))
INTERFACE_BODIES = st.builds(_interface_body, st.integers(0, 300), st.sampled_from((0, 2, 9, 14)),
                             st.integers(0, 12), st.binary(max_size=12))


@st.composite
def pcapng_blocks(draw) -> bytes:
    block_type = draw(st.sampled_from(BLOCK_TYPES))
    body = draw(st.one_of(st.binary(max_size=64), PACKET_BODIES, INTERFACE_BODIES))
    if block_type == SECTION_HEADER:
        body = draw(st.sampled_from((*SHB_BODIES, body)))
    body += b"\0" * (-len(body) % 4)
    length = draw(st.one_of(st.just(12 + len(body)), U32, st.sampled_from((12, 16, 20, 28, 32))))
    return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)


@st.composite
def classic_records(draw) -> bytes:
    caplen = draw(st.one_of(st.just(len(FRAME)), U32, st.integers(0, 80)))
    header = struct.pack("<IIII", draw(U32), draw(U32), caplen, draw(U32))
    return header + FRAME[: draw(st.integers(0, len(FRAME)))]


def _classic_header(magic: bytes, linktype: int) -> bytes:
    return magic + struct.pack("<HHiIII", 2, 4, 0, 0, 65535, linktype)


CLASSIC_HEADERS = st.builds(_classic_header, st.sampled_from((b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1")),
                            st.sampled_from((0, 1, 101, 113, 276, 9999)))
CAPTURES = st.one_of(
    st.tuples(st.just(SHB), st.lists(pcapng_blocks(), max_size=8), st.binary(max_size=16)),
    st.tuples(CLASSIC_HEADERS, st.lists(classic_records(), max_size=8), st.just(b"")),
    st.tuples(st.binary(max_size=64), st.just([]), st.just(b"")),
).map(lambda parts: parts[0] + b"".join(parts[1]) + parts[2])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CAPTURES)
def test_hypothesis_built_captures_are_read_or_refused_in_one_line(data):
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "case.pcapng"
        path.write_bytes(data)
        pipeline = Pipeline(max_flows=64)
        try:
            problems = pipeline.feed_file(path)
        except CaptureFormatError as error:
            assert str(error).startswith(str(path)) and "\n" not in str(error)
            return
        drained = pipeline.close()
    assert all("\n" not in problem for problem in problems)
    stats = drained.stats
    assert stats.decoded + stats.malformed <= stats.packets
    assert record_problems(drained) == [] and pipeline.extractor_errors == 0
