"""The flow log: every flow and protocol event the engine receives is kept and found again, through
appliance/evidence/flow_log.py and GET /flows, from real captures through the real sensor and engine."""

from __future__ import annotations

import csv
import io

import pytest

from appliance.auth import users
from appliance.engine.process import Engine
from appliance.evidence import flow_log
from appliance.evidence.flow_log import EventQuery, FlowQuery
from sensor.pipeline import Pipeline
from tests.conftest import ADMIN_PASSWORD, PCAPS, login

CAPTURES = ["tls-handshake.pcap", "dns-tunnel-txt.pcap", "icmp-and-ssh.pcap", "smb1-session.pcap"]


def sensor_output(name: str):
    pipeline = Pipeline()
    pipeline.feed_file(PCAPS / name)
    return pipeline.close()


@pytest.fixture
def logged(analyse):
    """The captures through the box's own sensor path and the engine, one sensor run each."""
    for number, name in enumerate(CAPTURES):
        analyse(PCAPS / name, agent_id=f"sensor-{number}")
    return {name: sensor_output(name) for name in CAPTURES}


def test_every_flow_and_event_the_engine_received_is_logged(store, logged):
    flows = sum(len(drained.flows) for drained in logged.values())
    events = sum(len(drained.events) for drained in logged.values())
    assert flows > 0 and events > 100
    assert store.query_one("SELECT count(*) AS n FROM flow_log")["n"] == flows
    assert store.query_one("SELECT count(*) AS n FROM event_log")["n"] == events
    everything = flow_log.search_flows(store.connection(), FlowQuery(), limit=100)
    assert everything.total == flows and everything.total_exact
    starts = [flow.ts_start for flow in everything.flows]
    assert starts == sorted(starts, reverse=True)


def test_a_flow_is_found_by_either_address_its_port_protocol_service_and_time(store, logged):
    (sensed,) = logged["tls-handshake.pcap"].flows
    connection = store.connection()
    for ip in (sensed.src_ip, sensed.dst_ip):
        (found,) = flow_log.search_flows(connection, FlowQuery(ip=ip)).flows
        assert (found.src_ip, found.src_port, found.dst_ip, found.dst_port) == (
            sensed.src_ip, sensed.src_port, sensed.dst_ip, sensed.dst_port)
        assert found.bytes_orig == sensed.bytes_orig and found.agent_id == "sensor-0"
    assert found.service == "tls"  # named by the ClientHello the sensor parsed on it
    by_port = flow_log.search_flows(connection, FlowQuery(port=443, protocol="TCP", service="tls")).flows
    assert [flow.uid for flow in by_port] == [sensed.uid]
    assert flow_log.search_flows(connection, FlowQuery(port=443, protocol="UDP")).flows == []
    around = FlowQuery(ip=sensed.src_ip, since=sensed.ts_start - 1, until=sensed.ts_start + 1)
    assert len(flow_log.search_flows(connection, around).flows) == 1
    later = FlowQuery(ip=sensed.src_ip, since=sensed.ts_start + 1)
    assert flow_log.search_flows(connection, later).flows == []
    (ssh,) = flow_log.search_flows(connection, FlowQuery(service="ssh")).flows
    assert ssh.dst_port == 22


def test_retro_hunt_by_address_and_by_domain(store, logged):
    connection = store.connection()
    dns_server = "10.30.28.94"
    expected = [flow for flow in logged["dns-tunnel-txt.pcap"].flows if dns_server in (flow.src_ip, flow.dst_ip)]
    hunted = list(flow_log.flows_touching(connection, [dns_server, "203.0.113.77"]))
    assert [flow.uid for flow in hunted] == [flow.uid for flow in expected]
    queries = {event.query.lower() for event in logged["dns-tunnel-txt.pcap"].events}
    named = list(flow_log.events_naming(connection, ["TUNNEL.com."]))
    assert {event.name for event in named} == queries and len(named) == len(logged["dns-tunnel-txt.pcap"].events)
    assert list(flow_log.events_naming(connection, ["nel.com"])) == []  # a suffix is not a parent domain
    times = [event.ts for event in named]
    assert times == sorted(times)
    assert named[0].detail["kind"] == "dns" and named[0].detail["qtype"] == 16


def test_a_restart_logs_nothing_twice(store, scorer, logged):
    before = store.query_one("SELECT count(*) AS n FROM flow_log")["n"]
    Engine(store, scorer).process_all()  # restores and replays the batches after the checkpoint
    assert store.query_one("SELECT count(*) AS n FROM flow_log")["n"] == before


@pytest.mark.e2e
def test_flows_served_search_page_export_and_roles(store, data_dir, serve, logged):
    """Through the real server (Granian): a viewer searches and pages, only an analyst exports, and the export
    is in the audit log."""
    users.create_user(store, "watcher", ADMIN_PASSWORD, "viewer")
    users.create_user(store, "hunter", ADMIN_PASSWORD, "analyst")
    server = serve(data_dir, workers=1)
    udp = sorted((flow for drained in logged.values() for flow in drained.flows if flow.proto == "UDP"),
                 key=lambda flow: flow.ts_start)
    with server.client() as client:
        assert client.get("/flows/").status_code == 401
        viewer = login(client, "watcher")
        server_ip = "10.30.28.94"
        page = client.get("/flows", params={"ip": server_ip, "limit": 1}, headers=viewer)
        assert page.status_code == 200, page.text
        body = page.json()
        assert body["total"] == 1 and body["total_exact"] is True and len(body["flows"]) == 1
        assert body["flows"][0]["dst_ip"] == server_ip and body["flows"][0]["service"] == "dns"
        pages = [client.get("/flows", params={"protocol": "udp", "limit": 2, "offset": offset}, headers=viewer).json()
                 for offset in range(0, len(udp), 2)]
        assert {page["total"] for page in pages} == {len(udp)}
        paged = [flow["uid"] for page in pages for flow in page["flows"]]
        assert paged == [flow.uid for flow in reversed(udp)]  # newest first, every flow once
        icmp = [flow for drained in logged.values() for flow in drained.flows if flow.proto == "ICMP"]
        asked = client.get("/flows", params={"protocol": "icmp", "limit": 100}, headers=viewer).json()
        assert icmp and asked["total"] == len(icmp)  # asked in any case, found as the sensor names it
        events = client.get("/flows/events", params={"name": "tunnel.com", "limit": 5}, headers=viewer).json()
        assert events["total"] == len(logged["dns-tunnel-txt.pcap"].events) and len(events["events"]) == 5

        refused = client.get("/flows/export", params={"protocol": "udp"}, headers=viewer)
        assert refused.status_code == 403 and refused.json()["detail"]
        analyst = login(client, "hunter")
        export = client.get("/flows/export", params={"protocol": "udp"}, headers=analyst)
        assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
        assert "attachment" in export.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(export.text)))
        assert [row["uid"] for row in rows] == [flow.uid for flow in udp]  # oldest first
        assert {row["proto"] for row in rows} == {"UDP"}
        assert int(rows[0]["bytes_orig"]) == udp[0].bytes_orig and rows[0]["src_ip"] == udp[0].src_ip
        audit = client.get("/settings/audit-log", headers=login(client)).json()["entries"]
        exported = [entry for entry in audit if entry["action"] == "flows.exported"]
        assert len(exported) == 1 and exported[0]["username"] == "hunter"
        assert exported[0]["details"] == {"protocol": "UDP"}


@pytest.mark.parametrize("params, field", [({"ip": "10.0.0.300"}, "ip"), ({"port": 70000}, "port"),
                                           ({"since": "yesterday"}, "since")])
def test_flows_api_names_what_is_wrong(api, admin_headers, params, field):
    response = api.get("/flows/", params=params, headers=admin_headers)
    assert response.status_code == 400
    assert field in response.json()["detail"]


def test_event_search_by_address_and_kind(store, logged):
    connection = store.connection()
    page = flow_log.search_events(connection, EventQuery(ip="192.168.0.123", kind="ssh_banner"))
    assert page.total == 2 and {event.detail.get("from_server", False) for event in page.events} == {True, False}
