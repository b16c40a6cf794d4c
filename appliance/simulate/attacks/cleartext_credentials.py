"""CLEARTEXT_CREDENTIALS: logins that put a password on the wire unencrypted."""

from __future__ import annotations

import random
from collections.abc import Callable

from appliance.simulate import conversations as talk
from appliance.simulate.attacks import attack_start, attacker_workstation, record
from appliance.simulate.capture import Host
from appliance.simulate.office import DOMAIN
from appliance.simulate.protocols import http, mail
from appliance.simulate.site import Site

RULE = "CLEARTEXT_CREDENTIALS"
IAC, DO, WILL, WONT = 255, 253, 251, 252
Session = Callable[[Site, random.Random, float, Host, Host, int], float]


def inject(site: Site) -> None:
    rng = site.rng("attack:cleartext")
    office = site.office
    for variant, target, port, session in (
        ("ftp", office.internet.host("ftp.supplier-portal.example"), 21, _ftp),
        ("telnet", office.printers[0], 23, _telnet),
        ("http-basic", office.printers[1], 80, _http_basic),
        ("pop3", office.mail, 110, _mail_lines(mail.pop3_login)),
        ("imap-login", office.mail, 143, _mail_lines(mail.imap_login)),
    ):
        host = attacker_workstation(site, rng)
        start = attack_start(site, rng, 0.1, 0.8)
        end = session(site, rng, start, host, target, port)
        record(site, RULE, variant, host, target, port, start, end)


def _user(host: Host) -> str:
    return "u." + host.name.replace("-", "")


def _ftp(site: Site, rng: random.Random, ts: float, host: Host, server: Host, port: int) -> float:
    ts = talk.dns_lookup(site, rng, ts, host, server.name)
    conv = site.tcp(rng, host, server, port, ts).open()
    mail.dialogue(
        conv,
        [
            (False, "220 (vsFTPd 3.0.5)"),
            (True, f"USER {_user(host)}"),
            (False, "331 Please specify the password."),
            (True, "PASS Lieferung2026"),
            (False, "230 Login successful."),
            (True, "PWD"),
            (False, '257 "/" is the current directory'),
            (True, "QUIT"),
            (False, "221 Goodbye."),
        ],
    )
    conv.close(by_client=False)
    return conv.ts


def _telnet(site: Site, rng: random.Random, ts: float, host: Host, server: Host, port: int) -> float:
    """Option negotiation, then the user's keystrokes one character per packet, echoed except the password."""
    conv = site.tcp(rng, host, server, port, ts).open()
    conv.server_sends(bytes((IAC, DO, 24, IAC, DO, 32, IAC, DO, 35, IAC, DO, 39)))
    conv.client_sends(bytes((IAC, WONT, 24, IAC, WONT, 32, IAC, WONT, 35, IAC, WONT, 39)))
    conv.server_sends(bytes((IAC, WILL, 3, IAC, WILL, 1)) + b"\r\nPrinter admin console\r\nlogin: ")
    for char in "admin":
        conv.client_sends(char.encode(), think=rng.uniform(0.08, 0.25))
        conv.server_sends(char.encode())
    conv.client_sends(b"\r\n")
    conv.server_sends(b"\r\nPassword: ")
    for char in "access4all":
        conv.client_sends(char.encode(), think=rng.uniform(0.08, 0.25))
    conv.client_sends(b"\r\n")
    conv.server_sends(b"\r\nWelcome.\r\n> ")
    conv.client_sends(b"exit\r\n", think=1.5)
    conv.close(by_client=False)
    return conv.ts


def _http_basic(site: Site, rng: random.Random, ts: float, host: Host, server: Host, port: int) -> float:
    return talk.http_exchange(
        site,
        rng,
        ts,
        host,
        server,
        server.ip,
        [("GET", "/admin/settings.html", 7200)],
        http.BROWSER_USER_AGENTS[0],
        headers=http.basic_authorization("admin", "printer123"),
        port=port,
    )


def _mail_lines(script: Callable[[str, str, str], list[tuple[bool, str]]]) -> Session:
    def session(site: Site, rng: random.Random, ts: float, host: Host, server: Host, port: int) -> float:
        conv = site.tcp(rng, host, server, port, ts).open()
        mail.dialogue(conv, script(f"{server.name}.{DOMAIN}", _user(host), "Spring2026"))
        conv.close(by_client=True)
        return conv.ts

    return session
