"""The threat-intel page in a real Chromium: an admin imports a STIX file, sees the source and its last result,
searches an indicator, disables the source; a bad file shows the API's detail; an import's retro-hunt shows
what it found in past traffic, and leads to those alerts."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from tests.engine.conftest import analyse, scorer  # noqa: F401  (fixtures: the engine over real captures)
from tests.intel.feeds import stix_bundle, stix_indicator
from tests.webui.test_browser import box, page, page_faults  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e


def test_admin_imports_searches_and_disables(page, browser, tmp_path):  # noqa: F811
    bundle = tmp_path / "apt-report.json"
    bundle.write_bytes(stix_bundle(stix_indicator("[ipv4-addr:value = '198.51.100.23']", confidence=85),
                                   stix_indicator("[domain-name:value = 'c2.bad.example']")))
    broken = tmp_path / "broken.json"
    broken.write_text('{"type": "bundle", "objects": [')
    page.open_as_admin()
    page.go("Threat intel", "threat-intel")
    page.text_appears(".view", "No feed and no import yet")

    form = page.find('form[aria-label="Import a threat-intel file"]')
    form.find_element(By.NAME, "file").send_keys(str(bundle))
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    page.text_appears(".view .notice-success", "apt-report.json: 2 indicators read, 2 new, 0 entries refused")
    page.text_appears('tr[data-source="apt-report.json"]', "STIX")
    row = page.find('tr[data-source="apt-report.json"]')
    assert "2" in row.text.split() and "ok," in row.text

    search = page.find('form[aria-label="Search an indicator"]')
    search.find_element(By.NAME, "q").send_keys("www.c2.bad.example")
    search.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    page.text_appears("[data-search-result]", "Matches: traffic touching it raises THREAT_INTEL_MATCH.")
    page.text_appears("[data-search-result] table", "c2.bad.example")

    page.click_button("Disable")
    page.text_appears(".view .notice-success", "apt-report.json disabled: it no longer matches")
    page.text_appears('tr[data-source="apt-report.json"]', "off")

    form = page.find('form[aria-label="Import a threat-intel file"]')
    form.find_element(By.NAME, "file").send_keys(str(broken))
    form.find_element(By.NAME, "name").send_keys("apt-report.json")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    page.text_appears(".view .notice-error", "not JSON")
    page.text_appears('tr[data-source="apt-report.json"]', "error: not JSON")  # its indicators stay
    assert "2" in page.find('tr[data-source="apt-report.json"]').text.split()
    page.screenshot("threat-intel")
    assert page_faults(browser) == []


def test_an_import_shows_what_it_found_in_past_traffic(page, browser, tmp_path, analyse):  # noqa: F811
    from tests.intel.test_retro_hunt import BITS, WIKIPEDIA

    engine = analyse(WIKIPEDIA)  # the flow log holds the capture's traffic before the feed lists anything
    listed = tmp_path / "late-feed.txt"
    listed.write_text(f"{BITS}\n")
    page.open_as_admin()
    page.go("Threat intel", "threat-intel")
    form = page.find('form[aria-label="Import a threat-intel file"]')
    form.find_element(By.NAME, "file").send_keys(str(listed))
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    page.text_appears('tr[data-source="late-feed.txt"] [data-found-later]', "search queued")

    engine.process_all()  # the engine takes the indicators and searches the flow log
    page.go("Alerts", "alerts")
    page.go("Threat intel", "threat-intel")
    page.text_appears('tr[data-source="late-feed.txt"] [data-found-later]', "1 alert in past traffic")
    page.find('tr[data-source="late-feed.txt"] [data-found-later] a').click()
    page.loaded("alerts")
    page.text_appears("tr.alert-row", BITS)
    assert all("THREAT_INTEL_MATCH" in row.text for row in page.all("tr.alert-row"))
    assert page_faults(browser) == []
