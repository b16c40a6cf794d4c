"""Every page of the UI and the API documentation in a real Chromium: each request stays on the box (it may
sit on an air-gapped network), and each page passes the accessibility checks a screen reader depends on."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.conftest import ADMIN_PASSWORD
from tests.webui.test_account_pages import WIDTHS
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

# WCAG 2.1 AA contrast of every visible text against the background it is drawn on: 4.5:1, or 3:1 for large text
# (24 px, or 18.66 px bold). Backgrounds are found up the ancestors; the pages use no background images.
CONTRAST_FAULTS = """
const rgba = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
const channel = (value) => { const c = value / 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
const over = ([r, g, b, a = 1], [br, bg, bb]) => [r * a + br * (1 - a), g * a + bg * (1 - a), b * a + bb * (1 - a)];
function background(element) {
  const layers = [];
  for (let node = element; node; node = node.parentElement) {
    const colour = rgba(getComputedStyle(node).backgroundColor);
    if (colour.length >= 3 && (colour[3] ?? 1) > 0) layers.push(colour);
    if (colour.length >= 3 && (colour[3] ?? 1) === 1) break;
  }
  return layers.reverse().reduce((below, layer) => over(layer, below), [255, 255, 255]);
}
const faults = [];
for (const element of document.querySelectorAll("body *")) {
  const text = [...element.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join("").trim();
  if (!text || !element.getClientRects().length) continue;
  const style = getComputedStyle(element);
  if (style.visibility === "hidden" || Number(style.opacity) === 0) continue;
  if (element.closest("[aria-hidden=true], .skip-link, option, [disabled]")) continue;  // exempt: disabled, hidden
  const back = background(element);
  const fore = over(rgba(style.color), back);
  const [light, dark] = [luminance(fore), luminance(back)].sort((a, b) => b - a);
  const ratio = (light + 0.05) / (dark + 0.05);
  const size = parseFloat(style.fontSize);
  const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
  const named = `${element.tagName.toLowerCase()}.${element.className}`;
  if (ratio < (large ? 3 : 4.5)) faults.push(`${ratio.toFixed(2)}:1 ${named} "${text.slice(0, 30)}"`);
}
return [...new Set(faults)];
"""

# What makes the page wider than the window (a wide table may scroll inside its own box, never the page).
OVERFLOW = """
if (document.documentElement.scrollWidth <= window.innerWidth) return [];
const out = [...document.querySelectorAll("body *")].filter((element) =>
  !element.closest(".table-wrap, .sidebar") && element.getBoundingClientRect().right > window.innerWidth + 1);
return out.filter((element) => !out.some((other) => other !== element && element.contains(other)))
  .map((element) => `${element.tagName.toLowerCase()}.${element.className}`).slice(0, 5);
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
    assert page.driver.execute_script(ACCESSIBILITY_FAULTS) + page.driver.execute_script(CONTRAST_FAULTS) == []
    assert page_faults(browser) == []


def test_keyboard_alone_signs_in_skips_to_the_content_and_opens_an_alert(page, box):  # noqa: F811
    _, ids = box
    page.open()
    focused = lambda: page.driver.switch_to.active_element  # noqa: E731
    assert focused().get_attribute("name") == "username"  # the form takes the focus
    focused().send_keys("admin", Keys.TAB)
    focused().send_keys(ADMIN_PASSWORD, Keys.ENTER)
    page.loaded("overview")
    page.driver.refresh()  # the session stays; Tab now starts at the top of the page
    page.loaded("overview")
    ActionChains(page.driver).send_keys(Keys.TAB).perform()
    assert focused().text == "Skip to content"
    focused().send_keys(Keys.ENTER)
    assert focused().get_attribute("id") == "content"
    alerts_link = page.driver.find_element(By.LINK_TEXT, "Alerts")
    page.driver.execute_script("arguments[0].focus()", alerts_link)
    focused().send_keys(Keys.ENTER)
    page.loaded("alerts")
    first_rule = page.find("tr.alert-row a")
    for _ in range(80):  # Tab on from the navigation, through the filters, to the first alert's link
        focused().send_keys(Keys.TAB)
        if focused() == first_rule:
            break
    assert focused() == first_rule
    ring = page.driver.execute_script("const s = getComputedStyle(document.activeElement); "
                                      "return [s.outlineStyle, s.outlineWidth]")
    assert ring == ["solid", "2px"]  # the focus shows
    focused().send_keys(Keys.ENTER)
    page.wait(lambda driver: ids["beacon"] in driver.current_url)


def test_every_page_stays_on_the_box_and_names_its_controls(page, browser):  # noqa: F811
    page.open()
    assert page.driver.execute_script(ACCESSIBILITY_FAULTS) + page.driver.execute_script(CONTRAST_FAULTS) == []
    page.sign_in(ADMIN_PASSWORD)
    page.loaded("overview")
    pages = nav_pages(page)
    assert len(pages) >= 15
    faults = {}
    for label, name in pages:
        page.go(label, name)
        if found := page.driver.execute_script(ACCESSIBILITY_FAULTS) + page.driver.execute_script(CONTRAST_FAULTS):
            faults[name] = found
        for width, size in WIDTHS.items():
            page.driver.set_window_size(*size)
            page.screenshot(f"every-page-{name}-{width}")
            if sticking_out := page.driver.execute_script(OVERFLOW):
                faults.setdefault(name, []).append(f"wider than the window at {size[0]} px: {sticking_out}")
        page.driver.set_window_size(1280, 900)
    assert faults == {}
    page.go("Alerts", "alerts")
    page.driver.find_element(By.CSS_SELECTOR, "tr.alert-row a").click()
    page.loaded("alerts")
    page.find(".shap-row")
    assert page.driver.execute_script(ACCESSIBILITY_FAULTS) + page.driver.execute_script(CONTRAST_FAULTS) == []
    page.driver.find_element(By.LINK_TEXT, "API documentation").click()
    page.find("#schemas")
    requested = browser.requested_urls()
    assert len(requested) > len(pages)
    assert off_the_box(requested) == []
    assert page_faults(browser) == []
