"""Every page of the UI and the API documentation in a real Chromium: each request stays on the box (it may
sit on an air-gapped network), and each page passes the accessibility checks a screen reader depends on."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from selenium.webdriver.common.by import By

from tests.conftest import ADMIN_PASSWORD
from tests.webui.test_browser import box, page, page_faults  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}

# What each page is checked for, in the page itself: a form control nobody can name (no <label>, no
# aria-label), an image without alt text, a page without a language, a button without a name.
ACCESSIBILITY_FAULTS = """
const named = (element) => Boolean(element.labels?.length || element.getAttribute("aria-label")?.trim()
  || element.getAttribute("aria-labelledby") || element.getAttribute("title")?.trim());
const faults = [];
if (!document.documentElement.lang) faults.push("the page has no lang");
for (const control of document.querySelectorAll("input, select, textarea")) {
  if (control.type === "hidden" || control.closest("[hidden]")) continue;
  if (!named(control)) faults.push(`unlabelled ${control.tagName.toLowerCase()} name=${control.name}`);
}
for (const image of document.querySelectorAll("img")) {
  if (!image.hasAttribute("alt")) faults.push(`image without alt: ${image.src}`);
}
for (const svg of document.querySelectorAll("svg")) {
  if (svg.getAttribute("aria-hidden") !== "true" && !svg.getAttribute("aria-label") && !svg.querySelector("title")
      && svg.getAttribute("role") !== "presentation") faults.push("svg without a name");
}
for (const button of document.querySelectorAll("button, a[href]")) {
  if (button.closest("[hidden]")) continue;
  if (!button.textContent.trim() && !button.getAttribute("aria-label")) faults.push(`nameless ${button.outerHTML}`);
}
return faults;
"""


def off_the_box(urls: list[str]) -> list[str]:
    return [url for url in urls if urlsplit(url).scheme in ("http", "https", "ws", "wss")
            and urlsplit(url).hostname not in LOOPBACK]


def nav_pages(shown) -> list[tuple[str, str]]:
    links = [(link.text, link.get_attribute("href")) for link in shown.all("#nav a")]
    return [(label, href.split("#/")[1]) for label, href in links if "#/" in href]


def test_api_documentation_is_written_on_the_box(page, browser):  # noqa: F811
    page.driver.get(page.origin + "/api/v1/schema/docs")
    page.find("h1")
    assert "NetSenX Appliance API" in page.driver.title
    page.text_appears("#tag-alerts + .api-operation", "/api/v1/alerts")
    alerts = page.find("#get--api-v1-alerts")
    assert "severity" in alerts.text and "401" in alerts.text  # parameters and answers
    page.driver.find_element(By.CSS_SELECTOR, '#get--api-v1-alerts a[href="#schema-AlertList"]').click()
    assert "total" in page.find("#schema-AlertList").text
    assert page.driver.execute_script("return document.scripts.length") == 0
    styled = page.driver.execute_script("return getComputedStyle(document.querySelector('.panel')).borderRadius")
    assert styled == "6px"  # the UI's own stylesheet reached the page
    requested = browser.requested_urls()
    assert any(url.endswith("/app.css") for url in requested)
    assert off_the_box(requested) == []
    assert page.driver.execute_script(ACCESSIBILITY_FAULTS) == []
    assert page_faults(browser) == []


def test_every_page_stays_on_the_box_and_names_its_controls(page, browser):  # noqa: F811
    page.open()
    assert page.driver.execute_script(ACCESSIBILITY_FAULTS) == []  # the sign-in form
    page.sign_in(ADMIN_PASSWORD)
    page.loaded("overview")
    pages = nav_pages(page)
    assert len(pages) >= 15
    faults = {}
    for label, name in pages:
        page.go(label, name)
        if found := page.driver.execute_script(ACCESSIBILITY_FAULTS):
            faults[name] = found
        page.screenshot(f"every-page-{name}")
    assert faults == {}
    page.go("Alerts", "alerts")
    page.driver.find_element(By.CSS_SELECTOR, "tr.alert-row a").click()
    page.loaded("alerts")
    assert page.driver.execute_script(ACCESSIBILITY_FAULTS) == []
    page.driver.find_element(By.LINK_TEXT, "API documentation").click()
    page.find("#schemas")
    requested = browser.requested_urls()
    assert len(requested) > len(pages)
    assert off_the_box(requested) == []
    assert page_faults(browser) == []
