"""SHADOW_AI: staff pasting work into AI services, from the browser and from scripts."""

from __future__ import annotations

from appliance.simulate import conversations as talk
from appliance.simulate.attacks import attack_start, record
from appliance.simulate.benign import heavy_tail
from appliance.simulate.internet import AI_SERVICE_DOMAINS
from appliance.simulate.protocols import tls
from appliance.simulate.site import Site

RULE = "SHADOW_AI"


def inject(site: Site) -> None:
    rng = site.rng("attack:shadow-ai")
    users = rng.sample(site.office.workstations, min(4, len(site.office.workstations)))
    for index, host in enumerate(users):
        domain = AI_SERVICE_DOMAINS[(index * 3 + rng.randrange(3)) % len(AI_SERVICE_DOMAINS)]
        # api.* endpoints are called from scripts; the chat front ends from the browser.
        profile = tls.PYTHON_REQUESTS if domain.startswith(("api.", "generativelanguage.")) else tls.CHROME
        start = ts = attack_start(site, rng, 0.1, 0.6)
        for _ in range(rng.randint(2, 5)):  # a few prompts, each with a long answer
            end = talk.https_visit(
                site, rng, ts, host, domain, profile, [(heavy_tail(rng, 3000, 400_000), heavy_tail(rng, 8000, 200_000))]
            )
            ts = end + rng.uniform(5, 40)
        record(site, RULE, f"sni-{domain}", host, site.host_for(domain), 443, start, end)
