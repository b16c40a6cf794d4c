"""What a flow looks like, in the terms several rules share (probe, failed attempt, service)."""

from __future__ import annotations

from sensor.records import Flow

# What the sensor's content identification calls a service, in the names rules and alerts use.
SERVICE_NAMES: dict[str, str] = {
    "ssh": "SSH", "rdp": "RDP", "smb": "SMB", "dcerpc": "RPC", "vnc": "VNC", "telnet": "Telnet", "ftp": "FTP",
    "pop3": "POP3", "imap": "IMAP", "smtp": "SMTP", "http": "HTTP", "tls": "TLS", "mysql": "MySQL",
    "postgresql": "PostgreSQL", "mssql": "MSSQL", "redis": "Redis", "mongodb": "MongoDB", "ldap": "LDAP",
    "kerberos": "Kerberos", "dns": "DNS", "modbus": "Modbus", "dnp3": "DNP3", "bacnet": "BACnet", "sip": "SIP",
    "irc": "IRC", "quic": "QUIC", "ntp": "NTP", "dhcp": "DHCP", "snmp": "SNMP", "socks": "SOCKS",
}

# The service a TCP server port usually carries: only a fallback for flows whose payload the sensor could not
# identify (no payload, an old sensor, an encrypted protocol it does not know). 5985/5986 carry WinRM.
SERVICE_BY_PORT: dict[int, str] = {
    21: "FTP", 22: "SSH", 23: "Telnet", 25: "SMTP", 110: "POP3", 135: "RPC", 139: "SMB", 143: "IMAP", 389: "LDAP",
    445: "SMB", 465: "SMTP", 587: "SMTP", 993: "IMAP", 995: "POP3", 1433: "MSSQL", 1521: "Oracle",
    3306: "MySQL", 3389: "RDP", 5432: "PostgreSQL", 5900: "VNC", 5901: "VNC", 5985: "WinRM", 5986: "WinRM",
    6379: "Redis", 27017: "MongoDB",
}
WINRM_PORTS = frozenset((5985, 5986))

# Remote administration and file-sharing services an attacker moves laterally with.
ADMIN_SERVICES = frozenset(("SSH", "RDP", "SMB", "WinRM", "RPC", "VNC"))

ICMP_ECHO_REQUEST = {"ICMP": 8, "ICMPv6": 128}


def service_of(flow: Flow) -> str | None:
    """The TCP service a flow speaks: what the sensor identified from its bytes, else what its server port
    usually carries. A flow the sensor identified as something else is never named by its port: HTTP on port
    22 is not SSH, and SSH on port 2222 is SSH. WinRM is HTTP(S) on its own ports."""
    if flow.proto != "TCP":
        return None
    if flow.service:
        name = SERVICE_NAMES.get(flow.service, flow.service.upper())
        if name in ("HTTP", "TLS") and flow.dst_port in WINRM_PORTS:
            return "WinRM"
        return name
    return SERVICE_BY_PORT.get(flow.dst_port)


def admin_service(flow: Flow) -> str | None:
    """The remote-administration service of a TCP flow, if it is one."""
    service = service_of(flow)
    return service if service in ADMIN_SERVICES else None


def duration(flow: Flow) -> float:
    return max(0.0, flow.ts_end - flow.ts_start)


def is_probe(flow: Flow) -> bool:
    """A TCP or UDP attempt that carried no data either way: what scanners leave (SYN, FIN, NULL, XMAS,
    connect-and-close, UDP without reply). Real conversations carry payload in at least one direction.
    UDP sent from a well-known port is a server answering (DHCP offers to leases nobody takes, DNS replies
    after the client gave up), not a probe: scanners send from ephemeral ports."""
    if flow.proto == "TCP":
        return flow.payload_orig == 0 and flow.payload_resp == 0
    if flow.proto == "UDP":
        return flow.pkts_resp == 0 and flow.src_port >= 1024
    return False


def is_echo_request(flow: Flow) -> bool:
    return ICMP_ECHO_REQUEST.get(flow.proto) == flow.src_port


def tcp_probe_kind(flow: Flow) -> str:
    """Nmap's names for the scan a probe belongs to, from the OR of the scanner's TCP flags."""
    flags = flow.tcp_flags_orig
    syn, fin, psh, urg = flags & 0x02, flags & 0x01, flags & 0x08, flags & 0x20
    if flow.proto == "UDP":
        return "UDP"
    if syn:
        return "CONNECT" if "A" in flow.history else "SYN"
    if fin and psh and urg:
        return "XMAS"
    if fin:
        return "FIN"
    if flags == 0:
        return "NULL"
    return "OTHER"
