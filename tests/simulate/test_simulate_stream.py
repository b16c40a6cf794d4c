"""The demo's office as a stream: every segment is new traffic of the same office, continuing the last one's
timeline (connections open at a segment's end go on in the next), the attack families on a schedule, and
the same arguments give the same bytes (the demo's offline twin relies on it)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections import Counter

import msgspec
import pytest

from appliance.simulate.scenarios import SCENARIOS
from appliance.simulate.stream import FIRST_ROUND_SEGMENTS, OfficeStream, schedule
from model_building.demo_twin import DemoReplay, segments_in
from tests.simulate.decoded_frames import decode

SEGMENT_S = 30.0


@pytest.fixture(scope="module")
def two_segments():
    stream = OfficeStream("benign-office", 4, SEGMENT_S)
    return stream.segment(0), stream.segment(1)


def test_successive_segments_are_new_traffic_on_one_timeline(two_segments):
    first, second = two_segments
    assert first.end == second.start == first.start + SEGMENT_S
    assert first.records and second.records
    assert first.records[-1][0] < round(second.start * 1e6) <= second.records[0][0] < round(second.end * 1e6)
    assert not Counter(frame for _, frame in first.records) & Counter(frame for _, frame in second.records)


def test_a_connection_open_at_a_segment_end_goes_on_in_the_next(two_segments):
    """The engineering station's Modbus polling connection: no new handshake in the second segment, and its
    sequence numbers carry on from where the first segment left them."""
    def polls(segment) -> list:
        frames = [decode(ts / 1e6, raw) for ts, raw in segment.records]
        return [f for f in frames if f.proto == 6 and f.src == "10.20.30.5" and f.dport == 502]

    first, second = polls(two_segments[0]), polls(two_segments[1])
    assert first and second
    assert {f.sport for f in first} == {f.sport for f in second}
    assert not any(f.tcp_flags & 0x02 for f in second)
    last = first[-1]
    next_seq = int.from_bytes(last.raw[38:42], "big") + len(last.payload)
    assert int.from_bytes(second[0].raw[38:42], "big") == next_seq & 0xFFFFFFFF


def test_the_stream_is_deterministic():
    def digests() -> list[str]:
        stream = OfficeStream("mixed", 5, SEGMENT_S)
        return [hashlib.sha256(b"".join(raw for _, raw in stream.segment(i).records)).hexdigest() for i in range(3)]

    assert digests() == digests()


def test_every_family_runs_in_the_first_segments_and_again_later():
    attacks = SCENARIOS["mixed"].attacks
    runs: dict = {}
    for episode in schedule(attacks, 7):
        runs.setdefault(episode.injector, []).append(episode.segment)
        if all(len(segments) >= 2 for segments in runs.values()) and len(runs) == len(attacks):
            break
    assert set(runs) == set(attacks)
    assert all(segments[0] < FIRST_ROUND_SEGMENTS for segments in runs.values())
    assert all(segments[1] > segments[0] for segments in runs.values())


def test_segment_labels_are_clipped_to_their_segment():
    stream = OfficeStream("mixed", 5, SEGMENT_S)
    seen = set()
    for index in range(FIRST_ROUND_SEGMENTS):
        segment = stream.segment(index)
        for label in segment.labels:
            assert segment.start <= label.start_ts <= label.end_ts <= segment.end
            seen.add(label.rule_name)
    assert len(seen) >= 12


def test_stream_command_writes_what_the_twin_replays(tmp_path):
    """`python -m appliance.simulate.stream` (what the demo runs) and the offline twin give the same bytes."""
    out = tmp_path / "stream"
    out.mkdir()
    subprocess.run([sys.executable, "-m", "appliance.simulate.stream", "--scenario", "mixed", "--seed", "5",
                    "--segment", str(SEGMENT_S), "--out-dir", str(out), "--count", "2", "--ahead", "5"],
                   check=True, capture_output=True)
    manifest = [msgspec.json.decode(line) for line in (out / "segments.jsonl").read_bytes().splitlines()]
    assert [entry["index"] for entry in manifest] == [0, 1]
    twin_dir = tmp_path / "twin"
    twin_dir.mkdir()
    replay = DemoReplay(twin_dir, scenario="mixed", seed=5, segment_s=SEGMENT_S, learning_s=0, count=2)
    twin = [hashlib.sha256(path.read_bytes()).hexdigest() for path in replay.files()]
    assert twin == [entry["sha256"] for entry in manifest]
    assert (out / "segment-00000.labels.json").exists()


def test_stream_command_refuses_bad_input(tmp_path):
    result = subprocess.run([sys.executable, "-m", "appliance.simulate.stream", "--scenario", "nosuch", "--out-dir",
                             str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == "stream: unknown scenario 'nosuch'"
    missing = tmp_path / "missing"
    result = subprocess.run([sys.executable, "-m", "appliance.simulate.stream", "--out-dir", str(missing)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == f"stream: directory {str(missing)!r} does not exist"


def test_the_twin_counts_the_segments_the_demo_plays():
    assert segments_in(30, 600, 1) == 3  # 30 minutes as recorded: three 600 s segments
    assert segments_in(30, 600, 10) == 30  # at 10x: 300 minutes of office


def test_the_twin_judges_every_alert_and_every_attack():
    """A short demo through the real sensor, rules and model: each incident is an attack alert or a false
    positive, every label is listed with whether it raised anything, and the ranking check compares them."""
    from appliance.engine.scoring import Scorer
    from model_building.demo_twin import demo_quality

    result = demo_quality(Scorer.load(), 5, scenario="mixed", seed=5, segment_s=60.0, learning_s=120.0)
    assert result["segments"] == 5
    assert result["attack_labels"] == len(result["attacks"]) > 0
    assert len(result["attack_alerts"]) + result["false_positives"] == result["incidents"]
    assert sum(group["incidents"] for group in result["false_positive_groups"]) == result["false_positives"]
    scores = [row["score"] for row in result["attack_alerts"]]
    assert result["lowest_attack_score"] == min(scores)
    expected = not result["false_positives"] or min(scores) > result["highest_false_positive_score"]
    assert result["every_attack_above_every_false_positive"] == expected
