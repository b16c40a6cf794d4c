"""LATERAL_MOVEMENT: a compromised workstation reaching many internal hosts over admin protocols."""

from __future__ import annotations

import random

from appliance.simulate import conversations as talk
from appliance.simulate.attacks import attack_start, attacker_workstation, record
from appliance.simulate.capture import Host
from appliance.simulate.office import DOMAIN, NETBIOS_DOMAIN
from appliance.simulate.protocols import smb, ssh, tls
from appliance.simulate.site import Site

RULE = "LATERAL_MOVEMENT"
RDP_PORT, WINRM_PORT = 3389, 5985
# WinRM over HTTP encrypts its SOAP bodies with the session key (NTLM or Kerberos): opaque on the wire.
WINRM_ENCRYPTED = (
    'multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"'
)


def inject(site: Site) -> None:
    rng = site.rng("attack:lateral")
    office = site.office
    mover = attacker_workstation(site, rng)
    peers = [host for host in office.workstations if host is not mover]
    targets = [*rng.sample(peers, min(10, len(peers))), office.fileserver, office.dc]
    start = ts = attack_start(site, rng, 0.2, 0.4)
    for target in targets:
        ts = _psexec(site, rng, ts, mover, target) + rng.uniform(0.2, 1.5)
    record(site, RULE, "smb-admin-share-fanout", mover, None, 445, start, ts)

    # The other tools run from the same foothold, interleaved with the SMB fan-out.
    start = ts = attack_start(site, rng, 0.2, 0.4)
    for target in rng.sample(peers, min(6, len(peers))):
        ts = _rdp(site, rng, ts, mover, target) + rng.uniform(0.5, 2)
    record(site, RULE, "rdp-fanout", mover, None, RDP_PORT, start, ts)

    start = ts = attack_start(site, rng, 0.2, 0.4)
    for target in [*rng.sample(peers, min(6, len(peers))), office.fileserver]:
        ts = _winrm(site, rng, ts, mover, target) + rng.uniform(0.2, 1.5)
    record(site, RULE, "winrm-fanout", mover, None, WINRM_PORT, start, ts)

    start = ts = attack_start(site, rng, 0.2, 0.4)
    for target in office.linux_servers:
        ts = talk.ssh_session(
            site, rng, ts, mover, target, keystrokes=rng.randint(3, 12), implementation=ssh.PARAMIKO_CLIENT,
            user="root", password="Winter2026!",  # harvested from the foothold: every login succeeds
        ) + rng.uniform(0.5, 2)
    record(site, RULE, "ssh-from-workstation", mover, None, 22, start, ts)


def _psexec(site: Site, rng: random.Random, ts: float, mover: Host, target: Host) -> float:
    """What PsExec and Impacket do: log on, connect ADMIN$, drop a service binary."""
    conv = site.tcp(rng, mover, target, 445, ts).open()
    session = smb.SmbClient(conv, rng, smb.filetime(ts))
    session.log_on(NETBIOS_DOMAIN, DOMAIN, "administrator", mover.name.upper(), target.name.upper())
    session.transfer(
        f"\\\\{target.ip}\\ADMIN$", f"{rng.getrandbits(32):08x}.exe", rng.randint(60_000, 400_000), write=True
    )
    conv.close()
    return conv.ts


def _rdp(site: Site, rng: random.Random, ts: float, mover: Host, target: Host) -> float:
    """X.224 connection request asking for TLS, then the TLS-wrapped session (CredSSP, graphics)."""
    conv = site.tcp(rng, mover, target, RDP_PORT, ts).open()
    cookie = b"Cookie: mstshash=administrator\r\n"
    negotiation = b"\x01\x00\x08\x00\x03\x00\x00\x00"  # RDP_NEG_REQ: TLS | CredSSP
    x224 = bytes((6 + len(cookie) + len(negotiation), 0xE0)) + b"\x00\x00\x00\x00\x00" + cookie + negotiation
    conv.client_sends(b"\x03\x00" + (4 + len(x224)).to_bytes(2, "big") + x224)
    confirm = b"\x0e\xd0\x00\x00\x12\x34\x00" + b"\x02\x00\x08\x00\x02\x00\x00\x00"
    conv.server_sends(b"\x03\x00" + (4 + len(confirm)).to_bytes(2, "big") + confirm)
    tls.handshake_and_exchange(
        conv,
        rng,
        target.name,
        tls.SCHANNEL,
        [(rng.randint(2000, 6000), rng.randint(20_000, 400_000)) for _ in range(4)],
    )
    conv.close()
    return conv.ts


def _winrm(site: Site, rng: random.Random, ts: float, mover: Host, target: Host) -> float:
    body_size = rng.randint(3000, 9000)
    return talk.http_exchange(
        site,
        rng,
        ts,
        mover,
        target,
        f"{target.ip}:{WINRM_PORT}",
        [("POST", "/wsman", body_size), ("POST", "/wsman", body_size // 3)],
        "Microsoft WinRM Client",
        headers={"Content-Type": WINRM_ENCRYPTED},
        port=WINRM_PORT,
        content_type=WINRM_ENCRYPTED,
    )
