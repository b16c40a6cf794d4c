"""The web UI in a real headless Chromium against a real box (Granian, encrypted store)."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar.testing import TestClient
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import Select, WebDriverWait

from appliance.alerts.repository import insert_alert
from appliance.auth import totp, users
from appliance.licensing import box_license
from appliance.licensing.keys import public_key_text
from appliance.server.app import create_app
from appliance.store import lifecycle
from appliance.store.database import Store
from appliance.store.unseal_backoff import delay_after
from appliance.traces import chain
from tests.conftest import ADMIN_PASSWORD, login
from tests.reports.conftest import install_license

pytestmark = pytest.mark.e2e

NOW = int(time.time())
BEACON_SHAP = {
    "base_value": 0.12,
    "features": {"interval_regularity": 0.41, "bytes_out_ratio": 0.22, "peer_reputation": -0.08,
                 "connection_count": 0.15},
    "model_version": "hgb-2026.11",
    "space": "log-odds",
}
ROUTINE_DEVICES = 35  # enough LOW alerts for a second page at the default 30 per page
DASH = "\N{EN DASH}"  # as the pager writes ranges


def seed_alerts(store: Store) -> dict[str, str]:
    connection = store.connection()
    ids = {
        "beacon": insert_alert(connection, severity="CRITICAL", rule_name="C2_BEACON", source_ip="10.0.0.2",
                               dest_ip="203.0.113.50", port=443, protocol="TCP", score=0.93, timestamp=NOW - 100,
                               shap_json=BEACON_SHAP),
        "scan": insert_alert(connection, severity="HIGH", rule_name="PORT_SCAN", source_ip="10.0.0.7",
                             dest_ip="10.0.0.5", port=None, protocol="TCP", score=0.71, timestamp=NOW - 200,
                             shap_json={}),
        "sweep": insert_alert(connection, severity="HIGH", rule_name="NETWORK_SWEEP", source_ip="10.0.0.8",
                              dest_ip=None, port=445, protocol="TCP", score=0.66, timestamp=NOW - 300,
                              shap_json={"features": {"distinct_hosts": 0.5, "oops": "not a number"}}),
    }
    for index in range(ROUTINE_DEVICES):
        insert_alert(connection, severity="LOW", rule_name="NEW_DEVICE", source_ip=f"10.0.1.{index + 1}",
                     dest_ip=None, port=None, protocol=None, score=0.2, timestamp=NOW - 1000 - index, shap_json={})
    chain.append(connection, {
        "outcome": "alert_raised", "rule_name": "C2_BEACON", "rule_version": "1", "incident_key": "beacon-1",
        "alert_id": ids["beacon"], "source_ip": "10.0.0.2", "dest_ip": "203.0.113.50", "port": 443,
        "score": 0.93, "thresholds": {"min_connections": 10}, "shap": BEACON_SHAP,
        "evidence": {"connections": 48, "mean_interval_s": 60.2},
    })
    return ids


class Page:
    """What a user does and sees, in the words of the page (labels, buttons, texts)."""

    def __init__(self, browser, server, screenshots: Path) -> None:
        self.driver = browser.driver
        self.browser = browser
        self.origin = server.url.removesuffix("/api/v1")
        self.screenshots = screenshots

    def wait(self, condition, timeout: float = 10):
        # A row read while the table re-renders has gone stale: look again, the page is not done yet.
        patient = WebDriverWait(self.driver, timeout, ignored_exceptions=(StaleElementReferenceException,))
        return patient.until(condition)

    def find(self, css: str):
        return self.wait(seen.visibility_of_element_located((By.CSS_SELECTOR, css)))

    def all(self, css: str):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text_appears(self, css: str, text: str) -> None:
        try:
            self.wait(seen.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
        except TimeoutException:
            shown = [element.text for element in self.all(css)]
            raise AssertionError(f"{text!r} never appeared in {css}; it shows {shown}") from None

    def loaded(self, page: str) -> None:
        self.wait(lambda driver: driver.find_elements(By.CSS_SELECTOR, f'.view[data-page="{page}"]:not([aria-busy])'))

    def open(self) -> None:
        self.driver.get(self.origin + "/")
        self.wait(lambda _: any(form.is_displayed() for form in self.all("#login-form, #unseal-form")))

    def sign_in(self, password: str, code: str | None = None, username: str = "admin") -> None:
        form = self.find("#login-form")
        for name, value in (("username", username), ("password", password)):
            field = form.find_element(By.NAME, name)
            field.clear()
            field.send_keys(value)
        if code is not None:
            form.find_element(By.NAME, "totp").send_keys(code)
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    def open_as_admin(self) -> None:
        """The admin signed in on the overview: where most page tests start."""
        self.open()
        self.sign_in(ADMIN_PASSWORD)
        self.loaded("overview")

    def go(self, label: str, page: str) -> None:
        self.driver.find_element(By.LINK_TEXT, label).click()
        self.loaded(page)

    def visible_alert_ids(self) -> list[str]:
        return [row.get_attribute("data-alert-id") for row in self.all("tr.alert-row")]

    def click_button(self, text: str) -> None:
        self.wait(seen.element_to_be_clickable((By.XPATH, f'//button[normalize-space()="{text}"]'))).click()

    def screenshot(self, name: str) -> Path:
        path = self.screenshots / f"{name}.png"
        assert self.driver.save_screenshot(str(path))
        assert path.read_bytes().startswith(b"\x89PNG")
        return path


@pytest.fixture
def box(store, serve, data_dir, monkeypatch):
    """A licensed box (reports need one) with the seeded alerts, served by Granian."""
    vendor_key = Ed25519PrivateKey.generate()
    monkeypatch.setenv(box_license.VENDOR_KEYS_ENV, public_key_text(vendor_key.public_key()))
    install_license(store, vendor_key, expires_in_days=200)
    ids = seed_alerts(store)
    server = serve(data_dir, workers=1)
    return server, ids


@pytest.fixture
def page(browser, box, tmp_path):
    screenshots = Path(os.environ.get("NETSENX_UI_SCREENSHOTS", tmp_path))
    screenshots.mkdir(parents=True, exist_ok=True)
    return Page(browser, box[0], screenshots)


def test_page_and_assets_are_served_self_only(store, data_dir):
    with TestClient(create_app(data_dir)) as client:
        index = client.get("/")
        assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
        policy = index.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy and "unsafe" not in policy
        assert '<option value="PORT_SCAN">' in index.text  # the rule names the filters suggest
        assert "http://" not in index.text and "https://" not in index.text  # nothing fetched from elsewhere
        assets = re.search(r'src="(/ui/[0-9a-f]{16}/)js/main.js"', index.text).group(1)
        script = client.get(assets + "js/main.js")
        assert script.headers["content-type"].startswith("text/javascript")
        assert "immutable" in script.headers["cache-control"]  # the path changes when the content does
        assert "default-src 'self'" in script.headers["content-security-policy"]
        assert client.get(assets + "app.css").headers["content-type"].startswith("text/css")
        missing = client.get(assets + "nothing-here.js")
        assert missing.status_code == 404 and set(missing.json()) == {"detail"}
        assert client.get("/api/v1/alerts/").status_code == 401  # the UI is public, the API is not


def test_admin_triages_alerts_from_sign_in_to_sign_out(page, box, browser):
    server, ids = box
    page.open()

    page.sign_in("not the password")
    page.text_appears("#login-error", "invalid username, password or one-time code")
    page.sign_in(ADMIN_PASSWORD)
    page.loaded("overview")
    page.text_appears(".tile-critical", "1")

    # The list: newest first, paged by the API's total, filtered by severity, status and rule.
    page.go("Alerts", "alerts")
    assert page.visible_alert_ids()[:3] == [ids["beacon"], ids["scan"], ids["sweep"]]
    assert len(page.visible_alert_ids()) == 30
    page.text_appears(".pager", f"Showing 1{DASH}30 of {3 + ROUTINE_DEVICES}")
    page.screenshot("alerts-page")
    page.click_button("Next")
    page.text_appears(".pager", f"Showing 31{DASH}{3 + ROUTINE_DEVICES} of {3 + ROUTINE_DEVICES}")
    Select(page.find('select[name="severity"]')).select_by_value("HIGH")
    page.wait(lambda _: page.visible_alert_ids() == [ids["scan"], ids["sweep"]])
    rule = page.find('input[name="rule"]')
    rule.send_keys("NETWORK_SWEEP")
    page.click_button("Apply")
    page.wait(lambda _: page.visible_alert_ids() == [ids["sweep"]])
    page.click_button("Clear")
    page.wait(lambda _: len(page.visible_alert_ids()) == 30)

    # One alert: its SHAP bars, biggest contribution first, pushing up (right) or down (left).
    page.driver.find_element(By.LINK_TEXT, "C2_BEACON").click()
    page.loaded("alerts")
    rows = page.all(".shap-row")
    assert [row.get_attribute("data-feature") for row in rows] == [
        "interval_regularity", "bytes_out_ratio", "connection_count", "peer_reputation"]
    assert "shap-down" in rows[-1].find_element(By.CSS_SELECTOR, ".shap-bar").get_attribute("class")
    widths = [row.find_element(By.CSS_SELECTOR, ".shap-bar").size["width"] for row in rows]
    assert widths == sorted(widths, reverse=True) and widths[-1] > 0
    page.text_appears(".shap-caption", "hgb-2026.11")
    page.text_appears(".shap-caption", "Units log-odds")
    page.text_appears(".trace-summary", "Alert raised")  # its decision trace, found through the traces API
    page.text_appears(".trace-summary", "Mean interval s")
    page.screenshot("alert-detail")
    page.click_button("NIS2 Art.23 report (PDF)")
    report = page.wait(lambda _: next(browser.downloads.glob("*.pdf"), None))
    assert report.read_bytes().startswith(b"%PDF")

    # Triage: false positive with a note; the page and the API agree.
    page.find('textarea[name="notes"]').send_keys("nightly backup to the offsite copy")
    page.click_button("False positive")
    page.text_appears("#alert-status", "False positive")
    with server.client() as client:
        stored = client.get(f"/alerts/{ids['beacon']}", headers=login(client)).json()
    assert stored["status"] == "false_positive" and stored["notes"] == "nightly backup to the offsite copy"
    page.go("Alerts", "alerts")
    Select(page.find('select[name="status"]')).select_by_value("false_positive")
    page.wait(lambda _: page.visible_alert_ids() == [ids["beacon"]])

    # An alert without an explanation, and one click to silence its noisy source.
    page.driver.get(f"{page.origin}/#/alerts/{ids['scan']}")
    page.loaded("alerts")
    page.text_appears(".shap-empty", "No model explanation")
    page.click_button("Silence 10.0.0.7")
    page.text_appears(".view .notice-success", "10.0.0.7/32 is silenced for PORT_SCAN")
    page.text_appears("#alert-status", "Resolved")  # the API resolves the host's open alerts
    page.go("Whitelist", "whitelist")
    page.text_appears(".whitelist-table", "10.0.0.7/32")
    with server.client() as client:
        entries = client.get("/settings/whitelist", headers=login(client)).json()["entries"]
    assert [(entry["cidr"], entry["rule_name"], entry["direction"]) for entry in entries] == [
        ("10.0.0.7/32", "PORT_SCAN", "source")]

    assert not [error for error in browser.console_errors() if "Content Security Policy" in error]
    token = page.driver.execute_script("return sessionStorage.getItem('netsenx.token')")
    page.click_button("Log out")
    page.find("#login-form")
    assert page.driver.execute_script("return sessionStorage.getItem('netsenx.token')") is None
    with server.client() as client:
        assert client.get("/alerts/", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_whitelist_shows_the_api_validation_error_and_deletes(page):
    page.open_as_admin()
    page.go("Whitelist", "whitelist")
    page.find('input[name="cidr"]').send_keys("10.0.0.300")
    page.click_button("Add entry")
    page.text_appears(".view .notice-error", "cidr: '10.0.0.300' is not an IPv4/IPv6 address or network")
    cidr = page.find('input[name="cidr"]')
    cidr.clear()
    cidr.send_keys("192.0.2.0/24")
    page.find('input[name="port"]').send_keys("53")
    page.click_button("Add entry")
    page.text_appears(".whitelist-table", "192.0.2.0/24")
    page.click_button("Delete")
    page.click_button("Confirm delete")
    page.text_appears(".view .notice-success", "Removed 192.0.2.0/24")
    assert not page.all(".whitelist-table")


def test_trace_search_and_proof_trail_download(page, browser):
    page.open_as_admin()
    page.go("Decision traces", "traces")
    search = page.find('input[name="search"]')
    search.send_keys("10.0.0.99")
    page.click_button("Search")
    page.text_appears(".empty", "No trace matches this search.")
    search = page.find('input[name="search"]')
    search.clear()
    search.send_keys("203.0.113.50")
    page.click_button("Search")
    page.find(".table a").click()
    page.loaded("traces")
    page.text_appears(".page-header", "C2_BEACON · Alert raised")
    page.click_button("Download proof trail (JSON)")
    trail_file = page.wait(lambda _: next(browser.downloads.glob("proof-trail-*.json"), None))
    trail = json.loads(trail_file.read_text())
    assert trail["trace"]["content"]["evidence"] == {"connections": 48, "mean_interval_s": 60.2}


def page_faults(browser) -> list[str]:
    """Errors of the page's own code (HTTP errors the page shows as the API's detail are not faults)."""
    return [error for error in browser.console_errors() if "Failed to load resource" not in error]


def test_every_page_draws_until_the_session_is_revoked(page, box, browser):
    server, _ = box
    page.open_as_admin()
    page.text_appears(".tile-high", "2")
    page.text_appears('[data-panel="/analytics/top-rules"]', "NEW_DEVICE")
    page.go("Compliance", "compliance")
    page.wait(lambda _: len(page.all(".check")) == 8)
    page.go("License", "license")
    page.text_appears("[data-license-state]", "Valid")
    page.go("This box", "box")
    page.text_appears('[data-panel="/settings/cloud"]', "Only this leaves the box")
    page.go("Audit log", "audit")
    page.text_appears(".view", "Hash chain intact")
    page.text_appears(".view table", "login.succeeded")
    assert all("something went wrong" not in notice.text for notice in page.all(".view .notice-error"))
    assert page_faults(browser) == []

    token = page.driver.execute_script("return sessionStorage.getItem('netsenx.token')")
    with server.client() as client:  # the token is revoked behind the page's back
        assert client.post("/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    page.go("Alerts", "alerts")
    page.text_appears("#login-error", "Please sign in again: this token has been revoked")


def test_admin_sees_the_batches_the_engine_set_aside_and_retries_one(page, box, store):
    store.execute(
        "INSERT INTO ingest_batches (agent_id, seq, received_at, payload, attempts, failed_at, error) "
        "VALUES ('plant-mirror', 42, 1, x'93', 1, 2, 'DecodeError: input data was truncated')"
    )
    page.open_as_admin()
    page.go("This box", "box")
    panel = '[data-panel="/agents/ingest/failed"]'
    page.text_appears(panel, "1 set aside: the engine could not process this batch")
    page.text_appears(panel, "DecodeError: input data was truncated")
    page.click_button("Retry")
    page.text_appears(panel, "Queued again")
    assert store.query_one("SELECT failed_at FROM ingest_batches WHERE seq = 42")["failed_at"] is None


def test_a_viewer_reads_alerts_but_gets_no_triage_or_audit(page, box, store):
    _, ids = box
    users.create_user(store, "auditor", ADMIN_PASSWORD, "viewer")
    page.open()
    page.sign_in(ADMIN_PASSWORD, username="auditor")
    page.loaded("overview")
    assert "Audit log" not in page.find("#nav").text
    page.driver.get(f"{page.origin}/#/alerts/{ids['beacon']}")
    page.loaded("alerts")
    page.text_appears(".view", "Your role can read alerts but not change them.")
    assert not page.all('.triage-buttons, [data-action="silence"]')
    assert "NIS2" not in page.find(".view").text  # reports need the analyst role too
    assert page.all(".shap-row")
    page.go("This box", "box")
    page.find('[data-panel="/settings/cloud"]')
    assert not page.all('[data-panel="/agents/ingest/failed"]')  # an admin's business


def test_one_time_code_field_is_always_offered_and_a_missing_code_looks_like_a_wrong_password(page, store):
    secret = users.start_totp_enrolment(store, "admin")
    assert users.confirm_totp_enrolment(store, "admin", totp.code_at(secret, time.time()))
    page.open()
    assert page.find("#login-form").find_element(By.NAME, "totp").is_displayed()
    page.sign_in(ADMIN_PASSWORD)
    page.text_appears("#login-error", "invalid username, password or one-time code")
    # The enrolment used the current step's code; the next step's is within the accepted drift and unused.
    page.sign_in(ADMIN_PASSWORD, code=totp.code_at(secret, time.time() + totp.STEP))
    page.loaded("overview")


def test_sealed_box_asks_for_the_passphrase_then_signs_in(browser, serve, tmp_path, data_dir):
    key = lifecycle.create_database(data_dir, passphrase="box passphrase 2026")
    opened = Store(data_dir, key)
    users.create_user(opened, "admin", ADMIN_PASSWORD, "admin")
    opened.close()
    page = Page(browser, serve(data_dir, workers=1), tmp_path)
    page.open()
    passphrase = page.find('#unseal-form input[name="passphrase"]')
    passphrase.send_keys("wrong passphrase")
    page.click_button("Unseal")
    page.text_appears("#unseal-error", "wrong passphrase")
    time.sleep(delay_after(1))  # as a person would: the box refuses any attempt during the back-off
    passphrase.clear()
    passphrase.send_keys("box passphrase 2026")
    page.click_button("Unseal")
    page.sign_in(ADMIN_PASSWORD)
    page.loaded("overview")
