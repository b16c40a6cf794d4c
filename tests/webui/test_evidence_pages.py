"""Evidence in a real Chromium against a real box that analysed real captures: an alert's conversations and the
download of its packets (read back with tshark), an incident's conversations and its legal hold placed and
released by an admin; each result checked through the API."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from appliance.engine.process import Engine
from appliance.engine.scoring import Scorer
from appliance.ingest.local_sensor import queue_capture_files
from tests.conftest import PCAPS, login
from tests.webui.test_account_pages import submit
from tests.webui.test_browser import Page, page_faults
from tests.webui.test_notification_pages import fill

pytestmark = pytest.mark.e2e


@pytest.fixture
def analysed(store, serve, data_dir):
    queue_capture_files(store, [PCAPS / "ftp-cleartext-login.pcap"])
    Engine(store, Scorer.load()).process_all()
    alert = store.query_one("SELECT a.id, a.source_ip FROM alerts a JOIN decision_traces t ON t.alert_id = a.id "
                            "WHERE t.content LIKE '%\"evidence_flows\":[{%' LIMIT 1")
    return serve(data_dir, workers=1), alert["id"]


def test_an_alerts_conversations_and_packets_then_an_incident_under_legal_hold(browser, analysed, store, tmp_path):
    server, alert_id = analysed
    page = Page(browser, server, tmp_path)
    page.open_as_admin()
    page.driver.get(f"{page.origin}/#/alerts/{alert_id}")
    page.loaded("alerts")
    page.text_appears('table[aria-label="Conversations"]', "172.23.0.2:21")
    page.click_button("Download packets (pcap)")
    pcap = page.wait(lambda _: next(browser.downloads.glob("alert-*.pcap"), None))
    page.text_appears('[data-outcome="packets"]', "The packets were downloaded")
    if shutil.which("tshark"):
        read = subprocess.run(["tshark", "-r", str(pcap), "-Y", "ftp"], capture_output=True, text=True, check=True)
        assert "USER" in read.stdout and "PASS" in read.stdout  # the cleartext login the alert is about

    with server.client() as client:
        admin = login(client)
        incident = client.post("/compliance/incidents", headers=admin, json={
            "title": "FTP password in clear", "alert_ids": [alert_id], "aware_at": time.time()}).json()
    page.driver.get(f"{page.origin}/#/incidents/{incident['id']}")
    page.loaded("incidents")
    page.text_appears('table[aria-label="Conversations"]', "172.23.0.2:21")
    page.text_appears('[data-legal-hold="none"]', "Not held")
    form = page.find('form[aria-label="Legal hold"]')
    submit(form)  # no reason: the box says what is missing, nothing is held
    page.text_appears('form[aria-label="Legal hold"] .notice-error', "reason")
    fill(page.find('form[aria-label="Legal hold"]'), "reason", "court order 17 O 42/26")
    submit(page.find('form[aria-label="Legal hold"]'))
    page.text_appears('[data-legal-hold="held"]', "Placed by admin")
    page.text_appears('[data-legal-hold="held"]', "court order 17 O 42/26")
    with server.client() as client:
        held = client.get(f"/compliance/incidents/{incident['id']}", headers=login(client)).json()["legal_hold"]
    assert held["reason"] == "court order 17 O 42/26" and held["placed_by"] == "admin"
    fill(page.find('form[aria-label="Legal hold"]'), "reason", "case closed")
    submit(page.find('form[aria-label="Legal hold"]'))
    page.text_appears('[data-legal-hold="none"]', "Not held")

    page.driver.get(f"{page.origin}/#/site")
    page.loaded("site")
    page.text_appears('[data-packet-store="ok"] [data-ring="local"]', "segments")
    form = page.find('form[aria-label="Evidence retention"]')
    fill(form, "evidence_disk_percent", "99")
    submit(form)
    page.text_appears('form[aria-label="Evidence retention"] .notice-error', "evidence_disk_percent")
    fill(page.find('form[aria-label="Evidence retention"]'), "evidence_disk_percent", "20")
    fill(page.find('form[aria-label="Evidence retention"]'), "packets_max_mb", "512")
    submit(page.find('form[aria-label="Evidence retention"]'))
    page.text_appears(".view .notice-success", "Retention saved")
    with server.client() as client:
        saved = client.get("/settings/retention", headers=login(client)).json()
    assert saved["evidence_disk_percent"] == 20 and saved["packets_max_mb"] == 512 and saved["flows_days"] == 30
    assert page_faults(browser) == []
