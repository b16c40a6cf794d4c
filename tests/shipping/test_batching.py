"""How a drain is cut into batches (sensor/shipping/batching.py): packet-time order, counters once."""

from __future__ import annotations

from sensor.records import CaptureStats, DnsEvent, Flow
from sensor.shipping.batching import arrival, counters_since, split_drain


def flow(uid: str, ends: float) -> Flow:
    return Flow(uid=uid, ts_start=ends - 1, ts_end=ends, proto="UDP", src_ip="10.0.0.1", dst_ip="10.0.0.2")


def test_parts_follow_packet_time_across_flows_and_events():
    flows = [flow("late", 30.0), flow("early", 10.0)]
    events = [DnsEvent(ts=20.0, src_ip="10.0.0.1", query="a.example"), DnsEvent(ts=5.0, src_ip="10.0.0.1")]
    parts = list(split_drain(flows, events, CaptureStats(packets=7, kernel_drops=1), max_records=3))
    in_order = [arrival(r) for flows_, events_, _ in parts for r in sorted([*flows_, *events_], key=arrival)]
    assert in_order == [5.0, 10.0, 20.0, 30.0]
    assert [[f.uid for f in part[0]] for part in parts] == [["early"], ["late"]]
    last_of_first = max(arrival(r) for r in [*parts[0][0], *parts[0][1]])
    assert last_of_first <= min(arrival(r) for r in [*parts[1][0], *parts[1][1]])  # no batch goes back in time


def test_counters_ride_on_the_last_part_only():
    stats = CaptureStats(packets=1000, kernel_drops=3)
    parts = list(split_drain([flow(f"F{n}", float(n)) for n in range(10)], [], stats, max_records=4))
    assert [len(part[0]) for part in parts] == [4, 4, 2]
    assert [part[2] for part in parts] == [CaptureStats(), CaptureStats(), stats]


def test_a_drain_with_only_counters_is_one_empty_part_and_an_empty_one_is_nothing():
    assert list(split_drain([], [], CaptureStats(packets=5), max_records=10)) == [([], [], CaptureStats(packets=5))]
    assert list(split_drain([], [], CaptureStats(), max_records=10)) == []


def test_batches_carry_what_the_running_totals_grew_by():
    before = CaptureStats(packets=100, bytes=9000, kernel_drops=2)
    now = CaptureStats(packets=150, bytes=12000, kernel_drops=2, malformed=1)
    assert counters_since(now, before) == CaptureStats(packets=50, bytes=3000, malformed=1)
    assert counters_since(now, now) == CaptureStats()
