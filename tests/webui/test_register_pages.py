"""The NIS2 incident register and the GDPR breach register in a real Chromium against a real box: an incident
opened from an alert, its deadline clocks, a report for the stage chosen listed with it, a breach recorded;
each result checked through the API."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from pypdf import PdfReader
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.conftest import login
from tests.webui.test_account_pages import screenshots, submit
from tests.webui.test_browser import box, page, page_faults  # noqa: F401  (fixtures)
from tests.webui.test_notification_pages import fill

pytestmark = pytest.mark.e2e

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
YESTERDAY_0930_TOKYO = (dt.datetime.now(TOKYO) - dt.timedelta(days=1)).replace(hour=9, minute=30, second=0,
                                                                               microsecond=0)


def test_an_incident_opened_from_an_alert_gets_its_clocks_a_stage_report_and_a_breach(page, box, browser):  # noqa: F811
    server, ids = box
    with server.client() as client:  # a site far from the browser's UTC: the forms' times are the site's
        zone = {"business_hours": {"timezone": "Asia/Tokyo"}}
        assert client.put("/settings/site", json=zone, headers=login(client)).status_code == 200
    page.open_as_admin()
    page.driver.get(f"{page.origin}/#/alerts/{ids['beacon']}")
    page.loaded("alerts")
    page.driver.find_element(By.LINK_TEXT, "Open an incident with this alert").click()
    page.loaded("incidents")
    form = page.find('form[aria-label="Open an incident"]')
    assert form.find_element(By.NAME, "alert_ids").get_attribute("value") == ids["beacon"]
    fill(form, "title", "Beaconing from the HMI workstation")
    submit(form)
    page.text_appears(".view .page-header", "Beaconing from the HMI workstation")
    page.text_appears('tr[data-stage="early_warning"]', "due in 23 h")
    page.text_appears('tr[data-stage="intermediate"]', "Only if the CSIRT asks")

    Select(page.find('select[name="stage"]')).select_by_value("notification")
    page.click_button("NIS2 report (PDF)")
    pdf = page.wait(lambda _: next(browser.downloads.glob("nis2-*.pdf"), None))
    page.text_appears('[aria-label="Reports made"]', "NIS2 Incident notification")
    assert "Incident notification" in "".join(p.extract_text() for p in PdfReader(pdf).pages)
    row = page.find('tr[data-stage="early_warning"]')
    row.find_element(By.XPATH, './/button[normalize-space()="Mark as sent now"]').click()
    page.text_appears('tr[data-stage="early_warning"]', "Sent")
    form = page.find('form[aria-label="Incident details"]')
    Select(form.find_element(By.NAME, "status")).select_by_value("contained")
    Select(form.find_element(By.NAME, "significant")).select_by_value("true")
    submit(form)
    page.text_appears(".view .notice-success", "Details saved.")
    screenshots(page, "incident")

    page.go("Breaches", "breaches")
    form = page.find('form[aria-label="Record a breach"]')
    fill(form, "title", "Operator directory exported")
    fill(form, "data_categories", "names, e-mail addresses")
    page.text_appears('form[aria-label="Record a breach"]', "Aware since (Asia/Tokyo)")
    aware = form.find_element(By.NAME, "aware_at")
    wall_time = YESTERDAY_0930_TOKYO.strftime("%Y-%m-%dT%H:%M")
    page.driver.execute_script("arguments[0].value = arguments[1]", aware, wall_time)
    Select(form.find_element(By.NAME, "incident_id")).select_by_index(1)
    submit(form)
    page.text_appears('form[aria-label="Record a breach"] .notice-error', "not_notified_reason: Art.33(5)")
    fill(form, "not_notified_reason", "Encrypted at rest; key not exposed")
    submit(form)
    page.text_appears(".view .notice-success", "Recorded BR-")
    page.text_appears(".view table", "not notified: Encrypted at rest; key not exposed")
    page.click_button("Notified now")
    page.text_appears(".view .notice-success", "recorded as notified")
    screenshots(page, "breaches")
    assert page_faults(browser) == []

    with server.client() as client:
        admin = login(client)
        incident = client.get("/compliance/incidents", headers=admin).json()["incidents"][0]
        assert incident["alert_ids"] == [ids["beacon"]] and incident["status"] == "contained"
        assert incident["significant"] is True and "early_warning" in incident["submissions"]
        assert [report["title"] for report in incident["reports"]] == ["NIS2 Incident notification"]
        breach = client.get("/compliance/breaches", headers=admin).json()["breaches"][0]
        assert breach["incident_id"] == incident["id"] and breach["notified"] is True
        assert breach["data_categories"] == ["names", "e-mail addresses"]
        assert breach["aware_at"] == YESTERDAY_0930_TOKYO.timestamp()
