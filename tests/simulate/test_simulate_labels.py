"""Ground truth: every PRODUCT.md rule has a scenario, each label points at packets that exist inside its
window, and the benign office carries none of the attack signatures."""

from __future__ import annotations

import ipaddress
import re
from collections import Counter, defaultdict

import pytest

from appliance.engine.rules import RULE_MODULES
from appliance.simulate import SCENARIOS, write
from appliance.simulate.labels import indicators_path
from appliance.simulate.office import build_office
from appliance.simulate.pcap import read_pcap
from tests.shared_data import PRODUCT
from tests.simulate.conftest import TEST_DURATION, TEST_SEED
from tests.simulate.decoded_frames import Frame, decode, message_starts

PER_RULE_SCENARIOS = [name for name in SCENARIOS if name not in ("benign-office", "mixed")]


def _product_rules() -> set[str]:
    table = PRODUCT.read_text().split("## Detections", 1)[1]
    return set(re.findall(r"^\| ([A-Z0-9_]+) \|", table, flags=re.MULTILINE))


def test_every_detection_rule_has_a_scenario_with_its_label(generated):
    rules = _product_rules()
    assert rules == set(RULE_MODULES)
    for rule, module in RULE_MODULES.items():
        assert module.SCENARIO in SCENARIOS, rule
        assert rule in {label.rule_name for label in generated[module.SCENARIO].labels}
    assert {label.rule_name for label in generated["mixed"].labels} == rules


def _is_source(frame: Frame, source_ip: str, source_mac: str | None) -> bool:
    if source_mac and frame.eth_src == source_mac:
        return True
    if "/" in source_ip:  # spoofed sources are labelled with their network
        return bool(frame.src) and ipaddress.ip_address(frame.src) in ipaddress.ip_network(source_ip)
    return frame.src == source_ip or (frame.arp is not None and frame.arp[2] == source_ip)


@pytest.mark.parametrize("scenario", PER_RULE_SCENARIOS)
def test_labels_line_up_with_the_attackers_packets(generated, scenario):
    capture = generated[scenario]
    assert capture.labels
    begin = SCENARIOS[scenario].default_start
    for label in capture.labels:
        assert begin <= label.start_ts <= label.end_ts <= begin + TEST_DURATION, label
        window = [f for f in capture.frames if label.start_ts - 1e-3 <= f.ts <= label.end_ts + 1e-3]
        sent = [f for f in window if _is_source(f, label.source_ip, label.source_mac)]
        assert sent, f"no packet from {label.source_ip} in the window of {label}"
        if label.dest_ip is not None and label.rule_name != "ARP_SPOOFING":
            assert any(f.dst == label.dest_ip or f.src == label.dest_ip for f in sent), label
            if label.port is not None:
                assert any(label.port in (f.dport, f.sport) for f in sent if label.dest_ip in (f.dst, f.src)), label


def test_threat_intel_indicators_are_written_and_contacted(generated):
    capture = generated["threat-intel-match"]
    indicators = [line for line in indicators_path(capture.pcap).read_text().splitlines() if not line.startswith("#")]
    assert indicators == ["192.0.2.66", "invoice-portal-secure.example"]
    assert any(frame.dst == "192.0.2.66" for frame in capture.frames)
    assert any(b"invoice-portal-secure" in frame.payload for frame in capture.frames if frame.dport == 53)
    assert not indicators_path(generated["benign-office"].pcap).exists()


# -- the benign office is clean ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def benign(generated) -> list[Frame]:
    return generated["benign-office"].frames


IT_SCANNER, MONITOR = "10.20.1.80", "10.20.1.50"  # the office's inventory scanner and monitoring server


def test_benign_scan_shapes_come_only_from_it_machines(benign):
    """No FIN/NULL/XMAS probe anywhere; unanswered SYNs and ports refused, and ICMP, only in the inventory
    scanner's and the monitoring server's conversations (the look-alikes a detector must tell apart)."""
    syns = defaultdict(int)
    for frame in benign:
        if frame.proto == 6:
            assert frame.tcp_flags & 0x17 not in (0x00, 0x01, 0x29 & 0x17), "FIN/NULL/XMAS probe in benign traffic"
            if frame.tcp_flags & 0x12 == 0x02:
                syns[(frame.src, frame.dst, frame.sport, frame.dport)] += 1
            elif frame.tcp_flags & 0x12 == 0x12:
                syns[(frame.dst, frame.src, frame.dport, frame.sport)] -= 1
            refused = frame.tcp_flags & 0x14 == 0x14 and not frame.payload and frame.sport < 1024 and syns.get(
                (frame.dst, frame.src, frame.dport, frame.sport)) == 1
            assert not refused or frame.dst == IT_SCANNER
        if frame.proto == 1:
            assert {frame.src, frame.dst} & {IT_SCANNER, MONITOR}, (frame.src, frame.dst)
            assert frame.payload[0] in (0, 8), "only echo requests and replies"
    unanswered = {key for key, count in syns.items() if count > 0}
    assert {client for client, *_ in unanswered} <= {IT_SCANNER}
    assert any(frame.proto == 1 and frame.src == MONITOR for frame in benign)


def test_benign_has_no_attack_infrastructure_or_sensitive_destinations(benign):
    ai = (b"openai", b"anthropic", b"claude", b"gemini", b"perplexity", b"mistral", b"deepseek", b"huggingface")
    for frame in benign:
        assert not frame.dst.startswith("192.0.2.") and not frame.src.startswith("192.0.2.")
        if frame.dport in (53, 443):
            assert not any(name in frame.payload for name in ai)
        if frame.src != IT_SCANNER:  # the inventory knocks on every port it knows, and says nothing
            assert frame.dport not in (21, 23, 110, 502 if frame.src != "10.20.30.5" else -1)


def test_benign_has_no_cleartext_credentials(benign):
    for frame in message_starts(benign):
        payload = frame.payload
        assert b"Authorization: Basic" not in payload
        assert not payload.startswith((b"USER ", b"PASS ")) and b" LOGIN " not in payload


def test_every_mac_speaks_for_one_address(tmp_path):
    """The gateway asks for the LAN hosts that internet traffic goes to (inbound mail) in its own name, never
    in the internet sender's: otherwise the gateway's MAC would claim outside addresses, an ARP spoofing
    look-alike made by the simulator itself. Two minutes hold inbound mail."""
    pcap = tmp_path / "office.pcap"
    write("benign-office", pcap, seed=TEST_SEED, duration=120)
    ips_of: dict[str, set[str]] = defaultdict(set)
    for ts, raw in read_pcap(pcap):
        frame = decode(ts, raw)
        if frame.arp and frame.arp[2] != "0.0.0.0":
            ips_of[frame.arp[1]].add(frame.arp[2])
    assert ips_of
    assert all(len(ips) == 1 for ips in ips_of.values()), {mac: ips for mac, ips in ips_of.items() if len(ips) > 1}


def test_benign_arp_and_dhcp_are_consistent(benign):
    mac_of: dict[str, str] = {}
    for frame in benign:
        if frame.arp and frame.arp[2] != "0.0.0.0":
            assert mac_of.setdefault(frame.arp[2], frame.arp[1]) == frame.arp[1], f"{frame.arp[2]} changed MAC"
    offers = {frame.src for frame in benign if frame.sport == 67}
    assert offers <= {"10.20.1.10"}
    discovers = [frame for frame in benign if frame.dport == 67]
    assert len(discovers) < 60


def test_benign_dns_names_are_short_and_ot_is_read_only(benign):
    for frame in message_starts(benign):
        if frame.dport == 53 and frame.proto == 17:
            assert len(frame.payload) < 120
            qtype = int.from_bytes(frame.payload[-4:-2], "big")
            assert qtype in (1, 28, 33)
        if frame.dport == 502 and frame.payload:
            assert frame.payload[7] in (1, 3)
        if frame.dport == 20000 and frame.payload:
            assert frame.payload[12] == 1  # DNP3 READ
        if frame.dport == 47808 and frame.src == "10.20.30.5":
            assert frame.payload[9] == 12  # BVLC 4 + NPDU 2 + APDU type, max, invoke: service ReadProperty


def test_benign_workstations_make_no_lateral_fanout(benign):
    """Ordinary workstations reach few peers on admin ports (a look into the Network folder: four), never
    over RDP or WinRM; admins reach servers only. Fan-out belongs to IT's machines (Ansible, the inventory)."""
    office = build_office(TEST_SEED)
    servers = {host.ip for host in office.internal_hosts() if host.role == "server"}
    admins = {host.ip for host in office.admins}
    peers = defaultdict(set)
    for frame in benign:
        if frame.proto == 6 and frame.tcp_flags == 0x02 and frame.dport in (22, 445, 2222, 3389, 5985, 22222):
            peers[frame.src].add((frame.dst, frame.dport))
    workstations = {host.ip for host in office.workstations}
    for source, reached in peers.items():
        if source in admins:
            assert {dst for dst, _ in reached} <= servers
        elif source in workstations:
            assert len({dst for dst, _ in reached}) <= 4
            assert not {port for _, port in reached} & {3389, 5985}
    assert len({dst for dst, _ in peers["10.20.1.60"]}) >= 10  # Ansible's fan-out is there to be told apart


@pytest.mark.parametrize("scenario", ["c2-beacon", "arp-spoofing", "mixed"])
def test_attack_scenarios_add_to_the_same_background(generated, scenario):
    """Attacks draw from their own random streams and come after the background, so a scenario is the
    benign office of the same seed plus the attack's frames: nothing of the background changes, except what
    ARP poisoning changes by design (mixed has it): the victims' frames carry the impostor's MAC, and the
    gateway's own ARP was never seen by the mirror port."""
    gateway = build_office(TEST_SEED).gateway.ip

    def comparable(frames: list[Frame]) -> Counter:
        if scenario != "mixed":
            return Counter(frame.raw for frame in frames)
        return Counter(frame.raw[12:] for frame in frames if not (frame.arp and gateway in frame.arp[2::2]))

    background = comparable(generated["benign-office"].frames)
    with_attack = comparable(generated[scenario].frames)
    assert not background - with_attack
    assert sum(with_attack.values()) > sum(background.values())
