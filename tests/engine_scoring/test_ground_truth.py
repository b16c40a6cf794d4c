"""Which Detections count as real attacks: the labelling behind training, precision and recall."""

from __future__ import annotations

from appliance.engine.detection import Detection
from appliance.simulate.labels import Label
from model_building.ground_truth import SLACK_S, finds, is_attack

T0 = 1_772_438_400.0
FLOOD = Label(rule_name="SYN_FLOOD", source_ip="198.18.0.0/15", dest_ip="10.20.1.25", port=25,
              start_ts=T0, end_ts=T0 + 4, variant="spoofed-sources")
BRUTE = Label(rule_name="BRUTE_FORCE", source_ip="10.20.10.114", dest_ip="10.20.20.10", port=21,
              start_ts=T0, end_ts=T0 + 16, variant="ftp")


def detection(rule: str, source: str, dest: str = "", first: float = T0, last: float = T0 + 1, **evidence):
    return Detection(rule_name=rule, severity="HIGH", incident_key=f"{rule}|{source}|{int(first)}", source_ip=source,
                     dest_ip=dest, port=0, protocol="TCP", first_seen=first, last_seen=last, evidence=evidence,
                     evidence_flow_uids=[], features={}, rule_version="1", thresholds={})


def test_a_flood_from_a_spoofed_range_is_found_through_its_target_or_a_source_in_the_range():
    assert finds(FLOOD, detection("SYN_FLOOD", "", "10.20.1.25"))
    assert finds(FLOOD, detection("SYN_FLOOD", "198.19.4.7", "10.20.9.9"))
    assert not finds(FLOOD, detection("SYN_FLOOD", "10.20.10.5", "10.20.9.9"))


def test_the_attackers_other_alerts_are_real_but_do_not_count_as_finding_the_label():
    cleartext = detection("CLEARTEXT_CREDENTIALS", "10.20.10.114", "10.20.20.10")
    assert is_attack(cleartext, [BRUTE]) and not finds(BRUTE, cleartext)


def test_outside_the_attack_window_or_about_other_hosts_is_benign():
    late = T0 + 16 + SLACK_S + 1
    assert not is_attack(detection("BRUTE_FORCE", "10.20.10.114", "10.20.20.10", late, late + 5), [BRUTE])
    assert not is_attack(detection("BRUTE_FORCE", "10.20.10.7", "10.20.1.40"), [BRUTE])


def test_layer_two_attacks_match_on_the_attackers_mac():
    spoof = Label(rule_name="ARP_SPOOFING", source_ip="10.20.10.114", dest_ip="10.20.0.1", port=None,
                  start_ts=T0, end_ts=T0 + 60, variant="gateway", source_mac="02:00:00:00:00:72")
    poisoned_workstation = detection("ARP_SPOOFING", "10.20.10.118", mac="02:00:00:00:00:72")
    assert finds(spoof, poisoned_workstation)
    assert not finds(spoof, detection("ARP_SPOOFING", "10.20.10.118", mac="02:00:00:00:00:99"))
