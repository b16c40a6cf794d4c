"""Software that calls home on a timer, as it does in every real office: the endpoint protection agent, the
OS's telemetry and signature updates, browsers' update checks, chat clients' keep-alives (one long-lived TLS
connection per machine with a heartbeat every half minute), mail clients polling the mail server, printers
phoning their vendor's cloud, workstations' clocks.

The mark of software is the same rhythm to the same destination from many machines. A few such services run
on one machine only, and those are the hardest negatives: the CAD licence check of the engineering station,
and the developer's build dashboard, which polls every few seconds while a build runs."""

from __future__ import annotations

import functools
import random

from appliance.simulate import conversations as talk
from appliance.simulate.benign.rhythm import Process, every, heavy_tail, powered_on, working_hours
from appliance.simulate.capture import Host
from appliance.simulate.office import DOMAIN
from appliance.simulate.protocols import mail, tls
from appliance.simulate.site import Site

EDR_GATEWAY = "winatp-gw-weu.microsoft.com"
TELEMETRY = "v10.events.data.microsoft.com"
SIGNATURES = "definitionupdates.microsoft.com"
CHROME_UPDATE = "update.googleapis.com"
FIREFOX_UPDATE = "aus5.mozilla.org"
TEAMS_TROUTER = "go.trouter.teams.microsoft.com"
SLACK_SOCKET = "wss-primary.slack.com"
PRINTER_CLOUD = {"00:80:77": "cloud.brother-connect.example", "3c:52:82": "ws.hpsmart.com"}
LICENCE_SERVER = "licensing.cad-vendor.example"
BUILD_DASHBOARD = "ci.build-dashboard.example"


def processes(site: Site) -> list[Process]:
    office = site.office
    windows = [*office.workstations, office.engineering, office.inventory, office.dc, office.fileserver]
    out: list[Process] = []
    for host in windows:
        rng = site.rng(f"benign:software:{host.name}")
        desk = host.role in ("workstation", "engineering")
        on = functools.partial(powered_on, host)
        out += [
            _poll(site, rng, host, EDR_GATEWAY, 300, 0.02, (900, 1400), (200, 400), on),
            _poll(site, rng, host, TELEMETRY, 900, 0.3, (2_000, 30_000), (300, 600), on),
            _signature_checks(site, rng, host),
        ]
        if desk:
            out += [
                _poll(site, rng, host, CHROME_UPDATE, 5 * 3600, 0.05, (1_200, 2_000), (900, 3_000), working_hours),
                _w32time(site, rng, host),
            ]
    for host in office.workstations:
        rng = site.rng(f"benign:collaboration:{host.name}")
        out += [_chat(site, rng, host, TEAMS_TROUTER), _mail_poll(site, rng, host)]
        if rng.random() < 0.35:
            out.append(_chat(site, rng, host, SLACK_SOCKET))
        if rng.random() < 0.3:
            out.append(_poll(site, rng, host, FIREFOX_UPDATE, 12 * 3600, 0.05, (800, 1_500), (600, 2_000),
                             working_hours))
    for printer in office.printers:
        rng = site.rng(f"benign:printer-cloud:{printer.name}")
        out.append(_poll(site, rng, printer, PRINTER_CLOUD.get(printer.mac[:8], "ws.hpsmart.com"), 300, 0.01,
                         (400, 900), (150, 300), profile=tls.PYTHON_REQUESTS))
    rng = site.rng("benign:licence")
    out.append(_poll(site, rng, office.engineering, LICENCE_SERVER, 300, 0.005, (600, 700), (500, 560),
                     working_hours, profile=tls.SCHANNEL))
    out.append(_build_dashboard(site, office.developer))
    return out


def _poll(site: Site, rng: random.Random, host: Host, name: str, period: float, jitter: float,
          upload: tuple[int, int], download: tuple[int, int], when=lambda ts: True,
          profile: tls.ClientProfile = tls.SCHANNEL) -> Process:
    """A fresh HTTPS connection every `period` seconds (a service's timer), first one at a random phase."""
    def call(ts: float) -> None:
        talk.https_visit(site, rng, ts, host, name, profile, [(rng.randint(*upload), rng.randint(*download))])

    return every(rng, site.start + rng.random() * period, period, jitter, call, when)


def _signature_checks(site: Site, rng: random.Random, host: Host) -> Process:
    """Defender asks hourly whether new signatures exist; now and then it downloads a delta."""
    def check(ts: float) -> None:
        if not powered_on(host, ts):
            return
        size = heavy_tail(rng, 400_000, 6_000_000) if rng.random() < 0.25 else rng.randint(1_500, 3_000)
        talk.https_visit(site, rng, ts, host, SIGNATURES, tls.SCHANNEL, [(rng.randint(700, 1_000), size)])

    return every(rng, site.start + rng.random() * 3600, 3600, 0.1, check)


def _w32time(site: Site, rng: random.Random, host: Host) -> Process:
    """Domain members keep their clocks from the DC (NT5DS), about every 17 minutes once settled."""
    return every(rng, site.start + rng.random() * 1024, 1024, 0.01,
                 lambda ts: talk.ntp_sync(site, rng, ts, host, site.office.dc), functools.partial(powered_on, host))


def _chat(site: Site, rng: random.Random, host: Host, name: str) -> Process:
    """A chat client's WebSocket over TLS, open all working day: a heartbeat every ~30 s (a small frame each
    way), a message now and then; reconnected every hour or two, closed at night."""
    ts = site.start + rng.random() * 30
    while True:
        yield ts
        if not working_hours(ts):
            ts += 600
            continue
        ts = talk.dns_lookup(site, rng, ts, host, name)
        conv = site.tcp(rng, host, site.host_for(name), 443, ts).open()
        tls.handshake_and_exchange(conv, rng, name, tls.CHROME, [(rng.randint(700, 1_200), rng.randint(300, 600))])
        retire = conv.ts + rng.uniform(3_600, 7_200)
        beat = rng.uniform(25, 35)  # each client's own interval
        while conv.ts < retire and working_hours(conv.ts):
            think = beat + rng.uniform(-0.5, 0.5)
            yield conv.ts + think
            if rng.random() < 0.08:  # a message arrives or is sent
                conv.server_sends(tls.application_data(site.capture, heavy_tail(rng, 900, 60_000), rng),
                                  processing=think)
                conv.client_sends(tls.application_data(site.capture, rng.randint(40, 80), rng))
            else:
                conv.client_sends(tls.application_data(site.capture, rng.randint(20, 40), rng), think=think)
                conv.server_sends(tls.application_data(site.capture, rng.randint(20, 40), rng), processing=0.002)
        conv.close(by_client=True)
        ts = conv.ts + rng.uniform(1, 20)


def _mail_poll(site: Site, rng: random.Random, host: Host) -> Process:
    """The mail client's send/receive every five minutes: IMAP with STARTTLS to the office's server."""
    server = site.office.mail

    def poll(ts: float) -> None:
        conv = site.tcp(rng, host, server, 143, ts).open()
        mail.dialogue(conv, mail.imap_starttls(server.name))
        new_mail = heavy_tail(rng, 4_000, 2_000_000) if rng.random() < 0.3 else rng.randint(300, 600)
        tls.handshake_and_exchange(conv, rng, f"{server.name}.{DOMAIN}", tls.SCHANNEL,
                                   [(rng.randint(200, 400), new_mail)])
        conv.close(by_client=True)

    return every(rng, site.start + rng.random() * 300, 300, 0.003, poll, working_hours)


def _build_dashboard(site: Site, developer: Host) -> Process:
    """While a build or a deployment runs, the developer's dashboard asks its API for the status every five
    seconds over one keep-alive connection, for ten to forty minutes; a few times a day."""
    rng = site.rng("benign:build-dashboard")
    server = site.host_for(BUILD_DASHBOARD)
    ts = site.start + rng.expovariate(1 / 2400)
    while True:
        yield ts
        if not working_hours(ts):
            ts += rng.expovariate(1 / 2400)
            continue
        ts = talk.dns_lookup(site, rng, ts, developer, BUILD_DASHBOARD)
        conv = site.tcp(rng, developer, server, 443, ts).open()
        tls.handshake_and_exchange(conv, rng, BUILD_DASHBOARD, tls.CHROME, [(rng.randint(500, 900), 4_000)])
        watch_until = conv.ts + rng.uniform(600, 2_400)
        while conv.ts < watch_until:
            think = 5.0 + rng.uniform(-0.05, 0.05)
            yield conv.ts + think
            conv.client_sends(tls.application_data(site.capture, rng.randint(380, 420), rng), think=think)
            conv.server_sends(tls.application_data(site.capture, rng.randint(600, 1_400), rng), processing=0.04)
        conv.close(by_client=True)
        ts = conv.ts + rng.expovariate(1 / 7200)
