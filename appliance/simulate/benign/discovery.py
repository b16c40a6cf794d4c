"""Traffic shaped like reconnaissance that is not: IT's asset inventory probing every machine's ports and
logging in to read what it runs, its scheduled discovery sweep over every subnet, a printer being installed
(a storm of broadcast and multicast discovery), Windows' NetBIOS browsing and name fall-back, and browsers
resolving dozens of names for one page (or random names, to detect DNS hijacking)."""

from __future__ import annotations

import functools
import random
import string
import struct

from appliance.simulate import conversations as talk
from appliance.simulate import frames
from appliance.simulate.benign.rhythm import Process, every, next_busy, powered_on, scheduled, working_hours
from appliance.simulate.capture import BROADCAST, Host
from appliance.simulate.office import DOMAIN, NETBIOS_DOMAIN
from appliance.simulate.protocols import discovery, smb, snmp, ssh, tls
from appliance.simulate.site import Site
from appliance.simulate.tcp import TcpConversation

INVENTORY_PORTS = (21, 22, 23, 25, 80, 135, 139, 443, 445, 515, 631, 1433, 2222, 3306, 3389, 5432, 5900, 5985,
                   8080, 9100, 22222)
INVENTORY_HOST_EVERY = 25.0  # one machine inventoried every ~25 s, round and round
SWEEP_EVERY, SWEEP_AT = 7200.0, 180.0  # the discovery sweep: every two hours at :03
SWEPT_SUBNETS = ("10.20.0.", "10.20.1.", "10.20.2.", "10.20.10.", "10.20.20.", "10.20.30.")
SWEEP_RATE = 60.0  # addresses per second
ANNOUNCE_EVERY = 720.0  # MS-BRWS: a host announcement every 12 minutes
PRINTER_INSTALL_EVERY = 3 * 3600.0
NETWORK_VIEW_EVERY = 4 * 3600.0
NAME_FALLBACK_EVERY = 3600.0
BUSY_PAGE_EVERY = 20 * 60.0
CHROME_PROBE_EVERY = 4 * 3600.0
FALLBACK_NAMES = ("wpad", "fileserv", "scanner", "printserver", "nas", "intranet-old")
AD_AND_CDN_NAMES = ("securepubads.g.doubleclick.net", "tpc.googlesyndication.com", "www.googletagmanager.com",
                    "connect.facebook.net", "static.xx.fbcdn.net", "c.amazon-adsystem.com", "cdn.cookielaw.org",
                    "js-agent.newrelic.com", "bat.bing.com", "stats.g.doubleclick.net", "cdn.jsdelivr.net",
                    "consent.cookiebot.com", "www.google-analytics.com", "fonts.gstatic.com")


def processes(site: Site) -> list[Process]:
    office = site.office
    out = [_inventory(site), _discovery_sweeps(site), _printer_installs(site), _network_views(site)]
    windows = [*office.workstations, office.engineering, office.inventory, office.dc, office.fileserver]
    for host in windows:
        rng = site.rng(f"benign:browser-announcement:{host.name}")
        out.append(every(rng, site.start + rng.random() * ANNOUNCE_EVERY, ANNOUNCE_EVERY, 0.01,
                         lambda ts, host=host: _announce(site, ts, host), functools.partial(powered_on, host)))
    for host in office.workstations:
        rng = site.rng(f"benign:names:{host.name}")
        out += [_name_fallbacks(site, rng, host), _busy_pages(site, rng, host), _chrome_probes(site, rng, host)]
    return out


# -- IT's asset inventory ----------------------------------------------------------------------------------
def _inventory(site: Site) -> Process:
    rng = site.rng("benign:inventory")
    office = site.office
    targets = [host for host in office.internal_hosts() if host is not office.inventory]
    rng.shuffle(targets)
    index = rng.randrange(len(targets))
    ts = site.start + rng.random() * INVENTORY_HOST_EVERY
    while True:
        yield ts
        target = targets[index % len(targets)]
        if powered_on(target, ts):
            _inventory_host(site, rng, ts, target)
        index += 1
        ts += INVENTORY_HOST_EVERY * rng.uniform(0.8, 1.2)


def _inventory_host(site: Site, rng: random.Random, ts: float, host: Host) -> None:
    """Ping, a TCP connect to each port of the scanner's list (open: handshake then close; closed: RST from
    Linux, silence from Windows' firewall and a retry), then the credentialed look: SSH into Linux machines,
    SMB into Windows ones, SNMP for printers, OT and the gateway."""
    office, capture = site.office, site.capture
    scanner = office.inventory
    ts = office.resolve(capture, ts, scanner, host)
    rest = struct.pack("!HH", rng.getrandbits(16), 1)
    capture.icmp(ts, scanner, host, 8, 0, rest, b"abcdefghijklmnopqrstuvwabcdefghi")
    capture.icmp(ts + 0.0004, host, scanner, 0, 0, rest, b"abcdefghijklmnopqrstuvwabcdefghi")
    listening = office.listening_ports(host)
    silent_when_closed = host.os == "windows"
    for port in INVENTORY_PORTS:
        ts += rng.uniform(0.02, 0.06)
        conv = TcpConversation(capture, rng, scanner, host, port, ts, sport=scanner.ephemeral_port(rng), rtt=0.0004)
        if port in listening:
            conv.open()
            conv.close(by_client=True)
        elif silent_when_closed:
            conv.half_open(answered=False)
            conv.segment(ts + 1.0, True, frames.SYN, options=frames.tcp_syn_options())
        else:
            conv.refused()
    ts += 1.2
    if host in office.managed_linux or host in office.linux_fleet:
        conv = site.tcp(rng, scanner, host, office.ssh_port(host), ts)
        session = ssh.SshSession(conv, rng, ssh.PUTTY_CLIENT).handshake()  # the scanner bundles plink's engine
        session.ask_methods("svc-inventory")
        session.password("svc-inventory", "Inv3ntory!Scan2026", accepted=True)
        for command in (b"uname -a", b"cat /etc/os-release", b"dpkg-query -W", b"ip -o addr"):
            session.open_session(command)
            session.stream(rng.randint(200, 40_000), to_server=False)
            session.finish_channel()
        conv.close(by_client=True)
    elif host.os == "windows":
        conv = site.tcp(rng, scanner, host, 445, ts).open()
        client = smb.SmbClient(conv, rng, smb.filetime(ts))
        client.log_on(NETBIOS_DOMAIN, DOMAIN, "svc-inventory", scanner.name.upper(), host.name.upper())
        client.transfer(f"\\\\{host.name}\\IPC$", "srvsvc", rng.randint(300, 900), write=False)
        conv.close(by_client=True)
    else:
        request_id = rng.getrandbits(31)
        port = scanner.ephemeral_port(rng)
        capture.udp(ts, scanner, host, port, snmp.PORT, snmp.get_request("public", request_id, snmp.HOST_OIDS))
        capture.udp(ts + 0.003, host, scanner, snmp.PORT, port,
                    snmp.response("public", request_id, snmp.HOST_OIDS, rng, 86_400 * 30))


def _discovery_sweeps(site: Site) -> Process:
    """Every address of every office subnet: ARP who-has (the live ones answer), then a ping to the live."""
    rng = site.rng("benign:discovery-sweep")
    office, capture = site.office, site.capture
    scanner = office.inventory
    live = {host.ip: host for host in office.internal_hosts()}
    ts = scheduled(site.start, SWEEP_EVERY, SWEEP_AT) + rng.uniform(0, 20)
    while True:
        yield ts
        for subnet in SWEPT_SUBNETS:
            for last in range(1, 255):
                address = subnet + str(last)
                if address == scanner.ip:
                    continue
                capture.arp(ts, 1, frames.BROADCAST_MAC, scanner.mac_bytes, scanner.ip_bytes, frames.ZERO_MAC,
                            frames.ip_to_bytes(address))
                owner = live.get(address)
                if owner is not None and powered_on(owner, ts):
                    capture.arp(ts + 0.0003, 2, scanner.mac_bytes, owner.mac_bytes, owner.ip_bytes,
                                scanner.mac_bytes, scanner.ip_bytes)
                    rest = struct.pack("!HH", 0x0200, last)
                    capture.icmp(ts + 0.0006, scanner, owner, 8, 0, rest, bytes(32))
                    capture.icmp(ts + 0.0009, owner, scanner, 0, 0, rest, bytes(32))
                ts += rng.expovariate(SWEEP_RATE)
        ts = scheduled(ts + 60, SWEEP_EVERY, SWEEP_AT) + rng.uniform(0, 20)


# -- printers and Windows' neighbourhood ---------------------------------------------------------------------
def _printer_installs(site: Site) -> Process:
    rng = site.rng("benign:printer-install")
    ts = next_busy(rng, site.start, PRINTER_INSTALL_EVERY)
    while True:
        yield ts
        if working_hours(ts):
            _printer_storm(site, rng, ts, rng.choice(site.office.workstations))
        ts = next_busy(rng, ts, PRINTER_INSTALL_EVERY)


def _printer_storm(site: Site, rng: random.Random, ts: float, host: Host) -> None:
    """The Add Printer wizard: SSDP, WS-Discovery, mDNS and an SNMP broadcast, each repeated; the printers
    answer; then the wizard probes each one found on its print ports."""
    office, capture = site.office, site.capture
    port = host.ephemeral_port(rng)
    for attempt in range(3):
        at = ts + attempt * 1.0
        for target in ("urn:schemas-upnp-org:device:Printer:1", "ssdp:all"):
            capture.udp(at, host, discovery.SSDP_GROUP, port, discovery.SSDP_PORT, discovery.ssdp_search(target))
        capture.udp(at + 0.01, host, discovery.SSDP_GROUP, port + 1, discovery.WSD_PORT,
                    discovery.wsd_probe(f"{rng.getrandbits(128):032x}"))
        for service in ("_ipp._tcp.local", "_pdl-datastream._tcp.local", "_printer._tcp.local"):
            capture.udp(at + 0.02, host, discovery.MDNS_GROUP, discovery.MDNS_PORT, discovery.MDNS_PORT,
                        discovery.mdns_query(service))
        capture.udp(at + 0.03, host, BROADCAST, port + 2, snmp.PORT,
                    snmp.get_request("public", rng.getrandbits(31), (snmp.SYS_UPTIME,)))
        for printer in office.printers:
            capture.udp(at + 0.004, printer, host, discovery.SSDP_PORT, port,
                        discovery.ssdp_answer("urn:schemas-upnp-org:device:Printer:1",
                                              f"http://{printer.ip}:80/description.xml", f"{printer.mac}-printer"))
            capture.udp(at + 0.025, printer, discovery.MDNS_GROUP, discovery.MDNS_PORT, discovery.MDNS_PORT,
                        discovery.mdns_announcement("_ipp._tcp.local", printer.name))
    ts += 3.5
    for printer in office.printers:
        for printer_port in (9100, 631, 80):
            conv = site.tcp(rng, host, printer, printer_port, ts).open()
            if printer_port == 80:
                conv.client_sends(b"GET / HTTP/1.1\r\nHost: " + printer.ip.encode() + b"\r\n\r\n")
                conv.server_sends(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            conv.close(by_client=True)
            ts = conv.ts + 0.05


def _announce(site: Site, ts: float, host: Host) -> None:
    uptime_ms = int((ts - site.start) * 1000) & 0xFFFF
    site.capture.udp(ts, host, discovery.SUBNET_BROADCAST, discovery.NETBIOS_DATAGRAM_PORT,
                     discovery.NETBIOS_DATAGRAM_PORT, discovery.host_announcement(host, NETBIOS_DOMAIN, uptime_ms))


def _name_fallbacks(site: Site, rng: random.Random, host: Host) -> Process:
    """A short name the DNS does not know: Windows tries LLMNR (multicast) and NetBIOS (broadcast) too."""
    ts = next_busy(rng, site.start, NAME_FALLBACK_EVERY)
    while True:
        yield ts
        name = rng.choice(FALLBACK_NAMES)
        talk.dns_lookup(site, rng, ts, host, f"{name}.{DOMAIN}", rcode=3, rdatas=[])
        port = host.ephemeral_port(rng)
        for attempt in range(2):
            site.capture.udp(ts + 0.002 + attempt * 0.1, host, discovery.LLMNR_GROUP, port, discovery.LLMNR_PORT,
                             discovery.llmnr_query(rng.getrandbits(16), name))
        txid = rng.getrandbits(16)
        for attempt in range(3):
            site.capture.udp(ts + 0.21 + attempt * 0.75, host, discovery.SUBNET_BROADCAST, discovery.NBNS_PORT,
                             discovery.NBNS_PORT, discovery.nbns_query(txid, name))
        ts = next_busy(rng, ts + 3, NAME_FALLBACK_EVERY)


def _network_views(site: Site) -> Process:
    """Someone opens "Network" in Explorer and looks into a few machines' shares (SMB, IPC$)."""
    rng = site.rng("benign:network-view")
    office = site.office
    ts = next_busy(rng, site.start, NETWORK_VIEW_EVERY)
    while True:
        yield ts
        if working_hours(ts):
            host = rng.choice(office.workstations)
            peers = [*rng.sample([peer for peer in office.workstations if peer is not host], 3), office.fileserver]
            for peer in peers:
                conv = site.tcp(rng, host, peer, 445, ts).open()
                client = smb.SmbClient(conv, rng, smb.filetime(ts))
                client.log_on(NETBIOS_DOMAIN, DOMAIN, "u." + host.name.replace("-", ""), host.name.upper(),
                              peer.name.upper())
                client.transfer(f"\\\\{peer.name}\\IPC$", "srvsvc", rng.randint(200, 700), write=False)
                conv.close(by_client=True)
                ts = conv.ts + rng.uniform(1, 8)
        ts = next_busy(rng, ts, NETWORK_VIEW_EVERY)


# -- browsers' DNS ---------------------------------------------------------------------------------------
def _busy_pages(site: Site, rng: random.Random, host: Host) -> Process:
    """A news page: dozens of names resolved within two seconds, many of them random-looking CDN names."""
    ts = next_busy(rng, site.start, BUSY_PAGE_EVERY)
    while True:
        yield ts
        if working_hours(ts):
            names = rng.sample(AD_AND_CDN_NAMES, rng.randint(6, len(AD_AND_CDN_NAMES)))
            names += [f"d{rng.getrandbits(52):013x}"[:14] + ".cloudfront.net" for _ in range(rng.randint(5, 14))]
            names += [f"e{rng.randint(1000, 9999)}.dscx.akamaiedge.net" for _ in range(rng.randint(2, 8))]
            at = ts
            for name in names:
                at = talk.dns_lookup(site, rng, at, host, name) + rng.uniform(0.005, 0.08)
            for name in rng.sample(names, 4):
                exchange = (rng.randint(400, 900), rng.randint(2_000, 90_000))
                talk.https_visit(site, rng, at, host, name, tls.CHROME, [exchange], lookup=False)
        ts = next_busy(rng, ts + 5, BUSY_PAGE_EVERY)


def _chrome_probes(site: Site, rng: random.Random, host: Host) -> Process:
    """Chrome's check for DNS hijacking at start-up: three random one-label names, each tried with the
    office's search suffix, all NXDOMAIN."""
    ts = next_busy(rng, site.start, CHROME_PROBE_EVERY)
    while True:
        yield ts
        for _ in range(3):
            label = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(7, 15)))
            talk.dns_lookup(site, rng, ts, host, f"{label}.{DOMAIN}", rcode=3, rdatas=[])
            ts += rng.uniform(0.001, 0.02)
        ts = next_busy(rng, ts, CHROME_PROBE_EVERY)
