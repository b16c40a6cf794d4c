"""The device inventory: the site's hosts from `hosts_seen` (kept by a trigger as the engine logs flows,
migration 0014), each with the role the site settings give it and its alerts (`device_risk`, migration 0006).

Only addresses inside the site's internal networks are devices; the others are the peers they talk to.
"""

from __future__ import annotations

import msgspec

from appliance.analytics.queries import risk_score
from appliance.engine.network import SiteConfig
from appliance.engine.process import load_settings
from appliance.store.database import Store


class Device(msgspec.Struct):
    ip: str
    first_seen: float  # packet time of its first and latest flow
    last_seen: float
    flows_started: int
    flows_answered: int
    internal: bool
    roles: list[str]  # what the site settings say it is: "DNS resolver", "DHCP server", ...
    alerts: int  # alerts naming it as source, false positives left out
    open_alerts: int
    risk_score: int  # 0..100, as on the overview's device risk


class DeviceList(msgspec.Struct):
    devices: list[Device]  # latest seen first
    total: int


def roles_of(site: SiteConfig) -> dict[str, list[str]]:
    named: dict[str, list[str]] = {}
    for role, addresses in (("Gateway", site.gateway_ips), ("DNS resolver", site.dns_resolvers),
                            ("DHCP server", site.known_dhcp_servers)):
        for address in addresses:
            named.setdefault(address, []).append(role)
    return named


def list_devices(store: Store, *, include_peers: bool, search: str, limit: int, offset: int) -> DeviceList:
    site = load_settings(store).site
    named = roles_of(site)
    connection = store.connection()
    rows = connection.execute(
        "SELECT h.ip, h.first_seen, h.last_seen, h.flows_started, h.flows_answered, "
        "coalesce(r.critical + r.high + r.medium + r.low, 0), coalesce(r.open_alerts, 0), coalesce(r.points, 0) "
        "FROM hosts_seen h LEFT JOIN device_risk r ON r.source_ip = h.ip "
        "WHERE h.ip LIKE ? ESCAPE '\\' ORDER BY h.last_seen DESC, h.ip",
        (search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",),
    ).fetchall()
    devices = []
    for ip, first_seen, last_seen, started, answered, alerts, open_alerts, points in rows:
        internal = site.is_internal(ip)
        if not (internal or include_peers):
            continue
        roles = list(named.get(ip, []))
        if ip in site.ot_writers:
            roles.append("Allowed OT writer")
        devices.append(Device(ip=ip, first_seen=first_seen, last_seen=last_seen, flows_started=started,
                              flows_answered=answered, internal=internal, roles=roles, alerts=alerts,
                              open_alerts=open_alerts, risk_score=risk_score(points)))
    return DeviceList(devices=devices[offset:offset + limit], total=len(devices))
