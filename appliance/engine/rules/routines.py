"""The site's routines: what its own hosts did, while the baseline learned, that a recon or rhythm rule fires on.

An inventory scanner probing every machine's ports, a monitoring server pinging the LAN every minute, the
automation server logging in to every Linux host, a CAD licence client checking in every five minutes: on a
network we did not build these are the first alerts a detector raises and the first an admin learns to ignore
(Zeek's scan policy has `ignore_scanners` for the same reason). Whatever these rules detect while the site is
being learned is raised (the box keeps detecting while it learns) and recorded as the site's routine; after
learning, the same rule on the same host (for lateral movement: with services it already used so; for a
beacon: to the same destination) stays quiet. Anything else still alerts: a new scanner, the scanner moving
laterally over RDP, a new rhythm to a new peer.

An attacker already at work before the box arrived would be learned too: that is the price of learning, which
is why the routines are kept in the baseline for the admin to review (`Baseline.routines`).
"""

from __future__ import annotations

from appliance.engine.baseline import Baseline
from appliance.engine.detection import Detection

# Rules whose subject a site's own tooling produces routinely; the rest (brute force, exfiltration, spoofing,
# OT writes...) alert even while learning.
_ROUTINE_RULES = frozenset(("PORT_SCAN", "NETWORK_SWEEP", "LATERAL_MOVEMENT", "C2_BEACON"))


def routine_keys(detection: Detection) -> list[str]:
    """What a detection says its source does, as routine keys: all must be known for it to be routine."""
    rule, source = detection.rule_name, detection.source_ip
    if rule == "LATERAL_MOVEMENT":
        return [f"{rule}|{source}|{service}" for service in detection.evidence.get("services") or ("",)]
    if rule == "C2_BEACON":
        return [f"{rule}|{source}|{detection.dest_ip}"]
    return [f"{rule}|{source}"]


def outside_routine(detections: list[Detection], baseline: Baseline) -> list[Detection]:
    """The detections to raise: all of them while learning (a routine one is learned: its activity began
    then), and after learning those the baseline did not learn as routine."""
    raised = []
    for detection in detections:
        if detection.rule_name in _ROUTINE_RULES:
            keys = routine_keys(detection)
            if baseline.learning(detection.first_seen):
                baseline.learn_routines(keys)
            elif baseline.knows_routines(keys):
                continue
        raised.append(detection)
    return raised
