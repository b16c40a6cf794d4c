"""BRUTE_FORCE against every other service a guessing tool knows, on ports that do not name the service:
FTP on 2121, the building controller's telnet on 2323, POP3 and IMAP behind a proxy on 10110/10143, SMB
on 4455, RDP on 3390, MariaDB on 3307, PostgreSQL on 5433, VNC on 5901.

What it reproduces: THC-Hydra's modules for these protocols (`hydra -s PORT ... ftp|telnet|pop3|imap|smb|
rdp|mysql|postgres|vnc`), each speaking the real protocol up to the server's real refusal: vsftpd's
"530 Login incorrect." (three tries, then it hangs up), BusyBox login's "Login incorrect", Dovecot's
"-ERR [AUTH] Authentication failed." and "NO [AUTHENTICATIONFAILED]", SMB2 SESSION_SETUP answered
STATUS_LOGON_FAILURE, RDP with NLA where CredSSP fails inside TLS and the server hangs up, MariaDB's
ERR 1045 "Access denied", PostgreSQL's FATAL 28P01 after SCRAM-SHA-256, and RFB's "Authentication failed".
Telnet on 2323 is the port Mirai's scanner tried besides 23 (Antonakakis et al., "Understanding the Mirai
Botnet", USENIX Security 2017). The logins in clear (FTP, telnet, POP3, IMAP) are labelled
CLEARTEXT_CREDENTIALS too: a detector that says so is right.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from appliance.simulate.attacks import attack_start, attacker_workstation, record
from appliance.simulate.capture import Host
from appliance.simulate.office import DOMAIN, NETBIOS_DOMAIN
from appliance.simulate.protocols import mysql, postgres, smb, tls, vnc
from appliance.simulate.site import Site

RULE = "BRUTE_FORCE"
PASSWORDS = (  # the head of a guessing wordlist
    "123456",
    "password",
    "Winter2026!",
    "admin",
    "Passw0rd",
    "qwertz",
    "letmein",
    "Sommer2025",
    "root",
    "changeme",
    "Firma123",
    "welcome1",
)
IAC, DO, WILL, WONT = 255, 253, 251, 252
Guesses = list[tuple[str, str]]
Connection = Callable[[Site, random.Random, float, Host, Host, int, Guesses], float]


def inject(site: Site) -> None:
    office = site.office
    by_name = {host.name: host for host in office.internal_hosts()}
    for variant, target, port, connection, per_connection, cleartext in (
        ("ftp-port-2121", by_name["app02"], 2121, ftp_connection, 3, True),
        ("telnet-port-2323", office.bms, 2323, _telnet_connection, 3, True),
        ("pop3-port-10110", office.mail, 10110, _pop3_connection, 4, True),
        ("imap-port-10143", office.mail, 10143, _imap_connection, 4, True),
        ("smb-port-4455", office.fileserver, 4455, _smb_connection, 1, False),
        ("rdp-port-3390", office.inventory, 3390, rdp_connection, 1, False),
        ("mysql-port-3307", by_name["app01"], 3307, _mysql_connection, 1, False),
        ("postgresql-port-5433", office.database, 5433, _postgres_connection, 1, False),
        ("vnc-port-5901", office.engineering, 5901, _vnc_connection, 1, False),
    ):
        rng = site.rng(f"attack:password-guessing:{variant}")
        attacker = attacker_workstation(site, rng)
        start = ts = attack_start(site, rng, 0.2, 0.5)
        user = rng.choice(("admin", "root", "administrator", "postgres", "service"))
        cursor, end, total = 0, start, rng.randint(24, 40)
        while cursor < total:
            guesses = [(user, PASSWORDS[(cursor + index) % len(PASSWORDS)]) for index in range(per_connection)]
            end = connection(site, rng, ts, attacker, target, port, guesses)
            cursor += per_connection
            ts = end + rng.uniform(0.01, 0.3)
        record(site, RULE, variant, attacker, target, port, start, end)
        if cleartext:
            record(site, "CLEARTEXT_CREDENTIALS", f"{variant}-guesses", attacker, target, port, start, end)


def ftp_connection(site: Site, rng: random.Random, ts: float, attacker: Host, target: Host, port: int,
                   guesses: Guesses, banner: bytes = b"220 (vsFTPd 3.0.3)\r\n") -> float:
    """USER/PASS pairs, each "530" a second late (vsftpd's delay_failed_login); after the third the server
    hangs up (max_login_fails), before that the tool does."""
    conv = site.tcp(rng, attacker, target, port, ts).open()
    conv.server_sends(banner)
    for user, password in guesses:
        conv.client_sends(f"USER {user}\r\n".encode(), think=0.003)
        conv.server_sends(b"331 Please specify the password.\r\n")
        conv.client_sends(f"PASS {password}\r\n".encode(), think=0.003)
        conv.server_sends(b"530 Login incorrect.\r\n", processing=1.0)
    conv.close(by_client=len(guesses) < 3)
    return conv.ts


def _telnet_connection(site: Site, rng: random.Random, ts: float, attacker: Host, target: Host, port: int,
                       guesses: Guesses) -> float:
    conv = site.tcp(rng, attacker, target, port, ts).open()
    conv.server_sends(bytes((IAC, DO, 24, IAC, DO, 31, IAC, WILL, 1, IAC, WILL, 3)))
    conv.client_sends(bytes((IAC, WONT, 24, IAC, WONT, 31)))
    conv.server_sends(b"\r\nbms-01 login: ")
    for user, password in guesses:
        conv.client_sends(user.encode() + b"\r\n", think=0.01)
        conv.server_sends(b"Password: ")
        conv.client_sends(password.encode() + b"\r\n", think=0.01)
        conv.server_sends(b"\r\nLogin incorrect\r\nbms-01 login: ", processing=rng.uniform(2.0, 3.0))
    conv.close(by_client=False)
    return conv.ts


Exchange = list[tuple[bytes, bytes, float]]  # (client line, server reply, seconds before the reply)


def _line_guesses(greeting: bytes, exchanges: Callable[[int, str, str], Exchange], logout: tuple[bytes, bytes]
                  ) -> Connection:
    """A line protocol's guessing connection: greeting, each guess's lines, the tool's logout."""
    def connection(site: Site, rng: random.Random, ts: float, attacker: Host, target: Host, port: int,
                   guesses: Guesses) -> float:
        conv = site.tcp(rng, attacker, target, port, ts).open()
        conv.server_sends(greeting)
        for index, (user, password) in enumerate(guesses, start=1):
            for line, reply, delay in exchanges(index, user, password):
                conv.client_sends(line, think=0.005)
                conv.server_sends(reply, processing=delay)
        conv.client_sends(logout[0])
        conv.server_sends(logout[1])
        conv.close(by_client=False)
        return conv.ts

    return connection


_pop3_connection = _line_guesses(
    b"+OK Dovecot (Debian) ready.\r\n",
    lambda index, user, password: [(f"USER {user}\r\n".encode(), b"+OK\r\n", 0.001),
                                   (f"PASS {password}\r\n".encode(), b"-ERR [AUTH] Authentication failed.\r\n", 2.0)],
    (b"QUIT\r\n", b"+OK Logging out\r\n"),
)
_imap_connection = _line_guesses(
    b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN] "
    b"Dovecot (Debian) ready.\r\n",
    lambda index, user, password: [(f"a{index:03d} LOGIN {user} {password}\r\n".encode(),
                                    f"a{index:03d} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n".encode(),
                                    2.0)],
    (b"a999 LOGOUT\r\n", b"* BYE Logging out\r\na999 OK Logout completed.\r\n"),
)


def _smb_connection(site: Site, rng: random.Random, ts: float, attacker: Host, target: Host, port: int,
                    guesses: Guesses) -> float:
    conv = site.tcp(rng, attacker, target, port, ts).open()
    client = smb.SmbClient(conv, rng, smb.filetime(ts))
    client.log_on(NETBIOS_DOMAIN, DOMAIN, guesses[0][0], attacker.name.upper(), target.name.upper(), succeed=False)
    conv.close(by_client=False)
    return conv.ts


def rdp_connection(site: Site, rng: random.Random, ts: float, attacker: Host, target: Host, port: int,
                   guesses: Guesses) -> float:
    """NLA: X.224 asking for CredSSP, TLS, the NTLM legs inside it; a wrong password ends it at once."""
    conv = site.tcp(rng, attacker, target, port, ts).open()
    conv.client_sends(b"\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x03\x00\x00\x00")
    conv.server_sends(b"\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x02\x1f\x08\x00\x02\x00\x00\x00")
    tls.handshake_and_exchange(conv, rng, target.name, tls.PYTHON_REQUESTS,
                               [(rng.randint(300, 420), 60), (rng.randint(600, 700), 90)], think=0.005)
    conv.reset(by_client=False)
    return conv.ts


def _mysql_connection(site: Site, rng: random.Random, ts: float, attacker: Host, target: Host, port: int,
                      guesses: Guesses) -> float:
    conv = site.tcp(rng, attacker, target, port, ts).open()
    conv.server_sends(mysql.server_greeting(rng, "5.5.5-10.11.6-MariaDB-0+deb12u1", rng.randint(1000, 90000)))
    conv.client_sends(mysql.login_request(rng, guesses[0][0]))
    conv.server_sends(mysql.access_denied(guesses[0][0], attacker.ip), processing=0.001)
    conv.close(by_client=False)
    return conv.ts


def _postgres_connection(site: Site, rng: random.Random, ts: float, attacker: Host, target: Host, port: int,
                         guesses: Guesses) -> float:
    user = guesses[0][0]
    client_nonce = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop0123456789+/") for _ in range(24))
    server_nonce = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(24))
    conv = site.tcp(rng, attacker, target, port, ts).open()
    conv.client_sends(postgres.startup(user, "postgres"))
    conv.server_sends(postgres.sasl_offer())
    conv.client_sends(postgres.sasl_first(client_nonce))
    conv.server_sends(postgres.sasl_challenge(client_nonce, server_nonce, "W22ZaJ0SNY7soEsUEjb6gQ=="))
    conv.client_sends(postgres.sasl_final(client_nonce, server_nonce, "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
    conv.server_sends(postgres.authentication_failed(user), processing=0.002)
    conv.close(by_client=False)
    return conv.ts


def _vnc_connection(site: Site, rng: random.Random, ts: float, attacker: Host, target: Host, port: int,
                    guesses: Guesses) -> float:
    conv = site.tcp(rng, attacker, target, port, ts).open()
    conv.server_sends(vnc.VERSION)
    conv.client_sends(vnc.VERSION)
    conv.server_sends(vnc.security_types())
    conv.client_sends(bytes((vnc.SECURITY_VNC,)))
    conv.server_sends(vnc.challenge(rng))
    conv.client_sends(rng.randbytes(16))
    conv.server_sends(vnc.failed(), processing=0.001)
    conv.close(by_client=False)
    return conv.ts
