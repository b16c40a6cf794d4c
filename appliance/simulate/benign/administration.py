"""IT at work over SSH: admins logging in to servers (now and then mistyping a password first, one server on
port 2222), Ansible fanning out to every Linux host twice an hour, and the nightly backup pulling the Linux
hosts' data and shipping it to an offsite provider.

What separates these from an attack is not the protocol or the port: an admin's login succeeds after one or
two typos, Ansible's fan-out logs in everywhere with a key at once, the backup moves hundreds of megabytes
out of hours to the same provider every night."""

from __future__ import annotations

import random

from appliance.simulate.benign.rhythm import Process, heavy_tail, scheduled
from appliance.simulate.capture import Host
from appliance.simulate.office import Office
from appliance.simulate.protocols import ssh, tls
from appliance.simulate.site import Site

ANSIBLE_EVERY = 1800.0  # the playbook runs at :00 and :30
ANSIBLE_FORKS = 5  # Ansible's default: five hosts in parallel
BACKUP_PULL_AT = 1800.0  # 00:30 UTC
OFFSITE_AT = 5400.0  # 01:30 UTC
OFFSITE_PROVIDER = "s3.offsite-vault.example"
DAY = 86400.0


def processes(site: Site) -> list[Process]:
    return [_ansible_runs(site), _nightly_pulls(site), _nightly_offsite(site)]


# -- admins -------------------------------------------------------------------------------------------------
def admin_targets(office: Office, admin: Host, rng: random.Random) -> list[Host]:
    """The handful of hosts one admin looks after; the first admin also runs the Git server (sshd on 2222)
    and the build containers (sshd on 22222)."""
    hosts = rng.sample(office.managed_linux, 5)
    if admin is office.admins[0]:
        hosts += [host for host in (office.git, office.containers) if host not in hosts]
    return hosts


def admin_visit(site: Site, rng: random.Random, ts: float, admin: Host) -> float:
    """One SSH visit: a key login, or (one time in five) a password typed wrong once or twice first; then a
    shell, or an scp of a file one way or the other."""
    office = site.office
    server = rng.choice(admin_targets(office, admin, site.rng(f"benign:admin-targets:{admin.name}")))
    implementation = rng.choice((ssh.WINDOWS_CLIENT, ssh.WINDOWS_CLIENT, ssh.PUTTY_CLIENT))
    user = "adm-" + admin.name.replace("-", "")
    conv = site.tcp(rng, admin, server, office.ssh_port(server), ts)
    session = ssh.SshSession(conv, rng, implementation).handshake()
    session.ask_methods(user)
    if rng.random() < 0.2:
        password = "Kl4r" + "".join(rng.choice("abcdefgh0123456789") for _ in range(rng.randint(6, 10)))
        for _ in range(rng.choice((1, 1, 2))):
            session.password(user, password[:-1] + "x", accepted=False, think=rng.uniform(2.0, 6.0))
        session.password(user, password, accepted=True, think=rng.uniform(3.0, 8.0))
    else:
        session.publickey(user)
    if rng.random() < 0.25:
        upload = rng.random() < 0.5
        session.open_session(b"scp -t /tmp/" if upload else b"scp -f /var/log/syslog")
        session.stream(heavy_tail(rng, 200_000, 60_000_000), to_server=upload)
    else:
        session.open_session()
        session.keystrokes(rng.randint(5, 60))
    session.close_session()
    return conv.ts


# -- Ansible ------------------------------------------------------------------------------------------------
def _ansible_runs(site: Site) -> Process:
    rng = site.rng("benign:ansible")
    ts = scheduled(site.start, ANSIBLE_EVERY, 0.0) + rng.uniform(5, 40)
    while True:
        yield ts
        _playbook(site, rng, ts)
        ts = scheduled(ts + 60, ANSIBLE_EVERY, 0.0) + rng.uniform(5, 40)


def _playbook(site: Site, rng: random.Random, ts: float) -> None:
    """Every managed host, five at a time: log in with the key, gather facts, run a few tasks (each one a
    module uploaded over the same connection, run, and its JSON result read back), log out."""
    hosts = site.office.managed_linux
    forks_free = [ts] * ANSIBLE_FORKS
    for host in hosts:
        fork = min(range(ANSIBLE_FORKS), key=forks_free.__getitem__)
        forks_free[fork] = _ansible_host(site, rng, forks_free[fork] + rng.uniform(0.01, 0.2), host)


def _ansible_host(site: Site, rng: random.Random, ts: float, host: Host) -> float:
    automation = site.office.automation
    conv = site.tcp(rng, automation, host, site.office.ssh_port(host), ts)
    session = ssh.SshSession(conv, rng, ssh.OPENSSH_CLIENT).handshake()
    session.ask_methods("ansible")
    session.publickey("ansible", rsa=True)
    for task in range(rng.randint(3, 7)):
        session.open_session(b"/bin/sh -c '/usr/bin/python3 && sleep 0'")
        module = rng.randint(25_000, 60_000) if task else rng.randint(90_000, 140_000)  # facts come first
        session.stream(module, to_server=True)
        session.stream(rng.randint(20_000, 60_000) if not task else rng.randint(400, 3000), to_server=False)
        session.finish_channel()
    conv.close(by_client=True)
    return conv.ts


# -- backups ------------------------------------------------------------------------------------------------
def _nightly_pulls(site: Site) -> Process:
    return _daily(site, site.rng("benign:backup-pull"), BACKUP_PULL_AT, 60, _pull_everything)


def _nightly_offsite(site: Site) -> Process:
    return _daily(site, site.rng("benign:backup-offsite"), OFFSITE_AT, 120, _ship_offsite)


def _daily(site: Site, rng: random.Random, at: float, slack: float, job) -> Process:
    """A cron job at `at` seconds past midnight UTC, starting up to `slack` seconds late."""
    ts = site.start
    while True:
        ts = scheduled(ts, DAY, at) + rng.uniform(0, slack)
        yield ts
        ts = job(site, rng, ts) + 3600


def _pull_everything(site: Site, rng: random.Random, ts: float) -> float:
    """rsync -az -e ssh, host after host: a small file list out, the night's changes back."""
    backup = site.office.backup
    for host in site.office.managed_linux:
        if host is backup:
            continue
        conv = site.tcp(rng, backup, host, site.office.ssh_port(host), ts)
        session = ssh.SshSession(conv, rng, ssh.OPENSSH_CLIENT).handshake()
        session.ask_methods("backup")
        session.publickey("backup", rsa=True)
        session.open_session(b"rsync --server --sender -logDtprze.iLsfxCIvu . /srv/")
        session.stream(rng.randint(2_000, 20_000), to_server=True)
        session.stream(heavy_tail(rng, 3_000_000, 40_000_000, alpha=1.5), to_server=False)
        session.close_session()
        ts = conv.ts + rng.uniform(1, 5)
    return ts


def _ship_offsite(site: Site, rng: random.Random, ts: float) -> float:
    """restic to an S3-compatible provider: the night's packs uploaded over one HTTPS connection."""
    backup = site.office.backup
    provider = site.host_for(OFFSITE_PROVIDER)
    packs = [(rng.randint(8_000_000, 16_000_000), rng.randint(300, 600)) for _ in range(rng.randint(10, 20))]
    conv = site.tcp(rng, backup, provider, 443, ts).open()
    tls.handshake_and_exchange(conv, rng, OFFSITE_PROVIDER, tls.GO_CRYPTO_TLS, packs, think=0.02)
    conv.close(by_client=True)
    return conv.ts
