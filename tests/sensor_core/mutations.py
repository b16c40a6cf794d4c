"""Mutated real captures for fuzzing the sensor, shared by the suite (a bounded number per run) and
tests/benchmarks/bench_fuzz_decoders.py (the long run).

Three levels, each fed where it enters the sensor:
  files    whole capture files (classic pcap and pcapng from the public captures and Zeek's and Suricata's test
           traces) with their record and block structure mutated: length fields set to extremes, short last
           blocks, cut files, odd interface options, bytes flipped -> CaptureFile and the whole pipeline
  frames   real frames bit-flipped, cut, spliced, given another link type -> the vectorised and per-packet decoders,
           the flow table and the protocol extractors (Pipeline.feed)
  payloads real application payloads mutated and thrown at every protocol extractor (MetadataExtractor)
Nothing may raise out of the pipeline, and every record it hands over must be one the engine can take.
"""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from sensor.pcap import CaptureFile, CaptureFormatError
from sensor.pipeline import Drained, Pipeline
from sensor.records import AnyEvent, Flow
from tests.shared_data import PCAPS, shared_files

TRACE_FOLDERS = ("zeek-traces", "suricata-verify")
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
LINKTYPES = (0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147)
EXTREME_LENGTHS = (0, 1, 3, 4, 8, 12, 16, 20, 24, 28, 32, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


# ---- seeds --------------------------------------------------------------------------------------------

def capture_paths() -> list[Path]:
    """Every capture file of the shared data: the 15 public captures and the Zeek and Suricata test traces."""
    paths = shared_files(PCAPS, "*.pcap")
    for folder in TRACE_FOLDERS:
        paths += [p for p in shared_files(PCAPS / folder, "**/*") if p.suffix in CAPTURE_SUFFIXES]
    return paths


def seed_files(rng: random.Random, count: int, max_bytes: int = 24_576) -> list[bytes]:
    """`count` small real captures, half of them pcapng (fewer exist: all of those that fit are candidates)."""
    small = [p for p in capture_paths() if p.stat().st_size <= max_bytes]
    pcapng = [p for p in small if p.read_bytes()[:4] == PCAPNG_MAGIC]
    classic = [p for p in small if p not in pcapng]
    chosen = rng.sample(pcapng, min(len(pcapng), count // 2))
    chosen += rng.sample(classic, min(len(classic), count - len(chosen)))
    return [p.read_bytes() for p in chosen]


def seed_frames(per_file: int = 200) -> list[tuple[int, bytes]]:
    """(link type, frame) from the 15 public captures and every trace with a link type they lack."""
    frames, linktypes = [], set()
    for path in capture_paths():
        try:
            capture = CaptureFile(path)
            taken = [(lt, bytes(frame)) for _, lt, frame in capture.frames()]
        except CaptureFormatError:
            continue
        new_link = {lt for lt, _ in taken} - linktypes
        if path.parent == PCAPS or new_link:
            frames += taken[:per_file]
            linktypes |= new_link
    return frames


# ---- mutating files -----------------------------------------------------------------------------------

def record_starts(data: bytes) -> list[int]:
    """Where each record (classic) or block (pcapng) header starts, as far as the chain holds."""
    starts = []
    if data[:4] == PCAPNG_MAGIC:
        position = 0
        endian = "<" if data[8:12] == struct.pack("<I", 0x1A2B3C4D) else ">"
        while position + 12 <= len(data):
            length = struct.unpack_from(endian + "I", data, position + 4)[0]
            starts.append(position)
            if length < 12 or length % 4:
                break
            position += length
        return starts
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    position = 24
    while position + 16 <= len(data):
        starts.append(position)
        position += 16 + struct.unpack_from(endian + "I", data, position + 8)[0]
    return starts


def mutate_file(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    starts = record_starts(data) or [0]
    pcapng = data[:4] == PCAPNG_MAGIC
    at = rng.choice(starts)
    kind = rng.randrange(9)
    if kind == 0:  # a length field (pcapng block length, or classic caplen / original length) set to an extreme
        field_at = at + 4 if pcapng else at + rng.choice((8, 12))
        value = rng.choice((*EXTREME_LENGTHS, len(out) - at, rng.randrange(1 << 32)))
        out[field_at : field_at + 4] = struct.pack("<I", value & 0xFFFFFFFF)
    elif kind == 1:  # the file ends with a block or record too short for its fields
        length = rng.choice((12, 16, 20, 24, 28)) if pcapng else rng.randrange(0, 16)
        del out[at:]
        if pcapng:
            block_type = rng.choice((1, 2, 3, 6, 0x0A0D0D0A, 5, 4))
            out += struct.pack("<II", block_type, length) + bytes(length - 12) + struct.pack("<I", length)
        else:
            out += bytes(rng.randrange(256) for _ in range(length))
    elif kind == 2:  # cut anywhere
        del out[rng.randrange(len(out) + 1) :]
    elif kind == 3 and pcapng:  # an interface's options (resolution, offset) and link type scrambled
        for _ in range(rng.randint(1, 4)):
            position = at + rng.randrange(8, 40)
            if position < len(out):
                out[position] = rng.choice((0, 9, 14, 19, 20, 63, 64, 0x7F, 0x80, 0xBF, 0xC0, 0xFF, rng.randrange(256)))
    elif kind == 3:  # the link type of the whole file
        out[20:24] = struct.pack("<I", rng.choice((*LINKTYPES, rng.randrange(1 << 16))))
    elif kind == 4 and pcapng:  # the interface an enhanced packet block names, or its captured length
        offset = rng.choice((8, 20))
        out[at + offset : at + offset + 4] = struct.pack("<I", rng.choice((0, 1, 2, 7, 0xFFFF, 0xFFFFFFFF)))
    elif kind == 4:  # timestamps out of order or absurd
        out[at : at + 8] = struct.pack("<II", rng.randrange(1 << 32), rng.choice((0, 999_999, 10**9, 0xFFFFFFFF)))
    elif kind == 5:  # bit flips in the headers
        for _ in range(rng.randint(1, 8)):
            position = rng.randrange(min(len(out), at + 64))
            out[position] ^= 1 << rng.randrange(8)
    elif kind == 6:  # random bytes anywhere
        for _ in range(rng.randint(1, 20)):
            out[rng.randrange(len(out))] = rng.randrange(256)
    elif kind == 7:  # bytes inserted or deleted (the chain of lengths goes out of step)
        position = rng.randrange(len(out))
        if rng.random() < 0.5:
            out[position:position] = rng.randbytes(rng.randrange(1, 40))
        else:
            del out[position : position + rng.randrange(1, 40)]
    else:  # a block or record repeated elsewhere
        source = rng.choice(starts)
        out[at:at] = out[source : source + rng.randrange(16, 400)]
    return bytes(out)


# ---- mutating frames ------------------------------------------------------------------------------------

def mutated_frames(rng: random.Random, seeds: list[tuple[int, bytes]], count: int) -> Iterator[tuple]:
    """(ts, link type, frame) tuples, as live capture hands them to the pipeline."""
    for i in range(count):
        linktype, base = rng.choice(seeds)
        kind = i % 5
        if kind == 0:  # bit flips in the headers
            frame = bytearray(base)
            for _ in range(rng.randint(1, 6)):
                if frame:
                    frame[rng.randrange(min(len(frame), 80))] ^= 1 << rng.randrange(8)
            frame = bytes(frame)
        elif kind == 1:  # cut anywhere
            frame = base[: rng.randrange(len(base) + 1)]
        elif kind == 2:  # random bytes
            frame = rng.randbytes(rng.randrange(120))
        elif kind == 3:  # a real header with a random tail
            frame = base[:34] + rng.randbytes(rng.randrange(60))
        else:  # a real frame with a real payload of another protocol spliced in
            other = rng.choice(seeds)[1]
            cut = rng.randrange(len(base) + 1)
            frame = base[:cut] + other[rng.randrange(len(other) + 1) :]
        if rng.random() < 0.3:
            linktype = rng.choice(LINKTYPES)
        # Mostly forward in time, sometimes stepping back (a clock adjusted under a live capture).
        ts = 1_700_000_000 + i * 1e-4 - (rng.random() * 10 if rng.random() < 0.01 else 0.0)
        yield ts, linktype, frame


# ---- running ----------------------------------------------------------------------------------------------

@dataclass
class FuzzCounts:
    cases: int = 0
    packets: int = 0
    malformed: int = 0
    refused_files: int = 0  # not a capture at all: one clear error
    reader_problems: int = 0  # damaged captures: what the reader said it skipped
    records: int = 0
    crashes: list[str] = field(default_factory=list)  # exception, and where the reproducing input was kept
    bad_records: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"cases": self.cases, "packets": self.packets, "malformed": self.malformed,
                "refused_files": self.refused_files, "reader_problems": self.reader_problems,
                "records": self.records, "crashes": len(self.crashes), "bad_records": len(self.bad_records)}


def record_problems(drained: Drained) -> list[str]:
    """What in the records would not make sense to the engine: non-finite or negative numbers, ports out of
    range, a record that does not survive the wire format."""
    problems = []
    for flow in drained.flows:
        numbers = [getattr(flow, name) for name in Flow.__struct_fields__
                   if isinstance(getattr(flow, name), int | float) and name != "first_payloads"]
        if not all(math.isfinite(n) and n >= 0 for n in numbers):
            problems.append(f"flow with a negative or non-finite number: {flow}")
        elif not (flow.src_port <= 0xFFFF and flow.dst_port <= 0xFFFF and flow.ts_end >= flow.ts_start):
            problems.append(f"flow with a port out of range or ending before it starts: {flow}")
    for event in drained.events:
        if not math.isfinite(event.ts):
            problems.append(f"event at a non-finite time: {event}")
    try:
        msgspec.msgpack.decode(msgspec.msgpack.encode(drained.flows), type=list[Flow])
        msgspec.msgpack.decode(msgspec.msgpack.encode(drained.events), type=list[AnyEvent])
    except msgspec.ValidationError as error:
        problems.append(f"records do not survive the wire format: {error}")
    return problems


def _take(counts: FuzzCounts, pipeline: Pipeline, drained: Drained) -> None:
    counts.packets += drained.stats.packets
    counts.malformed += drained.stats.malformed
    counts.records += len(drained.flows) + len(drained.events)
    counts.bad_records += record_problems(drained)[:3]
    if pipeline.extractor_errors:  # the pipeline survives an extractor bug, but it is still a bug
        counts.crashes.append(f"{pipeline.extractor_errors} protocol extractor exceptions (logged)")


def fuzz_files(seeds: list[bytes], cases: int, rng: random.Random, workdir: Path) -> FuzzCounts:
    """Each case is one mutated file read through a whole pipeline, as `sensor read` reads it."""
    counts = FuzzCounts()
    path = workdir / "case.pcap"
    for case in range(cases):
        data = mutate_file(rng, rng.choice(seeds))
        path.write_bytes(data)
        counts.cases += 1
        pipeline = Pipeline(max_flows=256)
        try:
            counts.reader_problems += len(pipeline.feed_file(path))
            _take(counts, pipeline, pipeline.close())
        except CaptureFormatError:
            counts.refused_files += 1
        except Exception as error:  # the finding: keep the input that reproduces it
            kept = workdir / f"crash-{case}.pcap"
            kept.write_bytes(data)
            counts.crashes.append(f"{type(error).__name__}: {error} ({kept})")
    return counts


def fuzz_frames(seeds: list[tuple[int, bytes]], cases: int, rng: random.Random, vectorised: bool = True,
                batch_size: int = 4096) -> FuzzCounts:
    """Mutated frames through one long-lived pipeline (decoders, flow table, extractors), as on a live wire."""
    counts = FuzzCounts(cases=cases)
    pipeline = Pipeline(max_flows=4096, vectorised=vectorised)
    frames = mutated_frames(rng, seeds, cases)
    try:
        pipeline.feed(frames, batch_size=batch_size)
        drained = pipeline.close()
    except Exception as error:
        counts.crashes.append(f"{type(error).__name__}: {error} (seed {rng!r})")
        return counts
    _take(counts, pipeline, drained)
    if drained.stats.packets != cases or drained.stats.decoded + drained.stats.malformed > cases:
        counts.crashes.append(f"packets miscounted: {drained.stats} for {cases} frames")
    return counts
