"""The OT cell: the engineering station reads the PLC every second, the RTU every five, the BMS every ten.
Reads only: writes from anyone are what OT_UNAUTHORIZED_WRITE scenarios add."""

from __future__ import annotations

from appliance.simulate.benign.rhythm import Process
from appliance.simulate.protocols import bacnet, dnp3, modbus
from appliance.simulate.site import Site


def processes(site: Site) -> list[Process]:
    return [_modbus_polls(site), _dnp3_polls(site), _bacnet_polls(site)]


def _modbus_polls(site: Site) -> Process:
    rng = site.rng("benign:ot")
    office = site.office
    plc = site.tcp(rng, office.engineering, office.plc, modbus.PORT, site.start + rng.random()).open()
    transaction = rng.randint(0, 1000)
    while True:
        think = 1.0 + rng.gauss(0, 0.01)
        yield plc.ts + think
        transaction += 1
        function = modbus.READ_COILS if transaction % 5 == 0 else modbus.READ_HOLDING_REGISTERS
        count = 16 if function == modbus.READ_COILS else 10
        plc.client_sends(modbus.adu(transaction & 0xFFFF, 1, modbus.read_request(function, 0, count)), think=think)
        values = [rng.randint(0, 1 if function == modbus.READ_COILS else 4000) for _ in range(count)]
        plc.server_sends(modbus.adu(transaction & 0xFFFF, 1, modbus.read_response(function, values)),
                         processing=0.004)


def _dnp3_polls(site: Site) -> Process:
    rng = site.rng("benign:ot-dnp3")
    office = site.office
    rtu = site.tcp(rng, office.engineering, office.rtu, dnp3.PORT, site.start + rng.random()).open()
    sequence = 0
    while True:
        think = 5.0 + rng.gauss(0, 0.02)
        yield rtu.ts + think
        sequence += 1
        request = dnp3.application_request(sequence, dnp3.READ, dnp3.CLASS_0_POLL)
        rtu.client_sends(dnp3.frame(10, 1, request, from_master=True), think=think)
        points = dnp3.analog_points([rng.randint(0, 3000) for _ in range(4)])
        rtu.server_sends(dnp3.frame(1, 10, dnp3.application_response(sequence, points), from_master=False),
                         processing=0.01)


def _bacnet_polls(site: Site) -> Process:
    rng = site.rng("benign:ot-bacnet")
    office = site.office
    station = office.engineering
    ts = office.resolve(site.capture, site.start + rng.random() * 10, station, office.bms)
    invoke = 0
    while True:
        yield ts
        invoke = (invoke + 1) & 0xFF
        site.capture.udp(ts, station, office.bms, bacnet.PORT, bacnet.PORT,
                         bacnet.read_property(invoke, bacnet.ANALOG_INPUT, 1))
        site.capture.udp(ts + 0.006, office.bms, station, bacnet.PORT, bacnet.PORT,
                         bacnet.read_property_ack(invoke, bacnet.ANALOG_INPUT, 1, 20.0 + rng.random() * 3))
        ts += 10.0 + rng.gauss(0, 0.05)
