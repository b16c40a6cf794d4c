"""The Sensors and License pages in a real Chromium: each sensor's state, last report, packets and drops;
rename and revoke checked through the API; the license's state, expiry as a date and its seats."""

from __future__ import annotations

import re
import time

import pytest
from selenium.webdriver.common.by import By

from appliance.agents import repository as sensors
from appliance.agents.models import AgentAuthIn
from appliance.auth import users
from sensor.records import Batch, CaptureStats
from tests.conftest import ADMIN_PASSWORD, login
from tests.webui.test_browser import box, page, page_faults  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e


def register(store, agent_id: str, hostname: str, seen_ago_s: float) -> None:
    identity = AgentAuthIn(license_key="unused here", agent_id=agent_id, hostname=hostname, os_type="linux",
                           agent_version="1.4.2")
    sensors.register(store, identity, time.time() - seen_ago_s)


@pytest.fixture
def sensors_seen(store):
    register(store, "plant-mirror", "mirror-01", seen_ago_s=20)
    register(store, "office-tap", "tap-02", seen_ago_s=3600)
    register(store, "spare", "spare-03", seen_ago_s=30)
    for drops in (40, 80):  # 120 dropped of 10 120 seen: 1.2 %
        stats = CaptureStats(packets=5000, bytes=4_000_000, kernel_drops=drops, malformed=3)
        sensors.count_capture(store, Batch(agent_id="plant-mirror", seq=drops, sent_at=time.time(), stats=stats),
                              time.time())


def test_sensors_page_shows_capture_health_and_renames_and_revokes(page, box, browser, sensors_seen):  # noqa: F811
    server, _ = box
    page.open_as_admin()
    page.go("Sensors", "sensors")
    plant = page.find('tr[data-sensor="plant-mirror"]')
    assert "Reporting" in plant.text and "10,000" in plant.text and "120 (1.2 %)" in plant.text
    assert plant.find_element(By.CSS_SELECTOR, ".drops-high").text == "120 (1.2 %)"
    assert "Silent" in page.find('tr[data-sensor="office-tap"]').text
    assert "no batch yet" in page.find('tr[data-sensor="office-tap"]').text
    page.screenshot("sensors")

    name = page.find('tr[data-sensor="plant-mirror"] input[name="name"]')
    name.clear()
    name.send_keys("Plant floor mirror")
    page.find('tr[data-sensor="plant-mirror"] button[type="submit"]').click()
    page.text_appears(".view .notice-success", "mirror-01 is now called Plant floor mirror.")
    spare = page.find('tr[data-sensor="spare"]')
    revoke = spare.find_element(By.XPATH, './/button[normalize-space()="Revoke"]')
    revoke.click()
    revoke.click()  # the second click confirms
    page.text_appears('tr[data-sensor="spare"]', "Revoked")
    with server.client() as client:
        listed = {agent["agent_id"]: agent for agent in client.get("/agents", headers=login(client)).json()["agents"]}
    assert listed["plant-mirror"]["name"] == "Plant floor mirror"
    assert listed["spare"]["revoked"] is True and listed["office-tap"]["revoked"] is False
    assert page_faults(browser) == []


def test_license_page_in_dates_and_seats_and_a_viewer_cannot_install(page, box, browser, store, sensors_seen):  # noqa: F811
    page.open_as_admin()
    page.go("License", "license")
    page.text_appears("[data-license-state]", "Valid")
    page.text_appears('[data-fact="customer"]', "Aguas de Castilla")
    page.text_appears('[data-fact="seats"]', "3 of 3 sensors registered: a new sensor is refused")
    expires = page.find('[data-fact="expires"]').text
    assert expires.startswith("20") and "UTC" in expires  # a date in the site's zone, not Unix seconds
    assert re.search(r"\(in (199|200) days\)$", expires)
    page.find('form[aria-label="Install a license key"]')
    page.screenshot("license")
    page.click_button("Log out")

    users.create_user(store, "auditor", ADMIN_PASSWORD, "viewer")
    page.sign_in(ADMIN_PASSWORD, username="auditor")
    page.loaded("overview")
    assert "Sensors" not in page.find("#nav").text  # the sensor list is an admin's
    page.go("License", "license")
    page.text_appears("[data-license-state]", "Valid")
    assert not page.all('form[aria-label="Install a license key"]')
    assert page_faults(browser) == []
