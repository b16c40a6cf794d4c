"""The Devices page in a real Chromium: the site's hosts from flows the engine logged, with role, first and
last seen and alerts (a click opens the host's alerts), and the routines the baseline learned."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from appliance.engine.network import SiteConfig
from appliance.engine.rules import RuleSet
from tests.devices.test_inventory import flow, log_flows
from tests.engine_rules.conftest import T0, only, probe
from tests.webui.test_browser import box, page, page_faults  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e


@pytest.fixture
def site_seen(store):
    log_flows(store, flow("a", "10.0.0.2", "203.0.113.50", T0), flow("b", "10.0.0.2", "10.0.0.53", T0 + 60),
              flow("c", "10.0.0.5", "10.0.0.53", T0 + 30))
    rules = RuleSet(only("PORT_SCAN"), SiteConfig(learning_period_s=600))
    for port in range(20):  # the inventory scanner at work while the box learns
        rules.on_flow(probe(port, ts=T0 + port))
    rules.advance(T0 + 3600)
    store.execute("INSERT INTO engine_state (key, value) VALUES ('baseline', ?)", (rules.baseline.to_bytes(),))


def test_devices_with_their_alerts_and_the_learned_routines(page, box, browser, site_seen):  # noqa: F811
    _, ids = box
    page.open_as_admin()
    page.go("Devices", "devices")
    rows = page.all("tr[data-device]")
    assert [row.get_attribute("data-device") for row in rows] == ["10.0.0.2", "10.0.0.53", "10.0.0.5"]
    beacon_host = page.find('tr[data-device="10.0.0.2"]')
    assert "1 (1 open)" in beacon_host.text and "2 / 0" in beacon_host.text and "UTC" in beacon_host.text
    page.text_appears('[data-panel="baseline"] [data-learning="finished"]', "Learned from")
    page.text_appears('tr[data-routine="PORT_SCAN|10.0.0.5"]', "probes ports (a scanner)")
    page.screenshot("devices")

    page.find('input[name="include_peers"]').click()
    page.text_appears('tr[data-device="203.0.113.50"]', "(outside)")
    search = page.find('input[name="search"]')
    search.clear()
    search.send_keys("10.0.0.9")
    page.click_button("Find")
    page.text_appears(".view .empty", "0 devices matched “10.0.0.9”.")

    page.driver.get(f"{page.origin}/#/devices")
    page.loaded("devices")
    page.find('tr[data-device="10.0.0.2"]').find_element(By.LINK_TEXT, "10.0.0.2").click()
    page.loaded("alerts")
    page.wait(lambda _: page.visible_alert_ids() == [ids["beacon"]])
    assert page.find('input[name="host"]').get_attribute("value") == "10.0.0.2"
    assert page_faults(browser) == []
