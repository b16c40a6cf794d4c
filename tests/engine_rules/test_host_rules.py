"""C2_BEACON, DATA_EXFILTRATION, LATERAL_MOVEMENT (fan-out) and BRUTE_FORCE on hand-built flows."""

from __future__ import annotations

import random

import msgspec

from appliance.engine.network import BusinessHours, SiteConfig
from appliance.engine.rules import RuleSet, c2_beacon
from tests.engine_rules.conftest import T0, make_flow, only, probe, run

EXTERNAL = "203.0.113.50"


# --- C2_BEACON ---------------------------------------------------------------------------------------------
def beacon(n: int, interval: float, jitter: float, size: int, size_jitter: int, seed: int = 1):
    rng = random.Random(seed)
    flows, ts = [], T0
    for _ in range(n):
        ts += interval * (1 + rng.uniform(-jitter, jitter))
        flows.append(
            make_flow(
                ts_start=ts,
                ts_end=ts + 0.3,
                dst_ip=EXTERNAL,
                src_port=rng.randrange(40000, 60000),
                bytes_orig=size + rng.randrange(-size_jitter, size_jitter + 1),
            )
        )
    return flows


def test_jittered_beacon_fires_at_10_connections():
    assert run(RuleSet(only("C2_BEACON")), beacon(9, 60, 0.1, 800, 20)) == []
    detections = run(RuleSet(only("C2_BEACON")), beacon(10, 60, 0.1, 800, 20))
    assert len(detections) == 1
    d = detections[0]
    assert (d.source_ip, d.dest_ip, d.port, d.severity) == ("10.0.0.5", EXTERNAL, 443, "CRITICAL")
    assert d.features["score"] >= 0.8 and 50 < d.features["median_interval_s"] < 70
    assert set(d.features) == set(c2_beacon.FEATURES)


def test_a_day_of_beaconing_is_one_incident():
    detections = run(RuleSet(only("C2_BEACON")), beacon(1440, 60, 0.2, 800, 40))
    assert len({d.incident_key for d in detections}) == 1 and len(detections) <= 10


def test_irregular_browsing_is_not_a_beacon():
    rng = random.Random(7)
    flows, ts = [], T0
    for _ in range(300):
        ts += rng.expovariate(1 / 40)
        flows.append(
            make_flow(ts_start=ts, ts_end=ts + 1, dst_ip=EXTERNAL, bytes_orig=rng.randrange(500, 40000))
        )
    assert run(RuleSet(only("C2_BEACON")), flows) == []


def test_bursts_and_internal_peers_and_ntp_are_not_beacons():
    burst = beacon(50, 0.2, 0.05, 800, 5)  # a page load: regular but sub-second
    internal = [
        f for f in beacon(50, 60, 0.05, 800, 5) for f in [make_flow(**{**_fields(f), "dst_ip": "10.0.0.1"})]
    ]
    ntp = [make_flow(**{**_fields(f), "proto": "UDP", "dst_port": 123}) for f in beacon(50, 64, 0.01, 76, 0)]
    for flows in (burst, internal, ntp):
        assert run(RuleSet(only("C2_BEACON")), flows) == []


def test_fixed_size_messages_at_random_times_need_the_regularity_override():
    rng = random.Random(3)
    flows, ts = [], T0
    for _ in range(40):
        ts += rng.expovariate(1 / 60)
        flows.append(make_flow(ts_start=ts, ts_end=ts + 0.3, dst_ip=EXTERNAL, bytes_orig=800))
    assert run(RuleSet(only("C2_BEACON")), flows) == []
    assert run(RuleSet(only("C2_BEACON", max_interval_cv=10.0)), flows)


def test_cobalt_strike_style_uniform_jitter_is_still_a_beacon():
    assert run(RuleSet(only("C2_BEACON")), beacon(40, 60, 0.6, 800, 400, seed=3))


def _fields(flow):
    return msgspec.structs.asdict(flow)


# --- DATA_EXFILTRATION -------------------------------------------------------------------------------------
WEEKDAY_NOON = 1_700_049_600.0  # Wed 2023-11-15 12:00 UTC
SUNDAY_3AM = 1_700_362_800.0  # Sun 2023-11-19 03:00 UTC


def upload(total: int, start: float, chunks: int = 10, down_per_chunk: int = 200_000):
    return [
        make_flow(
            ts_start=start + i * 60,
            ts_end=start + i * 60 + 50,
            dst_ip=EXTERNAL,
            bytes_orig=total // chunks,
            bytes_resp=down_per_chunk,
        )
        for i in range(chunks)
    ]


def test_exfiltration_at_50_mb_in_business_hours():
    assert run(RuleSet(only("DATA_EXFILTRATION")), upload(49_000_000, WEEKDAY_NOON)) == []
    detections = run(RuleSet(only("DATA_EXFILTRATION")), upload(50_000_000, WEEKDAY_NOON))
    assert len(detections) == 1
    assert detections[0].features["off_hours"] == 0.0 and detections[0].features["upload_bytes"] == 50_000_000


def test_off_hours_lowers_the_bar():
    detections = run(RuleSet(only("DATA_EXFILTRATION")), upload(26_000_000, SUNDAY_3AM))
    assert len(detections) == 1 and detections[0].evidence["effective_min_upload_bytes"] == 25_000_000
    assert run(RuleSet(only("DATA_EXFILTRATION")), upload(26_000_000, WEEKDAY_NOON)) == []


def test_business_hours_follow_the_site_time_zone():
    berlin = SiteConfig(business_hours=BusinessHours(timezone="Europe/Berlin", start_hour=8, end_hour=18))
    # 17:30 UTC Wednesday is 18:30 in Berlin: off hours there, business hours in UTC
    evening = WEEKDAY_NOON + 5.5 * 3600
    assert run(RuleSet(only("DATA_EXFILTRATION"), berlin), upload(30_000_000, evening))
    assert run(RuleSet(only("DATA_EXFILTRATION")), upload(30_000_000, evening)) == []


def test_balanced_transfers_are_not_exfiltration():
    video_call = upload(200_000_000, WEEKDAY_NOON, down_per_chunk=25_000_000)  # ratio 0.8
    assert run(RuleSet(only("DATA_EXFILTRATION")), video_call) == []


# --- LATERAL_MOVEMENT (fan-out; new behaviour is in test_baseline_rules) -----------------------------------
def test_smb_fan_out_to_10_internal_hosts():
    flows = [make_flow(dst_ip=f"10.0.2.{i}", dst_port=445, ts_start=T0 + i * 20) for i in range(10)]
    assert run(RuleSet(only("LATERAL_MOVEMENT")), flows[:9]) == []
    detections = run(RuleSet(only("LATERAL_MOVEMENT")), flows)
    assert len(detections) == 1
    d = detections[0]
    assert d.evidence["trigger"] == "fan_out" and d.evidence["services"] == ["SMB"]
    assert d.features["distinct_peers"] == 10


def test_admin_traffic_to_the_internet_or_on_other_ports_is_not_lateral():
    outward = [make_flow(dst_ip=f"198.51.100.{i}", dst_port=22, ts_start=T0 + i) for i in range(30)]
    web = [make_flow(dst_ip=f"10.0.2.{i}", dst_port=443, ts_start=T0 + i) for i in range(30)]
    assert run(RuleSet(only("LATERAL_MOVEMENT")), outward + web) == []


# --- BRUTE_FORCE -------------------------------------------------------------------------------------------
def failed_login(ts: float, port: int = 22):
    return make_flow(
        ts_start=ts,
        ts_end=ts + 2.5,
        dst_port=port,
        src_port=40000 + int(ts) % 20000,
        payload_orig=1800,
        payload_resp=2600,
        pkts_orig=14,
        pkts_resp=12,
    )


def test_ssh_brute_force_at_20_short_sessions():
    flows = [failed_login(T0 + i * 5) for i in range(20)]
    assert run(RuleSet(only("BRUTE_FORCE")), flows[:19]) == []
    detections = run(RuleSet(only("BRUTE_FORCE")), flows)
    assert len(detections) == 1 and detections[0].evidence["service"] == "SSH" and detections[0].port == 22


def test_long_sessions_and_scans_are_not_brute_force():
    work = [
        make_flow(ts_start=T0 + i * 5, ts_end=T0 + i * 5 + 600, dst_port=22, payload_orig=90_000)
        for i in range(40)
    ]
    scan = [probe(22, ts=T0 + i) for i in range(40)]
    assert run(RuleSet(only("BRUTE_FORCE")), work + scan) == []


def test_brute_force_window_override():
    flows = [failed_login(T0 + i * 60, port=3389) for i in range(20)]  # 20 tries over 19 minutes
    assert run(RuleSet(only("BRUTE_FORCE")), flows) == []
    assert run(RuleSet(only("BRUTE_FORCE", window_s=1800.0)), flows)


def test_short_ldap_and_smtp_relay_sessions_are_not_brute_force():
    ldap = [failed_login(T0 + i * 5, port=389) for i in range(60)]
    relay = [failed_login(T0 + i * 5, port=25) for i in range(60)]
    assert run(RuleSet(only("BRUTE_FORCE")), ldap + relay) == []
