"""What both export schemas need to say about a record: signature ids and classes of the rules, severities,
network endpoints, the Community ID flow hash and timestamps."""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import struct

from appliance.engine.rules import RULE_MODULES
from sensor.records import Flow

# Each rule declares its Suricata signature id (SIEM_SIGNATURE_ID, in the local-rule range 1000000-1999999,
# fixed for good) and its classification.config description (SIEM_CATEGORY, what EVE prints as alert.category).
SIGNATURE_IDS = {name: module.SIEM_SIGNATURE_ID for name, module in RULE_MODULES.items()}
UNKNOWN_RULE_SIGNATURE = 1_970_999
CATEGORIES = {name: module.SIEM_CATEGORY for name, module in RULE_MODULES.items()}

# Suricata's alert.severity: 1 (high) .. 3 (low). This box's four severities fold onto it; the original is
# kept beside it (alert.metadata.netsenx_severity, netsenx.severity).
SURICATA_SEVERITY = {"CRITICAL": 1, "HIGH": 1, "MEDIUM": 2, "LOW": 3}
# ECS event.severity as Elastic Security grades detections (low 21, medium 47, high 73, critical 99).
ECS_SEVERITY = {"CRITICAL": 99, "HIGH": 73, "MEDIUM": 47, "LOW": 21}
LOG_LEVEL = {"CRITICAL": "critical", "HIGH": "error", "MEDIUM": "warning", "LOW": "notice"}

TRANSPORTS = {"TCP": 6, "UDP": 17, "ICMP": 1, "ICMPV6": 58, "SCTP": 132}
EVE_PROTO = {"TCP": "TCP", "UDP": "UDP", "ICMP": "ICMP", "ICMPV6": "IPv6-ICMP", "SCTP": "SCTP"}


def signature_id(rule_name: str) -> int:
    return SIGNATURE_IDS.get(rule_name, UNKNOWN_RULE_SIGNATURE)


def revision(rule_version: str | None) -> int:
    """"1.2.3" -> 10203: Suricata's rev is one integer that grows with the rule."""
    try:
        major, minor, patch = (int(part) for part in (rule_version or "1.0.0").split("."))
    except ValueError:
        return 1
    return major * 10_000 + minor * 100 + patch


def iso(epoch: float, *, suricata: bool) -> str:
    """Suricata writes "2024-01-02T03:04:05.678901+0000"; ECS takes RFC 3339 "...Z"."""
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + ("+0000" if suricata else "Z")


def flow_id(*parts: str) -> int:
    """A stable positive 52-bit id (JSON-safe) for everything about one flow or incident."""
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return int.from_bytes(digest[:7], "big") >> 4


def community_id(src_ip: str, dst_ip: str, src_port: int, dst_port: int, protocol: str, seed: int = 0) -> str | None:
    """Community ID v1 (github.com/corelight/community-id-spec) for TCP, UDP and SCTP: the flow hash Zeek,
    Suricata and Elastic share, so one flow is found across tools."""
    number = TRANSPORTS.get(protocol.upper())
    if number not in (6, 17, 132):
        return None
    try:
        source, destination = ipaddress.ip_address(src_ip).packed, ipaddress.ip_address(dst_ip).packed
    except ValueError:
        return None
    if (source, src_port) > (destination, dst_port):
        source, destination, src_port, dst_port = destination, source, dst_port, src_port
    data = struct.pack("!H", seed) + source + destination + struct.pack("!BBHH", number, 0, src_port, dst_port)
    return "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode()


def alert_endpoints(content: dict) -> dict:
    """Addresses, ports and protocols of an alert: the transport and source port come from its first evidence
    flow when that flow is the alert's own conversation; an application protocol (DNS, SMB...) is app_proto."""
    protocol = (content.get("protocol") or "").upper()
    endpoints = {"src_ip": content.get("source_ip") or None, "dest_ip": content.get("dest_ip") or None,
                 "dest_port": content.get("port") or None, "src_port": None, "proto": None, "app_proto": None}
    for flow in content.get("evidence_flows") or []:
        if flow.get("src_ip") == endpoints["src_ip"] and flow.get("dst_ip") == endpoints["dest_ip"]:
            endpoints["proto"] = str(flow.get("proto", "")).upper() or None
            endpoints["src_port"] = flow.get("src_port") or None
            break
    if protocol in TRANSPORTS:
        endpoints["proto"] = protocol
    elif protocol:
        endpoints["app_proto"] = protocol.lower()
    return endpoints


def flow_state(flow: Flow) -> tuple[str, str]:
    """Suricata's flow.state and flow.reason for how the sensor ended the flow."""
    if flow.end_reason in ("fin", "rst"):
        return "closed", "shutdown"
    if flow.end_reason == "idle":
        return "established", "timeout"
    return "established", "forced"
