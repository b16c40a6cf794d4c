"""The office's ordinary day: workstations browse, read mail, use shares and print; admins SSH into
servers; the intranet queries its database; the engineering station polls the OT devices.

Activity follows the clock (busy 08-18 on weekdays, a lunch dip, near silence at night) and sizes are
heavy-tailed (Pareto), as measured on real enterprise networks."""

from __future__ import annotations

import math
import random
import time

from appliance.simulate import conversations as talk
from appliance.simulate.capture import Host
from appliance.simulate.internet import LINUX_UPDATE_HOSTS, POPULAR_DOMAINS, WINDOWS_UPDATE_HOSTS
from appliance.simulate.office import DOMAIN
from appliance.simulate.protocols import bacnet, dnp3, http, mail, modbus, postgres, tls
from appliance.simulate.site import Site

WORKSTATION_MEAN_GAP = 20.0  # seconds between a busy user's actions at the peak of the day
UPDATE_EVERY = 2 * 3600.0  # mean seconds between one machine's update downloads
PRINT_PORT = 9100


def diurnal(ts: float) -> float:
    """How busy the office is at `ts` (UTC), from 0.02 at night to 1.0 at mid-morning."""
    moment = time.gmtime(ts)
    if moment.tm_wday >= 5:
        return 0.03
    hour = moment.tm_hour + moment.tm_min / 60
    if 8 <= hour < 12 or 13 <= hour < 17:
        return 1.0
    if 12 <= hour < 13:
        return 0.55
    if 7 <= hour < 8 or 17 <= hour < 19:
        return 0.35
    return 0.02


def _happens(rng: random.Random, site: Site, mean_interval: float) -> bool:
    """Whether a Poisson event with that mean interval falls within the capture."""
    return rng.random() < 1 - math.exp(-site.capture.duration / mean_interval)


def heavy_tail(rng: random.Random, scale: int, cap: int, alpha: float = 1.3) -> int:
    return min(cap, int(scale * rng.paretovariate(alpha)))


def generate(site: Site) -> None:
    for workstation in site.office.workstations:
        _workstation(site, workstation)
    _intranet_database(site)
    _server_housekeeping(site)
    _engineering_polls(site)


# -- workstations -----------------------------------------------------------------------------------
def _workstation(site: Site, host: Host) -> None:
    rng = site.rng(f"benign:{host.name}")
    profile = rng.choice((tls.CHROME, tls.CHROME, tls.FIREFOX))
    user = "u." + host.name.replace("-", "")
    ts = site.start + rng.expovariate(diurnal(site.start) / WORKSTATION_MEAN_GAP)
    if diurnal(site.start) > 0.5 and rng.random() < 0.3:
        ts = _boot(site, rng, ts + rng.random() * site.capture.duration * 0.15, host, user)
    update_at = site.start + rng.random() * site.capture.duration if _happens(rng, site, UPDATE_EVERY) else None
    activities = (
        _browse,
        _browse,
        _browse,
        _browse,
        _intranet,
        _file_share,
        _mail,
        _service_ticket,
        _directory,
        _print,
    )
    if host in site.office.admins:
        activities += (_admin_ssh, _admin_ssh)
    while ts < site.end:
        if update_at is not None and ts >= update_at:
            ts = _windows_update(site, rng, ts, host)
            update_at = None
        activity = rng.choice(activities)
        ts = max(ts, activity(site, rng, ts, host, profile, user))
        ts += rng.expovariate(diurnal(ts) / WORKSTATION_MEAN_GAP)


def _boot(site: Site, rng: random.Random, ts: float, host: Host, user: str) -> float:
    ts = talk.dhcp_boot(site, rng, ts, host)
    ts = talk.dns_lookup(site, rng, ts, host, f"_ldap._tcp.dc._msdcs.{DOMAIN}", qtype=33, rdatas=[])
    ts = talk.find_domain_controller(site, rng, ts, host)
    ts = talk.ntp_sync(site, rng, ts + 0.5, host, site.office.dc)
    ts = talk.kerberos_logon(site, rng, ts + 0.2, host, user)
    ts = talk.service_ticket(site, rng, ts + 0.1, host, user, "ldap/dc01." + DOMAIN)
    ts = talk.read_root_dse(site, rng, ts + 0.05, host)
    ts = talk.service_ticket(site, rng, ts + 0.1, host, user, "cifs/dc01." + DOMAIN)
    return talk.smb_file(
        site,
        rng,
        ts + 0.1,
        host,
        user,
        site.office.dc,
        "SYSVOL",
        f"{DOMAIN}\\Policies\\gpt.ini",
        rng.randint(60, 4000),
        write=False,
    )


def _browse(site: Site, rng: random.Random, ts: float, host: Host, profile: tls.ClientProfile, user: str) -> float:
    rank = min(int(rng.paretovariate(0.9)) - 1, len(POPULAR_DOMAINS) - 1)  # Zipf-like popularity
    exchanges = [(rng.randint(300, 1500), heavy_tail(rng, 8000, 3_000_000)) for _ in range(rng.randint(1, 5))]
    return talk.https_visit(site, rng, ts, host, POPULAR_DOMAINS[rank], profile, exchanges)


def _intranet(site: Site, rng: random.Random, ts: float, host: Host, profile: tls.ClientProfile, user: str) -> float:
    name = f"intranet.{DOMAIN}"
    ts = talk.dns_lookup(site, rng, ts, host, name)
    pages = [
        (
            "GET",
            rng.choice(("/", "/news", "/hr/holidays", "/it/tickets", "/wiki/Onboarding")),
            heavy_tail(rng, 6000, 400_000),
        )
        for _ in range(rng.randint(1, 4))
    ]
    return talk.http_exchange(
        site, rng, ts, host, site.office.intranet, name, pages, rng.choice(http.BROWSER_USER_AGENTS)
    )


def _file_share(site: Site, rng: random.Random, ts: float, host: Host, profile: tls.ClientProfile, user: str) -> float:
    write = rng.random() < 0.25
    size = heavy_tail(rng, 30_000, 12_000_000, alpha=1.1)
    filename = rng.choice(
        (
            "Projekte\\Angebot_2026.docx",
            "Finanzen\\Budget.xlsx",
            "Vorlagen\\Brief.dotx",
            "Technik\\Zeichnung_A4.pdf",
            "Vertrieb\\Kunden.xlsx",
        )
    )
    return talk.smb_file(site, rng, ts, host, user, site.office.fileserver, "Daten", filename, size, write)


def _mail(site: Site, rng: random.Random, ts: float, host: Host, profile: tls.ClientProfile, user: str) -> float:
    """IMAP check (STARTTLS on 143) or a submission over SMTP (STARTTLS on 587): never a clear login."""
    server = site.office.mail
    submit = rng.random() < 0.3
    conv = site.tcp(rng, host, server, 587 if submit else 143, ts).open()
    lines = mail.smtp_starttls(DOMAIN, server.name) if submit else mail.imap_starttls(server.name)
    mail.dialogue(conv, lines)
    upload = heavy_tail(rng, 4000, 8_000_000) if submit else rng.randint(200, 600)
    download = rng.randint(300, 900) if submit else heavy_tail(rng, 3000, 5_000_000)
    tls.handshake_and_exchange(conv, rng, f"{server.name}.{DOMAIN}", tls.SCHANNEL, [(upload, download)])
    conv.close(by_client=True)
    return conv.ts


def _directory(site: Site, rng: random.Random, ts: float, host: Host, profile: tls.ClientProfile, user: str) -> float:
    """Group policy refresh and address-book lookups: a DC ping, then an LDAP session."""
    ts = talk.find_domain_controller(site, rng, ts, host)
    return talk.read_root_dse(site, rng, ts, host)


def _service_ticket(
    site: Site, rng: random.Random, ts: float, host: Host, profile: tls.ClientProfile, user: str
) -> float:
    service = rng.choice(
        (f"cifs/fs01.{DOMAIN}", f"HTTP/intranet.{DOMAIN}", f"ldap/dc01.{DOMAIN}", f"imap/mail01.{DOMAIN}")
    )
    return talk.service_ticket(site, rng, ts, host, user, service)


def _print(site: Site, rng: random.Random, ts: float, host: Host, profile: tls.ClientProfile, user: str) -> float:
    printer = rng.choice(site.office.printers)
    job = (
        b'\x1b%-12345X@PJL JOB NAME="Document"\r\n@PJL SET USERNAME="'
        + user.encode()
        + b'"\r\n@PJL ENTER LANGUAGE=PCL\r\n'
        + site.capture.filler(heavy_tail(rng, 20_000, 3_000_000), rng.getrandbits(17))
        + b"\x1b%-12345X@PJL EOJ\r\n\x1b%-12345X"
    )
    conv = site.tcp(rng, host, printer, PRINT_PORT, ts).open()
    conv.client_sends(job)
    conv.close(by_client=True)
    return conv.ts


def _admin_ssh(site: Site, rng: random.Random, ts: float, host: Host, profile: tls.ClientProfile, user: str) -> float:
    server = rng.choice(site.office.linux_servers)
    return talk.ssh_session(site, rng, ts, host, server, keystrokes=rng.randint(5, 60))


def _windows_update(site: Site, rng: random.Random, ts: float, host: Host) -> float:
    name = rng.choice(WINDOWS_UPDATE_HOSTS)
    ts = talk.dns_lookup(site, rng, ts, host, name)
    size = heavy_tail(rng, 2_000_000, 25_000_000, alpha=1.2)
    uri = f"/d/msdownload/update/software/secu/2026/03/windows10.0-kb50{rng.randint(10000, 99999)}-x64.cab"
    return talk.http_exchange(
        site,
        rng,
        ts,
        host,
        site.host_for(name),
        name,
        [("GET", uri, size)],
        "Microsoft-Delivery-Optimization/10.0",
        content_type="application/octet-stream",
    )


# -- servers ----------------------------------------------------------------------------------------
def _intranet_database(site: Site) -> None:
    """The intranet keeps one connection to the database and queries it whenever pages are served."""
    rng = site.rng("benign:intranet-db")
    office = site.office
    conv = site.tcp(rng, office.intranet, office.database, postgres.PORT, site.start + rng.random()).open()
    while conv.ts < site.end:
        rows = [
            [str(rng.randint(1, 99999)).encode(), site.capture.filler(rng.randint(20, 400), i)]
            for i in range(heavy_tail(rng, 2, 400))
        ]
        conv.client_sends(
            postgres.query("SELECT id, body FROM pages WHERE path = $1 LIMIT 50"),
            think=rng.expovariate(diurnal(conv.ts) / 3.0),
        )
        conv.server_sends(postgres.result(["id", "body"], rows), processing=0.0008)


def _server_housekeeping(site: Site) -> None:
    rng = site.rng("benign:servers")
    office = site.office
    ts = site.start + rng.random() * 60
    while ts < site.end:  # the DC keeps the domain's time from the public pool
        talk.dc_ntp_upstream(site, rng, ts)
        ts += 256 + rng.random() * 10
    for server in office.linux_servers:
        if _happens(rng, site, UPDATE_EVERY):
            _apt_update(site, rng, site.start + rng.random() * site.capture.duration, server)
        ts = site.start + rng.random() * 120
        while ts < site.end:  # chrony on each Linux server polls the DC
            talk.ntp_sync(site, rng, ts, server, office.dc)
            ts += 128 + rng.random() * 8
    _mail_relay(site, rng)


def _apt_update(site: Site, rng: random.Random, ts: float, server: Host) -> None:
    name = rng.choice(LINUX_UPDATE_HOSTS)
    ts = talk.dns_lookup(site, rng, ts, server, name)
    requests = [
        ("GET", "/debian/dists/bookworm/InRelease", 151_000),
        ("GET", "/debian/dists/bookworm/main/binary-amd64/Packages.xz", heavy_tail(rng, 300_000, 9_000_000)),
    ]
    talk.http_exchange(
        site,
        rng,
        ts,
        server,
        site.host_for(name),
        name,
        requests,
        "Debian APT-HTTP/1.3 (2.6.1)",
        content_type="application/octet-stream",
    )


def _mail_relay(site: Site, rng: random.Random) -> None:
    """Mail between the office's server and other domains' MX hosts on port 25, upgraded with STARTTLS."""
    office = site.office
    ts = site.start + rng.expovariate(1 / 40)
    while ts < site.end:
        peer = office.internet.host(
            rng.choice(("mx1.partner-gmbh.example", "mail.supplier.example", "mx.customer-sa.example"))
        )
        inbound = rng.random() < 0.6
        client, server = (peer, office.mail) if inbound else (office.mail, peer)
        conv = site.tcp(rng, client, server, 25, ts).open()
        mail.dialogue(conv, mail.smtp_starttls(DOMAIN, server.name))
        tls.handshake_and_exchange(
            conv, rng, server.name, tls.PYTHON_REQUESTS, [(heavy_tail(rng, 5000, 6_000_000), 400)]
        )
        conv.close(by_client=True)
        ts = conv.ts + rng.expovariate(diurnal(ts) / 40)


# -- OT ----------------------------------------------------------------------------------------------
def _engineering_polls(site: Site) -> None:
    """The engineering station reads the PLC every second, the RTU every five, the BMS every ten. Reads
    only: writes from anyone are what OT_UNAUTHORIZED_WRITE scenarios add."""
    rng = site.rng("benign:ot")
    office = site.office
    station = office.engineering
    plc = site.tcp(rng, station, office.plc, modbus.PORT, site.start + rng.random()).open()
    transaction = rng.randint(0, 1000)
    while plc.ts < site.end:
        transaction += 1
        function = modbus.READ_COILS if transaction % 5 == 0 else modbus.READ_HOLDING_REGISTERS
        count = 16 if function == modbus.READ_COILS else 10
        plc.client_sends(
            modbus.adu(transaction, 1, modbus.read_request(function, 0, count)), think=1.0 + rng.gauss(0, 0.01)
        )
        values = [rng.randint(0, 1 if function == modbus.READ_COILS else 4000) for _ in range(count)]
        plc.server_sends(modbus.adu(transaction, 1, modbus.read_response(function, values)), processing=0.004)

    rtu = site.tcp(rng, station, office.rtu, dnp3.PORT, site.start + rng.random()).open()
    sequence = 0
    while rtu.ts < site.end:
        sequence += 1
        request = dnp3.application_request(sequence, dnp3.READ, dnp3.CLASS_0_POLL)
        rtu.client_sends(dnp3.frame(10, 1, request, from_master=True), think=5.0 + rng.gauss(0, 0.02))
        points = dnp3.analog_points([rng.randint(0, 3000) for _ in range(4)])
        rtu.server_sends(
            dnp3.frame(1, 10, dnp3.application_response(sequence, points), from_master=False), processing=0.01
        )

    ts = office.resolve(site.capture, site.start + rng.random() * 10, station, office.bms)
    invoke = 0
    while ts < site.end:
        invoke += 1
        site.capture.udp(
            ts, station, office.bms, bacnet.PORT, bacnet.PORT, bacnet.read_property(invoke, bacnet.ANALOG_INPUT, 1)
        )
        site.capture.udp(
            ts + 0.006,
            office.bms,
            station,
            bacnet.PORT,
            bacnet.PORT,
            bacnet.read_property_ack(invoke, bacnet.ANALOG_INPUT, 1, 20.0 + rng.random() * 3),
        )
        ts += 10.0 + rng.gauss(0, 0.05)
