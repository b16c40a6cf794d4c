"""How machines find each other on a LAN without asking the DNS server: NetBIOS name queries and browser
announcements (RFC 1002, MS-BRWS), LLMNR (RFC 4795), mDNS (RFC 6762), SSDP (UPnP) and WS-Discovery. Windows
hosts and printers send these all day; a printer installation sends all of them at once."""

from __future__ import annotations

import struct

from appliance.simulate import frames
from appliance.simulate.capture import Host
from appliance.simulate.protocols import dns

NBNS_PORT, NETBIOS_DATAGRAM_PORT, LLMNR_PORT, MDNS_PORT, SSDP_PORT, WSD_PORT = 137, 138, 5355, 5353, 1900, 3702
TYPE_PTR, TYPE_NB = 12, 0x20
SUBNET_BROADCAST = Host("subnet-broadcast", "10.20.255.255", "ff:ff:ff:ff:ff:ff")


def multicast(group: str) -> Host:
    """A multicast group as a destination: the IPv4-mapped Ethernet address 01:00:5e + the low 23 bits."""
    low = frames.ip_to_bytes(group)[1:]
    mac = bytes((0x01, 0x00, 0x5E, low[0] & 0x7F, low[1], low[2]))
    return Host(group, group, frames.mac_to_string(mac))


LLMNR_GROUP = multicast("224.0.0.252")
MDNS_GROUP = multicast("224.0.0.251")
SSDP_GROUP = multicast("239.255.255.250")


def netbios_name(name: str, suffix: int) -> bytes:
    """First-level encoding: the name padded to 15 bytes plus the suffix, each nibble as a letter A-P."""
    raw = name.upper().encode()[:15].ljust(15, b" ") + bytes((suffix,))
    encoded = bytes(b for byte in raw for b in (0x41 + (byte >> 4), 0x41 + (byte & 0x0F)))
    return bytes((32,)) + encoded + b"\x00"


def nbns_query(txid: int, name: str) -> bytes:
    """A broadcast name query for a workstation/server name (suffix 0x20, the file server service)."""
    return struct.pack("!HHHHHH", txid, 0x0110, 1, 0, 0, 0) + netbios_name(name, 0x20) + struct.pack("!HH", TYPE_NB, 1)


def nbns_answer(txid: int, name: str, address: bytes) -> bytes:
    record = netbios_name(name, 0x20) + struct.pack("!HHIHH", TYPE_NB, 1, 300000, 6, 0) + address
    return struct.pack("!HHHHHH", txid, 0x8500, 0, 1, 0, 0) + record


def host_announcement(host: Host, workgroup: str, uptime_ms: int) -> bytes:
    """A browser HostAnnouncement: a NetBIOS datagram carrying an SMB trans to \\MAILSLOT\\BROWSE."""
    announcement = (
        struct.pack("<BBI", 1, 0, 720_000)  # opcode HostAnnouncement, update count, periodicity 12 min
        + host.name.upper().encode()[:15].ljust(16, b"\x00")
        + struct.pack("<BBIBBH", 10, 0, 0x00051003, 15, 1, 0xAA55)  # OS 10.0, server type, browser 15.1
        + b"\x00"
    )
    mailslot = b"\\MAILSLOT\\BROWSE\x00"
    setup = struct.pack("<HHH", 1, 1, 2)  # mailslot write, priority, class
    data_offset = 32 + 1 + 28 + len(setup) + 2 + len(mailslot)
    trans = struct.pack("<BHHHHBBHIHHHHH", 17, 0, len(announcement), 0, 0, 0, 0, 0, 1000, 0, 0, 0,
                        len(announcement), data_offset)
    trans += struct.pack("<BB", 3, 0) + setup + struct.pack("<H", len(mailslot) + len(announcement))
    smb = b"\xffSMB" + bytes((0x25,)) + bytes(27) + trans + mailslot + announcement
    source, dest = netbios_name(host.name, 0x00), netbios_name(workgroup, 0x1D)
    body = source + dest + smb
    header = struct.pack("!BBH4sHHH", 0x11, 0x02, uptime_ms & 0xFFFF, host.ip_bytes, NETBIOS_DATAGRAM_PORT,
                         len(body), 0)
    return header + body


def llmnr_query(txid: int, name: str) -> bytes:
    return dns.query(txid, name, dns.TYPE_A, recursion_desired=False)


def mdns_query(service: str) -> bytes:
    """A one-shot PTR query with the unicast-response bit, as printer wizards ask."""
    name = dns.encode_name(service)
    return struct.pack("!HHHHHH", 0, 0, 1, 0, 0, 0) + name + struct.pack("!HH", TYPE_PTR, 0x8001)


def mdns_announcement(service: str, instance: str) -> bytes:
    """A printer's answer: PTR from the service to its instance name."""
    target = dns.encode_name(f"{instance}.{service}")
    record = dns.encode_name(service) + struct.pack("!HHIH", TYPE_PTR, 1, 4500, len(target)) + target
    return struct.pack("!HHHHHH", 0, 0x8400, 0, 1, 0, 0) + record


def ssdp_search(target: str) -> bytes:
    return (
        "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\n"
        f"ST: {target}\r\nUSER-AGENT: Microsoft-Windows/10.0 UPnP/1.0\r\n\r\n"
    ).encode()


def ssdp_answer(target: str, location: str, uuid: str) -> bytes:
    return (
        "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nEXT:\r\n"
        f"LOCATION: {location}\r\nSERVER: Embedded/1.0 UPnP/1.0 Printer/1.0\r\nST: {target}\r\n"
        f"USN: uuid:{uuid}::{target}\r\n\r\n"
    ).encode()


def wsd_probe(message_id: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"'
        ' xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"'
        ' xmlns:wsd="http://schemas.xmlsoap.org/ws/2005/04/discovery"'
        ' xmlns:wprt="http://schemas.microsoft.com/windows/2006/08/wdp/print"><soap:Header>'
        "<wsa:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</wsa:To>"
        "<wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</wsa:Action>"
        f"<wsa:MessageID>urn:uuid:{message_id}</wsa:MessageID></soap:Header><soap:Body><wsd:Probe>"
        "<wsd:Types>wprt:PrintDeviceType</wsd:Types></wsd:Probe></soap:Body></soap:Envelope>"
    ).encode()
