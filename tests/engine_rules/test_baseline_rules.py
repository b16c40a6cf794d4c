"""The site baseline (learning, IsolationForest, persistence) and the rules that need it: NEW_DEVICE,
LATERAL_MOVEMENT's new behaviour and ANOMALOUS_PAYLOAD."""

from __future__ import annotations

import random

import msgspec
import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from appliance.engine.baseline import FLOW_FEATURES, Baseline, BaselineState, ForestArrays, IsolationScorer
from appliance.engine.detection import RuleConfig
from appliance.engine.network import SiteConfig
from appliance.engine.rules import RuleSet
from sensor.records import ArpEvent, DhcpEvent
from tests.engine_rules.conftest import T0, make_flow, run

HOUR = 3600.0
SITE = SiteConfig(learning_period_s=HOUR)
HOSTS = [f"10.0.0.{i}" for i in range(5, 15)]


def mac_of(ip: str) -> str:
    return f"02:00:00:00:00:{int(ip.rsplit('.', 1)[1]):02x}"


def normal_traffic(start: float, duration: float, seed: int) -> list:
    """Ten office hosts browsing (HTTPS out), resolving names, and 10.0.0.5 using its file server over SMB."""
    rng = random.Random(seed)
    flows = []
    for host in HOSTS:
        ts = start + rng.uniform(0, 20)
        while ts < start + duration:
            kind = rng.random()
            if kind < 0.6:
                up = int(rng.lognormvariate(7.5, 0.6))
                flow = make_flow(
                    src_ip=host,
                    dst_ip=f"203.0.113.{rng.randrange(1, 40)}",
                    bytes_orig=up,
                    bytes_resp=up * rng.randint(3, 12),
                    pkts_orig=rng.randint(8, 20),
                )
            elif kind < 0.9:
                flow = make_flow(
                    src_ip=host,
                    dst_ip="10.0.0.53",
                    proto="UDP",
                    dst_port=53,
                    pkts_orig=1,
                    pkts_resp=1,
                    bytes_orig=70,
                    bytes_resp=rng.randint(90, 200),
                    conn_state="SF",
                    history="Dd",
                )
            elif host == "10.0.0.5":
                flow = make_flow(src_ip=host, dst_ip="10.0.0.10", dst_port=445, bytes_orig=rng.randint(2000, 9000))
            else:
                ts += rng.expovariate(1 / 30)
                continue
            flows.append(
                msgspec.structs.replace(flow, ts_start=ts, ts_end=ts + rng.uniform(0.05, 2.0), src_mac=mac_of(host))
            )
            ts += rng.expovariate(1 / 30)
    return sorted(flows, key=lambda f: f.ts_start)


@pytest.fixture(scope="module")
def learned() -> bytes:
    """A baseline that learned an hour of normal traffic (serialised, so each test restores its own)."""
    ruleset = RuleSet(site=SITE)
    run(ruleset, normal_traffic(T0, HOUR, seed=1), final=T0 + HOUR + 30)
    assert ruleset.baseline.finished
    return ruleset.baseline.to_bytes()


def restored(learned: bytes, **configs) -> RuleSet:
    return RuleSet(configs, site=SITE, baseline=Baseline.from_bytes(learned, SITE))


AFTER = T0 + HOUR + 60


def test_scorer_matches_sklearn():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(2000, len(FLOW_FEATURES)))
    forest = IsolationForest(n_estimators=50, max_samples=256, random_state=0).fit(train)
    probe = np.vstack([rng.normal(size=(300, len(FLOW_FEATURES))), rng.normal(6, 1, size=(20, len(FLOW_FEATURES)))])
    ours = IsolationScorer(ForestArrays.from_sklearn(forest)).score(probe)
    np.testing.assert_allclose(ours, -forest.score_samples(probe), rtol=1e-9)


def test_normal_traffic_after_learning_raises_nothing(learned):
    assert run(restored(learned), normal_traffic(AFTER, HOUR, seed=2)) == []


def test_nothing_baseline_based_fires_during_learning():
    ruleset = RuleSet(site=SITE)
    records = [
        *normal_traffic(T0, 600, seed=3),
        make_flow(src_ip="10.0.0.99", src_mac="02:99:99:99:99:99", ts_start=T0 + 700),
        make_flow(src_ip="10.0.0.6", dst_ip="10.0.0.20", dst_port=3389, ts_start=T0 + 800),
    ]
    assert run(ruleset, records, final=T0 + 900) == []


def test_new_device_after_learning_only_once(learned):
    newcomer = [make_flow(src_ip="10.0.0.99", src_mac="02:99:99:99:99:99", ts_start=AFTER + i) for i in range(5)]
    known = [make_flow(src_ip="10.0.0.6", src_mac=mac_of("10.0.0.6"), ts_start=AFTER)]
    arp = [ArpEvent(ts=AFTER + 10, op=2, sender_ip="10.0.0.98", sender_mac="02:98:98:98:98:98", target_ip="10.0.0.1")]
    detections = run(restored(learned), known + newcomer + arp)
    assert [(d.rule_name, d.evidence["mac"]) for d in detections] == [
        ("NEW_DEVICE", "02:99:99:99:99:99"),
        ("NEW_DEVICE", "02:98:98:98:98:98"),
    ]
    assert detections[0].severity == "LOW" and detections[0].source_ip == "10.0.0.99"


def test_admin_service_new_for_the_host_is_lateral_movement(learned):
    usual = [make_flow(src_ip="10.0.0.5", src_mac=mac_of("10.0.0.5"), dst_ip="10.0.0.10", dst_port=445, ts_start=AFTER)]
    unusual = [
        make_flow(
            src_ip="10.0.0.6",
            src_mac=mac_of("10.0.0.6"),
            dst_ip="10.0.0.20",
            dst_port=3389,
            ts_start=AFTER + 5,
        )
    ]
    detections = [d for d in run(restored(learned), usual + unusual) if d.rule_name == "LATERAL_MOVEMENT"]
    assert len(detections) == 1
    d = detections[0]
    assert (d.source_ip, d.dest_ip, d.evidence["trigger"], d.evidence["services"]) == (
        "10.0.0.6",
        "10.0.0.20",
        "new_service",
        ["RDP"],
    )
    assert d.features["new_service"] == 1.0 and d.features["new_peer_fraction"] == 1.0


def test_far_off_flow_from_a_known_host_is_anomalous(learned):
    odd = make_flow(
        src_ip="10.0.0.7",
        src_mac=mac_of("10.0.0.7"),
        dst_ip="203.0.113.9",
        proto="UDP",
        dst_port=31337,
        ts_start=AFTER,
        ts_end=AFTER + 3000,
        pkts_orig=400_000,
        pkts_resp=0,
        bytes_orig=600_000_000,
        bytes_resp=0,
        size_mean=1500,
        iat_mean=0.0075,
    )
    same_from_a_stranger = msgspec.structs.replace(odd, src_ip="10.0.0.200", src_mac=mac_of("10.0.0.6"))
    detections = [d for d in run(restored(learned), [odd, same_from_a_stranger]) if d.rule_name == "ANOMALOUS_PAYLOAD"]
    assert len(detections) == 1
    d = detections[0]
    assert d.source_ip == "10.0.0.7" and d.features["anomaly_score"] >= d.features["score_threshold"] >= 0.65
    assert "log_bytes_orig" in d.evidence["most_deviating_features"]


def test_a_known_device_that_never_called_out_is_watched_too(learned):
    """The resolver 10.0.0.53 only answered queries while the baseline learned: its first outbound session,
    far off, is still checked."""
    assert Baseline.from_bytes(learned, SITE).host_flow_count("10.0.0.53") == 0
    odd = make_flow(src_ip="10.0.0.53", dst_ip="203.0.113.9", proto="TCP", dst_port=4444, ts_start=AFTER,
                    ts_end=AFTER + 600, pkts_orig=1200, pkts_resp=40, bytes_orig=1_800_000, bytes_resp=2000,
                    size_mean=1400, iat_mean=0.5)
    detections = [d for d in run(restored(learned), [odd]) if d.rule_name == "ANOMALOUS_PAYLOAD"]
    assert [d.source_ip for d in detections] == ["10.0.0.53"]
    assert detections[0].evidence["host_baseline_flows"] == 0


def test_a_far_off_flow_on_a_port_the_host_always_uses_is_its_routine(learned):
    """10.0.0.5 talked SMB to its file server all through learning: a huge SMB session is odd for the site
    (the forest isolates it) but not out of character, unless the site asks for site-wide anomalies."""
    huge_smb = make_flow(src_ip="10.0.0.5", src_mac=mac_of("10.0.0.5"), dst_ip="10.0.0.10", dst_port=445,
                         ts_start=AFTER, ts_end=AFTER + 3000, pkts_orig=400_000, pkts_resp=1000,
                         bytes_orig=600_000_000, bytes_resp=80_000, size_mean=1500, iat_mean=0.0075)
    assert Baseline.from_bytes(learned, SITE).called_port(huge_smb)
    by_default = run(restored(learned), [huge_smb])
    assert [d for d in by_default if d.rule_name == "ANOMALOUS_PAYLOAD"] == []
    site_wide = run(restored(learned, ANOMALOUS_PAYLOAD=RuleConfig(thresholds={"only_new_ports": False})), [huge_smb])
    assert [d.source_ip for d in site_wide if d.rule_name == "ANOMALOUS_PAYLOAD"] == ["10.0.0.5"]


def test_a_flow_open_across_the_end_of_learning_is_learned_not_judged(learned):
    """It started while the baseline learned and ended (so it arrives) after: part of the site's routine, for
    the rules that compare with the baseline (a volume rule still weighs its 600 MB)."""
    spanning = make_flow(src_ip="10.0.0.7", src_mac=mac_of("10.0.0.7"), dst_ip="203.0.113.9", proto="UDP",
                         dst_port=31337, ts_start=T0 + HOUR - 100, ts_end=AFTER + 3000, pkts_orig=400_000,
                         pkts_resp=0, bytes_orig=600_000_000, bytes_resp=0, size_mean=1500, iat_mean=0.0075)
    ruleset = restored(learned)
    assert ruleset.baseline.finished and not ruleset.baseline.called_port(spanning)
    assert [d for d in run(ruleset, [spanning]) if d.rule_name == "ANOMALOUS_PAYLOAD"] == []
    assert ruleset.baseline.called_port(spanning)  # the next such session from 10.0.0.7 is routine too


def test_anomalous_flows_of_one_host_are_one_incident(learned):
    odd = [
        make_flow(
            src_ip="10.0.0.7",
            dst_ip="203.0.113.9",
            proto="UDP",
            dst_port=31337,
            ts_start=AFTER + i * 60,
            ts_end=AFTER + i * 60 + 50,
            pkts_orig=90_000,
            pkts_resp=0,
            bytes_orig=130_000_000 + i,
            bytes_resp=0,
            size_mean=1450,
            iat_mean=0.0005,
        )
        for i in range(40)
    ]
    detections = [d for d in run(restored(learned), odd) if d.rule_name == "ANOMALOUS_PAYLOAD"]
    assert len({d.incident_key for d in detections}) == 1 and len(detections) <= 8


def test_round_trip_keeps_everything(learned):
    again = Baseline.from_bytes(learned, SITE)
    assert again.to_bytes() == learned
    assert again.knows_mac(mac_of("10.0.0.9")) and again.originated_service("10.0.0.5", "SMB")
    values = [1.0, 8.0, 9.0, 2.0, 2.0, 0.3, 6.0, 4.0, 0.0, 0.0]
    assert again.anomaly_score(values) == Baseline.from_bytes(learned, SITE).anomaly_score(values)


def test_learning_is_deterministic():
    def learn() -> bytes:
        ruleset = RuleSet(site=SITE)
        run(ruleset, normal_traffic(T0, HOUR, seed=4), final=T0 + HOUR + 30)
        return ruleset.baseline.to_bytes()

    assert learn() == learn()


def test_persisting_mid_learning_continues_the_same_way():
    flows = normal_traffic(T0, HOUR, seed=5)
    straight = RuleSet(site=SITE)
    run(straight, flows, final=T0 + HOUR + 30)
    half = RuleSet(site=SITE)
    middle = len(flows) // 2
    run(half, flows[:middle], final=flows[middle - 1].ts_start)
    resumed = RuleSet(site=SITE, baseline=Baseline.from_bytes(half.baseline.to_bytes(), SITE))
    run(resumed, flows[middle:], final=T0 + HOUR + 30)
    assert resumed.baseline.to_bytes() == straight.baseline.to_bytes()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "bad_index", "wrong_features", "version"])
def test_malformed_state_is_a_clear_error(learned, damage):
    state = msgspec.msgpack.decode(learned, type=BaselineState)
    if damage == "garbage":
        data = b"\x93not a baseline"
    elif damage == "truncated":
        data = learned[: len(learned) // 2]
    elif damage == "bad_index":
        left = np.frombuffer(state.forest.left, dtype="<i8").copy()
        left[0] = 10**9
        data = msgspec.msgpack.encode(
            msgspec.structs.replace(state, forest=msgspec.structs.replace(state.forest, left=left.tobytes()))
        )
    elif damage == "wrong_features":
        data = msgspec.msgpack.encode(
            msgspec.structs.replace(state, forest=msgspec.structs.replace(state.forest, n_features=3))
        )
    else:
        data = msgspec.msgpack.encode(msgspec.structs.replace(state, version=99))
    with pytest.raises(ValueError, match="baseline"):
        Baseline.from_bytes(data, SITE)


def test_a_burst_of_invented_devices_is_one_incident(learned):
    """A DHCP starvation tool invents a MAC per DISCOVER: that is one event, not hundreds of new devices."""
    flood = [
        DhcpEvent(
            ts=AFTER + i * 0.01,
            msg_type=1,
            client_mac=f"de:ad:be:ef:{i // 256:02x}:{i % 256:02x}",
            src_ip="0.0.0.0",
            dst_ip="255.255.255.255",
        )
        for i in range(500)
    ]
    all_detections = run(restored(learned), flood)
    assert {d.rule_name for d in all_detections} == {"NEW_DEVICE", "ROGUE_DHCP"}  # ROGUE_DHCP names the attack
    detections = [d for d in all_detections if d.rule_name == "NEW_DEVICE"]
    individual = [d for d in detections if not d.evidence.get("burst")]
    bursts = {d.incident_key for d in detections if d.evidence.get("burst")}
    assert individual == [] and len(bursts) == 1  # the first arrivals were held, then swallowed by the burst
    last = [d for d in detections if d.evidence.get("burst")][-1]
    assert last.evidence["devices"] >= 490  # every device counted, the first 20 too (a sketch past 32)
    assert last.first_seen == AFTER
    # The same tool again a little later (the same invented MACs): still no device of its own.
    ruleset = restored(learned)
    again = [msgspec.structs.replace(event, ts=event.ts + 120) for event in flood]
    later = [d for d in run(ruleset, flood + again) if d.rule_name == "NEW_DEVICE"]
    assert [d for d in later if not d.evidence.get("burst")] == []


def test_a_newcomer_is_reported_once_the_burst_window_has_passed(learned):
    laptop = make_flow(src_ip="10.0.0.150", src_mac="02:77:00:00:00:99", ts_start=AFTER, ts_end=AFTER + 1)
    ruleset = restored(learned)
    assert ruleset.on_flow(laptop) == []  # held: it might be the first of a flood
    assert ruleset.advance(AFTER + 30) == []
    reported = [d for d in ruleset.advance(AFTER + 61) if d.rule_name == "NEW_DEVICE"]
    assert [(d.evidence["mac"], d.first_seen, d.protocol) for d in reported] == [("02:77:00:00:00:99", AFTER, "FLOW")]


def test_devices_arriving_at_office_pace_are_each_reported(learned):
    arrivals = [
        make_flow(src_ip=f"10.0.0.{100 + i}", src_mac=f"02:77:00:00:00:{i:02x}", ts_start=AFTER + i * 10)
        for i in range(30)
    ]
    detections = run(restored(learned), arrivals)
    assert len({d.incident_key for d in detections}) == 30
    assert not any(d.evidence.get("burst") for d in detections)


@pytest.mark.parametrize(
    "fields",
    [
        {"ts_end": float("inf")},
        {"size_mean": float("nan")},
        {"iat_mean": -668322441.99},  # a capture whose clock stepped back
        {"iat_mean": 1e307, "size_mean": 1e308},
        {"ts_start": float("nan")},
    ],
    ids=["infinite-end", "nan-size", "negative-iat", "overflowing", "nan-start"],
)
def test_what_the_baseline_learns_always_reads_back(fields):
    """The engine refuses these at ingest and clamps what passes, but the baseline must never store a value
    it cannot read back (a non-number made every later start fail)."""
    site = SiteConfig(learning_period_s=3600)
    baseline = Baseline(site)
    baseline.observe_flow(make_flow(ts_start=T0, ts_end=T0 + 1))
    baseline.observe_flow(make_flow(**({"ts_start": T0 + 2, "ts_end": T0 + 3} | fields)))
    restored = Baseline.from_bytes(baseline.to_bytes(), site)
    assert restored.host_flow_count("10.0.0.5") >= 1
    assert restored.learning(T0 + 10) and not restored.learning(T0 + 3601)  # its clock was not moved either
