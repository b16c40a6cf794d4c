"""Named scenarios: the benign office alone, the office plus one attack family per detection rule,
and everything at once. Same scenario, seed, duration and start => byte-identical capture."""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec

from appliance.cli.progress import ReportProgress, no_progress
from appliance.simulate import benign
from appliance.simulate.attacks import (
    anomalous_payload,
    arp_poisoning,
    arp_spoofing,
    brute_force,
    c2_beacon,
    c2_channels,
    c2_fast,
    c2_slow,
    cleartext_credentials,
    dns_tunnel,
    exfiltration,
    kerberoasting,
    lateral,
    new_device,
    ot_writes,
    password_guessing,
    reconnaissance,
    rogue_dhcp,
    shadow_ai,
    slow_exfiltration,
    ssh_guessing,
    stealth_scans,
    syn_flood,
    threat_intel,
)
from appliance.simulate.capture import Capture
from appliance.simulate.labels import indicators_path, labels_path, write_indicators, write_labels
from appliance.simulate.office import build_office
from appliance.simulate.pcap import write_pcap
from appliance.simulate.site import Site
from appliance.simulate.span import DEFAULT_DURATION, LATEST_START, MAX_DURATION, MIN_DURATION

MONDAY_MORNING = calendar.timegm((2026, 3, 2, 8, 0, 0))  # Monday 2 March 2026, 08:00 UTC
TUESDAY_NIGHT = calendar.timegm((2026, 3, 3, 1, 0, 0))  # 01:00 UTC, the office is empty

Injector = Callable[[Site], None]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    attacks: tuple[Injector, ...]
    default_start: float = MONDAY_MORNING
    # The shortest capture in which every variant reaches its rule's default thresholds (see FULL_LENGTH_S).
    full_length_s: float = 0.0

    @property
    def indicators(self) -> tuple[str, ...]:
        """The indicator list its threat-intel attack matches, known before any traffic is generated."""
        return threat_intel.INDICATORS if threat_intel.inject in self.attacks else ()


_PER_RULE: tuple[tuple[str, str, Injector], ...] = (
    ("c2-beacon", "C2_BEACON: a regular HTTPS beacon and a jittered HTTP beacon", c2_beacon.inject),
    ("data-exfiltration", "DATA_EXFILTRATION: one bulk upload and a low-and-slow trickle", exfiltration.inject),
    (
        "ot-unauthorized-write",
        "OT_UNAUTHORIZED_WRITE: Modbus 5/6/15/16, DNP3 WRITE/SELECT/OPERATE, BACnet WriteProperty from workstations",
        ot_writes.inject,
    ),
    ("port-scan", "PORT_SCAN: fast and slow SYN scans, FIN/NULL/XMAS and UDP scans", reconnaissance.inject_port_scans),
    ("network-sweep", "NETWORK_SWEEP: ARP, ICMP and one-port TCP sweeps", reconnaissance.inject_sweeps),
    ("lateral-movement", "LATERAL_MOVEMENT: one workstation fanning out over SMB, RDP, WinRM and SSH", lateral.inject),
    ("brute-force", "BRUTE_FORCE: failed SSH, RDP and FTP logins in quick succession", brute_force.inject),
    ("dns-tunneling", "DNS_TUNNELING: iodine-like base32/NULL, dnscat-like hex/TXT, a TXT flood", dns_tunnel.inject),
    ("syn-flood", "SYN_FLOOD: from one workstation, and from spoofed sources", syn_flood.inject),
    ("arp-spoofing", "ARP_SPOOFING: a workstation claiming the gateway's and the DC's IP", arp_spoofing.inject),
    ("kerberoasting", "KERBEROASTING: an RC4 TGS burst over many SPNs and one lone RC4 ticket", kerberoasting.inject),
    (
        "threat-intel-match",
        "THREAT_INTEL_MATCH: contact with an IP and a domain on the indicator list",
        threat_intel.inject,
    ),
    ("shadow-ai", "SHADOW_AI: DNS and TLS SNI to AI services from browsers and scripts", shadow_ai.inject),
    (
        "anomalous-payload",
        "ANOMALOUS_PAYLOAD: a printer, a workstation and the database acting out of character",
        anomalous_payload.inject,
    ),
    (
        "cleartext-credentials",
        "CLEARTEXT_CREDENTIALS: FTP, Telnet, HTTP Basic, POP3 and IMAP LOGIN in clear",
        cleartext_credentials.inject,
    ),
    ("rogue-dhcp", "ROGUE_DHCP: a second DHCP server, and a starvation flood", rogue_dhcp.inject),
    ("new-device", "NEW_DEVICE: a laptop (DHCP) and a static-address device appear late", new_device.inject),
)

# The variants real attackers use where the per-rule scenarios' classic forms are easy: other ports, several
# guesses per connection, beacons too fast, too slow or inside one connection, poisoning seen only in the
# data plane, exfiltration spread thin, patient scans, AES-only roasting. (name, description, injector).
_EVASIVE: tuple[tuple[str, str, Injector], ...] = (
    (
        "brute-force-ssh-variants",
        "BRUTE_FORCE on SSH: Hydra/Patator/Medusa with 3-6 guesses per connection on ports 2222, 22222 and 22, "
        "one guess every 20-60 s, and dozens of internet sources against the published SFTP server",
        ssh_guessing.inject,
    ),
    (
        "brute-force-other-services",
        "BRUTE_FORCE on FTP 2121, telnet 2323, POP3 10110, IMAP 10143, SMB 4455, RDP 3390, MariaDB 3307, "
        "PostgreSQL 5433 and VNC 5901, each refused as the real server refuses",
        password_guessing.inject,
    ),
    (
        "c2-beacon-fast",
        "C2_BEACON every 1-5 s for minutes: Meterpreter reverse_https, a Sliver beacon, Cobalt Strike sleep 3 50",
        c2_fast.inject,
    ),
    (
        "c2-beacon-one-connection",
        "C2_BEACON inside one long-lived connection: Mythic WebSocket, Merlin HTTP/2, Merlin HTTP/3 over QUIC",
        c2_channels.inject,
    ),
    (
        "c2-beacon-slow",
        "C2_BEACON every 1-5 min and every 15 min with jitter, domain-fronted through a CDN edge",
        c2_slow.inject,
    ),
    (
        "arp-spoofing-data-plane",
        "ARP_SPOOFING where the forged replies are the only ARP for the gateway: arpspoof and bettercap "
        "full-duplex, victims' frames rerouted mid-session, the attacker's forwarded copies",
        arp_poisoning.inject,
    ),
    (
        "data-exfiltration-slow",
        "DATA_EXFILTRATION over HTTPS every 5-15 min and DNS_TUNNELING exfiltration at one query every 30-90 s",
        slow_exfiltration.inject,
    ),
    (
        "port-scan-stealth",
        "PORT_SCAN at 10 s and 15 s per probe (nmap --scan-delay, -T1), and TCP connect scans (-sT)",
        stealth_scans.inject,
    ),
    ("kerberoasting-aes", "KERBEROASTING with AES-only tickets in a burst (Rubeus /aes)", kerberoasting.inject_aes),
)

# The shortest capture in which every variant has unfolded: a trickle of about a megabyte a minute passes
# DATA_EXFILTRATION's 50 MB an hour only after the better part of an hour; slow beacons, scans and guessing
# need many minutes to show their rhythm at all.
FULL_LENGTH_S = {
    "data-exfiltration": 4200.0,
    "data-exfiltration-night": 4200.0,
    "brute-force-ssh-variants": 1200.0,
    "c2-beacon-fast": 900.0,
    "c2-beacon-one-connection": 900.0,
    "c2-beacon-slow": 3600.0,
    "arp-spoofing-data-plane": 900.0,
    "data-exfiltration-slow": 3600.0,
    "port-scan-stealth": 1200.0,
}

SCENARIOS: dict[str, Scenario] = {
    "benign-office": Scenario(
        "benign-office",
        "an ordinary office morning with its look-alikes (polling software, IT's scans and fan-outs), no attacks",
        (),
    ),
    **{
        name: Scenario(name, description, (injector,), full_length_s=FULL_LENGTH_S.get(name, 0.0))
        for name, description, injector in _PER_RULE
    },
    "data-exfiltration-night": Scenario(
        "data-exfiltration-night",
        "DATA_EXFILTRATION out of business hours, in a quiet night-time office",
        (exfiltration.inject,),
        default_start=TUESDAY_NIGHT,
        full_length_s=FULL_LENGTH_S["data-exfiltration-night"],
    ),
    **{
        name: Scenario(name, description, (injector,), full_length_s=FULL_LENGTH_S.get(name, 0.0))
        for name, description, injector in _EVASIVE
    },
    "mixed": Scenario(
        "mixed",
        "every attack family and variant over the same office morning (the demo's attacks)",
        tuple(injector for _, _, injector in (*_PER_RULE, *_EVASIVE)),
    ),
}


def episode_length(injector: Injector, segment_s: float) -> float:
    """How long one run of an attack family lasts in the demo's stream: a segment, or as long as the family's
    own scenario needs to unfold (the low-and-slow exfiltration needs the better part of an hour)."""
    own = next((scenario.full_length_s for scenario in SCENARIOS.values() if scenario.attacks == (injector,)), 0.0)
    return max(segment_s, own)


HISTORY_STARTS_AT_HOUR = 14  # UTC: an afternoon, when every workstation is busy


def history_start(scenario_start: float, seconds: float) -> float:
    """When the office's ordinary history before a scenario starts: HISTORY_STARTS_AT_HOUR on the last weekday
    on which `seconds` of it end before the scenario does. The baseline learns the site from it."""
    start = scenario_start - scenario_start % 86400 + HISTORY_STARTS_AT_HOUR * 3600
    while start + seconds > scenario_start or time.gmtime(start).tm_wday >= 5:
        start -= 86400
    return start


class UnknownScenario(KeyError):
    pass


class GenerationSummary(msgspec.Struct, kw_only=True):
    scenario: str
    seed: int
    start: float
    duration: float
    packets: int
    labels: int
    pcap: str
    labels_file: str
    indicators_file: str | None


def generate(
    name: str,
    seed: int = 1,
    duration: float = DEFAULT_DURATION,
    start: float | None = None,
    progress: ReportProgress = no_progress,
) -> Capture:
    """Build the capture in memory. Nothing here reads the clock: the start comes from the scenario."""
    scenario = SCENARIOS.get(name)
    if scenario is None:
        raise UnknownScenario(name)
    if not MIN_DURATION <= duration <= MAX_DURATION:
        raise ValueError(f"duration must be between {MIN_DURATION:.0f} and {MAX_DURATION:.0f} seconds")
    start = scenario.default_start if start is None else start
    if not 0 <= start <= LATEST_START:
        raise ValueError("start must be a time between 1970 and 2106")
    capture = Capture(start=start, end=start + duration, seed=seed)
    site = Site(capture=capture, office=build_office(seed), seed=seed)
    benign.generate(site, lambda done, total: progress("simulating the office", done, total, "processes"))
    for done, inject in enumerate(scenario.attacks, 1):
        inject(site)
        progress("adding the attacks", done, len(scenario.attacks), "attacks")
    capture.labels.sort(key=lambda label: (label.start_ts, label.rule_name, label.variant))
    return capture


def write(
    name: str,
    out: Path,
    seed: int = 1,
    duration: float = DEFAULT_DURATION,
    start: float | None = None,
    progress: ReportProgress = no_progress,
) -> GenerationSummary:
    """Generate and write FILE.pcap, FILE.labels.json and, when the scenario has any, FILE.indicators.txt."""
    capture = generate(name, seed, duration, start, progress)
    records = capture.take(capture.end)
    packets = write_pcap(out, records, lambda done: progress("writing the capture", done, len(records), "packets"))
    write_labels(labels_path(out), capture.labels)
    indicators = None
    if capture.indicators:
        indicators = indicators_path(out)
        write_indicators(indicators, capture.indicators)
    return GenerationSummary(
        scenario=name,
        seed=seed,
        start=capture.start,
        duration=capture.duration,
        packets=packets,
        labels=len(capture.labels),
        pcap=str(out),
        labels_file=str(labels_path(out)),
        indicators_file=str(indicators) if indicators else None,
    )
