"""The ONE payload the box sends to the vendor cloud, and nothing else.

Flows, alerts, IP addresses, hostnames, MAC addresses, traces and reports never leave the box. The vendor
licensing service decodes heartbeats with this very Struct and rejects unknown fields, so adding a field
here is the only way to send more, and it shows up in the admin's "what leaves this box" view.

Build it with `heartbeat_payload` and show the admin `describe_payload(...)` next to the JSON.
"""

from typing import Annotated

import msgspec

_Count = Annotated[int, msgspec.Meta(ge=0)]


class HeartbeatCounts(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Three totals. Counts only: no identifiers, addresses or content."""

    sensors: _Count
    """Sensors registered on this box (the license caps this number)."""
    alerts_24h: _Count
    """Alerts raised in the last 24 hours (all severities together)."""
    flows_24h: _Count
    """Flows observed in the last 24 hours (sizing and support; not billed)."""


class CloudHeartbeat(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Sent to the vendor licensing service at most every few minutes when the cloud is reachable.

    The request also carries the license key in the ``X-License-Key`` header: it is what authenticates
    the box, and the vendor already holds it.
    """

    license_id: str
    """The id inside the license key (``lic_…``), so the vendor can send back a renewed key or a revocation."""
    box_id: str
    """A random id generated on first boot. Not derived from hardware, MAC addresses or hostnames."""
    appliance_version: str
    """Version of the appliance software (engine, API, UI), to announce updates."""
    sensor_version: str
    """Oldest sensor version registered on this box, to announce sensor updates."""
    counts: HeartbeatCounts
    """See `HeartbeatCounts`."""


FIELD_DESCRIPTIONS: dict[str, str] = {
    "license_id": "the id inside your license key",
    "box_id": "a random id created on this box's first boot",
    "appliance_version": "this box's software version",
    "sensor_version": "the oldest sensor version registered here",
    "counts.sensors": "how many sensors are registered",
    "counts.alerts_24h": "how many alerts were raised in the last 24 h",
    "counts.flows_24h": "how many flows were seen in the last 24 h",
}


def heartbeat_payload(
    license_id: str,
    box_id: str,
    appliance_version: str,
    sensor_version: str,
    sensors: int,
    alerts_24h: int,
    flows_24h: int,
) -> CloudHeartbeat:
    return CloudHeartbeat(
        license_id=license_id,
        box_id=box_id,
        appliance_version=appliance_version,
        sensor_version=sensor_version,
        counts=HeartbeatCounts(sensors=sensors, alerts_24h=alerts_24h, flows_24h=flows_24h),
    )


def describe_payload(payload: CloudHeartbeat) -> list[dict[str, object]]:
    """Every field that leaves the box, with its value and a plain-language meaning, for the admin UI."""
    flat = msgspec.to_builtins(payload)
    counts = flat.pop("counts")
    flat.update({f"counts.{name}": value for name, value in counts.items()})
    return [{"field": name, "value": flat[name], "meaning": FIELD_DESCRIPTIONS[name]} for name in flat]
