"""The demo's office that never repeats itself: one office (same seed, same hosts and roles) generating new
traffic segment after segment on one continuous packet timeline, with a scenario's attack families
happening on a schedule in it.

Replaying one capture in a loop manufactures beacons: every host visits the same sites at the same offsets
in every loop. Here each segment is the next stretch of the same office's day: connections that were open at
the end of a segment go on in the next, the office's processes continue where they were, and the day moves
on (the lunch dip, the evening, the nightly backup).

Schedule: every attack family of the scenario runs once within the first FIRST_ROUND_SEGMENTS segments (a
couple per segment), then again every REPEAT_SEGMENTS segments or so, each run with its own random stream
(other hosts, other timing) and its labels. A family runs for an episode of one segment, or as long as its
own scenario needs (scenarios.episode_length), spilling into the following segments.

    python -m appliance.simulate.stream --scenario mixed --seed 7 --segment 600 --out-dir DIR [--count N]
writes DIR/segment-00000.pcap (+ .labels.json), segment-00001.pcap, ... keeping at most --ahead segments
that the replay has not consumed yet, and appends one line per segment to DIR/segments.jsonl.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import math
import os
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

from appliance.simulate.benign import Background
from appliance.simulate.capture import Capture
from appliance.simulate.labels import Label, labels_path, write_labels
from appliance.simulate.office import build_office
from appliance.simulate.pcap import write_pcap
from appliance.simulate.replay import segment_path
from appliance.simulate.scenarios import MIN_DURATION, SCENARIOS, Injector, UnknownScenario, episode_length
from appliance.simulate.site import Site

FIRST_ROUND_SEGMENTS = 10  # every family once within the first ten segments (ten minutes at the defaults)
REPEAT_SEGMENTS = (8, 20)  # then again every 8 to 20 segments
SEGMENT_GLOB = "segment-*.pcap"
MANIFEST = "segments.jsonl"


@dataclass(frozen=True)
class Episode:
    injector: Injector
    segment: int  # the segment it starts in
    run: int  # how many runs of this family came before (each run has its own random stream)


class Segment(msgspec.Struct, kw_only=True):
    index: int
    start: float
    end: float
    records: list[tuple[int, bytes]]
    labels: list[Label]


class SegmentSummary(msgspec.Struct, kw_only=True):
    index: int
    start: float
    end: float
    packets: int
    labels: int
    sha256: str
    pcap: str


def schedule(attacks: tuple[Injector, ...], seed: int) -> Iterator[Episode]:
    """Episodes in order of their segment: the first round spread over the first segments, then each family
    again after a random 8-20 segments."""
    rng = random.Random(f"{seed}:demo-schedule")
    order = list(attacks)
    rng.shuffle(order)
    pending = [Episode(injector, index * FIRST_ROUND_SEGMENTS // max(len(order), 1), 0)
               for index, injector in enumerate(order)]
    while pending:
        pending.sort(key=lambda episode: (episode.segment, order.index(episode.injector)))
        episode = pending.pop(0)
        yield episode
        pending.append(Episode(episode.injector, episode.segment + rng.randint(*REPEAT_SEGMENTS), episode.run + 1))


class OfficeStream:
    """Segments of one office's ongoing day. `segment(i)` must be asked for i = 0, 1, 2, ... in turn."""

    def __init__(self, scenario: str, seed: int, segment_s: float, start: float | None = None) -> None:
        if scenario not in SCENARIOS:
            raise UnknownScenario(scenario)
        if not segment_s >= MIN_DURATION:
            raise ValueError(f"segments must last at least {MIN_DURATION:.0f} seconds")
        self.scenario = SCENARIOS[scenario]
        self.seed = seed
        self.segment_s = segment_s
        self.start = self.scenario.default_start if start is None else start
        self.capture = Capture(self.start, math.inf, seed)
        self.site = Site(capture=self.capture, office=build_office(seed), seed=seed)
        self.background = Background(self.site)
        self._episodes = schedule(self.scenario.attacks, seed)
        self._next_episode = next(self._episodes, None)
        self._next_index = 0

    @property
    def labels(self) -> list[Label]:
        """Every attack of the stream so far, whole (a segment's labels are clipped to it)."""
        return self.capture.labels

    def segment(self, index: int) -> Segment:
        if index != self._next_index:
            raise ValueError(f"segment {index} asked for, but the stream is at segment {self._next_index}")
        self._next_index += 1
        start = self.start + index * self.segment_s
        end = start + self.segment_s
        self.background.advance(end)
        while self._next_episode is not None and self._next_episode.segment <= index:
            self._run(self._next_episode, start)
            self._next_episode = next(self._episodes, None)
        records = self.capture.take(end)
        labels = [
            msgspec.structs.replace(label, start_ts=max(label.start_ts, start), end_ts=min(label.end_ts, end))
            for label in self.capture.labels
            if label.start_ts < end and label.end_ts >= start
        ]
        return Segment(index=index, start=start, end=end, records=records, labels=labels)

    def _run(self, episode: Episode, start: float) -> None:
        """The family's injector over its own window of the stream, with a random stream of its own."""
        window = self.capture.window(start, start + episode_length(episode.injector, self.segment_s))
        name = f"{episode.injector.__module__.rsplit('.', 1)[-1]}.{episode.injector.__name__}"
        site = Site(capture=window, office=self.site.office, seed=f"{self.seed}:demo:{name}:{episode.run}",
                    dns_cache=self.site.dns_cache)
        episode.injector(site)
        self.capture.labels.sort(key=lambda label: (label.start_ts, label.rule_name, label.variant))


def write_segment(segment: Segment, directory: Path) -> SegmentSummary:
    """DIR/segment-NNNNN.pcap and its labels, each written under a temporary name and renamed, so a reader
    never sees half a file; the pcap last, as it is what readers wait for."""
    path = segment_path(directory, segment.index)
    temporary = path.with_name(path.name + ".tmp")
    labels = labels_path(path)
    write_labels(labels.with_name(labels.name + ".tmp"), segment.labels)
    os.replace(labels.with_name(labels.name + ".tmp"), labels)
    packets = write_pcap(temporary, segment.records)
    digest = _sha256(temporary)
    os.replace(temporary, path)
    return SegmentSummary(index=segment.index, start=segment.start, end=segment.end, packets=packets,
                          labels=len(segment.labels), sha256=digest, pcap=str(path))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while block := source.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def write_stream(scenario: str, seed: int, segment_s: float, directory: Path, count: int | None = None,
                 ahead: int | None = None, start: float | None = None) -> None:
    """Write segments into `directory` until `count` are written (or forever), waiting while `ahead` of them
    are still unconsumed (the replay deletes each one it has played)."""
    stream = OfficeStream(scenario, seed, segment_s, start)
    indices = range(count) if count is not None else itertools.count()
    with open(directory / MANIFEST, "ab") as manifest:
        for index in indices:
            while ahead is not None and len(list(directory.glob(SEGMENT_GLOB))) >= ahead:
                time.sleep(0.2)
            summary = write_segment(stream.segment(index), directory)
            manifest.write(msgspec.json.encode(summary) + b"\n")
            manifest.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m appliance.simulate.stream",
                                     description="write the demo's office as an endless series of segments")
    parser.add_argument("--scenario", default="mixed")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--segment", type=float, default=600.0, help="seconds of traffic per segment")
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--count", type=int, help="stop after this many segments (default: never)")
    parser.add_argument("--ahead", type=int, default=2, help="unconsumed segments to keep ready (default 2)")
    parser.add_argument("--start", type=float, help="epoch seconds of the first segment (default: the scenario's)")
    args = parser.parse_args(argv)
    if not args.out_dir.is_dir():
        print(f"stream: directory {str(args.out_dir)!r} does not exist", file=sys.stderr)
        return 2
    try:
        write_stream(args.scenario, args.seed, args.segment, args.out_dir, args.count, args.ahead, args.start)
    except UnknownScenario as error:
        print(f"stream: unknown scenario {error.args[0]!r}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"stream: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
