"""The simulated site: one flat 10.20.0.0/16 LAN behind a gateway, with servers, workstations,
printers and a small OT cell, the IT department's own machines (monitoring, automation, backup, asset
inventory) and a fleet of Linux VMs they administer, plus what the LAN needs to talk (ARP resolution)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from appliance.simulate import frames
from appliance.simulate.capture import Capture, Host
from appliance.simulate.internet import Internet

INTERNAL_NETWORK = "10.20.0.0/16"
DOMAIN = "corp.example"
REALM = "CORP.EXAMPLE"
NETBIOS_DOMAIN = "CORP"
ARP_CACHE_SECONDS = 120.0
WORKSTATION_POOL = "10.20.10."  # DHCP scope 10.20.10.100-250
ALTERNATE_SSH_PORT = 2222  # git01's own sshd (its Git service has port 22)
CONTAINER_SSH_PORT = 22222  # docker02 publishes a build container's sshd here
# Services that listen where nobody would look for them by port number alone.
UNUSUAL_PORTS = {
    "app01": {3307},  # a second MariaDB instance
    "app02": {2121},  # vsftpd for a legacy supplier exchange
    "mail01": {10110, 10143},  # POP3 and IMAP behind a mail proxy
    "fs01": {4455},  # SMB on an alternative port (Windows Server 2025)
    "inv01": {3390},  # RDP moved off 3389
    "db01": {5433},  # a second PostgreSQL cluster
    "eng-01": {5901},  # VNC display :1 for remote support of the engineering station
    "bms-01": {2323},  # the building controller's service telnet
}
FLEET = ("app01", "app02", "web01", "git01", "ci01", "docker01", "docker02", "wiki01", "log01", "sftp01")

# Vendor prefixes (OUIs) so MACs look like the hardware an office buys.
OUI = {
    "cisco": "00:1b:54",
    "vmware": "00:50:56",
    "dell": "f8:bc:12",
    "lenovo": "54:ee:75",
    "hp": "3c:52:82",
    "brother": "00:80:77",
    "siemens": "00:1b:1b",
    "schneider": "00:80:f4",
    "raspberry": "dc:a6:32",
}


def random_mac(rng: random.Random, vendor: str) -> str:
    return OUI[vendor] + "".join(f":{rng.randrange(256):02x}" for _ in range(3))


@dataclass
class Office:
    gateway: Host
    dc: Host  # DNS, Kerberos KDC, LDAP, DHCP, NTP
    fileserver: Host
    mail: Host
    intranet: Host
    database: Host
    printers: list[Host]
    workstations: list[Host]
    admins: list[Host]  # workstations whose users administer the Linux servers over SSH
    engineering: Host  # the one host allowed to talk to (and write to) the OT devices
    plc: Host  # Modbus/TCP
    rtu: Host  # DNP3
    bms: Host  # BACnet/IP building controller
    internet: Internet
    monitoring: Host  # polls every device every minute (ICMP, SNMP, HTTP), as Zabbix or PRTG do
    automation: Host  # runs Ansible playbooks over SSH against every Linux host
    backup: Host  # pulls the Linux hosts' data over SSH at night and ships it to an offsite provider
    inventory: Host  # IT's asset inventory scanner (Lansweeper-like): probes every address, every few hours
    linux_fleet: list[Host]  # application VMs; sftp01 among them is published to partners on the internet
    _arp_resolved: dict[tuple[str, str], float] = field(default_factory=dict, init=False, repr=False)

    @property
    def servers(self) -> list[Host]:
        return [self.dc, self.fileserver, self.mail, self.intranet, self.database]

    @property
    def linux_servers(self) -> list[Host]:
        return [host for host in self.servers if host.os == "linux"]

    @property
    def ot_devices(self) -> list[Host]:
        return [self.plc, self.rtu, self.bms]

    @property
    def it_hosts(self) -> list[Host]:
        return [self.monitoring, self.automation, self.backup, self.inventory]

    @property
    def managed_linux(self) -> list[Host]:
        """Every Linux machine IT administers over SSH (Ansible's inventory, the backup's sources)."""
        return [*self.linux_servers, *self.linux_fleet, self.monitoring, self.backup]

    @property
    def developer(self) -> Host:
        """The one workstation whose user runs developer tools (and their own polling)."""
        return self.workstations[2]

    @property
    def sftp(self) -> Host:
        return self.linux_fleet[-1]

    @property
    def git(self) -> Host:
        """Runs a Git service on port 22, so the host's own sshd listens on 2222."""
        return self.linux_fleet[3]

    @property
    def containers(self) -> Host:
        return self.linux_fleet[6]

    def ssh_port(self, host: Host) -> int:
        if host is self.git:
            return ALTERNATE_SSH_PORT
        return CONTAINER_SSH_PORT if host is self.containers else 22

    def listening_ports(self, host: Host) -> set[int]:
        """The TCP ports a host answers on (what a scan or an inventory finds open)."""
        return self._usual_ports(host) | UNUSUAL_PORTS.get(host.name, set())

    def _usual_ports(self, host: Host) -> set[int]:
        if host is self.dc:
            return {53, 88, 135, 139, 389, 445, 464, 636, 3268, 3389, 5985}
        if host in (self.fileserver, self.inventory):
            return {135, 139, 445, 3389, 5985}
        if host is self.mail:
            return {22, 25, 110, 143, 587, 993}
        if host in (self.intranet, self.database):
            return {22, 80, 443, 5432}
        if host is self.git:
            return {22, 80, 443, ALTERNATE_SSH_PORT}
        if host is self.containers:
            return {22, 80, 443, CONTAINER_SSH_PORT}
        if host in self.linux_fleet or host in (self.monitoring, self.automation, self.backup):
            return {22, 80, 443}
        if host.role == "printer":
            return {21, 23, 80, 443, 515, 631, 9100}
        if host.role == "gateway":
            return {22, 443}
        if host.role == "ot":
            return {502, 20000}
        return {135, 139, 445}

    def internal_hosts(self) -> list[Host]:
        return [
            self.gateway,
            *self.servers,
            *self.printers,
            *self.workstations,
            self.engineering,
            *self.ot_devices,
            *self.it_hosts,
            *self.linux_fleet,
        ]

    def unused_address(self, rng: random.Random) -> str:
        taken = {host.ip for host in self.internal_hosts()}
        while True:
            candidate = WORKSTATION_POOL + str(rng.randint(100, 250))
            if candidate not in taken:
                return candidate

    def resolve(self, capture: Capture, ts: float, src: Host, dst: Host) -> float:
        """ARP for the next hop if the sender has no fresh entry; return when the frame can leave. Traffic
        from the internet is sent on the LAN by the gateway, so the gateway is the one that asks."""
        asker = self.gateway if src.role == "external" else src
        next_hop = self.gateway if dst.role == "external" else dst
        key = (asker.ip, next_hop.ip)
        last = self._arp_resolved.get(key)
        if asker is next_hop or (last is not None and abs(ts - last) < ARP_CACHE_SECONDS):
            return ts
        self._arp_resolved[key] = ts
        self._arp_resolved[(next_hop.ip, asker.ip)] = ts  # the answerer learns the asker too
        capture.arp(ts, 1, frames.BROADCAST_MAC, asker.mac_bytes, asker.ip_bytes, frames.ZERO_MAC, next_hop.ip_bytes)
        capture.arp(ts + 0.0002, 2, asker.mac_bytes, next_hop.mac_bytes, next_hop.ip_bytes, asker.mac_bytes,
                    asker.ip_bytes)
        return ts + 0.0004


def build_office(seed: int) -> Office:
    """The office of a seed: the same hosts and roles in every scenario and segment generated with it.
    12-28 workstations (the count depends on the seed), fixed servers, two printers, the OT cell, IT's
    machines and the Linux fleet."""
    rng = random.Random(f"{seed}:office")
    gateway = Host("gw", "10.20.0.1", random_mac(rng, "cisco"), ttl=255, os="router", role="gateway")

    def server(name: str, ip: str, os: str = "linux") -> Host:
        return Host(name, ip, random_mac(rng, "vmware"), ttl=128 if os == "windows" else 64, os=os, role="server")

    workstation_count = rng.randint(12, 28)
    addresses = rng.sample(range(100, 251), workstation_count)
    workstations = [
        Host(
            f"ws-{index + 1:02d}",
            f"{WORKSTATION_POOL}{address}",
            random_mac(rng, rng.choice(("dell", "lenovo", "hp"))),
            ttl=128,
            os="windows",
            role="workstation",
        )
        for index, address in enumerate(addresses)
    ]
    site_hosts = dict(
        dc=server("dc01", "10.20.1.10", "windows"),
        fileserver=server("fs01", "10.20.1.20", "windows"),
        mail=server("mail01", "10.20.1.25"),
        intranet=server("intranet", "10.20.1.30"),
        database=server("db01", "10.20.1.40"),
        printers=[
            Host(
                f"prn-{i + 1}",
                f"10.20.20.{10 + i}",
                random_mac(rng, rng.choice(("hp", "brother"))),
                ttl=64,
                os="printer",
                role="printer",
            )
            for i in range(2)
        ],
        engineering=Host("eng-01", "10.20.30.5", random_mac(rng, "dell"), ttl=128, os="windows", role="engineering"),
        plc=Host("plc-01", "10.20.30.20", random_mac(rng, "siemens"), ttl=30, os="plc", role="ot"),
        rtu=Host("rtu-01", "10.20.30.21", random_mac(rng, "schneider"), ttl=64, os="plc", role="ot"),
        bms=Host("bms-01", "10.20.30.22", random_mac(rng, "siemens"), ttl=64, os="plc", role="ot"),
    )
    # Drawn after everything above, so the hosts an office had before IT's machines came keep their MACs.
    return Office(
        gateway=gateway,
        workstations=workstations,
        admins=workstations[:2],
        internet=Internet(gateway.mac),
        **site_hosts,
        monitoring=server("mon01", "10.20.1.50"),
        automation=server("ansible01", "10.20.1.60"),
        backup=server("backup01", "10.20.1.70"),
        inventory=server("inv01", "10.20.1.80", "windows"),
        linux_fleet=[server(name, f"10.20.2.{11 + index}") for index, name in enumerate(FLEET)],
    )
