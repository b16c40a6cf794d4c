"""C2_BEACON at a patient pace, hidden behind a CDN: a check-in every one to five minutes (or every quarter
of an hour) with generous jitter, to a domain fronted by a content delivery network, so the address it
reaches is one that countless ordinary page loads reach too.

What it reproduces: domain fronting as described by Fifield et al., "Blocking-resistant communication
through domain fronting" (PETS 2015) and used for C2 by Cobalt Strike's and Mythic's HTTP profiles (Raphael
Mudge, "High-reputation Redirectors and Domain Fronting", 2017): the TLS SNI names an innocuous host on the
CDN, the Host header inside the encrypted request names the operator's CDN endpoint, and the CDN edge
forwards. Long sleeps with 20-40 % jitter are the default posture of long-haul implants (Cobalt Strike's
documentation: "sleep 300 30" style settings; SUNBURST waited hours between calls).
"""

from __future__ import annotations

from appliance.simulate import conversations as talk
from appliance.simulate.attacks import attack_start, attacker_workstation, record
from appliance.simulate.protocols import tls
from appliance.simulate.site import Site

RULE = "C2_BEACON"
FRONT = "d2kx7q4mnp3r8v.cloudfront.net"  # an innocuous name on the CDN, resolving to a shared edge


def inject(site: Site) -> None:
    _fronted(site, "cdn-fronted-1-5min", (60.0, 300.0), 0.4, earliest=0.02)
    _fronted(site, "cdn-fronted-15min", (900.0, 900.0), 0.2, earliest=0.01)


def _fronted(site: Site, variant: str, sleep_range: tuple[float, float], jitter: float, earliest: float) -> None:
    rng = site.rng(f"attack:c2-slow:{variant}")
    host = attacker_workstation(site, rng)
    server = site.host_for(FRONT)
    sleep = rng.uniform(*sleep_range)
    start = ts = attack_start(site, rng, earliest, earliest + 0.05)
    end = start
    while ts < site.end:
        end = talk.https_visit(site, rng, ts, host, FRONT, tls.SCHANNEL,
                               [(rng.randint(380, 460), rng.randint(200, 320))])
        ts += sleep * (1 - rng.uniform(0, jitter))  # Cobalt Strike's jitter only ever shortens the sleep
    record(site, RULE, f"{variant}-sleep-{sleep:.0f}s", host, server, 443, start, end)
