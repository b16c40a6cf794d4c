"""End to end: feeds imported as an admin would, real captures replayed through the box's own sensor and engine;
exactly the listed hosts alert, and each alert names the feed and the indicator."""

from __future__ import annotations

import json
import time

from appliance.ingest.local_sensor import queue_capture_files
from appliance.intel import repository
from appliance.intel.imports import import_file
from tests.conftest import PCAPS
from tests.intel.feeds import misp_event, stix_bundle, stix_indicator

WIKIPEDIA = PCAPS / "zeek-traces" / "wikipedia.pcap"  # 141.142.220.118 browses Wikipedia, 2011-03-18 19:06
CLIENT = "141.142.220.118"


def intel_alerts(store) -> dict[tuple[str, str], dict]:
    rows = store.query("SELECT source_ip, evidence FROM alerts WHERE rule_name = 'THREAT_INTEL_MATCH'")
    alerts = {(row["source_ip"], json.loads(row["evidence"])["indicator"]): json.loads(row["evidence"]) for row in rows}
    assert len(alerts) == len(rows)  # one alert per host and indicator
    return alerts


def test_only_listed_hosts_that_nothing_overrules_alert(store, analyse):
    now = time.time()
    import_file(store, "partner feed", stix_bundle(
        stix_indicator("[ipv4-addr:value = '208.80.152.118']", name="bits C2", confidence=80),
        # listed, but its validity ended before the capture was taken
        stix_indicator("[ipv4-addr:value = '208.80.152.2']", valid_from="2011-01-01T00:00:00Z",
                       valid_until="2011-03-01T00:00:00Z"),
        stix_indicator("[url:value = 'http://upload.wikimedia.org/wikipedia/commons/6/63/Wikipedia-logo.png']"),
    ), now)
    import_file(store, "feodo", b"# first_seen_utc,dst_ip,dst_port,malware\n2011-03-01,208.80.152.3,80,Dridex\n", now)
    repository.allow(store, "208.80.152.3", "the site's own mirror", "admin", now)

    analyse(WIKIPEDIA)

    alerts = intel_alerts(store)
    assert set(alerts) == {(CLIENT, "208.80.152.118")}
    evidence = alerts[(CLIENT, "208.80.152.118")]
    assert evidence["feed"] == "partner feed" and evidence["indicator_type"] == "ip"
    assert evidence["confidence"] == 80 and evidence["seen_as"] == "flow"
    alert = store.query_one("SELECT dest_ip, severity FROM alerts WHERE rule_name = 'THREAT_INTEL_MATCH'")
    assert alert["dest_ip"] == "208.80.152.118" and alert["severity"] == "HIGH"


def test_the_allowlisted_and_the_expired_would_alert_otherwise(store, analyse):
    """The control of the test above: the same capture with the overruled indicators valid and not allowed."""
    now = time.time()
    import_file(store, "partner feed", b"208.80.152.2\n208.80.152.3\n", now)
    analyse(WIKIPEDIA)
    assert set(intel_alerts(store)) == {(CLIENT, "208.80.152.2"), (CLIENT, "208.80.152.3")}


def test_domains_from_a_misp_event_and_ja3_from_a_list(store, analyse):
    now = time.time()
    import_file(store, "misp", misp_event([
        {"type": "domain", "value": "srv.tunnel.com", "to_ids": True},
        {"type": "domain", "value": "unrelated.example", "to_ids": True},
    ]), now)
    import_file(store, "sslbl", b"# ja3_md5,Firstseen,Lastseen,Listingreason\n"
                                b"308b0bd904abbef5e0034a1ff7a78920,2015-01-01,2015-03-01,Tofsee C&C\n", now)
    analyse(PCAPS / "dns-tunnel-txt.pcap", PCAPS / "tls-handshake.pcap", PCAPS / "icmp-and-ssh.pcap")

    alerts = intel_alerts(store)
    assert set(alerts) == {("10.30.28.90", "srv.tunnel.com"), ("192.168.56.1", "308b0bd904abbef5e0034a1ff7a78920")}
    assert alerts[("10.30.28.90", "srv.tunnel.com")]["seen_as"] == "dns query"
    assert alerts[("10.30.28.90", "srv.tunnel.com")]["feed"] == "misp"
    assert alerts[("10.30.28.90", "srv.tunnel.com")]["confidence"] == 90
    assert alerts[("192.168.56.1", "308b0bd904abbef5e0034a1ff7a78920")]["feed"] == "sslbl"
    # the capture's own detection still stands beside it
    assert store.query_one("SELECT count(*) AS n FROM alerts WHERE rule_name = 'DNS_TUNNELING'")["n"] == 1


def test_a_running_engine_takes_an_import_between_batches(store, analyse):
    engine = analyse(PCAPS / "icmp-and-ssh.pcap")
    assert intel_alerts(store) == {}
    import_file(store, "late feed", b"208.80.152.118\n", time.time())
    queue_capture_files(store, [WIKIPEDIA], agent_id="local")
    engine.process_all()
    assert set(intel_alerts(store)) == {(CLIENT, "208.80.152.118")}


def test_a_server_certificate_on_sslbl(store, analyse):
    """abuse.ch SSLBL lists the SHA-1 of certificates; the server of tls-handshake.pcap sends one in clear."""
    import_file(store, "sslbl certificates", b"# Listingdate,SHA1,Listingreason\n"
                b"2015-01-01 10:00:00,3a0b3b23152c445c27ac6a0c41d6fa74afb4095b,Dridex C&C\n", time.time())
    analyse(PCAPS / "tls-handshake.pcap", PCAPS / "zeek-traces" / "tls" / "ecdsa-cert.pcap")
    alerts = intel_alerts(store)
    assert set(alerts) == {("192.168.56.1", "3a0b3b23152c445c27ac6a0c41d6fa74afb4095b")}  # the client alerts
    evidence = alerts[("192.168.56.1", "3a0b3b23152c445c27ac6a0c41d6fa74afb4095b")]
    assert evidence["indicator_type"] == "cert_sha1" and evidence["seen_as"] == "tls certificate"
    assert evidence["feed"] == "sslbl certificates"
    alert = store.query_one("SELECT dest_ip, port FROM alerts WHERE rule_name = 'THREAT_INTEL_MATCH'")
    assert (alert["dest_ip"], alert["port"]) == ("192.168.56.101", 443)
