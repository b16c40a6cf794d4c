"""Elastic Common Schema (ECS 8.11): the same records as documents Elastic, OpenSearch and any ECS-aware SIEM
index without an ingest pipeline of their own.

An alert: event.kind "alert", event.category [network, intrusion_detection], rule.*, source.*, destination.*,
network.* (with community_id), observer.* (this box, type "ids"), event.severity as Elastic Security grades
detections (21 low .. 99 critical), event.risk_score (the model's score x 100). A flow: event.kind "event",
category [network], type [connection, end], bytes and packets per side. Protocol events: dns.*, tls.*, http.*
/ url.* / user_agent.* where ECS has fields; the rest under `netsenx.<kind>`.
"""

from __future__ import annotations

import msgspec

from appliance import __version__
from appliance.notifications.messages import rule_summary
from appliance.siem import catalogue
from appliance.siem.eve import DNS_RCODES, DNS_TYPES, TLS_VERSIONS, alert_details, without_nulls
from appliance.siem.events import ExportRecord
from sensor.records import DnsEvent, Event, Flow, HttpRequestEvent, TlsClientHelloEvent

ECS_VERSION = "8.11.0"
NANOSECONDS = 1_000_000_000


def ecs(record: ExportRecord, box_name: str, *, evidence: bool = False) -> dict:
    match record.kind:
        case "alert":
            document = alert(record, evidence=evidence)
        case "flow":
            document = flow(record)
        case _:
            document = protocol_event(record)
    return {
        **document,
        "ecs": {"version": ECS_VERSION},
        "observer": {"name": box_name, "type": "ids", "vendor": "NetSenX", "product": "NetSenX appliance",
                     "version": __version__},
    }


def _endpoint(ip: str | None, port: int | None, **extra) -> dict | None:
    return without_nulls({"ip": ip or None, "port": port or None, **extra}) if ip else None


def alert(record: ExportRecord, *, evidence: bool) -> dict:
    content = record.data
    rule = content.get("rule_name", "")
    severity = content.get("severity", "LOW")
    endpoints = catalogue.alert_endpoints(content)
    transport = endpoints["proto"]
    summary = rule_summary(rule)
    return without_nulls({
        "@timestamp": catalogue.iso(content.get("last_seen") or content.get("decided_at") or 0, suricata=False),
        "message": f"{severity} {rule}: {summary}",
        "event": without_nulls({
            "kind": "alert", "category": ["network", "intrusion_detection"], "type": ["info"],
            "module": "netsenx", "dataset": "netsenx.alert", "id": content.get("trace_id"),
            "action": rule.lower(), "reason": summary, "code": str(catalogue.signature_id(rule)),
            "severity": catalogue.ECS_SEVERITY.get(severity, 21),
            "risk_score": round((content.get("score") or 0) * 100, 1),
            "start": _iso(content.get("first_seen")), "end": _iso(content.get("last_seen")),
            "created": _iso(content.get("decided_at")),
        }),
        "log": {"level": catalogue.LOG_LEVEL.get(severity, "notice")},
        "rule": without_nulls({"id": str(catalogue.signature_id(rule)), "name": rule, "description": summary,
                               "category": catalogue.CATEGORIES.get(rule), "version": content.get("rule_version"),
                               "ruleset": "netsenx"}),
        "source": _endpoint(endpoints["src_ip"], endpoints["src_port"]),
        "destination": _endpoint(endpoints["dest_ip"], endpoints["dest_port"]),
        "network": without_nulls({
            "transport": transport.lower() if transport else None, "protocol": endpoints["app_proto"],
            "community_id": catalogue.community_id(endpoints["src_ip"], endpoints["dest_ip"], endpoints["src_port"],
                                                   endpoints["dest_port"], transport)
            if transport and endpoints["src_port"] and endpoints["dest_port"] and endpoints["dest_ip"] else None,
        }) or None,
        "netsenx": alert_details(record, evidence=evidence),
    })


def flow(record: ExportRecord) -> dict:
    item: Flow = record.data
    transport = item.proto.lower()
    return without_nulls({
        "@timestamp": catalogue.iso(item.ts_end, suricata=False),
        "event": {"kind": "event", "category": ["network"], "type": ["connection", "end"], "module": "netsenx",
                  "dataset": "netsenx.flow", "start": _iso(item.ts_start), "end": _iso(item.ts_end),
                  "duration": int((item.ts_end - item.ts_start) * NANOSECONDS)},
        "source": _endpoint(item.src_ip, item.src_port, mac=_mac(item.src_mac), bytes=item.bytes_orig,
                            packets=item.pkts_orig),
        "destination": _endpoint(item.dst_ip, item.dst_port, mac=_mac(item.dst_mac), bytes=item.bytes_resp,
                                 packets=item.pkts_resp),
        "network": without_nulls({
            "transport": transport, "bytes": item.bytes_orig + item.bytes_resp,
            "packets": item.pkts_orig + item.pkts_resp, "vlan": {"id": str(item.vlan)} if item.vlan else None,
            "community_id": catalogue.community_id(item.src_ip, item.dst_ip, item.src_port, item.dst_port, item.proto),
        }),
        "netsenx": without_nulls({"cursor": str(record.cursor), "sensor": record.agent_id, "uid": item.uid,
                                  "conn_state": item.conn_state or None, "history": item.history or None,
                                  "end_reason": item.end_reason or None}),
    })


def protocol_event(record: ExportRecord) -> dict:
    item: Event = record.data
    kind = type(item).__struct_config__.tag
    body, protocol = _event_body(kind, item)
    return without_nulls({
        "@timestamp": catalogue.iso(item.ts, suricata=False),
        "event": {"kind": "event", "category": ["network"], "type": ["protocol"], "module": "netsenx",
                  "dataset": f"netsenx.{kind}"},
        "source": _endpoint(item.src_ip, item.src_port, mac=_mac(item.src_mac)),
        "destination": _endpoint(item.dst_ip, item.dst_port),
        "network": without_nulls({"transport": item.proto.lower() or None, "protocol": protocol}),
        **body,
        "netsenx": {"cursor": str(record.cursor), "sensor": record.agent_id, "kind": kind,
                    **({} if protocol in ("dns", "tls", "http") else {kind: _fields(item)})},
    })


def _event_body(kind: str, item: Event) -> tuple[dict, str]:
    match item:
        case DnsEvent():
            dns = {"type": "answer" if item.is_response else "query", "id": str(item.txid),
                   "question": {"name": item.query, "type": DNS_TYPES.get(item.qtype, f"TYPE{item.qtype}")}}
            if item.is_response:
                dns["response_code"] = DNS_RCODES.get(item.rcode, str(item.rcode))
                dns["answers"] = [{"data": answer} for answer in item.answers]
            return {"dns": dns}, "dns"
        case TlsClientHelloEvent():
            version = TLS_VERSIONS.get(item.version, "")
            return {"tls": without_nulls({
                "version_protocol": "tls" if version.startswith("TLS") else None,
                "version": version.removeprefix("TLS ") or None,
                "client": without_nulls({"server_name": item.sni or None, "ja3": item.ja3_hash or None}),
            })}, "tls"
        case HttpRequestEvent():
            return without_nulls({
                "http": {"request": {"method": item.method}} if item.method else None,
                "url": without_nulls({"original": item.uri or None, "domain": item.host or None}) or None,
                "user_agent": {"original": item.user_agent} if item.user_agent else None,
            }), "http"
    return {}, kind


def _fields(item: Event) -> dict:
    return {name: value for name, value in msgspec.to_builtins(item).items()
            if name not in ("ts", "src_ip", "dst_ip", "src_port", "dst_port", "proto", "src_mac", "kind")}


def _mac(mac: str) -> str | None:
    """ECS writes MAC addresses upper case with hyphens."""
    return mac.upper().replace(":", "-") if mac else None


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else catalogue.iso(epoch, suricata=False)
