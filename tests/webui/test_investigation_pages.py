"""Investigating in a real Chromium: the alert list filtered by host and time range, and the notes history of
an alert and of an incident (who wrote what, when), checked through the API."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from tests.conftest import login
from tests.webui.test_browser import NOW, ROUTINE_DEVICES, box, page, page_faults  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e


def test_alerts_filtered_by_host_and_time_range(page, box, browser):  # noqa: F811
    _, ids = box
    page.open_as_admin()
    page.go("Alerts", "alerts")
    host = page.find('input[name="host"]')
    host.send_keys("203.0.113.50")  # the beacon's destination
    page.click_button("Apply")
    page.wait(lambda _: page.visible_alert_ids() == [ids["beacon"]])
    assert "host=203.0.113.50" in page.driver.current_url

    page.driver.get(f"{page.origin}/#/alerts?since={NOW - 250}&until={NOW - 150}")
    page.wait(lambda _: page.visible_alert_ids() == [ids["scan"]])
    shown = page.find('input[name="since"]').get_attribute("value")
    assert shown and shown.startswith("20")  # the range shows in the form, as a wall time of the site
    page.driver.get(f"{page.origin}/#/alerts?since={NOW - 5000}&until={NOW - 1000 - ROUTINE_DEVICES}")
    page.text_appears(".view .empty", "0 alerts matched these filters.")
    page.screenshot("alerts-filtered")
    assert page_faults(browser) == []


def test_notes_history_of_an_alert_and_an_incident(page, box, browser):  # noqa: F811
    server, ids = box
    page.open_as_admin()
    page.driver.get(f"{page.origin}/#/alerts/{ids['beacon']}")
    page.loaded("alerts")
    page.text_appears("[data-notes]", "No notes yet.")
    page.find('textarea[name="notes"]').send_keys("Beacon to a known VPS: reviewing")
    page.click_button("Reviewed")
    page.text_appears("[data-notes]", "Beacon to a known VPS: reviewing")
    page.find('textarea[name="note"]').send_keys("Vendor confirms it is not their update server")
    page.click_button("Add note")
    page.text_appears("[data-notes]", "Vendor confirms")
    items = page.all("[data-notes] li.note")
    assert [item.find_element(By.CSS_SELECTOR, ".note-text").text for item in items] == [
        "Beacon to a known VPS: reviewing", "Vendor confirms it is not their update server"]
    assert all("admin" in item.find_element(By.CSS_SELECTOR, ".note-meta").text for item in items)
    assert all("UTC" in item.find_element(By.CSS_SELECTOR, ".note-meta").text for item in items)
    page.screenshot("alert-notes")

    with server.client() as client:
        headers = login(client)
        notes = client.get(f"/alerts/{ids['beacon']}/notes", headers=headers).json()["notes"]
        incident = client.post("/compliance/incidents", json={"title": "Beacon from the HMI",
                                                               "alert_ids": [ids["beacon"]]}, headers=headers).json()
    assert [(note["author"], note["text"]) for note in notes] == [
        ("admin", "Beacon to a known VPS: reviewing"), ("admin", "Vendor confirms it is not their update server")]

    page.driver.get(f"{page.origin}/#/incidents/{incident['id']}")
    page.loaded("incidents")
    page.find('textarea[name="note"]').send_keys("CSIRT informed by phone")
    page.click_button("Add note")
    page.text_appears("[data-notes]", "CSIRT informed by phone")
    with server.client() as client:
        stored = client.get(f"/compliance/incidents/{incident['id']}/notes", headers=login(client)).json()["notes"]
    assert [(note["author"], note["text"]) for note in stored] == [("admin", "CSIRT informed by phone")]
    assert page_faults(browser) == []


def test_alerts_per_hour_chart_drawn_on_the_page_opens_an_hours_alerts(page, box, browser):  # noqa: F811
    page.open_as_admin()
    chart = '[data-panel="/analytics/alerts-per-hour"]'
    page.find(f"{chart} .stacked-chart")
    hours = page.all(f"{chart} a.column-slot")
    totals = {column.get_attribute("data-hour"): int(column.get_attribute("aria-label").split(": ")[1].split()[0])
              for column in hours}
    assert sum(totals.values()) == 3 + ROUTINE_DEVICES  # every seeded alert is within the last 48 hours
    assert len(page.all(f"{chart} .column-slot")) == 48
    busiest = max(totals, key=totals.get)
    column = page.find(f'{chart} a[data-hour="{busiest}"]')
    assert "critical" in column.get_attribute("aria-label") or "low" in column.get_attribute("aria-label")
    assert column.find_elements(By.CSS_SELECTOR, ".fill-low")[0].size["height"] > 0
    page.screenshot("overview-alerts-per-hour")
    column.click()
    page.loaded("alerts")
    page.text_appears(".pager", f"of {totals[busiest]}")
    assert f"since={busiest}" in page.driver.current_url
    assert page_faults(browser) == []
