"""Rules driven by protocol events: DNS_TUNNELING, ARP_SPOOFING, KERBEROASTING, THREAT_INTEL_MATCH, SHADOW_AI,
CLEARTEXT_CREDENTIALS, OT_UNAUTHORIZED_WRITE, ROGUE_DHCP."""

from __future__ import annotations

import random
import string

import pytest

from appliance.engine.detection import RuleConfig
from appliance.engine.network import SiteConfig, ThreatIntel
from appliance.engine.rules import RuleSet
from appliance.engine.rules.dns_tunneling import registered_domain
from sensor.records import (
    ArpEvent,
    BacnetEvent,
    CleartextLoginEvent,
    DhcpEvent,
    Dnp3Event,
    DnsEvent,
    Flow,
    HttpRequestEvent,
    KerberosEvent,
    ModbusEvent,
    TlsClientHelloEvent,
)
from tests.engine_rules.conftest import T0, make_flow, only, run


# --- DNS_TUNNELING -----------------------------------------------------------------------------------------
def query(name: str, ts: float, qtype: int = 1, src: str = "10.0.0.5") -> DnsEvent:
    return DnsEvent(ts=ts, src_ip=src, dst_ip="10.0.0.53", dst_port=53, proto="UDP", query=name, qtype=qtype)


def random_label(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(n))


def test_registered_domain_handles_country_second_levels():
    assert registered_domain("a.b.srv.tunnel.com") == ("a.b.srv", "tunnel.com")
    assert registered_domain("x.example.co.uk.") == ("x", "example.co.uk")
    assert registered_domain("example.com") == ("", "example.com")


def test_encoded_subdomains_fire_at_20():
    rng = random.Random(1)
    names = [f"{random_label(rng, 50)}.t.evil.example" for _ in range(20)]
    assert run(RuleSet(only("DNS_TUNNELING")), [query(n, T0 + i) for i, n in enumerate(names[:19])]) == []
    detections = run(RuleSet(only("DNS_TUNNELING")), [query(n, T0 + i) for i, n in enumerate(names)])
    assert len(detections) == 1
    d = detections[0]
    assert d.evidence["domain"] == "evil.example" and d.features["suspicious_subdomains"] == 20
    assert len(d.evidence["query_samples"]) == 5


def test_txt_flood_over_unique_subdomains():
    events = [query(f"s{i}.cmd.example.net", T0 + i, qtype=16) for i in range(20)]
    (d,) = run(RuleSet(only("DNS_TUNNELING")), events)
    assert d.features["txt_null_fraction"] == 1.0


def test_ordinary_browsing_and_responses_do_not_fire():
    common = ["www", "mail", "api", "cdn", "static", "login", "images", "docs"]
    events = [query(f"{common[i % 8]}.site{i % 5}.example", T0 + i) for i in range(500)]
    rng = random.Random(2)
    responses = [
        DnsEvent(
            ts=T0 + i,
            src_ip="10.0.0.53",
            dst_ip="10.0.0.5",
            is_response=True,
            query=f"{random_label(rng, 60)}.evil.example",
        )
        for i in range(100)
    ]
    assert run(RuleSet(only("DNS_TUNNELING")), events + responses) == []


def test_cdn_style_hash_names_need_many_within_the_window():
    rng = random.Random(3)
    slow = [query(f"{random_label(rng, 45)}.cdn.example", T0 + i * 60) for i in range(30)]  # one a minute
    assert run(RuleSet(only("DNS_TUNNELING")), slow) == []
    assert run(RuleSet(only("DNS_TUNNELING", window_s=3600.0)), slow)


# --- ARP_SPOOFING ------------------------------------------------------------------------------------------
def is_at(ip: str, mac: str, ts: float) -> ArpEvent:
    return ArpEvent(
        ts=ts, op=2, sender_ip=ip, sender_mac=mac, target_ip="192.168.1.50", target_mac="02:00:00:00:00:50"
    )


def test_gateway_mac_flip_flop_is_spoofing():
    site = SiteConfig(gateway_ips=["192.168.1.1"])
    events = [
        is_at("192.168.1.1", "02:00:00:00:00:01", T0),
        is_at("192.168.1.1", "02:66:66:66:66:66", T0 + 5),
        is_at("192.168.1.1", "02:00:00:00:00:01", T0 + 10),
    ]
    detections = run(RuleSet(only("ARP_SPOOFING"), site), events)
    assert {d.incident_key for d in detections} == {detections[0].incident_key}
    assert detections[0].source_ip == "192.168.1.1" and detections[0].features["is_gateway"] == 1.0
    assert detections[-1].features["mac_changes"] == 2


def test_address_reused_long_after_is_not_spoofing():
    events = [
        is_at("192.168.1.20", "02:00:00:00:00:20", T0),
        is_at("192.168.1.20", "02:00:00:00:00:21", T0 + 3600),
    ]
    assert run(RuleSet(only("ARP_SPOOFING")), events) == []


def test_one_mac_claiming_four_addresses():
    events = [is_at(f"192.168.1.{i}", "02:66:66:66:66:66", T0 + i) for i in range(1, 5)]
    assert run(RuleSet(only("ARP_SPOOFING")), events[:3]) == []
    (d,) = run(RuleSet(only("ARP_SPOOFING")), events)
    assert d.evidence["mac"] == "02:66:66:66:66:66" and d.features["claimed_ips"] == 4


ROUTER, ATTACKER, VICTIM, OTHER = "02:00:00:00:00:01", "02:66:66:66:66:66", "02:00:00:00:00:07", "02:00:00:00:00:05"


def browsing(ts: float, src_ip: str, src_mac: str, next_hop: str, dst_ip: str = "203.0.113.9", **fields) -> Flow:
    return make_flow(ts_start=ts, ts_end=ts + 1, src_ip=src_ip, src_mac=src_mac, dst_mac=next_hop,
                     dst_ip=dst_ip, **fields)


def office_before_the_attack() -> list:
    """Two hosts browse out through the router; the attacker host sends traffic of its own."""
    return [
        browsing(T0, "192.168.1.5", OTHER, ROUTER),
        browsing(T0 + 1, "192.168.1.7", VICTIM, ROUTER),
        browsing(T0 + 2, "192.168.1.66", ATTACKER, ROUTER, dst_ip="198.51.100.3"),
    ]


def test_forged_replies_as_the_only_arp_for_the_gateway():
    """No ARP of the router was ever seen, but it sends traffic of its own (a DHCP answer) and carries the
    hosts' external traffic: the attacker's MAC answering for its address is the attack."""
    router_speaks = make_flow(ts_start=T0 + 3, ts_end=T0 + 3.1, proto="UDP", src_ip="192.168.1.1", src_mac=ROUTER,
                              dst_ip="192.168.1.7", src_port=67, dst_port=68)
    forged = ArpEvent(ts=T0 + 10, op=2, sender_ip="192.168.1.1", sender_mac=ATTACKER, target_ip="192.168.1.7",
                      target_mac=VICTIM)
    (d,) = run(RuleSet(only("ARP_SPOOFING")), [*office_before_the_attack(), router_speaks, forged])
    assert (d.source_ip, d.dest_ip, d.evidence["mac"]) == ("192.168.1.66", "192.168.1.1", ATTACKER)
    assert d.features["is_gateway"] == 1.0


def test_a_host_moving_from_a_link_local_to_a_leased_address_is_not_spoofing():
    link_local = make_flow(src_ip="169.254.195.103", src_mac=OTHER, dst_ip="169.254.255.255", proto="UDP")
    announce = ArpEvent(ts=T0 + 60, op=1, sender_ip="192.168.199.132", sender_mac=OTHER,
                        target_ip="192.168.199.132")
    leased = make_flow(ts_start=T0 + 61, src_ip="192.168.199.132", src_mac=OTHER, dst_ip="203.0.113.9",
                       dst_mac=ROUTER)
    assert run(RuleSet(only("ARP_SPOOFING")), [*office_before_the_attack(), link_local, announce, leased]) == []


def test_off_subnet_traffic_turning_to_another_hosts_mac_mid_connection():
    switched = browsing(T0 + 10, "192.168.1.7", VICTIM, ROUTER, src_mac_alt=VICTIM, dst_mac_alt=ATTACKER)
    (d,) = run(RuleSet(only("ARP_SPOOFING")), [*office_before_the_attack(), switched])
    assert d.evidence["intercepted_hosts"] == ["192.168.1.7"] and d.source_ip == "192.168.1.66"
    assert d.evidence["router_mac"] == ROUTER and d.features["forwarded_flows"] == 0


def test_the_middle_hosts_forwarded_copy():
    copied = browsing(T0 + 10, "192.168.1.7", VICTIM, ATTACKER, src_mac_alt=ATTACKER, dst_mac_alt=ROUTER)
    (d,) = run(RuleSet(only("ARP_SPOOFING")), [*office_before_the_attack(), copied])
    assert d.features["forwarded_flows"] == 1 and d.features["intercepted_hosts"] == 1


def test_routes_through_a_vpn_box_and_a_second_router_are_not_spoofing():
    vpn_box, second_router = "02:00:00:00:00:09", "02:00:00:00:00:02"
    flows = [
        *office_before_the_attack(),
        browsing(T0 + 3, "192.168.1.9", vpn_box, ROUTER, dst_ip="198.51.100.200"),  # the box's own traffic
        *(browsing(T0 + 10 + i, "192.168.1.7", VICTIM, vpn_box, dst_ip="198.51.100.77") for i in range(5)),
        *(browsing(T0 + 20 + i, src, mac, second_router, dst_ip="198.51.100.50")
          for i, (src, mac) in enumerate([("192.168.1.5", OTHER), ("192.168.1.7", VICTIM)])),
        # the second router, then the first, for the same destination: a failover between routers
        browsing(T0 + 30, "192.168.1.7", VICTIM, ROUTER, dst_ip="198.51.100.50"),
    ]
    assert run(RuleSet(only("ARP_SPOOFING")), flows) == []


def test_arp_probes_carry_no_claim():
    probes = [
        ArpEvent(
            ts=T0 + i,
            op=1,
            sender_ip="0.0.0.0",
            sender_mac=f"02:00:00:00:01:{i:02x}",
            target_ip="192.168.1.9",
        )
        for i in range(50)
    ]
    assert run(RuleSet(only("ARP_SPOOFING")), probes) == []


# --- KERBEROASTING -----------------------------------------------------------------------------------------
def tgs_req(ts: float, service: str, etypes=(18, 17, 23), client="10.0.0.2") -> KerberosEvent:
    return KerberosEvent(
        ts=ts,
        src_ip=client,
        dst_ip="10.0.0.6",
        dst_port=88,
        msg_type=12,
        requested_etypes=list(etypes),
        service=service,
    )


def tgs_rep(ts: float, etype: int, client="10.0.0.2") -> KerberosEvent:
    return KerberosEvent(
        ts=ts, src_ip="10.0.0.6", dst_ip=client, src_port=88, msg_type=13, ticket_etype=etype
    )


def test_rc4_ticket_after_aes_offer_is_the_mark():
    (d,) = run(RuleSet(only("KERBEROASTING")), [tgs_req(T0, "HTTP/web"), tgs_rep(T0 + 0.01, 23)])
    assert (d.source_ip, d.dest_ip) == ("10.0.0.2", "10.0.0.6")
    assert d.evidence["weak_ticket_services"] == ["HTTP/web"] and d.features["aes_offered"] == 1.0


def test_aes_ticket_or_legacy_client_is_not_roasting():
    aes = [tgs_req(T0, "HTTP/web"), tgs_rep(T0 + 0.01, 18)]
    legacy = [tgs_req(T0, "HTTP/web", etypes=(23,)), tgs_rep(T0 + 0.01, 23)]
    late = [tgs_req(T0, "HTTP/web"), tgs_rep(T0 + 120, 23)]
    for events in (aes, legacy, late):
        assert run(RuleSet(only("KERBEROASTING")), events) == []


def test_burst_of_service_ticket_requests():
    requests = [tgs_req(T0 + i, f"MSSQLSvc/db{i}") for i in range(15)]
    assert run(RuleSet(only("KERBEROASTING")), requests[:14]) == []
    (d,) = run(RuleSet(only("KERBEROASTING")), requests)
    assert d.features["distinct_services"] == 15


# --- THREAT_INTEL_MATCH ------------------------------------------------------------------------------------
INTEL = ThreatIntel(
    source="feed-a",
    ips=["198.51.100.0/24", "2001:db8::66"],
    domains=["bad.example"],
    ja3=["e7d705a3286e19ea42f587b344ee6865"],
)


def test_ip_domain_and_ja3_matches():
    site = SiteConfig(threat_intel=INTEL)
    records = [
        make_flow(dst_ip="198.51.100.77"),
        DnsEvent(ts=T0 + 1, src_ip="10.0.0.7", dst_ip="10.0.0.53", query="cdn.bad.example"),
        TlsClientHelloEvent(
            ts=T0 + 2,
            src_ip="10.0.0.8",
            dst_ip="203.0.113.9",
            sni="ok.example",
            ja3_hash="E7D705A3286E19EA42F587B344EE6865",
        ),
        make_flow(src_ip="2001:db8::66", dst_ip="fd00::5", ts_start=T0 + 3),
    ]
    detections = run(RuleSet(only("THREAT_INTEL_MATCH"), site), records)
    seen = {(d.source_ip, d.evidence["indicator"], d.evidence["indicator_type"]) for d in detections}
    assert seen == {
        ("10.0.0.5", "198.51.100.0/24", "cidr"),  # the alert names the listed network, not only the address
        ("10.0.0.7", "bad.example", "domain"),
        ("10.0.0.8", "e7d705a3286e19ea42f587b344ee6865", "ja3"),
        ("fd00::5", "2001:db8::66", "ip"),
    }
    assert all(d.evidence["feed"] == "feed-a" for d in detections)


def test_no_match_no_alert():
    site = SiteConfig(threat_intel=INTEL)
    records = [make_flow(dst_ip="198.51.101.1"), DnsEvent(ts=T0, src_ip="10.0.0.7", query="notbad.example")]
    assert run(RuleSet(only("THREAT_INTEL_MATCH"), site), records) == []


# --- SHADOW_AI ---------------------------------------------------------------------------------------------
def test_ai_service_use_is_one_incident_per_host_and_service():
    events = [
        TlsClientHelloEvent(
            ts=T0 + i, src_ip="10.0.0.5", dst_ip="203.0.113.1", dst_port=443, proto="TCP", sni="chatgpt.com"
        )
        for i in range(30)
    ]
    events.append(DnsEvent(ts=T0 + 40, src_ip="10.0.0.5", query="api.anthropic.com"))
    detections = run(RuleSet(only("SHADOW_AI")), events)
    assert {d.evidence["service"] for d in detections} == {"chatgpt.com", "anthropic.com"}
    assert len({d.incident_key for d in detections}) == 2
    assert detections[0].severity == "MEDIUM"


def test_site_list_replaces_the_default():
    events = [
        DnsEvent(ts=T0, src_ip="10.0.0.5", query="chatgpt.com"),
        DnsEvent(ts=T0, src_ip="10.0.0.5", query="llm.internal.example"),
    ]
    site = SiteConfig(ai_service_domains=["llm.internal.example"])
    (d,) = run(RuleSet(only("SHADOW_AI"), site), events)
    assert d.evidence["service"] == "llm.internal.example"
    assert (
        run(RuleSet(only("SHADOW_AI")), [DnsEvent(ts=T0, src_ip="10.0.0.5", query="openai.com.evil.example")])
        == []
    )


# --- CLEARTEXT_CREDENTIALS ---------------------------------------------------------------------------------
def test_cleartext_logins_and_basic_auth():
    events = [
        CleartextLoginEvent(
            ts=T0,
            src_ip="10.0.0.5",
            dst_ip="10.0.0.21",
            dst_port=21,
            protocol="ftp",
            username="bob",
            password_seen=True,
        ),
        HttpRequestEvent(
            ts=T0 + 1,
            src_ip="10.0.0.6",
            dst_ip="10.0.0.80",
            dst_port=80,
            basic_auth=True,
            basic_auth_user="admin",
        ),
    ]
    detections = run(RuleSet(only("CLEARTEXT_CREDENTIALS")), events)
    assert {(d.protocol, tuple(d.evidence["users"])) for d in detections} == {
        ("ftp", ("bob",)),
        ("http_basic", ("admin",)),
    }


def test_anonymous_ftp_and_plain_http_are_not_credentials():
    events = [
        CleartextLoginEvent(
            ts=T0, src_ip="10.0.0.5", dst_ip="10.0.0.21", protocol="ftp", username="anonymous"
        ),
        HttpRequestEvent(ts=T0, src_ip="10.0.0.5", dst_ip="10.0.0.80", method="GET", uri="/"),
    ]
    assert run(RuleSet(only("CLEARTEXT_CREDENTIALS")), events) == []


# --- OT_UNAUTHORIZED_WRITE ---------------------------------------------------------------------------------
def modbus(fc: int, ts: float = T0, src="10.0.0.9", response=False) -> ModbusEvent:
    return ModbusEvent(
        ts=ts,
        src_ip=src,
        dst_ip="10.0.0.3",
        dst_port=502,
        proto="TCP",
        function_code=fc,
        unit_id=10,
        is_response=response,
    )


@pytest.mark.parametrize("fc", [5, 6, 15, 16, 22, 23])
def test_every_modbus_write_code_fires(fc):
    (d,) = run(RuleSet(only("OT_UNAUTHORIZED_WRITE")), [modbus(fc)])
    assert (d.source_ip, d.dest_ip, d.protocol, d.severity) == ("10.0.0.9", "10.0.0.3", "Modbus", "CRITICAL")


def test_reads_responses_and_allowed_writers_do_not_fire():
    events = [modbus(fc) for fc in (1, 2, 3, 4, 8, 17, 43)] + [modbus(6, response=True, src="10.0.0.3")]
    assert run(RuleSet(only("OT_UNAUTHORIZED_WRITE")), events) == []
    site = SiteConfig(allowed_ot_writers=["10.0.0.8/29"])
    assert run(RuleSet(only("OT_UNAUTHORIZED_WRITE"), site), [modbus(16)]) == []


def test_dnp3_operate_and_bacnet_write_property():
    events = [
        Dnp3Event(ts=T0, src_ip="10.1.0.1", dst_ip="10.1.0.2", function_code=4, dest_addr=10),
        Dnp3Event(ts=T0, src_ip="10.1.0.1", dst_ip="10.1.0.2", function_code=1),
        BacnetEvent(ts=T0, src_ip="10.2.0.1", dst_ip="10.2.0.2", service=15),
        BacnetEvent(ts=T0, src_ip="10.2.0.1", dst_ip="10.2.0.2", service=12),
    ]
    detections = run(RuleSet(only("OT_UNAUTHORIZED_WRITE")), events)
    assert {(d.protocol, tuple(d.evidence["functions"])) for d in detections} == {
        ("DNP3", ("OPERATE",)),
        ("BACnet", ("WriteProperty",)),
    }


def test_many_writes_are_one_incident():
    detections = run(RuleSet(only("OT_UNAUTHORIZED_WRITE")), [modbus(6, ts=T0 + i) for i in range(1000)])
    assert len({d.incident_key for d in detections}) == 1 and len(detections) <= 12
    assert detections[-1].features["writes"] == 1000


# --- ROGUE_DHCP --------------------------------------------------------------------------------------------
def offer(server: str, ts: float, client="02:00:00:00:00:aa") -> DhcpEvent:
    return DhcpEvent(
        ts=ts,
        src_ip=server,
        dst_ip="255.255.255.255",
        msg_type=2,
        server_id=server,
        client_mac=client,
        offered_ip="192.168.1.100",
    )


def discover(ts: float, mac: str) -> DhcpEvent:
    return DhcpEvent(
        ts=ts, src_ip="0.0.0.0", dst_ip="255.255.255.255", msg_type=1, client_mac=mac, src_mac=mac
    )


def test_offer_from_an_unconfigured_server():
    site = SiteConfig(known_dhcp_servers=["192.168.1.1"])
    (d,) = run(RuleSet(only("ROGUE_DHCP"), site), [offer("192.168.1.1", T0), offer("192.168.1.66", T0 + 1)])
    assert d.source_ip == "192.168.1.66" and d.evidence["trigger"] == "unknown_server"


def test_without_configuration_the_first_server_is_the_sites():
    events = [offer("192.168.1.1", T0 + i) for i in range(5)] + [offer("192.168.1.66", T0 + 10)]
    (d,) = run(RuleSet(only("ROGUE_DHCP")), events)
    assert d.source_ip == "192.168.1.66" and set(d.evidence["servers_seen"]) == {
        "192.168.1.1",
        "192.168.1.66",
    }


def test_one_mac_flooding_discovers():
    assert (
        run(RuleSet(only("ROGUE_DHCP")), [discover(T0 + i * 0.01, "de:ad:be:ef:aa:bb") for i in range(49)])
        == []
    )
    detections = run(
        RuleSet(only("ROGUE_DHCP")), [discover(T0 + i * 0.01, "de:ad:be:ef:aa:bb") for i in range(50)]
    )
    assert len(detections) == 1 and detections[0].evidence["trigger"] == "starvation"


def test_many_random_macs_flooding_and_a_normal_morning():
    rng = random.Random(5)
    macs = [":".join(f"{rng.randrange(256):02x}" for _ in range(6)) for _ in range(200)]
    (d,) = run(RuleSet(only("ROGUE_DHCP")), [discover(T0 + i * 0.1, mac) for i, mac in enumerate(macs)])
    assert d.evidence["mac"] == "" and d.features["distinct_clients"] == 200
    # 200 clients booting over 400 s, each trying 3 times 4 s apart
    morning = sorted(
        (discover(T0 + i * 2.0 + try_ * 4.0, mac) for i, mac in enumerate(macs) for try_ in range(3)),
        key=lambda event: event.ts,
    )
    assert run(RuleSet(only("ROGUE_DHCP")), morning) == []


def test_a_resolver_forwarding_a_tunnel_joins_the_clients_incident():
    rng = random.Random(4)
    events = []
    for i in range(30):
        name = f"{random_label(rng, 50)}.t.evil.example"
        events.append(query(name, T0 + i))
        events.append(DnsEvent(ts=T0 + i + 0.01, src_ip="10.0.0.53", dst_ip="198.51.100.53", query=name))
    detections = run(RuleSet(only("DNS_TUNNELING")), events)
    assert {d.incident_key for d in detections} == {detections[0].incident_key}
    assert detections[-1].source_ip == "10.0.0.5" and detections[-1].evidence["clients"] == [
        "10.0.0.5",
        "10.0.0.53",
    ]


def test_forwarded_queries_are_the_clients_not_the_resolvers():
    events = [
        DnsEvent(ts=T0, src_ip="10.0.0.5", dst_ip="10.0.0.53", query="chatgpt.com"),
        DnsEvent(ts=T0 + 0.01, src_ip="10.0.0.53", dst_ip="198.51.100.53", query="chatgpt.com"),
        DnsEvent(ts=T0 + 0.02, src_ip="10.0.0.53", dst_ip="198.51.100.53", query="cdn.bad.example"),
    ]
    configs = only("SHADOW_AI")
    configs["THREAT_INTEL_MATCH"] = RuleConfig()
    detections = run(RuleSet(configs, SiteConfig(threat_intel=INTEL)), events)
    assert [(d.rule_name, d.source_ip) for d in detections] == [("SHADOW_AI", "10.0.0.5")]
