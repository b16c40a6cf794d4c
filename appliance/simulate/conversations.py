"""Whole conversations between hosts, built from the protocol modules: a DNS lookup through the domain
controller, an HTTPS visit, an SMB file copy... Benign traffic and attacks are both made of these."""

from __future__ import annotations

import random

from appliance.simulate import frames
from appliance.simulate.capture import BROADCAST, Host
from appliance.simulate.internet import NTP_POOL, UPSTREAM_DNS
from appliance.simulate.office import DOMAIN, NETBIOS_DOMAIN, REALM
from appliance.simulate.protocols import dhcp, dns, http, kerberos, ldap, ntp, quic, smb, ssh, tls
from appliance.simulate.site import Site

INTERNAL_DNS_TTL = 1200


def dns_lookup(
    site: Site,
    rng: random.Random,
    ts: float,
    client: Host,
    name: str,
    qtype: int = dns.TYPE_A,
    rdatas: list[bytes] | None = None,
    rcode: int = 0,
    resolver: Host | None = None,
    ttl: int = 300,
) -> float:
    """Client asks `resolver` (the DC by default). The DC answers office names itself and forwards other
    names upstream unless cached. Returns when the client has its answer."""
    capture, office = site.capture, site.office
    resolver = resolver or office.dc
    if rdatas is None:
        rdatas = [site.host_for(name).ip_bytes] if qtype == dns.TYPE_A else []
    ts = office.resolve(capture, ts, client, resolver)
    sport, txid = client.ephemeral_port(rng), rng.getrandbits(16)
    capture.udp(ts, client, resolver, sport, 53, dns.query(txid, name, qtype))
    answer_at = ts + 0.0003
    expires = site.dns_cache.get(name, 0.0)
    if resolver is office.dc and not name.endswith(DOMAIN) and not expires > ts:
        upstream = office.internet.at(*UPSTREAM_DNS)
        up_port, up_txid = office.dc.ephemeral_port(rng), rng.getrandbits(16)
        forwarded_at = ts + 0.0002
        capture.udp(forwarded_at, office.dc, upstream, up_port, 53, dns.query(up_txid, name, qtype))
        answer_at = forwarded_at + site.rtt(office.dc, upstream)
        capture.udp(answer_at, upstream, office.dc, 53, up_port, dns.response(up_txid, name, qtype, rdatas, ttl, rcode))
        answer_at += 0.0002
        if rcode == 0 and qtype == dns.TYPE_A:
            site.dns_cache[name] = ts + ttl
    capture.udp(answer_at, resolver, client, 53, sport, dns.response(txid, name, qtype, rdatas, ttl, rcode))
    return answer_at + 0.0002


def both_families(site: Site, rng: random.Random, ts: float, client: Host, name: str) -> float:
    """Windows asks for both address families at once (the office has no IPv6: AAAA comes back empty)."""
    dns_lookup(site, rng, ts, client, name, qtype=dns.TYPE_AAAA, rdatas=[])
    return dns_lookup(site, rng, ts + 0.00005, client, name)


def https_visit(
    site: Site,
    rng: random.Random,
    ts: float,
    client: Host,
    name: str,
    profile: tls.ClientProfile,
    exchanges: list[tuple[int, int]],
    lookup: bool = True,
    server: Host | None = None,
) -> float:
    """DNS lookup, then TLS with SNI `name` and the encrypted exchanges: over TCP (ending with a FIN), or as
    HTTP/3 over QUIC on UDP 443 when the profile is a QUIC client's (what Chrome uses once a site advertised
    it). Returns the end time."""
    if lookup:
        ts = both_families(site, rng, ts, client, name)
    server = server or site.host_for(name)
    if tls.EXT_QUIC_TRANSPORT_PARAMETERS in profile.extensions:
        ts = site.office.resolve(site.capture, ts, client, server)
        connection = quic.QuicConnection(site.capture, rng, client, server, client.ephemeral_port(rng), ts,
                                         site.rtt(client, server)).handshake(name, profile)
        for upload, download in exchanges:
            connection.exchange(upload, download, think=0.03)
        connection.close()
        return connection.ts
    conv = site.tcp(rng, client, server, 443, ts).open()
    tls.handshake_and_exchange(conv, rng, name, profile, exchanges)
    conv.close(by_client=rng.random() < 0.7)
    return conv.ts


def http_exchange(
    site: Site,
    rng: random.Random,
    ts: float,
    client: Host,
    server: Host,
    host_header: str,
    requests: list[tuple[str, str, int]],
    user_agent: str,
    headers: dict[str, str] | None = None,
    port: int = 80,
    content_type: str = "text/html; charset=utf-8",
    status: tuple[int, str] = (200, "OK"),
) -> float:
    """One keep-alive connection carrying (method, uri, response size) requests."""
    conv = site.tcp(rng, client, server, port, ts).open()
    for index, (method, uri, size) in enumerate(requests):
        body = b"" if method == "GET" else site.capture.filler(rng.randint(200, 2000), index)
        conv.client_sends(http.request(method, host_header, uri, user_agent, headers, body), think=0.05)
        conv.server_sends(
            http.response(*status, site.capture.filler(size, rng.getrandbits(17)), content_type),
            processing=0.005 + rng.random() * 0.03,
        )
    conv.close(by_client=True)
    return conv.ts


def find_domain_controller(site: Site, rng: random.Random, ts: float, client: Host) -> float:
    """The netlogon ping over CLDAP (UDP 389); the DC answers with its Netlogon structure."""
    dc = site.office.dc
    ts = site.office.resolve(site.capture, ts, client, dc)
    port, message_id = client.ephemeral_port(rng), rng.randint(1, 200)
    request = ldap.search_request(message_id, "", ldap.netlogon_filter(DOMAIN, client.name.upper()), ["Netlogon"])
    site.capture.udp(ts, client, dc, port, ldap.PORT, request)
    netlogon = site.capture.filler(rng.randint(140, 180), message_id)
    reply = ldap.search_entry(message_id, {"netlogon": [netlogon]}) + ldap.search_done(message_id)
    site.capture.udp(ts + 0.0004, dc, client, ldap.PORT, port, reply)
    return ts + 0.0006


def read_root_dse(site: Site, rng: random.Random, ts: float, client: Host) -> float:
    """The unauthenticated rootDSE read that precedes every LDAP session of a Windows client."""
    conv = site.tcp(rng, client, site.office.dc, ldap.PORT, ts).open()
    attributes = [
        "subschemaSubentry",
        "dsServiceName",
        "namingContexts",
        "defaultNamingContext",
        "supportedSASLMechanisms",
        "dnsHostName",
        "supportedLDAPVersion",
    ]
    conv.client_sends(ldap.search_request(1, "", ldap.present("objectClass"), attributes))
    base = ",".join(f"DC={part}" for part in DOMAIN.split("."))
    entry = ldap.search_entry(
        1,
        {
            "defaultNamingContext": [base.encode()],
            "namingContexts": [base.encode(), f"CN=Configuration,{base}".encode()],
            "supportedSASLMechanisms": [b"GSSAPI", b"GSS-SPNEGO", b"EXTERNAL", b"DIGEST-MD5"],
            "dnsHostName": [f"dc01.{DOMAIN}".encode()],
            "supportedLDAPVersion": [b"3", b"2"],
        },
    )
    conv.server_sends(entry + ldap.search_done(1), processing=0.001)
    conv.close()
    return conv.ts


def dhcp_boot(site: Site, rng: random.Random, ts: float, client: Host, server: Host | None = None) -> float:
    """DISCOVER, OFFER, REQUEST, ACK; then the gratuitous ARP Windows sends for its new address."""
    capture, office = site.capture, site.office
    server = server or office.dc
    unassigned = Host(client.name, "0.0.0.0", client.mac, ttl=128)
    xid = rng.getrandbits(32)

    def lease(msg_type: int) -> bytes:
        return dhcp.server_message(
            msg_type,
            xid,
            client.mac_bytes,
            client.ip_bytes,
            server.ip_bytes,
            office.gateway.ip_bytes,
            office.dc.ip_bytes,
            DOMAIN,
        )

    request = dhcp.client_message(dhcp.REQUEST, xid, client.mac_bytes, client.name, client.ip_bytes, server.ip_bytes)
    exchange = [
        (unassigned, BROADCAST, 68, 67, dhcp.client_message(dhcp.DISCOVER, xid, client.mac_bytes, client.name)),
        (server, client, 67, 68, lease(dhcp.OFFER)),
        (unassigned, BROADCAST, 68, 67, request),
        (server, client, 67, 68, lease(dhcp.ACK)),
    ]
    for src, dst, sport, dport, payload in exchange:
        capture.udp(ts, src, dst, sport, dport, payload)
        ts += 0.0008 if src is server else 0.002
    capture.arp(ts + 0.3, 1, frames.BROADCAST_MAC, client.mac_bytes, client.ip_bytes, frames.ZERO_MAC, client.ip_bytes)
    return ts + 0.4


def ntp_sync(site: Site, rng: random.Random, ts: float, client: Host, server: Host) -> float:
    ts = site.office.resolve(site.capture, ts, client, server)
    port = 123 if client.os != "windows" or client.role == "server" else client.ephemeral_port(rng)
    request = ntp.client_request(ts)
    site.capture.udp(ts, client, server, port, 123, request)
    reply_at = ts + site.rtt(client, server)
    stratum, reference = (3, server.ip_bytes) if server.role == "external" else (4, b"\xcb\x00\x71\x7b")
    site.capture.udp(reply_at, server, client, 123, port, ntp.server_reply(request, reply_at, stratum, reference))
    return reply_at


def dc_ntp_upstream(site: Site, rng: random.Random, ts: float) -> float:
    return ntp_sync(site, rng, ts, site.office.dc, site.office.internet.host(NTP_POOL))


def kerberos_exchange(site: Site, rng: random.Random, ts: float, client: Host, request: bytes, reply: bytes) -> float:
    conv = site.tcp(rng, client, site.office.dc, 88, ts).open()
    conv.client_sends(kerberos.over_tcp(request))
    conv.server_sends(kerberos.over_tcp(reply), processing=0.002)
    conv.close(by_client=True)
    return conv.ts


def kerberos_logon(site: Site, rng: random.Random, ts: float, client: Host, user: str) -> float:
    request = kerberos.as_req(rng, user, REALM, ts)
    reply = kerberos.kdc_rep(rng, 11, user, REALM, kerberos.service_principal(f"krbtgt/{REALM}"), kerberos.AES256)
    return kerberos_exchange(site, rng, ts, client, request, reply)


def service_ticket(
    site: Site,
    rng: random.Random,
    ts: float,
    client: Host,
    user: str,
    service: str,
    requested_etypes: tuple[int, ...] = kerberos.WINDOWS_ETYPES,
    ticket_etype: int = kerberos.AES256,
) -> float:
    """TGS-REQ for `service`, TGS-REP whose ticket is encrypted with `ticket_etype`."""
    request = kerberos.tgs_req(rng, user, REALM, service, kerberos.tgt(rng, REALM), ts, requested_etypes)
    reply = kerberos.kdc_rep(rng, 13, user, REALM, kerberos.service_principal(service), ticket_etype)
    return kerberos_exchange(site, rng, ts, client, request, reply)


def smb_file(
    site: Site,
    rng: random.Random,
    ts: float,
    client: Host,
    user: str,
    server: Host,
    share: str,
    filename: str,
    size: int,
    write: bool,
) -> float:
    conv = site.tcp(rng, client, server, 445, ts).open()
    session = smb.SmbClient(conv, rng, smb.filetime(ts))
    session.log_on(NETBIOS_DOMAIN, DOMAIN, user, client.name.upper(), server.name.upper())
    session.transfer(f"\\\\{server.name}\\{share}", filename, size, write)
    conv.close(by_client=True)
    return conv.ts


def ssh_session(
    site: Site,
    rng: random.Random,
    ts: float,
    client: Host,
    server: Host,
    keystrokes: int,
    implementation: ssh.Implementation = ssh.WINDOWS_CLIENT,
    user: str = "admin",
    password: str | None = None,
) -> float:
    """An interactive session: handshake, a login that succeeds (the key, or `password`), a shell, one
    small packet each way per keystroke, then the logout."""
    conv = site.tcp(rng, client, server, site.office.ssh_port(server), ts)
    session = ssh.SshSession(conv, rng, implementation).handshake()
    session.ask_methods(user)
    if password is None:
        session.publickey(user)
    else:
        session.password(user, password, accepted=True, think=rng.uniform(1.5, 4.0))
    session.open_session()
    session.keystrokes(keystrokes)
    session.close_session()
    return conv.ts
