"""ROGUE_DHCP: a second DHCP server answering clients, and a starvation flood exhausting the real one."""

from __future__ import annotations

from appliance.simulate import frames
from appliance.simulate.attacks import attack_start, record
from appliance.simulate.capture import BROADCAST, Host
from appliance.simulate.office import DOMAIN, random_mac
from appliance.simulate.protocols import dhcp
from appliance.simulate.site import Site

RULE = "ROGUE_DHCP"


def inject(site: Site) -> None:
    rng = site.rng("attack:dhcp")
    office, capture = site.office, site.capture

    # A Raspberry Pi plugged in under a desk, offering itself as router and DNS to every booting client.
    rogue = Host("rogue-dhcp", office.unused_address(rng), random_mac(rng, "raspberry"), os="linux")
    start = ts = attack_start(site, rng, 0.2, 0.4)
    for client in rng.sample(office.workstations, min(3, len(office.workstations))):
        xid = rng.getrandbits(32)
        unassigned = Host(client.name, "0.0.0.0", client.mac, ttl=128)
        capture.udp(
            ts, unassigned, BROADCAST, 68, 67, dhcp.client_message(dhcp.DISCOVER, xid, client.mac_bytes, client.name)
        )
        lease = Host(client.name, f"192.168.77.{rng.randint(20, 200)}", client.mac)
        for server, delay, router in ((rogue, 0.0004, rogue), (office.dc, 0.0011, office.gateway)):
            offered = lease if server is rogue else client
            capture.udp(
                ts + delay,
                server,
                offered,
                67,
                68,
                dhcp.server_message(
                    dhcp.OFFER,
                    xid,
                    client.mac_bytes,
                    offered.ip_bytes,
                    server.ip_bytes,
                    router.ip_bytes,
                    server.ip_bytes if server is rogue else office.dc.ip_bytes,
                    DOMAIN,
                ),
            )
        # The client takes the first offer: the rogue's.
        capture.udp(
            ts + 0.003,
            unassigned,
            BROADCAST,
            68,
            67,
            dhcp.client_message(dhcp.REQUEST, xid, client.mac_bytes, client.name, lease.ip_bytes, rogue.ip_bytes),
        )
        capture.udp(
            ts + 0.0035,
            rogue,
            lease,
            67,
            68,
            dhcp.server_message(
                dhcp.ACK, xid, client.mac_bytes, lease.ip_bytes, rogue.ip_bytes, rogue.ip_bytes, rogue.ip_bytes, DOMAIN
            ),
        )
        ts += rng.uniform(5, 20)
    record(site, RULE, "rogue-server-offers", rogue, None, 67, start, ts, source_mac=rogue.mac)

    # dhcpstarv / yersinia: DISCOVERs with made-up client MACs, from one real interface. The real server
    # offers addresses until its scope runs dry, then falls silent.
    flooder = Host("flooder", "0.0.0.0", random_mac(rng, "dell"))
    free = [
        f"10.20.10.{last}"
        for last in range(100, 251)
        if f"10.20.10.{last}" not in {host.ip for host in office.internal_hosts()}
    ]
    start = ts = attack_start(site, rng, 0.2, 0.5)
    for _ in range(1500):
        fake_mac = bytes((0x02,)) + rng.randbytes(5)  # locally administered, new each time
        xid = rng.getrandbits(32)
        capture.udp(ts, flooder, BROADCAST, 68, 67, dhcp.client_message(dhcp.DISCOVER, xid, fake_mac, "", None, None))
        if free:
            victim = Host("", free.pop(0), frames.mac_to_string(fake_mac))
            capture.udp(
                ts + 0.0008,
                office.dc,
                victim,
                67,
                68,
                dhcp.server_message(
                    dhcp.OFFER,
                    xid,
                    fake_mac,
                    victim.ip_bytes,
                    office.dc.ip_bytes,
                    office.gateway.ip_bytes,
                    office.dc.ip_bytes,
                    DOMAIN,
                ),
            )
        ts += rng.expovariate(300.0)
    record(site, RULE, "starvation-flood", "0.0.0.0", None, 67, start, ts, source_mac=flooder.mac)
