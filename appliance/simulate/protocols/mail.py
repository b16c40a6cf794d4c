"""Mail protocols in their line-based clear-text form: SMTP, IMAP and POP3 (and their STARTTLS upgrades)."""

from __future__ import annotations

from appliance.simulate.tcp import TcpConversation


def dialogue(conv: TcpConversation, lines: list[tuple[bool, str]], think: float = 0.02) -> None:
    """Play (from_client, line) pairs; the server's greeting comes first when the list starts with it."""
    for from_client, line in lines:
        data = (line + "\r\n").encode()
        if from_client:
            conv.client_sends(data, think=think)
        else:
            conv.server_sends(data, processing=0.001)


def smtp_starttls(domain: str, server_name: str) -> list[tuple[bool, str]]:
    return [
        (False, f"220 {server_name}.{domain} ESMTP Postfix"),
        (True, f"EHLO ws.{domain}"),
        (
            False,
            f"250-{server_name}.{domain}\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-STARTTLS\r\n"
            "250-ENHANCEDSTATUSCODES\r\n250 8BITMIME",
        ),
        (True, "STARTTLS"),
        (False, "220 2.0.0 Ready to start TLS"),
    ]


def imap_starttls(server_name: str) -> list[tuple[bool, str]]:
    return [
        (
            False,
            f"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE STARTTLS LOGINDISABLED] "
            f"{server_name} Dovecot ready.",
        ),
        (True, "a001 CAPABILITY"),
        (
            False,
            "* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE STARTTLS LOGINDISABLED\r\n"
            "a001 OK Pre-login capabilities listed, post-login capabilities have more.",
        ),
        (True, "a002 STARTTLS"),
        (False, "a002 OK Begin TLS negotiation now."),
    ]


def imap_login(server_name: str, user: str, password: str) -> list[tuple[bool, str]]:
    return [
        (
            False,
            f"* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE IDLE AUTH=PLAIN] "
            f"{server_name} ready.",
        ),
        (True, f"a001 LOGIN {user} {password}"),
        (False, "a001 OK [CAPABILITY IMAP4rev1 IDLE NAMESPACE] Logged in"),
        (True, "a002 SELECT INBOX"),
        (False, "* 42 EXISTS\r\n* 0 RECENT\r\na002 OK [READ-WRITE] Select completed."),
        (True, "a003 LOGOUT"),
        (False, "* BYE Logging out\r\na003 OK Logout completed."),
    ]


def pop3_login(server_name: str, user: str, password: str) -> list[tuple[bool, str]]:
    return [
        (False, f"+OK {server_name} POP3 server ready"),
        (True, f"USER {user}"),
        (False, "+OK"),
        (True, f"PASS {password}"),
        (False, "+OK Logged in."),
        (True, "STAT"),
        (False, "+OK 3 14211"),
        (True, "QUIT"),
        (False, "+OK Logging out."),
    ]
