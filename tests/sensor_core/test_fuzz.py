"""Hundreds of thousands of random, truncated and bit-flipped frames never make the pipeline raise."""

from __future__ import annotations

import numpy as np

from sensor.pcap import CaptureFile
from sensor.pipeline import Pipeline
from tests.sensor_core.conftest import PCAPS, assert_same_flows

LINKTYPES = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147]


def _real_frames() -> list[bytes]:
    frames = []
    for path in sorted(PCAPS.glob("*.pcap")):
        frames += [bytes(frame) for _, _, frame in CaptureFile(path).frames()][:300]
    return frames


def _mutants(rng: np.random.Generator, real: list[bytes], count: int):
    for i in range(count):
        base = real[rng.integers(len(real))]
        kind = i % 4
        if kind == 0:  # bit flips in the headers
            frame = bytearray(base)
            for position in rng.integers(0, min(len(frame), 80), size=rng.integers(1, 6)):
                frame[position] ^= 1 << int(rng.integers(8))
            frame = bytes(frame)
        elif kind == 1:  # truncated anywhere
            frame = base[: rng.integers(0, len(base) + 1)]
        elif kind == 2:  # random bytes
            frame = rng.bytes(int(rng.integers(0, 120)))
        else:  # a real header with a random tail
            frame = base[:34] + rng.bytes(int(rng.integers(0, 60)))
        linktype = 1 if rng.random() < 0.6 else LINKTYPES[rng.integers(len(LINKTYPES))]
        yield float(1_700_000_000 + i * 0.0001 + rng.random() * 1e-4), linktype, frame


def test_mutated_frames_never_raise_and_every_frame_is_counted():
    rng = np.random.default_rng(7)
    real = _real_frames()
    pipeline = Pipeline(extractor=None, max_flows=5000)
    count = 300_000
    pipeline.feed(_mutants(rng, real, count), batch_size=30_000)
    drained = pipeline.close()
    assert drained.stats.packets == count
    assert drained.stats.malformed > 10_000
    assert drained.stats.decoded + drained.stats.malformed <= count
    assert sum(f.pkts_orig + f.pkts_resp for f in drained.flows) <= drained.stats.decoded


def test_mutated_frames_decode_the_same_on_both_paths():
    rng = np.random.default_rng(11)
    frames = list(_mutants(rng, _real_frames(), 20_000))
    results = []
    for vectorised, batch_size in [(True, 5000), (False, 5000)]:
        pipeline = Pipeline(extractor=None, vectorised=vectorised)
        pipeline.feed(frames, batch_size=batch_size)
        results.append(pipeline.close())
    assert results[0].stats == results[1].stats
    assert_same_flows(results[0].flows, results[1].flows)
