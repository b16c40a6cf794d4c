"""The notification, outbox, SIEM export, API token and "what leaves the box" pages in a real Chromium."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.notifications.receivers import make_ca, webhook_receiver
from tests.webui.test_browser import box, page, page_faults  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e


def fill(form, name: str, value: str) -> None:
    field = form.find_element(By.NAME, name)
    field.clear()
    field.send_keys(value)


def test_admin_adds_a_webhook_tests_it_makes_a_token_and_sees_what_leaves(page, browser, tmp_path):  # noqa: F811
    ca = make_ca(tmp_path / "ca")
    with webhook_receiver(ca) as receiver:
        page.open_as_admin()
        page.go("Notifications", "notifications")
        page.text_appears(".view", "No channel yet")
        form = page.find('form[aria-label="Add a notification channel"]')
        fill(form, "name", "SOC hook")
        Select(form.find_element(By.NAME, "kind")).select_by_value("webhook")
        fill(form, "url", receiver.url())
        fill(form, "ca_pem", ca.ca_pem)
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        secret = page.find("pre[data-secret]").text
        assert secret.startswith("whsec_")
        receiver.secret = secret
        page.click_button("Send a test")
        page.text_appears(".view .notice-success", "delivered to")
        assert receiver.deliveries[0].verified and receiver.deliveries[0].json()["kind"] == "test"

        page.go("Outbox", "outbox")
        page.text_appears(".view", "Nothing here.")
        page.go("SIEM export", "export")
        page.text_appears(".view", "GET /api/v1/export/events")

        page.go("API tokens", "tokens")
        form = page.find('form[aria-label="Make an API token"]')
        fill(form, "name", "prometheus")
        Select(form.find_element(By.NAME, "kind")).select_by_value("service")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        token = page.find("pre[data-token]").text
        assert token.startswith("nsx_pat_")
        page.click_button("Revoke")
        page.click_button("Confirm revoke")
        page.text_appears(".view .notice-success", "it stopped working")

        page.go("What leaves the box", "egress")
        page.text_appears('[data-egress-kind="webhook"]', f"{receiver.url()} (json format)")
        page.text_appears('[data-egress-kind="cloud"]', "license_id: the id inside your license key")
        assert page.all('[data-egress-kind="webhook"]')
        assert page_faults(browser) == []
