"""The sensor's on-disk outbox: durable, ordered, never reusing a seq, bounded with counted loss."""

from __future__ import annotations

import pytest

from sensor.shipping.spool import Spool, SpoolError


def payload(seq: int) -> bytes:
    return f"batch-{seq}".encode() * 10


def test_batches_survive_a_restart_in_order_and_seqs_continue(tmp_path):
    spool = Spool(tmp_path, "sensor-a")
    assert [spool.append(payload) for _ in range(3)] == [0, 1, 2]
    spool.remove(0)
    (tmp_path / "00000000000000000003.tmp").write_bytes(b"half-written")  # a crash mid-write
    reopened = Spool(tmp_path, "sensor-a")
    assert len(reopened) == 2 and reopened.oldest() == (1, payload(1))
    assert not list(tmp_path.glob("*.tmp"))
    assert reopened.append(payload) == 3


def test_a_drained_spool_still_never_reuses_a_seq(tmp_path):
    spool = Spool(tmp_path, "sensor-a")
    for seq in [spool.append(payload) for _ in range(5)]:
        spool.remove(seq)
    assert len(spool) == 0
    assert Spool(tmp_path, "sensor-a").append(payload) == 5


def test_continue_from_skips_seqs_the_appliance_already_has(tmp_path):
    spool = Spool(tmp_path, "sensor-a")
    spool.continue_from(40)
    spool.continue_from(7)  # never backwards
    assert spool.append(payload) == 40


def test_the_cap_drops_the_oldest_and_counts_them(tmp_path):
    size = len(payload(0))
    spool = Spool(tmp_path, "sensor-a", max_bytes=3 * size)
    for _ in range(5):
        spool.append(payload)
    assert len(spool) == 3 and spool.lost_batches == 2 and spool.oldest()[0] == 2
    assert Spool(tmp_path, "sensor-a").lost_batches == 2  # the count is durable too


def test_one_spool_per_sensor(tmp_path):
    Spool(tmp_path, "sensor-a").append(payload)
    with pytest.raises(SpoolError, match="belongs to sensor 'sensor-a'"):
        Spool(tmp_path, "sensor-b")
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(SpoolError, match="unreadable spool state"):
        Spool(tmp_path, "sensor-a")
