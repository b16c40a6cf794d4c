"""KERBEROASTING: service tickets requested to crack offline, RC4 preferred since it cracks fastest; and the
variant that asks for AES only, so that no weak ticket ever shows.

The AES variant reproduces Rubeus' `kerberoast /aes` (GhostPack/Rubeus README, "Kerberoasting"): every
SPN account's service ticket requested within seconds with AES etypes only, the tickets AES256 (hashcat
mode 19700 cracks them, slower than RC4, and no RC4 ever crosses the wire)."""

from __future__ import annotations

from appliance.simulate import conversations as talk
from appliance.simulate.attacks import attack_start, attacker_workstation, record
from appliance.simulate.office import DOMAIN
from appliance.simulate.protocols import kerberos
from appliance.simulate.site import Site

RULE = "KERBEROASTING"
SERVICE_ACCOUNTS_SPNS = (
    f"MSSQLSvc/sql01.{DOMAIN}:1433",
    f"HTTP/sharepoint.{DOMAIN}",
    f"HTTP/intranet.{DOMAIN}",
    f"CIFS/backup01.{DOMAIN}",
    f"exchangeMDB/mail01.{DOMAIN}",
    f"TERMSRV/rds01.{DOMAIN}",
    f"FIMService/fim01.{DOMAIN}",
    f"MSSQLSvc/erp-db.{DOMAIN}:1433",
    f"kafka/kafka01.{DOMAIN}",
    f"HOST/scan01.{DOMAIN}",
    f"WSMAN/mgmt01.{DOMAIN}",
    f"SAP/erp01.{DOMAIN}",
    f"vpn/vpn01.{DOMAIN}",
    f"jenkins/ci01.{DOMAIN}",
    f"postgres/db01.{DOMAIN}",
)


def inject_aes(site: Site) -> None:
    """Rubeus /aes: the whole SPN list, AES256/AES128 offered, AES256 tickets back, in a burst."""
    rng = site.rng("attack:kerberoast-aes")
    roaster = attacker_workstation(site, rng)
    user = "u." + roaster.name.replace("-", "")
    start = ts = attack_start(site, rng)
    for spn in SERVICE_ACCOUNTS_SPNS:
        ts = talk.service_ticket(
            site, rng, ts, roaster, user, spn, requested_etypes=(kerberos.AES256, kerberos.AES128),
            ticket_etype=kerberos.AES256,
        ) + rng.uniform(0.02, 0.2)
    record(site, RULE, "aes-only-spn-burst", roaster, site.office.dc, 88, start, ts)


def inject(site: Site) -> None:
    rng = site.rng("attack:kerberoast")
    dc = site.office.dc

    # Rubeus / GetUserSPNs: every SPN in the domain within seconds, asking for RC4 only.
    roaster = attacker_workstation(site, rng)
    user = "u." + roaster.name.replace("-", "")
    start = ts = attack_start(site, rng)
    for spn in SERVICE_ACCOUNTS_SPNS:
        ts = talk.service_ticket(
            site, rng, ts, roaster, user, spn, requested_etypes=(kerberos.RC4_HMAC,), ticket_etype=kerberos.RC4_HMAC
        ) + rng.uniform(0.05, 0.3)
    record(site, RULE, "rc4-spn-burst", roaster, dc, 88, start, ts)

    # Targeted: one ticket, a normal etype list, but the account still has an RC4 key and gets an RC4 ticket.
    roaster = attacker_workstation(site, rng)
    user = "u." + roaster.name.replace("-", "")
    start = attack_start(site, rng)
    end = talk.service_ticket(site, rng, start, roaster, user, SERVICE_ACCOUNTS_SPNS[0], ticket_etype=kerberos.RC4_HMAC)
    record(site, RULE, "single-rc4-ticket", roaster, dc, 88, start, end)
