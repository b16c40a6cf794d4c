"""The recorder between live capture and the packet store: its queue is bounded in bytes, since a live batch
is one ring block while capture keeps up but several when it is behind."""

from __future__ import annotations

import pytest

from sensor.packets.recorder import PacketRecorder
from sensor.packets.ring import PacketRing
from sensor.pcap import CaptureFile
from tests.sensor_core.conftest import PCAPS


@pytest.mark.parametrize(("spare_bytes", "stored"), [(0, True), (-1, False)])
def test_the_queue_takes_a_batch_only_when_its_bytes_fit(tmp_path, spare_bytes, stored):
    batch = next(CaptureFile(PCAPS / "tls-handshake.pcap").batches())
    ring = PacketRing(tmp_path / "ring", bytes(range(32)), "sensor-1", max_bytes=1 << 20, segment_bytes=4096)
    recorder = PacketRecorder(ring, queued_bytes=len(batch.buffer) + spare_bytes)
    recorder.offer(batch)
    stats = recorder.close()
    assert (stats.packets_stored, stats.packets_dropped) == ((len(batch), 0) if stored else (0, len(batch)))
