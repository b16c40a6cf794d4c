"""Captures generated once per test session, decoded by the tests' own decoder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from appliance.simulate import read_labels, write
from appliance.simulate.labels import Label, labels_path
from appliance.simulate.pcap import read_pcap
from tests.simulate.decoded_frames import Frame, decode

TEST_SEED = 3
TEST_DURATION = 30.0


@dataclass
class Generated:
    pcap: Path
    frames: list[Frame]
    labels: list[Label]


class Captures:
    """Scenarios generated on first use and kept for the session."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._cache: dict[str, Generated] = {}

    def __getitem__(self, name: str) -> Generated:
        if name not in self._cache:
            pcap = self.directory / f"{name}.pcap"
            write(name, pcap, seed=TEST_SEED, duration=TEST_DURATION)
            frames = [decode(ts, raw) for ts, raw in read_pcap(pcap)]
            self._cache[name] = Generated(pcap, frames, read_labels(labels_path(pcap)))
        return self._cache[name]


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Captures:
    return Captures(tmp_path_factory.mktemp("captures"))
