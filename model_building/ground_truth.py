"""Which Detections are real attacks, by the simulator's labels (FILE.labels.json).

A Detection is a real attack when, within a labelled attack's time window (plus slack for the rules'
windows), either
- it is the same rule and involves a labelled host (the attacker, the target, the attacker's MAC, or an
  address inside a spoofed source range), e.g. the DNS resolver relaying a tunnel's queries; or
- it comes from the labelled attacker itself, whatever the rule (a TCP sweep of port 445 also looks like
  lateral movement, an FTP brute force also sends passwords in clear: both alerts are about the attack).
A label is found (recall) only by a Detection of its own rule.
"""

from __future__ import annotations

import ipaddress

from appliance.engine.detection import Detection
from appliance.simulate.labels import Label

SLACK_S = 60.0  # rules report at window ends and keep incidents open a while after the last packet


def _overlaps(label: Label, detection: Detection) -> bool:
    return detection.last_seen >= label.start_ts - SLACK_S and detection.first_seen <= label.end_ts + SLACK_S


def _address_matches(labelled: str | None, address: str) -> bool:
    if not labelled or not address:
        return False
    if "/" not in labelled:
        return labelled == address
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(labelled, strict=False)
    except ValueError:
        return False


def _involves(label: Label, detection: Detection) -> bool:
    mac = str(detection.evidence.get("mac", "")).lower()
    if label.source_mac and mac == label.source_mac.lower():
        return True
    return any(
        _address_matches(labelled, address)
        for labelled in (label.source_ip, label.dest_ip)
        for address in (detection.source_ip, detection.dest_ip)
    )


def finds(label: Label, detection: Detection) -> bool:
    """The detection reports this labelled attack under the label's own rule (what recall counts)."""
    return label.rule_name == detection.rule_name and _overlaps(label, detection) and _involves(label, detection)


def is_attack(detection: Detection, labels: list[Label]) -> bool:
    """The detection is about one of the labelled attacks (what precision counts, and the training label)."""
    return any(
        _overlaps(label, detection)
        and (
            (label.rule_name == detection.rule_name and _involves(label, detection))
            or _address_matches(label.source_ip, detection.source_ip)
        )
        for label in labels
    )
