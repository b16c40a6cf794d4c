"""The SIEM export streamed to a real rsyslog over TCP and TLS, and the documented rsyslog route onward to Kafka
or Elasticsearch/OpenSearch (omkafka, omelasticsearch) accepted by rsyslog itself."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from appliance.siem import repository
from appliance.siem.cursor import ExportCursor
from appliance.siem.events import read_page
from appliance.siem.models import ExportDestinationIn
from appliance.siem.stream import ExportStep, document
from tests.conftest import free_port
from tests.notifications.receivers import rsyslogd
from tests.siem.records import queue_batch

DOCS = Path(__file__).resolve().parents[2] / "docs" / "siem"
EVERYTHING = ["alerts", "flows", "protocol_events"]


def expected_documents(store, schema: str) -> list[dict]:
    records = read_page(store, ExportCursor(), frozenset(EVERYTHING), 1000).records
    return [json.loads(json.dumps(document(schema, record, "NetSenX", evidence=False))) for record in records]


def run_until_idle(step: ExportStep, now: float = 0.0) -> int:
    total = 0
    while sent := step(now):
        total += sent
    return total


@pytest.mark.parametrize(("transport", "schema"), [("tls", "eve"), ("tcp", "ecs")])
def test_rsyslog_receives_every_record_once_and_parses_it(store, alerts, rsyslog, ca, license_key, transport,
                                                          schema):
    for _ in range(3):
        alerts.raise_alert()
    queue_batch(store)
    port = rsyslog.tls_port if transport == "tls" else rsyslog.tcp_port
    destination = repository.create(store, ExportDestinationIn(
        name="siem", host="127.0.0.1", port=port, transport=transport, schema=schema, records=EVERYTHING,
        ca_pem=ca.ca_pem, start="beginning"), "admin")
    step = ExportStep(store)
    assert run_until_idle(step) == 3 + 7
    lines = rsyslog.wait_for(10)
    assert len(lines) == 10 and all(line.startswith(f"{transport} {schema.upper()} ") for line in lines)
    assert [line.split(" ")[2] for line in lines[:3]] == ["3", "3", "3"]  # HIGH alerts: syslog severity error
    parsed = rsyslog.parsed_documents()
    assert parsed == expected_documents(store, schema)
    assert len({(item.get("netsenx") or {}).get("cursor") for item in parsed}) == 10
    stored = repository.get(store, destination.id)
    assert stored.events_sent == 10 and stored.cursor == "3-2-0" and stored.last_error == ""


def test_an_unreachable_receiver_backs_off_and_the_stream_resumes_without_gaps(store, alerts, rsyslog, ca,
                                                                               license_key):
    alerts.raise_alert()
    destination = repository.create(store, ExportDestinationIn(
        name="siem", host="127.0.0.1", port=free_port(), transport="tcp", start="beginning"), "admin")
    step = ExportStep(store)
    assert step(1000.0) == 0
    down = repository.get(store, destination.id)
    assert down.failures == 1 and down.retry_at == 1030.0 and "cannot connect" in down.last_error
    assert down.cursor == "0-0-0"
    alerts.raise_alert()
    repository.update(store, destination.id, ExportDestinationIn(name="siem", host="127.0.0.1",
                                                                  port=rsyslog.tcp_port, transport="tcp"))
    assert run_until_idle(step, 1001.0) == 2
    assert len(rsyslog.wait_for(2)) == 2 and repository.get(store, destination.id).cursor == "2-0-0"


def test_without_the_licence_feature_the_stream_holds_still(store, alerts, rsyslog, trusted_vendor):
    alerts.raise_alert()
    destination = repository.create(store, ExportDestinationIn(
        name="siem", host="127.0.0.1", port=rsyslog.tcp_port, transport="tcp", start="beginning"), "admin")
    assert ExportStep(store)(0.0) == 0
    held = repository.get(store, destination.id)
    assert held.cursor == "0-0-0" and "SIEM export is locked" in held.last_error
    assert rsyslog.lines() == []


@pytest.mark.parametrize("config", sorted(path.name for path in DOCS.glob("rsyslog-*.conf")))
def test_the_documented_rsyslog_routes_are_accepted_by_rsyslog(config, ca, tmp_path):
    certificates = tmp_path / "netsenx"
    certificates.mkdir()
    for name, source in (("ca.pem", ca.ca_file), ("es-ca.pem", ca.ca_file), ("server.pem", ca.cert_file),
                         ("server.key", ca.key_file)):
        shutil.copy(source, certificates / name)
    text = (DOCS / config).read_text().replace("/etc/rsyslog.d/netsenx/", f"{certificates}/")
    copy = tmp_path / config
    copy.write_text(f'global(workDirectory="{tmp_path}")\n' + text)
    result = subprocess.run([rsyslogd(), "-N1", "-f", str(copy)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "error" not in result.stderr.lower()
