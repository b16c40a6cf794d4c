"""Suricata EVE JSON: the records as Suricata would log them, so that decoders built for Suricata read them
unchanged (Elastic's Suricata integration, Splunk's Suricata add-on, Wazuh's json decoder and rules 86600+).

An alert is `event_type: "alert"` with src_ip, src_port, dest_ip, dest_port, proto, app_proto, flow_id,
community_id and `alert` {action, gid, signature_id, rev, signature, category, severity (1 high .. 3 low),
metadata}; a flow is `event_type: "flow"` with `flow` {pkts_toserver, pkts_toclient, bytes_toserver,
bytes_toclient, start, end, age, state, reason, alerted}; DNS, TLS, HTTP and SSH events take Suricata's own
shapes, the other protocol events their NetSenX fields under an object named after them. What only this box
knows (the alert id, score, top reasons, the sensor, the cursor) is under `netsenx`, which Suricata never uses.
"""

from __future__ import annotations

import msgspec

from appliance.notifications.messages import rule_summary, top_reasons
from appliance.siem import catalogue
from appliance.siem.events import ExportRecord
from sensor.records import DnsEvent, Event, Flow, HttpRequestEvent, SshBannerEvent, TlsClientHelloEvent

DNS_TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 10: "NULL", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA",
             33: "SRV", 64: "SVCB", 65: "HTTPS", 255: "ANY"}
DNS_RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
TLS_VERSIONS = {0x0304: "TLS 1.3", 0x0303: "TLS 1.2", 0x0302: "TLS 1.1", 0x0301: "TLS 1.0", 0x0300: "SSLv3"}
EVENT_TYPES = {"kerberos": "krb5", "tls_client_hello": "tls", "http_request": "http", "ssh_banner": "ssh"}
COMMON_EVENT_FIELDS = {"ts", "src_ip", "dst_ip", "src_port", "dst_port", "proto", "src_mac", "flow_uid", "kind"}


def without_nulls(document: dict) -> dict:
    return {key: value for key, value in document.items() if value is not None}


def eve(record: ExportRecord, box_name: str, *, evidence: bool = False) -> dict:
    match record.kind:
        case "alert":
            return alert(record, box_name, evidence=evidence)
        case "flow":
            return flow(record, box_name)
    return protocol_event(record, box_name)


def alert(record: ExportRecord, box_name: str, *, evidence: bool) -> dict:
    content = record.data
    rule = content.get("rule_name", "")
    severity = content.get("severity", "LOW")
    endpoints = catalogue.alert_endpoints(content)
    document = {
        "timestamp": catalogue.iso(content.get("last_seen") or content.get("decided_at") or 0, suricata=True),
        "flow_id": catalogue.flow_id(content.get("incident_key") or content["alert_id"]),
        "event_type": "alert",
        **without_nulls(endpoints),
        "community_id": _community_id(endpoints),
        "alert": {
            "action": "allowed",  # the box watches a mirror port: it never blocks
            "gid": 1,
            "signature_id": catalogue.signature_id(rule),
            "rev": catalogue.revision(content.get("rule_version")),
            "signature": f"NETSENX {rule} {rule_summary(rule)}",
            "category": catalogue.CATEGORIES.get(rule, "Misc activity"),
            "severity": catalogue.SURICATA_SEVERITY.get(severity, 3),
            "metadata": {"netsenx_severity": [severity], "netsenx_rule": [rule],
                         "netsenx_score": [f"{content.get('score') or 0:.3f}"]},
        },
        "host": box_name,
        "netsenx": alert_details(record, evidence=evidence),
    }
    return without_nulls(document)


def alert_details(record: ExportRecord, *, evidence: bool) -> dict:
    """What only this box knows about an alert (both schemas carry it under `netsenx`)."""
    content = record.data
    return without_nulls({
        "cursor": str(record.cursor), "alert_id": content["alert_id"],
        "update": content["outcome"] != "alert_raised", "incident_key": content.get("incident_key"),
        "trace_id": content.get("trace_id"), "severity": content.get("severity"), "score": content.get("score"),
        "reasons": [msgspec.to_builtins(reason)
                    for reason in top_reasons(content.get("shap") or {}, content.get("features"))],
        "rule_version": content.get("rule_version"), "model_version": (content.get("model") or {}).get("version"),
        "sensor": record.agent_id, "first_seen": _maybe_iso(content.get("first_seen")),
        "last_seen": _maybe_iso(content.get("last_seen")), "evidence": content.get("evidence") if evidence else None,
    })


def flow(record: ExportRecord, box_name: str) -> dict:
    item: Flow = record.data
    state, reason = catalogue.flow_state(item)
    proto = item.proto.upper()
    document = {
        "timestamp": catalogue.iso(item.ts_end, suricata=True),
        "flow_id": catalogue.flow_id(record.agent_id or "", item.uid),
        "event_type": "flow",
        "src_ip": item.src_ip,
        "dest_ip": item.dst_ip,
        **_ports(proto, item.src_port, item.dst_port),
        "proto": catalogue.EVE_PROTO.get(proto, item.proto),
        "community_id": catalogue.community_id(item.src_ip, item.dst_ip, item.src_port, item.dst_port, proto),
        "flow": {
            "pkts_toserver": item.pkts_orig, "pkts_toclient": item.pkts_resp,
            "bytes_toserver": item.bytes_orig, "bytes_toclient": item.bytes_resp,
            "start": catalogue.iso(item.ts_start, suricata=True), "end": catalogue.iso(item.ts_end, suricata=True),
            "age": int(item.ts_end - item.ts_start), "state": state, "reason": reason, "alerted": False,
        },
        "host": box_name,
        "netsenx": without_nulls({"cursor": str(record.cursor), "sensor": record.agent_id, "uid": item.uid,
                                  "conn_state": item.conn_state or None, "history": item.history or None,
                                  "end_reason": item.end_reason or None}),
    }
    if proto == "TCP":
        document["tcp"] = {"tcp_flags_ts": f"{item.tcp_flags_orig:02x}", "syn": bool(item.syn), "fin": bool(item.fin),
                           "rst": bool(item.rst), "psh": bool(item.psh)}
    return without_nulls(document)


def protocol_event(record: ExportRecord, box_name: str) -> dict:
    item: Event = record.data
    kind = type(item).__struct_config__.tag
    proto = item.proto.upper()
    document = {
        "timestamp": catalogue.iso(item.ts, suricata=True),
        "flow_id": catalogue.flow_id(record.agent_id or "", item.flow_uid) if item.flow_uid else None,
        "event_type": EVENT_TYPES.get(kind, kind),
        "src_ip": item.src_ip or None,
        "dest_ip": item.dst_ip or None,
        **(_ports(proto, item.src_port, item.dst_port) if proto else {}),
        "proto": catalogue.EVE_PROTO.get(proto, item.proto) or None,
        "community_id": catalogue.community_id(item.src_ip, item.dst_ip, item.src_port, item.dst_port, proto)
        if proto else None,
        **_event_body(kind, item),
        "host": box_name,
        "netsenx": without_nulls({"cursor": str(record.cursor), "sensor": record.agent_id, "kind": kind,
                                  "flow_uid": item.flow_uid or None}),
    }
    return without_nulls(document)


def _event_body(kind: str, item: Event) -> dict:
    match item:
        case DnsEvent():
            rrtype = DNS_TYPES.get(item.qtype, f"TYPE{item.qtype}")
            dns = {"version": 2, "type": "answer" if item.is_response else "query", "id": item.txid,
                   "rrname": item.query, "rrtype": rrtype}
            if item.is_response:
                dns["rcode"] = DNS_RCODES.get(item.rcode, str(item.rcode))
                dns["answers"] = [{"rrname": item.query, "rrtype": rrtype, "rdata": answer} for answer in item.answers]
            return {"dns": dns}
        case TlsClientHelloEvent():
            return {"tls": without_nulls({"sni": item.sni or None, "version": TLS_VERSIONS.get(item.version),
                                          "ja3": {"hash": item.ja3_hash, "string": item.ja3} if item.ja3 else None,
                                          "ja4": item.ja4 or None})}
        case HttpRequestEvent():
            return {"http": without_nulls({"hostname": item.host or None, "url": item.uri or None,
                                           "http_method": item.method or None,
                                           "http_user_agent": item.user_agent or None})}
        case SshBannerEvent():
            _, _, rest = item.banner.partition("-")
            version, _, software = rest.partition("-")
            side = "server" if item.from_server else "client"
            return {"ssh": {side: {"proto_version": version, "software_version": software}}}
    fields = {name: value for name, value in msgspec.to_builtins(item).items() if name not in COMMON_EVENT_FIELDS}
    return {EVENT_TYPES.get(kind, kind): fields}


def _ports(proto: str, source: int, destination: int) -> dict:
    if proto in ("ICMP", "ICMPV6"):
        return {"icmp_type": source, "icmp_code": destination}
    return {"src_port": source, "dest_port": destination}


def _community_id(endpoints: dict) -> str | None:
    if not (endpoints["src_port"] and endpoints["dest_port"] and endpoints["proto"] and endpoints["dest_ip"]):
        return None
    return catalogue.community_id(endpoints["src_ip"], endpoints["dest_ip"], endpoints["src_port"],
                                  endpoints["dest_port"], endpoints["proto"])


def _maybe_iso(epoch: float | None) -> str | None:
    return None if epoch is None else catalogue.iso(epoch, suricata=True)
