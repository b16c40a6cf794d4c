"""C2_BEACON in interactive mode: implants calling home every one to five seconds, for minutes on end, with
small check-ins and now and then a task and its result. Below a five-second floor a rule that calls such
rhythms "a page load" sees nothing; what gives them away is that the rhythm lasts.

What it reproduces:
- Metasploit's Meterpreter over reverse_https: the WinHTTP transport polls the handler continuously, a
  request every second or two when nothing is queued, on keep-alive connections that WinHTTP renews now and
  then; the URI is the session's random UUID path (rapid7/metasploit-payloads, server_transport_winhttp.c).
- Sliver's HTTPS beacon generated with `--seconds 5 --jitter 2` (the jitter is added seconds), a Go client
  (Go's TLS fingerprint) whose keep-alive connection carries every check-in (Sliver docs, "Beacons vs
  Sessions"; BishopFox/sliver).
- Cobalt Strike with `sleep 3 50` (interval 3 s, 50 % jitter: each sleep drawn between 1.5 and 3 s) and the
  widely used jquery-c2 Malleable profile (threatexpress/malleable-c2): GET /jquery-3.3.1.min.js with the
  metadata in a cookie, answers padded with jQuery's own text (about 5 KB even when there is no task),
  results POSTed to /jquery-3.3.2.min.js; one WinINet connection per check-in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from appliance.simulate import conversations as talk
from appliance.simulate.attacks import attack_start, attacker_workstation, record
from appliance.simulate.benign import heavy_tail
from appliance.simulate.capture import Host
from appliance.simulate.protocols import tls
from appliance.simulate.site import Site
from appliance.simulate.tcp import TcpConversation

RULE = "C2_BEACON"
SUSTAINED_S = (600.0, 1500.0)  # an operator's interactive work on one host: ten to twenty-five minutes
TASK_CHANCE = 0.04


def inject(site: Site) -> None:
    _meterpreter(site)
    _sliver(site)
    _cobalt_strike(site)


@dataclass
class Implant:
    """An implant on a compromised workstation, calling `name` at `server` for one sustained session."""

    rng: random.Random
    host: Host
    name: str
    server: Host
    start: float
    end: float

    def resolve(self, site: Site, ttl: int = 300) -> float:
        """The implant's first DNS lookup of its server; returns when the answer arrived."""
        return talk.dns_lookup(site, self.rng, self.start, self.host, self.name, ttl=ttl)


def implant(site: Site, purpose: str, name: str, address: str) -> Implant:
    rng = site.rng(purpose)
    host = attacker_workstation(site, rng)
    start = attack_start(site, rng, 0.05, 0.15)
    return Implant(rng, host, name, site.office.internet.at(name, address), start,
                   min(site.end, start + rng.uniform(*SUSTAINED_S)))


def open_tls(site: Site, rng: random.Random, ts: float, host: Host, server: Host, sni: str,
             profile: tls.ClientProfile, first: list[tuple[int, int]] | None = None) -> TcpConversation:
    """A TCP connection to port 443 with its TLS handshake (and the `first` exchanges) done."""
    conv = site.tcp(rng, host, server, 443, ts).open()
    tls.handshake_and_exchange(conv, rng, sni, profile, first or [])
    return conv


def _exchange(conv: TcpConversation, rng: random.Random, think: float, request: int, response: int) -> None:
    """One check-in on an open TLS connection; sometimes the answer is a task and the next request its result."""
    capture = conv.capture
    conv.client_sends(tls.application_data(capture, request, rng), think=think)
    if rng.random() < TASK_CHANCE:
        conv.server_sends(tls.application_data(capture, response + heavy_tail(rng, 2_000, 60_000), rng),
                          processing=0.01)
        conv.client_sends(tls.application_data(capture, request + heavy_tail(rng, 3_000, 400_000), rng),
                          think=rng.uniform(0.2, 2.0))
        conv.server_sends(tls.application_data(capture, response, rng), processing=0.01)
    else:
        conv.server_sends(tls.application_data(capture, response, rng), processing=0.01)


def _meterpreter(site: Site) -> None:
    run = implant(site, "attack:c2-fast:meterpreter", "msf-handler", "192.0.2.91")
    rng, ts = run.rng, run.start
    while ts < run.end:
        conv = open_tls(site, rng, ts, run.host, run.server, "", tls.SCHANNEL)  # the handler's bare address
        for _ in range(rng.randint(5, 20)):  # WinHTTP renews its connection now and then
            _exchange(conv, rng, rng.uniform(1.0, 2.0), rng.randint(290, 330), rng.randint(150, 190))
            if conv.ts >= run.end:
                break
        conv.close(by_client=True)
        ts = conv.ts + rng.uniform(0.5, 1.5)
    record(site, RULE, "meterpreter-reverse-https-1-2s", run.host, run.server, 443, run.start, ts)


def _sliver(site: Site) -> None:
    run = implant(site, "attack:c2-fast:sliver", "updates.cdn-cloudapi.example", "192.0.2.92")
    rng = run.rng
    conv = open_tls(site, rng, run.resolve(site, ttl=60), run.host, run.server, run.name, tls.GO_CRYPTO_TLS)
    while conv.ts < run.end:
        # Sliver's encoders pad each message to a random length.
        _exchange(conv, rng, 5.0 + rng.uniform(0, 2.0), rng.randint(250, 900), rng.randint(120, 700))
    conv.close(by_client=True)
    record(site, RULE, "sliver-https-beacon-5s-jitter-2s", run.host, run.server, 443, run.start, conv.ts)


def _cobalt_strike(site: Site) -> None:
    run = implant(site, "attack:c2-fast:cobalt-strike", "code.jquery-cdn.example", "192.0.2.93")
    rng = run.rng
    ts = last = run.resolve(site)
    while ts < run.end:
        conv = open_tls(site, rng, ts, run.host, run.server, run.name, tls.SCHANNEL)
        _exchange(conv, rng, 0.001, rng.randint(420, 460), rng.randint(5_400, 5_600))
        conv.close(by_client=True)
        last = conv.ts
        ts += rng.uniform(1.5, 3.0)
    record(site, RULE, "cobalt-strike-sleep-3s-jitter-50", run.host, run.server, 443, run.start, last)
