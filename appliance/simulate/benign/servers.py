"""What the servers do on their own: the intranet queries its database, every Linux host keeps its time from
the DC and fetches updates, the DC keeps the domain's time from the public pool, and the mail server relays
mail to and from other domains (the weekly newsletter included: dozens of MX hosts within minutes)."""

from __future__ import annotations

import random

from appliance.simulate import conversations as talk
from appliance.simulate.benign.rhythm import Process, diurnal, every, heavy_tail, next_busy, scheduled
from appliance.simulate.capture import Host
from appliance.simulate.internet import LINUX_UPDATE_HOSTS
from appliance.simulate.office import DOMAIN
from appliance.simulate.protocols import mail, postgres, tls
from appliance.simulate.site import Site

UPDATE_EVERY = 2 * 3600.0  # mean seconds between one Linux host's apt runs
DB_CONNECTION_LIFETIME = 3600.0  # the intranet's pool recycles its connection about hourly
WEEK = 7 * 86400.0
NEWSLETTER_AT = 4 * 86400.0 + 8 * 3600 + 120  # Mondays 08:02 UTC (the epoch began on a Thursday)
MX_PEERS = ("mx1.partner-gmbh.example", "mail.supplier.example", "mx.customer-sa.example")


def processes(site: Site) -> list[Process]:
    office = site.office
    rng = site.rng("benign:servers")
    out = [_intranet_database(site), _mail_relay(site), _newsletter(site)]
    out.append(every(rng, site.start + rng.random() * 60, 261, 0.02, lambda ts: talk.dc_ntp_upstream(site, rng, ts)))
    for server in [*office.managed_linux, office.automation]:
        ntp_rng = site.rng(f"benign:chrony:{server.name}")
        out.append(every(ntp_rng, site.start + ntp_rng.random() * 120, 132, 0.03,
                         lambda ts, server=server, ntp_rng=ntp_rng: talk.ntp_sync(site, ntp_rng, ts, server,
                                                                                    office.dc)))
        out.append(_apt_runs(site, server))
    return out


def _intranet_database(site: Site) -> Process:
    """The intranet keeps a connection to the database and queries it whenever pages are served."""
    rng = site.rng("benign:intranet-db")
    office = site.office
    ts = site.start + rng.random()
    while True:
        yield ts
        conv = site.tcp(rng, office.intranet, office.database, postgres.PORT, ts).open()
        retire = conv.ts + DB_CONNECTION_LIFETIME * rng.uniform(0.8, 1.2)
        while conv.ts < retire:
            think = rng.expovariate(diurnal(conv.ts) / 3.0)
            yield conv.ts + think
            rows = [
                [str(rng.randint(1, 99999)).encode(), site.capture.filler(rng.randint(20, 400), i)]
                for i in range(heavy_tail(rng, 2, 400))
            ]
            conv.client_sends(postgres.query("SELECT id, body FROM pages WHERE path = $1 LIMIT 50"), think=think)
            conv.server_sends(postgres.result(["id", "body"], rows), processing=0.0008)
        conv.client_sends(postgres.terminate(), think=0.5)
        conv.close(by_client=True)
        ts = conv.ts + 0.05


def _apt_runs(site: Site, server: Host) -> Process:
    rng = site.rng(f"benign:apt:{server.name}")
    ts = site.start + rng.expovariate(1 / UPDATE_EVERY)
    while True:
        yield ts
        name = rng.choice(LINUX_UPDATE_HOSTS)
        start = talk.dns_lookup(site, rng, ts, server, name)
        requests = [
            ("GET", "/debian/dists/bookworm/InRelease", 151_000),
            ("GET", "/debian/dists/bookworm/main/binary-amd64/Packages.xz", heavy_tail(rng, 300_000, 9_000_000)),
        ]
        talk.http_exchange(site, rng, start, server, site.host_for(name), name, requests,
                           "Debian APT-HTTP/1.3 (2.6.1)", content_type="application/octet-stream")
        ts += rng.expovariate(1 / UPDATE_EVERY)


def _mail_relay(site: Site) -> Process:
    """Mail between the office's server and other domains' MX hosts on port 25, upgraded with STARTTLS."""
    rng = site.rng("benign:mail-relay")
    office = site.office
    ts = site.start + rng.expovariate(1 / 40)
    while True:
        yield ts
        peer = office.internet.host(rng.choice(MX_PEERS))
        inbound = rng.random() < 0.6
        end = _smtp(site, rng, ts, *((peer, office.mail) if inbound else (office.mail, peer)),
                    heavy_tail(rng, 5000, 6_000_000))
        ts = next_busy(rng, end, 40)


def _smtp(site: Site, rng: random.Random, ts: float, client: Host, server: Host, size: int) -> float:
    conv = site.tcp(rng, client, server, 25, ts).open()
    mail.dialogue(conv, mail.smtp_starttls(DOMAIN, server.name))
    tls.handshake_and_exchange(conv, rng, server.name, tls.PYTHON_REQUESTS, [(size, 400)])
    conv.close(by_client=True)
    return conv.ts


def _newsletter(site: Site) -> Process:
    """Marketing's weekly newsletter: mail01 delivers to every subscriber's MX, a new host every few seconds,
    all on port 25 (one source, many hosts, one port: a sweep by its shape)."""
    rng = site.rng("benign:newsletter")
    ts = scheduled(site.start, WEEK, NEWSLETTER_AT) + rng.uniform(0, 90)
    while True:
        yield ts
        office = site.office
        for index in range(rng.randint(40, 70)):
            domain = f"mx{index % 3 + 1}.subscriber-{index:02d}.example"
            _smtp(site, rng, ts, office.mail, office.internet.host(domain), rng.randint(40_000, 90_000))
            ts += rng.uniform(0.5, 4.0)
        ts = scheduled(ts + 3600, WEEK, NEWSLETTER_AT) + rng.uniform(0, 90)
