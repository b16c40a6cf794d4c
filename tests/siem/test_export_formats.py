"""The export's records in Suricata EVE JSON and in ECS, as decoders built for those schemas expect them."""

from __future__ import annotations

import re

from appliance.siem.catalogue import SIGNATURE_IDS, UNKNOWN_RULE_SIGNATURE, community_id, signature_id
from appliance.siem.cursor import ExportCursor
from appliance.siem.ecs import ecs
from appliance.siem.eve import eve
from appliance.siem.events import read_page
from tests.siem.records import queue_batch

SURICATA_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+0000$")
ECS_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
EVERYTHING = frozenset({"alerts", "flows", "protocol_events"})


def records(store):
    return read_page(store, ExportCursor(), EVERYTHING, 100).records


# What SIEMs already key on: a rule keeps its signature id for good (a new rule takes a new one).
PUBLISHED_SIGNATURE_IDS = {
    "C2_BEACON": 1_970_001, "DATA_EXFILTRATION": 1_970_002, "OT_UNAUTHORIZED_WRITE": 1_970_003, "PORT_SCAN": 1_970_004,
    "NETWORK_SWEEP": 1_970_005, "LATERAL_MOVEMENT": 1_970_006, "BRUTE_FORCE": 1_970_007, "DNS_TUNNELING": 1_970_008,
    "SYN_FLOOD": 1_970_009, "ARP_SPOOFING": 1_970_010, "KERBEROASTING": 1_970_011, "THREAT_INTEL_MATCH": 1_970_012,
    "SHADOW_AI": 1_970_013, "ANOMALOUS_PAYLOAD": 1_970_014, "CLEARTEXT_CREDENTIALS": 1_970_015,
    "ROGUE_DHCP": 1_970_016, "NEW_DEVICE": 1_970_017,
}


def test_published_signature_ids_never_change():
    assert {name: signature_id(name) for name in PUBLISHED_SIGNATURE_IDS} == PUBLISHED_SIGNATURE_IDS
    assert UNKNOWN_RULE_SIGNATURE not in SIGNATURE_IDS.values()
    assert signature_id("NO_SUCH_RULE") == UNKNOWN_RULE_SIGNATURE


def test_community_id_matches_the_specifications_own_example():
    # github.com/corelight/community-id-spec, README: 128.232.110.120:34855 -> 66.35.250.204:80 TCP
    assert community_id("128.232.110.120", "66.35.250.204", 34855, 80, "TCP") == "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
    assert community_id("66.35.250.204", "128.232.110.120", 80, 34855, "TCP") == "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
    assert community_id("10.0.0.1", "10.0.0.2", 0, 0, "ICMP") is None


def test_an_alert_in_eve_has_suricatas_fields(store, alerts):
    alert_id = alerts.raise_alert("PORT_SCAN", "HIGH", source="10.0.0.7")
    record, = records(store)
    document = eve(record, "office-box")
    assert SURICATA_TIME.match(document["timestamp"])
    assert document["event_type"] == "alert"
    assert (document["src_ip"], document["src_port"], document["dest_ip"], document["dest_port"], document["proto"]) \
        == ("10.0.0.7", 50123, "10.0.9.9", 445, "TCP")
    assert document["community_id"] == community_id("10.0.0.7", "10.0.9.9", 50123, 445, "TCP")
    assert isinstance(document["flow_id"], int) and 0 < document["flow_id"] < 2**53
    assert document["alert"] == {
        "action": "allowed", "gid": 1, "signature_id": SIGNATURE_IDS["PORT_SCAN"], "rev": 10000,
        "signature": "NETSENX PORT_SCAN one source probing many destination ports on one host (vertical scan)",
        "category": "Detection of a Network Scan", "severity": 1,
        "metadata": {"netsenx_severity": ["HIGH"], "netsenx_rule": ["PORT_SCAN"], "netsenx_score": ["0.910"]},
    }
    assert document["host"] == "office-box"
    netsenx = document["netsenx"]
    assert netsenx["alert_id"] == alert_id and netsenx["cursor"] == "1-0-0" and netsenx["update"] is False
    assert [reason["feature"] for reason in netsenx["reasons"]] == ["distinct_ports", "syn_only_ratio"]
    assert "evidence" not in netsenx


def test_severities_fold_onto_suricatas_three(store, alerts):
    for severity in ("CRITICAL", "HIGH", "MEDIUM", "LOW"):
        alerts.raise_alert("NEW_DEVICE", severity)
    assert [eve(record, "b")["alert"]["severity"] for record in records(store)] == [1, 1, 2, 3]
    assert [ecs(record, "b")["event"]["severity"] for record in records(store)] == [99, 73, 47, 21]


def test_evidence_only_when_asked(store, alerts):
    alerts.raise_alert("CLEARTEXT_CREDENTIALS", "MEDIUM", evidence={"users": ["bob"]})
    record, = records(store)
    assert eve(record, "b", evidence=True)["netsenx"]["evidence"] == {"users": ["bob"]}
    assert "evidence" not in ecs(record, "b")["netsenx"]


def test_flows_and_protocol_events_in_eve(store):
    queue_batch(store)
    documents = [eve(record, "b") for record in records(store)]
    assert [document["event_type"] for document in documents] == ["flow", "dns", "dns", "tls", "http", "ssh", "krb5"]
    flow = documents[0]
    assert SURICATA_TIME.match(flow["timestamp"]) and flow["proto"] == "TCP"
    assert flow["flow"] == {"pkts_toserver": 10, "pkts_toclient": 12, "bytes_toserver": 1500, "bytes_toclient": 24000,
                            "start": "2023-11-14T22:13:20.500000+0000", "end": "2023-11-14T22:13:32.750000+0000",
                            "age": 12, "state": "closed", "reason": "shutdown", "alerted": False}
    assert flow["tcp"]["tcp_flags_ts"] == "1b"
    query, answer = documents[1]["dns"], documents[2]["dns"]
    assert query == {"version": 2, "type": "query", "id": 0, "rrname": "example.org", "rrtype": "A"}
    assert answer["rcode"] == "NOERROR" and answer["answers"] == [
        {"rrname": "example.org", "rrtype": "A", "rdata": "93.184.216.34"}]
    assert documents[3]["tls"] == {"sni": "example.org", "version": "TLS 1.3",
                                   "ja3": {"hash": "d41d8cd98f00b204e9800998ecf8427e", "string": "771,4865,0-23,29,0"}}
    assert documents[4]["http"] == {"hostname": "example.org", "url": "/index.html", "http_method": "GET",
                                    "http_user_agent": "curl/8.0"}
    assert documents[5]["ssh"] == {"client": {"proto_version": "2.0", "software_version": "OpenSSH_9.2p1"}}
    assert documents[6]["krb5"]["service"] == "MSSQLSvc/db1" and documents[6]["krb5"]["ticket_etype"] == 23
    assert {document["flow_id"] for document in documents[:2]} == {documents[0]["flow_id"]}  # same flow, same id


def test_the_same_records_in_ecs(store, alerts):
    alerts.raise_alert("C2_BEACON", "CRITICAL", source="10.0.0.8")
    queue_batch(store)
    documents = [ecs(record, "office-box") for record in records(store)]
    alert, flow, query = documents[0], documents[1], documents[2]
    assert ECS_TIME.match(alert["@timestamp"]) and alert["ecs"] == {"version": "8.11.0"}
    assert alert["event"]["kind"] == "alert" and alert["event"]["category"] == ["network", "intrusion_detection"]
    assert alert["rule"]["name"] == "C2_BEACON" and alert["rule"]["category"].startswith("Malware Command")
    assert alert["source"] == {"ip": "10.0.0.8", "port": 50123} and alert["destination"] == {"ip": "10.0.9.9",
                                                                                             "port": 445}
    assert alert["network"]["transport"] == "tcp" and alert["network"]["community_id"].startswith("1:")
    assert alert["observer"]["name"] == "office-box" and alert["observer"]["type"] == "ids"
    assert alert["event"]["risk_score"] == 91.0 and alert["log"]["level"] == "critical"
    assert flow["event"]["type"] == ["connection", "end"] and flow["event"]["duration"] == 12_250_000_000
    assert flow["source"]["bytes"] == 1500 and flow["source"]["mac"] == "AA-BB-CC-00-00-05"
    assert flow["network"]["bytes"] == 25500 and flow["network"]["packets"] == 22
    assert query["dns"]["question"] == {"name": "example.org", "type": "A"}
    assert query["network"]["protocol"] == "dns"
