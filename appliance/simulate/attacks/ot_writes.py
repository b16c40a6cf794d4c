"""OT_UNAUTHORIZED_WRITE: a host that is not the engineering station changes values in the OT devices."""

from __future__ import annotations

from appliance.simulate.attacks import attack_start, attacker_workstation, record
from appliance.simulate.protocols import bacnet, dnp3, modbus
from appliance.simulate.site import Site

RULE = "OT_UNAUTHORIZED_WRITE"


def inject(site: Site) -> None:
    _modbus_writes(site)
    _dnp3_controls(site)
    _bacnet_write(site)


def _modbus_writes(site: Site) -> None:
    rng = site.rng("attack:ot:modbus")
    host = attacker_workstation(site, rng)
    plc = site.office.plc
    writes = [
        (modbus.WRITE_SINGLE_COIL, [1]),
        (modbus.WRITE_SINGLE_REGISTER, [rng.randint(5000, 9000)]),
        (modbus.WRITE_MULTIPLE_COILS, [1, 0, 1, 1, 0, 0, 1, 0, 1, 1]),
        (modbus.WRITE_MULTIPLE_REGISTERS, [rng.randint(0, 65535) for _ in range(4)]),
    ]
    start = attack_start(site, rng)
    conv = site.tcp(rng, host, plc, modbus.PORT, start).open()
    transaction = rng.randint(1, 200)
    # Reconnaissance first (a read), then each kind of write, as tools like modbus-cli do.
    conv.client_sends(modbus.adu(transaction, 1, modbus.read_request(modbus.READ_HOLDING_REGISTERS, 0, 10)))
    conv.server_sends(modbus.adu(transaction, 1, modbus.read_response(modbus.READ_HOLDING_REGISTERS, [0] * 10)))
    for function, values in writes:
        transaction += 1
        request = modbus.write_request(function, rng.randint(0, 99), values)
        first = conv.ts
        conv.client_sends(modbus.adu(transaction, 1, request), think=rng.uniform(0.5, 3.0))
        conv.server_sends(modbus.adu(transaction, 1, modbus.write_response(request)), processing=0.004)
        record(site, RULE, f"modbus-fc{function}", host, plc, modbus.PORT, first, conv.ts)
    conv.close()


def _dnp3_controls(site: Site) -> None:
    rng = site.rng("attack:ot:dnp3")
    host = attacker_workstation(site, rng)
    rtu = site.office.rtu
    start = attack_start(site, rng)
    conv = site.tcp(rng, host, rtu, dnp3.PORT, start).open()
    steps = [
        ("dnp3-write", dnp3.WRITE, dnp3.CLEAR_RESTART_BIT),
        ("dnp3-select-operate", dnp3.SELECT, dnp3.control_relay_output(3, close=True)),
        ("dnp3-select-operate", dnp3.OPERATE, dnp3.control_relay_output(3, close=True)),
        ("dnp3-direct-operate", dnp3.DIRECT_OPERATE, dnp3.control_relay_output(5, close=False)),
    ]
    for sequence, (variant, function, objects) in enumerate(steps, start=rng.randint(0, 10)):
        first = conv.ts
        request = dnp3.application_request(sequence, function, objects)
        conv.client_sends(dnp3.frame(10, 3, request, from_master=True), think=rng.uniform(0.3, 2.0))
        echo = objects if function != dnp3.WRITE else b""  # control responses echo the command
        conv.server_sends(
            dnp3.frame(3, 10, dnp3.application_response(sequence, echo), from_master=False), processing=0.01
        )
        record(site, RULE, variant, host, rtu, dnp3.PORT, first, conv.ts)
    conv.close()


def _bacnet_write(site: Site) -> None:
    rng = site.rng("attack:ot:bacnet")
    host = attacker_workstation(site, rng)
    bms = site.office.bms
    start = attack_start(site, rng)
    ts = site.office.resolve(site.capture, start, host, bms)
    for invoke in range(rng.randint(1, 3)):  # setpoints pushed at priority 1 (manual life safety)
        site.capture.udp(
            ts,
            host,
            bms,
            bacnet.PORT,
            bacnet.PORT,
            bacnet.write_property(invoke, bacnet.ANALOG_VALUE, 1 + invoke, 35.0 + invoke, priority=1),
        )
        site.capture.udp(
            ts + 0.008, bms, host, bacnet.PORT, bacnet.PORT, bacnet.simple_ack(invoke, bacnet.WRITE_PROPERTY)
        )
        ts += rng.uniform(0.5, 2)
    record(site, RULE, "bacnet-writeproperty", host, bms, bacnet.PORT, start, ts)
