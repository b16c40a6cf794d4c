"""OT_UNAUTHORIZED_WRITE: an industrial write command from a host not allowed to write.

Writes are Modbus function codes 5, 6, 15, 16, 22, 23 (write coil/register(s), mask write, read/write
multiple), DNP3 application functions 2-6 (WRITE, SELECT, OPERATE, DIRECT_OPERATE, DIRECT_OPERATE_NR) and
BACnet WriteProperty / WritePropertyMultiple (confirmed services 15, 16), taken from requests only (a
server echoing the function code in its response is not a writer). Allowed writers are
SiteConfig.allowed_ot_writers (addresses or CIDRs, typically the engineering workstation and the SCADA
server). Suricata/ET SCADA rules and Zeek's ICS scripts flag the same codes.

Features: writes, distinct_function_codes, distinct_units, duration_s, modbus, dnp3, bacnet.
"""

from __future__ import annotations

from collections import Counter

import msgspec

from appliance.engine.detection import Count, Detection, Seconds
from appliance.engine.rules.bounded_state import BoundedMap, Window, window_for
from appliance.engine.rules.rule import Rule
from sensor.records import BacnetEvent, Dnp3Event, Event, ModbusEvent

NAME = "OT_UNAUTHORIZED_WRITE"
DEFAULT_SEVERITY = "CRITICAL"
VERSION = "1.0.0"
SCENARIO = "ot-unauthorized-write"  # the simulator scenario that exercises it
MODBUS_WRITES = {
    5: "write_single_coil",
    6: "write_single_register",
    15: "write_multiple_coils",
    16: "write_multiple_registers",
    22: "mask_write_register",
    23: "read_write_multiple_registers",
}
DNP3_WRITES = {2: "WRITE", 3: "SELECT", 4: "OPERATE", 5: "DIRECT_OPERATE", 6: "DIRECT_OPERATE_NR"}
BACNET_WRITES = {15: "WriteProperty", 16: "WritePropertyMultiple"}


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    min_writes: Count = 1
    window_s: Seconds = 3600.0


DEFAULTS = Thresholds()
FEATURES = ("writes", "distinct_function_codes", "distinct_units", "duration_s", "modbus", "dnp3", "bacnet")
MORE_IS_WORSE = ("writes", "distinct_function_codes", "distinct_units")


def write_of(event: Event) -> tuple[str, str, int] | None:
    """(protocol, function name, unit) when the event is a write request, else None."""
    if isinstance(event, ModbusEvent) and not event.is_response and event.function_code in MODBUS_WRITES:
        return "Modbus", MODBUS_WRITES[event.function_code], event.unit_id
    if isinstance(event, Dnp3Event) and not event.is_response and event.function_code in DNP3_WRITES:
        return "DNP3", DNP3_WRITES[event.function_code], event.dest_addr
    if (
        isinstance(event, BacnetEvent)
        and event.confirmed
        and not event.is_response
        and event.service in BACNET_WRITES
    ):
        return "BACnet", BACNET_WRITES[event.service], 0
    return None


class _Writes(Window):
    __slots__ = ("functions", "units")

    def __init__(self, ts: float):
        super().__init__(ts)
        self.functions: Counter[str] = Counter()
        self.units: set[int] = set()


class Detector(Rule):
    NAME, DEFAULT_SEVERITY, VERSION, FEATURES = NAME, DEFAULT_SEVERITY, VERSION, FEATURES

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._writes: BoundedMap[tuple, _Writes] = BoundedMap(self.site.max_tracked_keys)

    def on_event(self, event: Event) -> list[Detection]:
        write = write_of(event)
        if write is None or event.src_ip in self.site.ot_writers:
            return []
        protocol, function, unit = write
        key = (event.src_ip, event.dst_ip, protocol)
        writes = window_for(self._writes, key, event.ts, self.t.window_s, _Writes)
        writes.note(event.ts, event.flow_uid)
        writes.functions[function] += 1
        if len(writes.units) < 256:
            writes.units.add(unit)
        count = sum(writes.functions.values())
        if count < self.t.min_writes:
            return []
        writes.alerting = True

        def build(incident: str) -> Detection:
            return self.book.detection(
                incident,
                source_ip=event.src_ip,
                dest_ip=event.dst_ip,
                port=event.dst_port,
                protocol=protocol,
                first_seen=writes.start,
                last_seen=writes.last,
                evidence={
                    "functions": dict(writes.functions),
                    "units": sorted(writes.units)[:20],
                    "writes": count,
                },
                flow_uids=writes.flow_uids,
                features={
                    "writes": count,
                    "distinct_function_codes": len(writes.functions),
                    "distinct_units": len(writes.units),
                    "duration_s": writes.last - writes.start,
                    "modbus": float(protocol == "Modbus"),
                    "dnp3": float(protocol == "DNP3"),
                    "bacnet": float(protocol == "BACnet"),
                },
            )

        return self.book.update(key, count, event.ts, build)

    def advance(self, now: float) -> list[Detection]:
        self._writes.drop_stale(lambda writes: writes.expired(now, self.t.window_s))
        return super().advance(now)
