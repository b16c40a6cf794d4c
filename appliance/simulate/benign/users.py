"""People at their desks: workstations browse, read mail, use shares and print; admins log in to servers.

Activity follows the clock (busy 08-18 on weekdays, a lunch dip, near silence at night) and sizes are
heavy-tailed."""

from __future__ import annotations

import random

from appliance.simulate import conversations as talk
from appliance.simulate.benign import administration
from appliance.simulate.benign.rhythm import Process, diurnal, heavy_tail
from appliance.simulate.capture import Host
from appliance.simulate.internet import POPULAR_DOMAINS, QUIC_DOMAINS, WINDOWS_UPDATE_HOSTS
from appliance.simulate.office import DOMAIN
from appliance.simulate.protocols import http, mail, tls
from appliance.simulate.site import Site

WORKSTATION_MEAN_GAP = 20.0  # seconds between a busy user's actions at the peak of the day
UPDATE_EVERY = 2 * 3600.0  # mean seconds between one machine's update downloads
BOOT_WITHIN = 90.0  # a workstation switched on as the capture begins boots within this many seconds
PRINT_PORT = 9100


def processes(site: Site) -> list[Process]:
    return [_workstation(site, host) for host in site.office.workstations]


def user_of(host: Host) -> str:
    return "u." + host.name.replace("-", "")


def _workstation(site: Site, host: Host) -> Process:
    rng = site.rng(f"benign:{host.name}")
    profile = rng.choice((tls.CHROME, tls.CHROME, tls.FIREFOX))
    user = user_of(host)
    ts = site.start + rng.expovariate(diurnal(site.start) / WORKSTATION_MEAN_GAP)
    if diurnal(site.start) > 0.5 and rng.random() < 0.3:
        # Within the first 15 % of a short capture, so its DHCP server is known before anything else offers.
        ts = _boot(site, rng, ts + rng.random() * min(BOOT_WITHIN, site.capture.duration * 0.15), host, user)
    next_update = site.start + rng.expovariate(1 / UPDATE_EVERY)
    activities = (_browse, _browse, _browse, _browse, _intranet, _file_share, _mail, _service_ticket, _directory,
                  _print)
    if host in site.office.admins:
        activities += (_admin, _admin)
    while True:
        yield ts
        if ts >= next_update:
            ts = _windows_update(site, rng, ts, host)
            next_update = ts + rng.expovariate(1 / UPDATE_EVERY)
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
        site, rng, ts + 0.1, host, user, site.office.dc, "SYSVOL", f"{DOMAIN}\\Policies\\gpt.ini",
        rng.randint(60, 4000), write=False,
    )


def _browse(site: Site, rng: random.Random, ts: float, host: Host, profile: tls.ClientProfile, user: str) -> float:
    rank = min(int(rng.paretovariate(0.9)) - 1, len(POPULAR_DOMAINS) - 1)  # Zipf-like popularity
    exchanges = [(rng.randint(300, 1500), heavy_tail(rng, 8000, 3_000_000)) for _ in range(rng.randint(1, 5))]
    name = POPULAR_DOMAINS[rank]
    if profile is tls.CHROME and name in QUIC_DOMAINS and rng.random() < 0.6:
        profile = tls.CHROME_QUIC
    return talk.https_visit(site, rng, ts, host, name, profile, exchanges)


def _intranet(site: Site, rng: random.Random, ts: float, host: Host, profile: tls.ClientProfile, user: str) -> float:
    name = f"intranet.{DOMAIN}"
    ts = talk.dns_lookup(site, rng, ts, host, name)
    pages = [
        ("GET", rng.choice(("/", "/news", "/hr/holidays", "/it/tickets", "/wiki/Onboarding")),
         heavy_tail(rng, 6000, 400_000))
        for _ in range(rng.randint(1, 4))
    ]
    return talk.http_exchange(
        site, rng, ts, host, site.office.intranet, name, pages, rng.choice(http.BROWSER_USER_AGENTS)
    )


def _file_share(site: Site, rng: random.Random, ts: float, host: Host, profile: tls.ClientProfile, user: str) -> float:
    write = rng.random() < 0.25
    size = heavy_tail(rng, 30_000, 12_000_000, alpha=1.1)
    filename = rng.choice(("Projekte\\Angebot_2026.docx", "Finanzen\\Budget.xlsx", "Vorlagen\\Brief.dotx",
                           "Technik\\Zeichnung_A4.pdf", "Vertrieb\\Kunden.xlsx"))
    return talk.smb_file(site, rng, ts, host, user, site.office.fileserver, "Daten", filename, size, write)


def _mail(site: Site, rng: random.Random, ts: float, host: Host, profile: tls.ClientProfile, user: str) -> float:
    """Opening the mailbox (STARTTLS on 143) or sending a message (STARTTLS on 587): never a clear login."""
    server = site.office.mail
    submit = rng.random() < 0.3
    conv = site.tcp(rng, host, server, 587 if submit else 143, ts).open()
    mail.dialogue(conv, mail.smtp_starttls(DOMAIN, server.name) if submit else mail.imap_starttls(server.name))
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


def _admin(site: Site, rng: random.Random, ts: float, host: Host, profile: tls.ClientProfile, user: str) -> float:
    return administration.admin_visit(site, rng, ts, host)


def _windows_update(site: Site, rng: random.Random, ts: float, host: Host) -> float:
    name = rng.choice(WINDOWS_UPDATE_HOSTS)
    ts = talk.dns_lookup(site, rng, ts, host, name)
    size = heavy_tail(rng, 2_000_000, 25_000_000, alpha=1.2)
    uri = f"/d/msdownload/update/software/secu/2026/03/windows10.0-kb50{rng.randint(10000, 99999)}-x64.cab"
    return talk.http_exchange(
        site, rng, ts, host, site.host_for(name), name, [("GET", uri, size)], "Microsoft-Delivery-Optimization/10.0",
        content_type="application/octet-stream",
    )
