"""Monitoring, the way Zabbix, PRTG or Nagios do it: the monitoring server pings every device once a minute
(fping: all of them within a second), reads SNMP counters from the gateway, the printers and the servers,
and checks that the web services answer; every Linux host's metrics agent reports to a SaaS every minute.

From the wire, mon01 sweeps the whole LAN with ICMP every minute and the Linux hosts beacon to one external
peer on a one-minute timer: both are what a naive sweep or beacon detector fires on."""

from __future__ import annotations

import random
import struct

from appliance.simulate import conversations as talk
from appliance.simulate import frames
from appliance.simulate.benign.rhythm import Process, every, powered_on
from appliance.simulate.capture import Host
from appliance.simulate.protocols import mail, snmp, tls
from appliance.simulate.site import Site

POLL_EVERY = 60.0
FPING_INTERVAL = 0.01  # fping's default gap between targets
COMMUNITY = "n0c-m0nitor"
METRICS_INTAKE = "agent-intake.metrics-saas.example"
FPING_PAYLOAD = bytes(56)


def processes(site: Site) -> list[Process]:
    office = site.office
    rng = site.rng("benign:monitoring")
    out = [
        every(rng, site.start + rng.random() * POLL_EVERY, POLL_EVERY, 0.002,
              lambda ts, check=check: check(site, rng, ts))
        for check in (_ping_everything, _snmp_round, _service_checks)
    ]
    for host in [*office.managed_linux, office.automation]:
        agent_rng = site.rng(f"benign:metrics-agent:{host.name}")
        out.append(every(agent_rng, site.start + agent_rng.random() * POLL_EVERY, POLL_EVERY, 0.005,
                         lambda ts, host=host, agent_rng=agent_rng: _report_metrics(site, agent_rng, ts, host)))
    return out


def _monitored(site: Site) -> list[Host]:
    office = site.office
    return [host for host in office.internal_hosts() if host is not office.monitoring and host.role != "ot"]


def _ping_everything(site: Site, rng: random.Random, ts: float) -> None:
    monitor, capture = site.office.monitoring, site.capture
    ident = rng.getrandbits(16)
    for sequence, host in enumerate(_monitored(site)):
        if not powered_on(host, ts):  # switched off: the ARP request goes unanswered, the check times out
            capture.arp(ts, 1, frames.BROADCAST_MAC, monitor.mac_bytes, monitor.ip_bytes, frames.ZERO_MAC,
                        host.ip_bytes)
            ts += FPING_INTERVAL
            continue
        sent = site.office.resolve(capture, ts, monitor, host)
        rest = struct.pack("!HH", ident, sequence)
        capture.icmp(sent, monitor, host, 8, 0, rest, FPING_PAYLOAD)
        capture.icmp(sent + 0.0003 + rng.random() * 0.0004, host, monitor, 0, 0, rest, FPING_PAYLOAD)
        ts = sent + FPING_INTERVAL


def _snmp_round(site: Site, rng: random.Random, ts: float) -> None:
    office, capture = site.office, site.capture
    monitor = office.monitoring
    targets = [(office.gateway, snmp.HOST_OIDS), *((printer, snmp.PRINTER_OIDS) for printer in office.printers),
               *((server, snmp.HOST_OIDS) for server in office.servers)]
    port = monitor.ephemeral_port(rng)
    for host, oids in targets:
        ts = office.resolve(capture, ts, monitor, host)
        request_id = rng.getrandbits(31)
        capture.udp(ts, monitor, host, port, snmp.PORT, snmp.get_request(COMMUNITY, request_id, oids))
        answer = snmp.response(COMMUNITY, request_id, oids, rng, ts - site.start + 86_400 * 12)
        capture.udp(ts + 0.002, host, monitor, snmp.PORT, port, answer)
        ts += 0.05


def _service_checks(site: Site, rng: random.Random, ts: float) -> None:
    """HTTP health checks of the web services and an SMTP banner check of the mail server."""
    office = site.office
    monitor = office.monitoring
    for server in (office.intranet, *office.linux_fleet[:3]):
        ts = talk.http_exchange(site, rng, ts, monitor, server, server.ip, [("GET", "/health", rng.randint(20, 60))],
                                "Zabbix", content_type="application/json") + 0.01
    conv = site.tcp(rng, monitor, office.mail, 25, ts).open()
    mail.dialogue(conv, [(False, f"220 {office.mail.name}.corp.example ESMTP Postfix"), (True, "QUIT"),
                         (False, "221 2.0.0 Bye")])
    conv.close(by_client=False)


def _report_metrics(site: Site, rng: random.Random, ts: float, host: Host) -> None:
    talk.https_visit(site, rng, ts, host, METRICS_INTAKE, tls.GO_CRYPTO_TLS,
                     [(rng.randint(3_000, 9_000), rng.randint(80, 120))])
