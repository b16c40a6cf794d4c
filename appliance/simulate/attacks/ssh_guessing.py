"""BRUTE_FORCE against SSH the way real guessing tools do it, where counting short sessions on port 22 sees
little: several passwords per connection, sshd on a port other than 22, one guess a minute, or a hundred
sources taking turns.

What it reproduces:
- THC-Hydra's ssh module (libssh) with four tasks (`hydra -t 4 -s 2222`, the README's advice for SSH) and
  Medusa's ssh module (libssh2): each connection negotiates keys, asks for the methods ("none"), then tries
  passwords until the tool moves on or sshd's MaxAuthTries (6, sshd_config(5)) ends it with
  SSH_MSG_DISCONNECT "Too many authentication failures". Every guess is a USERAUTH_REQUEST(password)
  answered by a 52-byte USERAUTH_FAILURE after PAM's ~2 s fail delay: the sizes Zeek's SSH analyser
  (src/analyzer/protocol/ssh/SSH.cc) and OpenSSH traces of its test suite show.
- The slow, distributed campaigns Peter Hansteen documented as the "Hail Mary Cloud" (bsdly.blogspot.com,
  2008-2013): one guess per connection, a guess every 20-60 s from one host, or dozens of sources each
  trying a few passwords against one published SSH server.
"""

from __future__ import annotations

import random

from appliance.simulate.attacks import attack_start, attacker_workstation, record
from appliance.simulate.attacks.password_guessing import PASSWORDS
from appliance.simulate.capture import Host
from appliance.simulate.protocols import ssh
from appliance.simulate.site import Site

RULE = "BRUTE_FORCE"
USERS = ("root", "admin", "git", "ubuntu", "deploy")
DISTRIBUTED_SOURCES = "192.0.2.128/26"
MAX_AUTH_TRIES = 6


def inject(site: Site) -> None:
    office = site.office
    _multi_guess(site, "hydra-port-2222", office.git, ssh.LIBSSH_CLIENT, tasks=4, connections=(12, 16))
    _multi_guess(site, "patator-port-22222", office.containers, ssh.PARAMIKO_CLIENT, tasks=2, connections=(8, 12))
    _multi_guess(site, "medusa-port-22", office.database, ssh.LIBSSH2_CLIENT, tasks=1, connections=(10, 14))
    _slow(site)
    _distributed(site)


def guessing_connection(site: Site, rng: random.Random, ts: float, attacker: Host, target: Host, port: int,
                        client: ssh.Implementation, guesses: list[tuple[str, str]]) -> float:
    """One connection carrying `guesses`: sshd ends it after MaxAuthTries failures, otherwise the tool does."""
    conv = site.tcp(rng, attacker, target, port, ts)
    session = ssh.SshSession(conv, rng, client).handshake()
    session.ask_methods(guesses[0][0])
    for user, password in guesses:
        session.password(user, password, accepted=False, think=rng.uniform(0.003, 0.02))
    if len(guesses) >= MAX_AUTH_TRIES:
        session.server_gives_up()
    elif rng.random() < 0.8:
        conv.close(by_client=True)
    else:
        conv.reset(by_client=True)
    return conv.ts


def _guesses(rng: random.Random, count: int, cursor: int) -> list[tuple[str, str]]:
    user = USERS[cursor // len(PASSWORDS) % len(USERS)]
    return [(user, PASSWORDS[(cursor + index) % len(PASSWORDS)]) for index in range(count)]


def _multi_guess(site: Site, variant: str, target: Host, client: ssh.Implementation, tasks: int,
                 connections: tuple[int, int]) -> None:
    """`tasks` connections in flight at once, each with 3 to 6 guesses, reconnecting as each one ends."""
    rng = site.rng(f"attack:ssh-guessing:{variant}")
    attacker = attacker_workstation(site, rng)
    port = site.office.ssh_port(target)
    start = attack_start(site, rng, 0.2, 0.4)
    free = [start + task * rng.uniform(0.05, 0.3) for task in range(tasks)]
    cursor, end = 0, start
    for _ in range(rng.randint(*connections)):
        task = min(range(tasks), key=free.__getitem__)
        count = rng.randint(3, MAX_AUTH_TRIES)
        free[task] = guessing_connection(site, rng, free[task], attacker, target, port, client,
                                         _guesses(rng, count, cursor)) + rng.uniform(0.01, 0.1)
        cursor += count
        end = max(end, free[task])
    record(site, RULE, variant, attacker, target, port, start, end)


def _slow(site: Site) -> None:
    """One password per connection, a connection every 20 to 60 seconds, for as long as the capture lasts."""
    rng = site.rng("attack:ssh-guessing:slow")
    attacker = attacker_workstation(site, rng)
    target = site.office.mail
    start = ts = attack_start(site, rng, 0.05, 0.15)
    end, cursor = start, 0
    while ts < site.end:
        end = guessing_connection(site, rng, ts, attacker, target, 22, ssh.GO_CLIENT, _guesses(rng, 1, cursor))
        cursor += 1
        ts += rng.uniform(20, 60)
    record(site, RULE, "slow-one-guess-per-20-60s", attacker, target, 22, start, end)


def _distributed(site: Site) -> None:
    """Dozens of internet sources against the SFTP server the office publishes to its partners: each source
    makes one or two connections with one to three guesses, the sources taking turns over the capture."""
    rng = site.rng("attack:ssh-guessing:distributed")
    office = site.office
    target = office.sftp
    sources = [office.internet.at(f"guesser-{last}", f"192.0.2.{last}") for last in range(128, 192)]
    start = attack_start(site, rng, 0.1, 0.2)
    span = (site.end - start) * 0.8
    end, cursor = start, 0
    for source in rng.sample(sources, rng.randint(40, len(sources))):
        ts = start + rng.random() * span
        for _ in range(rng.randint(1, 2)):
            count = rng.randint(1, 3)
            end = max(end, guessing_connection(site, rng, ts, source, target, 22, rng.choice(
                (ssh.LIBSSH_CLIENT, ssh.GO_CLIENT, ssh.PARAMIKO_CLIENT)), _guesses(rng, count, cursor)))
            cursor += count
            ts += rng.uniform(30, 240)
    record(site, RULE, "distributed-many-sources", DISTRIBUTED_SOURCES, target, 22, start, end)
