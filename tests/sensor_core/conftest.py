"""Shared helpers: the public captures, writing scapy packets to pcap files, comparing flows."""

from __future__ import annotations

import math
import re

import msgspec
import pytest

from sensor.pipeline import Pipeline
from tests.shared_data import PCAPS


def manifest_counts() -> dict[str, int]:
    counts = {}
    for line in (PCAPS / "MANIFEST.md").read_text().splitlines():
        match = re.match(r"\|\s*([\w.-]+\.pcap)\s*\|\s*([\d,]+)\s*\|", line)
        if match:
            counts[match.group(1)] = int(match.group(2).replace(",", ""))
    return counts


def run_file(path, vectorised=True, batch_size=65536, **options):
    pipeline = Pipeline(extractor=None, vectorised=vectorised, **options)
    errors = pipeline.feed_file(path, batch_size=batch_size)
    drained = pipeline.close()
    return drained, errors


def comparable(flows) -> list[dict]:
    """Flows without their uids (numbered differently when batches differ), in a stable order."""
    rows = [msgspec.to_builtins(flow) for flow in flows]
    for row in rows:
        row.pop("uid")
    return sorted(rows, key=lambda r: (r["ts_start"], r["src_ip"], r.get("src_port", 0), r["dst_ip"],
                                       r.get("dst_port", 0), r["proto"]))


def assert_same_flows(left, right) -> None:
    a, b = comparable(left), comparable(right)
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys(), (x, y)
        for key in x:
            if isinstance(x[key], float):
                assert math.isclose(x[key], y[key], rel_tol=1e-9, abs_tol=1e-9), (key, x, y)
            else:
                assert x[key] == y[key], (key, x, y)


@pytest.fixture
def write_pcap(tmp_path):
    """Writes scapy packets (with .time set) to a pcap file with the given link type."""
    from scapy.utils import PcapWriter

    def write(packets, linktype=None, name="test.pcap", nano=False):
        path = tmp_path / name
        writer = PcapWriter(str(path), linktype=linktype, nano=nano, sync=True)
        for packet in packets:
            writer.write(packet)
        writer.close()
        return path

    return write
