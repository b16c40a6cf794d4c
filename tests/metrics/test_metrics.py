"""/metrics: what the box knows, in the Prometheus text format, behind a token; and a real Prometheus (Debian's)
scraping a real Granian server with two workers, authenticated by an API token."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from appliance.api_tokens import tokens
from appliance.notifications import outbox, repository
from appliance.notifications.messages import sample_message
from appliance.notifications.models import ChannelIn, Content, NotificationSettings, SyslogSettings
from sensor.records import Batch, CaptureStats, Flow, encode_batch
from tests.agents.test_agents_api import MSGPACK, agent_headers
from tests.conftest import free_port
from tests.notifications.receivers import end_process


def batch(agent_id: str, seq: int, packets: int, drops: int) -> bytes:
    flow = Flow(uid=f"F{seq}", ts_start=1.0, ts_end=2.0, proto="TCP", src_ip="10.0.0.5", dst_ip="10.0.0.6")
    return encode_batch(Batch(agent_id=agent_id, seq=seq, sent_at=time.time(), flows=[flow],
                              stats=CaptureStats(packets=packets, bytes=packets * 100, kernel_drops=drops)))


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def viewer_token(store) -> str:
    """What an admin makes for a Prometheus server: a service token with the viewer role."""
    return tokens.issue(store, name="prometheus", kind="service", role="viewer", owner=None, lifetime_days=30,
                        created_by="admin")[1]


def test_metrics_tell_what_the_store_knows(api, store, license_key, alerts):
    sensor = agent_headers(api, license_key, "sensor-a")
    for seq, (packets, drops) in enumerate([(1000, 3), (500, 0)]):
        assert api.post("/agents/ingest", content=batch("sensor-a", seq, packets, drops),
                        headers=sensor | MSGPACK).status_code == 200
    api.post("/agents/ingest", content=batch("sensor-a", 1, 500, 0), headers=sensor | MSGPACK)  # a repeat
    alerts.raise_alert("PORT_SCAN", "HIGH")
    alerts.raise_alert("C2_BEACON", "CRITICAL")
    channel = repository.create_channel(store, ChannelIn(name="syslog", settings=SyslogSettings(host="127.0.0.1")),
                                        "admin")
    with store.write_transaction() as connection:
        message = sample_message(Content(), NotificationSettings(), "nsx-m", time.time() - 60)
        message.kind = "alert"
        outbox.queue(connection, channel.id, message, time.time() - 60)
    headers = {"Authorization": f"Bearer {viewer_token(store)}"}
    response = api.get("http://testserver.local/metrics", headers=headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = samples(response.text)
    sensor_labels = (("name", "mirror-01"), ("sensor", "sensor-a"))
    assert found[("netsenx_sensor_packets_total", sensor_labels)] == 1500
    assert found[("netsenx_sensor_kernel_drops_total", sensor_labels)] == 3
    assert found[("netsenx_sensor_bytes_total", sensor_labels)] == 150_000
    assert found[("netsenx_sensor_batches_total", sensor_labels)] == 2
    assert found[("netsenx_ingest_batches_queued", ())] == 2
    assert found[("netsenx_engine_lag_seconds", ())] > 0
    assert found[("netsenx_alerts_raised_total", (("rule", "PORT_SCAN"), ("severity", "HIGH")))] == 1
    assert found[("netsenx_alerts_raised_total", (("rule", "C2_BEACON"), ("severity", "CRITICAL")))] == 1
    assert found[("netsenx_notification_messages", (("channel", "syslog"), ("status", "pending")))] == 1
    assert found[("netsenx_notification_oldest_pending_seconds", (("channel", "syslog"),))] >= 59
    assert found[("netsenx_notifier_decisions_behind", ())] == 2
    assert 300 < found[("netsenx_license_days_left", ())] <= 365
    assert found[("netsenx_disk_bytes", (("state", "total"),))] > found[("netsenx_disk_bytes", (("state", "free"),))]
    assert found[("netsenx_database_bytes", ())] > 0
    requests = {labels: value for (name, labels), value in found.items() if name == "netsenx_api_requests_total"}
    assert requests[(("method", "POST"), ("route", "/api/v1/agents/ingest"), ("status", "200"))] == 3


def test_metrics_need_a_token_and_a_user_role(api, store, license_key):
    assert api.get("http://testserver.local/metrics").status_code == 401
    sensor = agent_headers(api, license_key, "sensor-a")
    assert api.get("http://testserver.local/metrics", headers=sensor).status_code == 403


def test_an_escalated_incident_never_makes_the_raised_counter_go_down(api, store, alerts):
    alert_id = alerts.raise_alert("DATA_EXFILTRATION", "MEDIUM")
    alerts.update_alert(alert_id, severity="CRITICAL")
    found = samples(api.get("http://testserver.local/metrics",
                            headers={"Authorization": f"Bearer {viewer_token(store)}"}).text)
    assert found[("netsenx_alerts_raised_total", (("rule", "DATA_EXFILTRATION"), ("severity", "MEDIUM")))] == 1
    assert ("netsenx_alerts_raised_total", (("rule", "DATA_EXFILTRATION"), ("severity", "CRITICAL"))) not in found
    assert found[("netsenx_alerts", (("severity", "CRITICAL"), ("status", "open")))] == 1


PROMETHEUS_CONFIG = """
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: netsenx
    metrics_path: /metrics
    scheme: http
    authorization:
      type: Bearer
      credentials_file: {token_file}
    static_configs:
      - targets: ["127.0.0.1:{port}"]
"""


@contextlib.contextmanager
def prometheus(directory: Path, box_port: int, token: str):
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is missing: run `just system-packages` (Debian package prometheus)")
    token_file = directory / "token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    config = directory / "prometheus.yml"
    config.write_text(PROMETHEUS_CONFIG.format(token_file=token_file, port=box_port))
    port = free_port()
    log = open(directory / "prometheus.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={directory / 'data'}",
                                f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        end_process(process)
        log.close()


def query(base: str, expression: str) -> list[dict]:
    with contextlib.suppress(httpx.HTTPError):
        answer = httpx.get(f"{base}/api/v1/query", params={"query": expression}, timeout=5).json()
        return answer["data"]["result"] if answer.get("status") == "success" else []
    return []


def wait_for_result(base: str, expression: str, timeout: float = 90.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = query(base, expression)
        if result:
            return result
        time.sleep(0.5)
    pytest.fail(f"Prometheus never answered {expression!r}")


@pytest.mark.e2e
def test_a_real_prometheus_scrapes_the_box_with_an_api_token(serve, store, data_dir, tmp_path, alerts):
    alerts.raise_alert("PORT_SCAN", "HIGH")
    token = viewer_token(store)
    server = serve(data_dir, workers=2)
    port = server.port
    with server.client() as client:  # requests spread over both workers before and during scraping
        for _ in range(20):
            client.get("/health")
    with prometheus(tmp_path, port, token) as base:
        up = wait_for_result(base, 'up{job="netsenx"} == 1')
        assert up[0]["metric"]["instance"] == f"127.0.0.1:{port}"
        raised = wait_for_result(base, 'netsenx_alerts_raised_total{rule="PORT_SCAN"}')
        assert raised[0]["value"][1] == "1"
        health = wait_for_result(base, 'sum(netsenx_api_requests_total{route="/api/v1/health"})')
        assert float(health[0]["value"][1]) == 20  # both workers' counts, summed in every scrape
        scrapes = wait_for_result(base, 'netsenx_api_requests_total{route="/metrics", status="200"} > 2')
        assert scrapes
    last_used = store.query_one("SELECT last_used_from FROM api_tokens")["last_used_from"]
    assert last_used == "127.0.0.1"
