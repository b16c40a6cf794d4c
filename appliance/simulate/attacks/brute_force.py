"""BRUTE_FORCE: many short, failing logins against one authentication service."""

from __future__ import annotations

import random
from collections.abc import Callable

from appliance.simulate.attacks import attack_start, attacker_workstation, password_guessing, record
from appliance.simulate.attacks.password_guessing import PASSWORDS
from appliance.simulate.capture import Host
from appliance.simulate.protocols import ssh
from appliance.simulate.site import Site

RULE = "BRUTE_FORCE"
Attempt = Callable[[Site, random.Random, float, Host, Host, str], float]  # returns when the try ended


def inject(site: Site) -> None:
    office = site.office
    _attempts(site, "ssh", office.database, 22, _ssh_attempt, count=60)
    _attempts(site, "rdp", office.fileserver, 3389, _rdp_attempt, count=40)
    _attempts(site, "ftp", office.printers[0], 21, _ftp_attempt, count=50)


def _attempts(site: Site, variant: str, target: Host, port: int, attempt: Attempt, count: int) -> None:
    rng = site.rng(f"attack:brute:{variant}")
    attacker = attacker_workstation(site, rng)
    start = ts = attack_start(site, rng)
    end = start
    for index in range(count):  # tools like hydra keep several tries in flight: the next does not wait
        end = max(end, attempt(site, rng, ts, attacker, target, PASSWORDS[index % len(PASSWORDS)]))
        ts += rng.uniform(0.1, 0.4)
    record(site, RULE, variant, attacker, target, port, start, end)
    if variant == "ftp":  # every FTP guess crosses the wire in clear, and a detector may rightly say so
        record(site, "CLEARTEXT_CREDENTIALS", "ftp-brute-force", attacker, target, port, start, end)


def _ssh_attempt(site: Site, rng: random.Random, ts: float, attacker: Host, target: Host, password: str) -> float:
    """Key exchange, three password tries answered by USERAUTH_FAILURE, then the tool drops the connection."""
    conv = site.tcp(rng, attacker, target, 22, ts)
    session = ssh.SshSession(conv, rng, ssh.client_for(rng.choice(ssh.ATTACK_BANNERS))).handshake()
    session.ask_methods("root")
    for attempt in range(3):
        guess = PASSWORDS[(PASSWORDS.index(password) + attempt) % len(PASSWORDS)]
        session.password("root", guess, accepted=False, think=0.01)
    if rng.random() < 0.7:
        conv.close(by_client=True)
    else:
        conv.reset(by_client=True)
    return conv.ts


def _rdp_attempt(site: Site, rng: random.Random, ts: float, attacker: Host, target: Host, password: str) -> float:
    return password_guessing.rdp_connection(site, rng, ts, attacker, target, 3389, [("administrator", password)])


def _ftp_attempt(site: Site, rng: random.Random, ts: float, attacker: Host, target: Host, password: str) -> float:
    return password_guessing.ftp_connection(site, rng, ts, attacker, target, 21, [("admin", password)],
                                            banner=b"220 Printer FTP server ready.\r\n")
