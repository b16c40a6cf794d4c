"""The flow table: real sessions against an independent count, Zeek states, timeouts, the memory cap, and
the vectorised path against the one-packet-at-a-time reference."""

from __future__ import annotations

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import rdpcap

from sensor.flows.timeouts import FlowTimeouts
from sensor.pipeline import Pipeline
from tests.sensor_core.conftest import PCAPS, assert_same_flows, manifest_counts, run_file

MAC_A, MAC_B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
A, B = "10.0.0.1", "10.0.0.2"


def test_ssh_flow_of_icmp_and_ssh_matches_scapy_counts():
    packets = [p for p in rdpcap(str(PCAPS / "icmp-and-ssh.pcap")) if TCP in p]
    first = packets[0]
    orig = (first[IP].src, first[TCP].sport)
    from_orig = [p for p in packets if (p[IP].src, p[TCP].sport) == orig]
    from_resp = [p for p in packets if (p[IP].src, p[TCP].sport) != orig]
    drained, _ = run_file(PCAPS / "icmp-and-ssh.pcap")
    (ssh,) = [f for f in drained.flows if f.proto == "TCP"]
    assert (ssh.src_ip, ssh.src_port, ssh.dst_port) == (first[IP].src, first[TCP].sport, 22)
    assert (ssh.pkts_orig, ssh.pkts_resp) == (len(from_orig), len(from_resp))
    assert ssh.bytes_orig == sum(p[IP].len for p in from_orig)
    assert ssh.bytes_resp == sum(p[IP].len for p in from_resp)
    assert ssh.payload_orig == sum(len(p[TCP].payload) for p in from_orig)
    assert ssh.payload_resp == sum(len(p[TCP].payload) for p in from_resp)
    assert ssh.ts_start == pytest.approx(float(first.time)) and ssh.ts_end == pytest.approx(float(packets[-1].time))
    finished = any(p[TCP].flags.F for p in from_orig) and any(p[TCP].flags.F for p in from_resp)
    assert ssh.conn_state == ("SF" if finished else "S1")
    assert ssh.history.startswith("ShAD")
    assert ssh.syn == 1 and ssh.synack == 1
    (icmp,) = [f for f in drained.flows if f.proto == "ICMP"]
    assert (icmp.src_port, icmp.dst_port, icmp.pkts_orig, icmp.pkts_resp, icmp.conn_state) == (8, 0, 20, 20, "SF")


def test_raw_ip_capture_http_post_file_makes_its_http_flow():
    drained, _ = run_file(PCAPS / "http-post-file.pcap")
    (post,) = [f for f in drained.flows if f.dst_port == 8065]  # ::1 -> ::1 port 8065, over BSD loopback
    assert (post.src_ip, post.conn_state, post.history, post.src_mac) == ("::1", "SF", "ShAaDdFf", "")
    assert (post.pkts_orig, post.pkts_resp, post.payload_orig, post.payload_resp) == (10, 10, 833, 1984)


@pytest.mark.parametrize("name", sorted(manifest_counts()))
def test_vectorised_path_agrees_with_one_packet_at_a_time(name):
    fast, _ = run_file(PCAPS / name)
    slow, _ = run_file(PCAPS / name, vectorised=False, batch_size=1)
    assert_same_flows(fast.flows, slow.flows)
    assert fast.stats == slow.stats
    assert fast.events == [e for e in slow.events]


def _tcp(src, dst, sport, dport, flags, payload=b"", seq=0):
    return Ether(src=MAC_A, dst=MAC_B) / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags, seq=seq) / (
        payload)


def _run(packets, times, **options):
    for packet, ts in zip(packets, times, strict=True):
        packet.time = ts
    pipeline = Pipeline(extractor=None, **options)
    pipeline.feed((float(p.time), 1, bytes(p)) for p in packets)
    return pipeline.close()


def _states(exchange):
    packets = [_tcp(A, B, 1234, 80, f, pl) if side == "o" else _tcp(B, A, 80, 1234, f, pl)
               for side, f, pl in exchange]
    drained = _run(packets, [100.0 + i * 0.1 for i in range(len(packets))])
    (flow,) = drained.flows
    return flow.conn_state, flow.history


@pytest.mark.parametrize("exchange,state,history", [
    ([("o", "S", b"")], "S0", "S"),
    ([("o", "S", b""), ("r", "RA", b"")], "REJ", "Sr"),
    ([("o", "S", b""), ("r", "SA", b""), ("o", "A", b""), ("o", "PA", b"x"), ("o", "FA", b""),
      ("r", "FA", b""), ("o", "A", b"")], "SF", "ShADFf"),
    ([("o", "S", b""), ("r", "SA", b""), ("o", "A", b""), ("o", "R", b"")], "RSTO", "ShAR"),
    ([("o", "S", b""), ("r", "SA", b""), ("o", "A", b""), ("r", "R", b"")], "RSTR", "ShAr"),
    ([("o", "S", b""), ("r", "SA", b""), ("o", "A", b"")], "S1", "ShA"),
    ([("o", "S", b""), ("o", "F", b"")], "SH", "SF"),
    ([("o", "S", b""), ("o", "R", b"")], "RSTOS0", "SR"),
    ([("o", "PA", b"mid"), ("r", "A", b"")], "OTH", "Da"),
])
def test_zeek_conn_state_and_history(exchange, state, history):
    assert _states(exchange) == (state, history)


def test_udp_conn_states():
    ask = Ether(src=MAC_A, dst=MAC_B) / IP(src=A, dst=B) / UDP(sport=5000, dport=53) / b"q"
    answer = Ether(src=MAC_B, dst=MAC_A) / IP(src=B, dst=A) / UDP(sport=53, dport=5000) / b"a"
    lonely = Ether(src=MAC_A, dst=MAC_B) / IP(src=A, dst=B) / UDP(sport=5001, dport=53) / b"q"
    drained = _run([ask, answer, lonely], [1.0, 1.1, 1.2])
    assert sorted((f.src_port, f.conn_state, f.history) for f in drained.flows) == [(5000, "SF", "Dd"),
                                                                                   (5001, "S0", "D")]


def test_idle_timeout_splits_a_flow_and_marks_the_first_part_idle():
    packets = [_tcp(A, B, 1, 2, "PA", b"x") for _ in range(4)]
    drained = _run(packets, [0.0, 1.0, 400.0, 401.0])
    assert [(f.ts_start, f.pkts_orig, f.end_reason) for f in drained.flows] == [(0.0, 2, "idle"), (400.0, 2, "end")]


def test_active_timeout_cuts_long_flows():
    packets = [_tcp(A, B, 1, 2, "PA", b"x") for _ in range(7)]
    drained = _run(packets, [0.0, 200, 400, 600, 800, 1000, 1200], timeouts=FlowTimeouts(active=500.0))
    assert [(f.ts_start, f.end_reason) for f in drained.flows] == [(0.0, "active"), (600.0, "active"),
                                                                     (1200.0, "end")]


def test_closed_tcp_flow_ends_after_the_close_delay_and_a_new_one_starts():
    exchange = ["S", "SA", "FA", "FA", "A"]
    packets = [_tcp(A, B, 1, 2, f) if i % 2 == 0 else _tcp(B, A, 2, 1, f) for i, f in enumerate(exchange)]
    packets.append(_tcp(A, B, 1, 2, "S"))
    drained = _run(packets, [0, 0.1, 0.2, 0.3, 0.4, 10.0])
    assert [(f.conn_state, f.end_reason, f.pkts_orig + f.pkts_resp) for f in drained.flows] == [
        ("SF", "fin", 5), ("S0", "end", 1)]


def test_idle_flows_are_swept_out_as_packet_time_passes():
    pipeline = Pipeline(extractor=None)
    early = _tcp(A, B, 1, 2, "S")
    later = _tcp(A, B, 3, 4, "S")
    pipeline.feed([(0.0, 1, bytes(early)), (1000.0, 1, bytes(later))], batch_size=1)
    drained = pipeline.drain()
    assert [(f.src_port, f.end_reason) for f in drained.flows] == [(1, "idle")]
    assert pipeline.active_flows == 1


def test_memory_cap_evicts_least_recently_active_flows_and_counts_them():
    packets = [_tcp(A, B, 1000 + i, 80, "S") for i in range(300)]
    drained = _run(packets, [i * 0.001 for i in range(300)], max_flows=100)
    assert drained.stats.flows_evicted > 0
    evicted = [f for f in drained.flows if f.end_reason == "evicted"]
    assert len(evicted) == drained.stats.flows_evicted
    assert len(drained.flows) == 300
    assert max(f.ts_start for f in evicted) < min(f.ts_start for f in drained.flows if f.end_reason == "end")


def test_batches_of_any_size_give_the_same_flows():
    packets = []
    for i in range(40):
        packets += [_tcp(A, B, 2000 + i % 7, 80, "S"), _tcp(B, A, 80, 2000 + i % 7, "SA"),
                    _tcp(A, B, 2000 + i % 7, 80, "PA", b"y" * i), _tcp(A, B, 2000 + i % 7, 80, "FA"),
                    _tcp(B, A, 80, 2000 + i % 7, "FA"),
                    Ether(src=MAC_A, dst=MAC_B) / IP(src=A, dst=B) / ICMP() / b"p"]
    times = [i * 0.7 for i in range(len(packets))]
    for packet, ts in zip(packets, times, strict=True):
        packet.time = ts
    frames = [(float(p.time), 1, bytes(p)) for p in packets]
    results = []
    for batch_size, vectorised in [(1, False), (7, True), (50, True), (10_000, True)]:
        pipeline = Pipeline(extractor=None, vectorised=vectorised)
        pipeline.feed(frames, batch_size=batch_size)
        results.append(pipeline.close().flows)
    for other in results[1:]:
        assert_same_flows(results[0], other)


class RecordingExtractor:
    def __init__(self):
        self.asked, self.payloads = [], []

    def interested(self, proto, src_port, dst_port):
        self.asked.append((proto, src_port, dst_port))
        return 80 in (src_port, dst_port)

    def on_payload(self, ctx, payload):
        self.payloads.append((ctx.src_ip, ctx.src_port, ctx.dst_port, ctx.flow_uid, payload))
        return []


def test_metadata_hook_sees_only_payload_of_interested_flows():
    extractor = RecordingExtractor()
    packets = [_tcp(A, B, 1, 80, "S"), _tcp(A, B, 1, 80, "PA", b"GET /"), _tcp(B, A, 80, 1, "PA", b"200 OK"),
               _tcp(A, B, 5, 443, "PA", b"tls")]
    for i, packet in enumerate(packets):
        packet.time = i
    pipeline = Pipeline(extractor=extractor)
    pipeline.feed((float(p.time), 1, bytes(p)) for p in packets)
    flows = {f.dst_port: f for f in pipeline.close().flows}
    assert sorted(extractor.asked) == [("TCP", 1, 80), ("TCP", 5, 443)]
    assert extractor.payloads == [(A, 1, 80, flows[80].uid, b"GET /"), (B, 80, 1, flows[80].uid, b"200 OK")]


def ftp_login_frames(copies: int) -> list[tuple[float, int, bytes]]:
    """The FTP login capture with every frame `copies` times, as a duplicating mirror port delivers it."""
    return [(float(p.time), 1, bytes(p)) for p in rdpcap(str(PCAPS / "ftp-cleartext-login.pcap"))
            for _ in range(copies)]


@pytest.mark.parametrize("batch_size", [1, 7, 10_000])
def test_a_segment_repeating_the_last_one_of_its_side_never_reaches_the_extractor(batch_size):
    once, twice = RecordingExtractor(), RecordingExtractor()
    once.interested = twice.interested = lambda proto, src_port, dst_port: proto == "TCP"
    Pipeline(extractor=once).feed(ftp_login_frames(1), batch_size=batch_size)
    Pipeline(extractor=twice).feed(ftp_login_frames(2), batch_size=batch_size)
    assert len(once.payloads) > 10 and twice.payloads == once.payloads


def test_a_mirror_copying_every_frame_gives_detection_the_same_logins_and_events():
    results = []
    for copies in (1, 2):
        pipeline = Pipeline()
        pipeline.feed(ftp_login_frames(copies), batch_size=5)
        results.append(pipeline.close())
    single, doubled = ([flow for flow in result.flows if flow.dst_port == 21] for result in results)
    assert len(single) == len(doubled) == 1
    single, doubled = single[0], doubled[0]
    assert results[0].events and results[1].events == results[0].events
    assert (doubled.service, doubled.auth_attempts, doubled.auth_successes) == (
        single.service, single.auth_attempts, single.auth_successes) == ("ftp", 1, 1)
    assert doubled.pkts_orig + doubled.pkts_resp == 2 * (single.pkts_orig + single.pkts_resp)


def test_a_retransmission_after_other_data_still_goes_to_the_extractor_which_decides():
    extractor = RecordingExtractor()
    first, second = _tcp(A, B, 1, 80, "PA", b"GET /", seq=100), _tcp(A, B, 1, 80, "PA", b" HTTP/1.1", seq=105)
    frames = [(float(i), 1, bytes(p)) for i, p in enumerate([first, second, first])]
    Pipeline(extractor=extractor).feed(frames)
    assert [payload for *_, payload in extractor.payloads] == [b"GET /", b" HTTP/1.1", b"GET /"]


def test_a_failing_extractor_is_counted_not_fatal():
    class Broken(RecordingExtractor):
        def on_payload(self, ctx, payload):
            raise RuntimeError("bug")

    pipeline = Pipeline(extractor=Broken())
    pipeline.feed([(1.0, 1, bytes(_tcp(A, B, 1, 80, "PA", b"x")))])
    assert len(pipeline.close().flows) == 1 and pipeline.extractor_errors == 1


@pytest.mark.parametrize("batch_size", [1, 2, 100])
def test_a_clock_stepping_back_never_makes_negative_gaps_or_a_flow_ending_before_it_starts(batch_size):
    def udp(ts, sport=5000, dport=53):
        return ts, 1, bytes(Ether(src=MAC_A, dst=MAC_B) / IP(src=A, dst=B) / UDP(sport=sport, dport=dport) / b"x")

    # the clock steps back 10 s after the second packet (ntpd on the capture host), then runs on
    frames = [udp(100.0), udp(101.0), udp(91.0), udp(91.5), udp(102.0)]
    pipeline = Pipeline(extractor=None)
    pipeline.feed(frames, batch_size=batch_size)
    (flow,) = pipeline.close().flows
    assert flow.pkts_orig == 5 and (flow.ts_start, flow.ts_end) == (100.0, 102.0)
    assert flow.iat_min == 0.0 and flow.iat_max == 1.0 and flow.iat_mean == pytest.approx(0.5)
