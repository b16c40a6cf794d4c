"""C2_BEACON, DATA_EXFILTRATION, LATERAL_MOVEMENT (fan-out) and BRUTE_FORCE on hand-built flows."""

from __future__ import annotations

import random

import msgspec

from appliance.engine.network import BusinessHours, SiteConfig
from appliance.engine.rules import RuleSet, c2_beacon
from sensor.records import TlsClientHelloEvent
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


def test_an_interactive_implant_calling_home_every_2_seconds_for_minutes():
    assert run(RuleSet(only("C2_BEACON")), beacon(200, 2, 0.2, 300, 30))  # Meterpreter-style, 6.7 minutes
    assert run(RuleSet(only("C2_BEACON")), beacon(40, 2, 0.2, 300, 30)) == []  # 80 s: not yet sustained


def _from(flows, src_ip):
    return [make_flow(**{**_fields(f), "src_ip": src_ip, "uid": f"{f.uid}-{src_ip}"}) for f in flows]


def test_the_same_rhythm_from_many_hosts_is_software():
    poll = beacon(30, 60, 0.05, 800, 10)
    hosts = [_from(poll, f"10.0.0.{20 + i}") for i in range(4)]
    merged = sorted((f for flows in hosts for f in flows), key=lambda f: f.ts_start)
    assert run(RuleSet(only("C2_BEACON")), merged) == []
    assert run(RuleSet(only("C2_BEACON")), sorted(hosts[0] + hosts[1], key=lambda f: f.ts_start))


def test_a_rhythm_to_known_update_software_is_not_a_beacon():
    hello = TlsClientHelloEvent(ts=T0 - 1, src_ip="10.0.0.5", dst_ip=EXTERNAL, dst_port=443, proto="TCP",
                                sni="settings-win.data.microsoft.com")
    assert run(RuleSet(only("C2_BEACON")), [hello, *beacon(30, 60, 0.05, 800, 10)]) == []
    other = msgspec.structs.replace(hello, sni="cdn.update-check.example")
    assert run(RuleSet(only("C2_BEACON")), [other, *beacon(30, 60, 0.05, 800, 10)])


def test_streaming_segments_are_not_check_ins():
    video = [msgspec.structs.replace(f, bytes_resp=1_500_000) for f in beacon(100, 4, 0.05, 600, 10)]
    assert run(RuleSet(only("C2_BEACON")), video) == []


def long_connection(bursts: int, gap: float, size: int, *, service: str = "tls", seed: int = 5, **fields):
    """One long-lived connection whose originator sends a burst every `gap` seconds (+-10%)."""
    rng = random.Random(seed)
    gaps = [gap * (1 + rng.uniform(-0.1, 0.1)) for _ in range(bursts - 1)]
    return make_flow(ts_start=T0, ts_end=T0 + sum(gaps) + 0.2, dst_ip=EXTERNAL, service=service,
                     bursts_orig=bursts, burst_gaps=gaps[-32:], burst_sizes=[size + rng.randrange(-8, 9)
                                                                             for _ in range(min(bursts, 32))],
                     bytes_resp=300 * bursts, **fields)


def test_check_ins_inside_one_long_lived_connection():
    detections = run(RuleSet(only("C2_BEACON")), [long_connection(33, 5.0, 420)])
    assert len(detections) == 1 and detections[0].evidence["in_one_connection"] is True
    assert detections[0].features["in_one_connection"] == 1.0


def test_an_idle_ssh_session_keeping_alive_is_not_a_beacon():
    keepalive = long_connection(33, 15.0, 36, service="ssh", dst_port=22)
    assert run(RuleSet(only("C2_BEACON")), [keepalive]) == []


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
def failed_login(ts: float, port: int = 22, **fields):
    return make_flow(
        ts_start=ts,
        ts_end=ts + 2.5,
        dst_port=port,
        src_port=40000 + int(ts) % 20000,
        payload_orig=1800,
        payload_resp=2600,
        pkts_orig=14,
        pkts_resp=12,
        **fields,
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
    flows = [failed_login(T0 + i * 120, port=3389) for i in range(20)]  # 20 tries over 38 minutes
    assert run(RuleSet(only("BRUTE_FORCE")), flows) == []
    assert run(RuleSet(only("BRUTE_FORCE", window_s=3600.0)), flows)


def ssh_connection(ts: float, *, port: int = 2222, failures: int = 3, successes: int = 0, src: str = "10.0.0.5"):
    """One SSH connection in which the sensor saw `failures` rejected and `successes` accepted passwords."""
    return failed_login(ts, port=port, src_ip=src, service="ssh", auth_attempts=failures + successes,
                        auth_failures=failures, auth_successes=successes)


def test_ssh_guesses_on_a_non_standard_port_count_attempts_not_sessions():
    seven = [ssh_connection(T0 + i * 10) for i in range(7)]  # 21 guesses in 7 connections
    detections = run(RuleSet(only("BRUTE_FORCE")), seven)
    assert len(detections) == 1
    d = detections[0]
    assert (d.port, d.evidence["service"], d.evidence["failed_attempts"], d.evidence["connections"]) == (
        2222, "SSH", 21, 7)
    assert d.features["standard_port"] == 0.0 and d.features["attempts_per_connection"] == 3.0
    assert run(RuleSet(only("BRUTE_FORCE")), seven[:6]) == []


def test_a_port_is_only_a_fallback_for_the_service():
    not_ssh = [failed_login(T0 + i * 5, port=22, service="http") for i in range(40)]
    assert run(RuleSet(only("BRUTE_FORCE")), not_ssh) == []


def test_successful_logins_never_count():
    app_pool = [failed_login(T0 + i * 2, port=3306, service="mysql", auth_attempts=1, auth_successes=1)
                for i in range(200)]
    assert run(RuleSet(only("BRUTE_FORCE")), app_pool) == []


def test_many_sources_guessing_one_server_is_one_distributed_incident():
    flows = [ssh_connection(T0 + i * 10, port=22, failures=2, src=f"10.0.1.{i % 8}") for i in range(24)]
    detections = run(RuleSet(only("BRUTE_FORCE")), flows)
    assert {d.incident_key.split("|")[3] for d in detections} == {"distributed"}
    assert detections[-1].evidence["distinct_sources"] == 8 and detections[-1].evidence["failed_attempts"] == 48


def test_short_ldap_and_smtp_relay_sessions_are_not_brute_force():
    ldap = [failed_login(T0 + i * 5, port=389) for i in range(60)]
    relay = [failed_login(T0 + i * 5, port=25) for i in range(60)]
    assert run(RuleSet(only("BRUTE_FORCE")), ldap + relay) == []
