"""The lab network: one namespace per host, a Linux bridge as the switch, a router to a fake internet.

Every namespace is named `nxlab-*`. The only links are veth pairs whose both ends live in lab namespaces, so
no packet can reach the host's own network: the "internet" namespace has no default route and no uplink.
The switch namespace holds the bridge; a capture on the bridge in promiscuous mode sees every frame that
crosses the switch, as a mirror (SPAN) port of a real switch would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "nxlab-"
SWITCH = f"{PREFIX}switch"
INTERNET = f"{PREFIX}inet"
BRIDGE = "br0"
LAN_PREFIX = 24
UPLINK_GW, UPLINK_INET = "100.64.77.1", "100.64.77.2"


@dataclass(frozen=True)
class Host:
    name: str
    ip: str
    mac: str
    role: str


# Fixed addresses and MACs so that every run of the harness produces the same roster. The OUIs are those of
# common virtual NICs (QEMU 52:54:00, VMware 00:0c:29 for the attacker's VM), as a small office of VMs has.
LAN_HOSTS = [
    Host("gw", "10.77.0.1", "52:54:00:77:00:01", "gateway / router to the internet"),
    Host("dns", "10.77.0.2", "52:54:00:77:00:02", "internal DNS resolver (dnsmasq)"),
    Host("mon", "10.77.0.5", "52:54:00:77:00:05", "monitoring server (polls hosts over HTTP and ICMP)"),
    Host(
        "srv1",
        "10.77.0.10",
        "52:54:00:77:00:0a",
        "file/web server: sshd 22+2222, vsftpd 21+2121, telnetd 23, nginx 80+443, Samba 445",
    ),
    Host("db1", "10.77.0.11", "52:54:00:77:00:0b", "database server: MariaDB 3306+3307, PostgreSQL 5432, sshd"),
    *[Host(f"ws{i}", f"10.77.0.{20 + i}", f"52:54:00:77:00:{20 + i:02x}", "workstation") for i in range(1, 7)],
    Host("admin", "10.77.0.30", "52:54:00:77:00:1e", "IT admin's workstation"),
    Host("attacker", "10.77.0.66", "00:0c:29:4b:66:66", "attacker's machine (a compromised or rogue host)"),
]
HOSTS = {host.name: host for host in LAN_HOSTS}

# Addresses that exist only inside the internet namespace. Documentation ranges first, then two
# public-looking addresses that live only here (nothing is routed out of the lab).
EXTERNAL = {
    "updates": "198.51.100.10",  # software vendor's update server
    "backup": "198.51.100.20",  # cloud backup provider (benign large uploads)
    "ntp": "198.51.100.123",
    "www1": "203.0.113.10",
    "www2": "203.0.113.11",
    "cdn": "93.184.216.34",
    "c2": "203.0.113.50",
    "c2ws": "203.0.113.77",
    "tunnel": "203.0.113.53",  # iodined, authoritative for the tunnel domain
    "drop": "185.53.178.10",  # attacker's file drop (exfiltration target)
}
EXTERNAL_NAMES = {
    "updates": "updates.vendorsoft.example",
    "backup": "vault.backupcloud.example",
    "ntp": "ntp.timeservice.example",
    "www1": "www.newsportal.example",
    "www2": "shop.retailer.example",
    "cdn": "static.cdnhost.example",
    "c2": "api.cloud-sync-metrics.example",
    "c2ws": "push.notify-relay.example",
    "drop": "files.transfer-box.example",
}
TUNNEL_DOMAIN = "t.cdnsync.example"


def run(*command: str, namespace: str | None = None, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    full = ["ip", "netns", "exec", namespace, *command] if namespace else list(command)
    result = subprocess.run(full, check=False, capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(full)} failed ({result.returncode}): {result.stderr.strip()[-800:]}")
    return result


def ns(host: str) -> str:
    return f"{PREFIX}{host}"


@dataclass
class Processes:
    """Every process the harness started, so that each one, and only those, is stopped by its id."""

    running: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def start(self, label: str, command: list[str], namespace: str | None = None, **kwargs) -> subprocess.Popen:
        full = ["ip", "netns", "exec", namespace, *command] if namespace else command
        kwargs.setdefault("stdout", subprocess.DEVNULL)
        kwargs.setdefault("stderr", subprocess.DEVNULL)
        kwargs.setdefault(
            "cwd", "/tmp"
        )  # tools that drop files in their folder (hydra.restore) keep them out of the repo
        process = subprocess.Popen(full, start_new_session=True, **kwargs)
        self.running.append((label, process))
        return process

    def stop(self, process: subprocess.Popen, grace: float = 5.0) -> None:
        if process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
        self.running = [(label, p) for label, p in self.running if p is not process]

    def stop_all(self) -> None:
        for _, process in reversed(list(self.running)):
            self.stop(process, grace=3.0)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)  # the group we created with start_new_session: this process and its children


def lab_namespaces() -> list[str]:
    listing = run("ip", "netns", "list").stdout.split("\n")
    return [line.split()[0] for line in listing if line.startswith(PREFIX)]


def teardown() -> None:
    """Stop whatever still runs inside a lab namespace (their pids, one by one) and delete the namespaces."""
    for name in lab_namespaces():
        pids = run("ip", "netns", "pids", name, check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        run("ip", "netns", "del", name, check=False)
        shutil.rmtree(f"/etc/netns/{name}", ignore_errors=True)


def _netns_etc(name: str, resolver: str | None) -> None:
    """`ip netns exec` bind-mounts /etc/netns/NAME/* over /etc: each host gets the lab resolver."""
    folder = Path(f"/etc/netns/{name}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "resolv.conf").write_text(f"nameserver {resolver}\n" if resolver else "nameserver 127.0.0.1\n")


def _quiet_link(namespace: str, iface: str) -> None:
    # No segmentation offloads: frames on the switch are at most MTU-sized, as on a real wire.
    run("ethtool", "-K", iface, "tso", "off", "gso", "off", "gro", "off", namespace=namespace, check=False)


def build() -> None:
    teardown()
    for name in [SWITCH, INTERNET, *(ns(h.name) for h in LAN_HOSTS)]:
        run("ip", "netns", "add", name)
        run("ip", "link", "set", "lo", "up", namespace=name)
    run("ip", "link", "add", BRIDGE, "type", "bridge", "stp_state", "0", namespace=SWITCH)
    run("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", namespace=SWITCH)
    # Flood nothing stale: learn MACs fast, and forget them quickly enough that an ARP poisoning shows.
    run("ip", "link", "set", BRIDGE, "type", "bridge", "ageing_time", "3000", namespace=SWITCH)
    run("ip", "link", "set", BRIDGE, "up", namespace=SWITCH)
    for host in LAN_HOSTS:
        port = f"p-{host.name}"
        run("ip", "link", "add", port, "netns", SWITCH, "type", "veth", "peer", "name", "eth0", "netns", ns(host.name))
        run("ip", "link", "set", port, "master", BRIDGE, "up", namespace=SWITCH)
        _quiet_link(SWITCH, port)
        inside = ns(host.name)
        run("ip", "link", "set", "eth0", "address", host.mac, namespace=inside)
        run("ip", "addr", "add", f"{host.ip}/{LAN_PREFIX}", "dev", "eth0", namespace=inside)
        run("ip", "link", "set", "eth0", "up", namespace=inside)
        _quiet_link(inside, "eth0")
        if host.name != "gw":
            run("ip", "route", "add", "default", "via", HOSTS["gw"].ip, namespace=inside)
        _netns_etc(inside, HOSTS["dns"].ip)
    _build_uplink()
    _netns_etc(INTERNET, None)


def _build_uplink() -> None:
    gw = ns("gw")
    run("ip", "link", "add", "uplink", "netns", gw, "type", "veth", "peer", "name", "eth0", "netns", INTERNET)
    run("ip", "addr", "add", f"{UPLINK_GW}/30", "dev", "uplink", namespace=gw)
    run("ip", "link", "set", "uplink", "up", namespace=gw)
    run("ip", "route", "add", "default", "via", UPLINK_INET, namespace=gw)
    run("sysctl", "-qw", "net.ipv4.ip_forward=1", namespace=gw)
    # The router does not tell hosts about shorter paths: an ARP-poisoning attacker forwards via it.
    run("sysctl", "-qw", "net.ipv4.conf.all.send_redirects=0", namespace=gw)
    run("sysctl", "-qw", "net.ipv4.conf.eth0.send_redirects=0", namespace=gw)
    _quiet_link(gw, "uplink")
    run("ip", "addr", "add", f"{UPLINK_INET}/30", "dev", "eth0", namespace=INTERNET)
    run("ip", "link", "set", "eth0", "up", namespace=INTERNET)
    _quiet_link(INTERNET, "eth0")
    for address in EXTERNAL.values():
        run("ip", "addr", "add", f"{address}/32", "dev", "lo", namespace=INTERNET)
    # Only the lab LAN is reachable from the internet namespace; there is no default route anywhere else.
    run("ip", "route", "add", "10.77.0.0/24", "via", UPLINK_GW, namespace=INTERNET)
