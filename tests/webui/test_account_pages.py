"""Users, one's own account and the site settings in a real Chromium against a real box, each result checked
through the API: an admin adds a user and changes settings; a viewer reads them and changes nothing."""

from __future__ import annotations

import re
import time

import pytest
import segno
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from appliance.auth import totp, users
from tests.conftest import ADMIN_PASSWORD, login
from tests.webui.test_browser import box, page, page_faults  # noqa: F401  (fixtures)
from tests.webui.test_notification_pages import fill

pytestmark = pytest.mark.e2e

OLGA_PASSWORD = "copper kettle on the stove 7"
OLGA_NEW_PASSWORD = "seven herons by the weir"
NEW_ADMIN_PASSWORD = "lanterns over the harbour 2026"
WIDTHS = {"wide": (1440, 900), "narrow": (390, 844)}


def submit(form) -> None:
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def screenshots(shown, name: str) -> None:
    """The page as it is now, at a desktop's and a phone's width."""
    for width, size in WIDTHS.items():
        shown.driver.set_window_size(*size)
        shown.screenshot(f"{name}-{width}")
    shown.driver.set_window_size(1280, 900)


def test_an_admin_adds_a_user_and_changes_site_and_rule_settings_and_a_viewer_cannot(page, box, browser):  # noqa: F811
    server, _ = box
    page.open_as_admin()

    page.go("Users", "users")
    form = page.find('form[aria-label="Add a user"]')
    fill(form, "username", "olga")
    fill(form, "password", "aaaaaaaaaaaa")
    Select(form.find_element(By.NAME, "role")).select_by_value("analyst")
    submit(form)
    page.text_appears('form[aria-label="Add a user"] .notice-error', "password: ")
    fill(form, "password", OLGA_PASSWORD)
    submit(form)
    page.text_appears(".view .notice-success", "Added olga as analyst.")
    Select(page.find('tr[data-username="olga"] select[name="role"]')).select_by_value("viewer")
    page.text_appears(".view .notice-success", "olga is now viewer.")
    page.find('tr[data-username="olga"] details summary').click()
    form = page.find('form[aria-label="New password for olga"]')
    fill(form, "password", "olga2026")
    submit(form)
    page.text_appears('form[aria-label="New password for olga"] .notice-error', "password: ")
    fill(form, "password", OLGA_NEW_PASSWORD)
    submit(form)
    page.text_appears(".view .notice-success", "New password set for olga")
    screenshots(page, "users")
    with server.client() as client:
        admin = login(client)
        listed = {user["username"]: user for user in client.get("/users", headers=admin).json()["users"]}
        assert listed["olga"]["role"] == "viewer" and not listed["olga"]["disabled"]

    page.go("Site settings", "site")
    form = page.find('form[aria-label="Site settings"]')
    fill(form, "internal_networks", "10.20.0.0/16\nnot-a-net")
    submit(form)
    page.text_appears('form[aria-label="Site settings"] .notice-error', "not an IP address or CIDR: 'not-a-net'")
    fill(form, "internal_networks", "10.20.0.0/16\n192.168.7.0/24")
    fill(form, "dns_resolvers", "10.20.0.53")
    fill(form, "timezone", "Europe/Berlin")
    form.find_element(By.CSS_SELECTOR, 'input[name="weekday"][value="5"]').click()  # Saturday too
    submit(form)
    page.text_appears(".view .notice-success", "without a restart")
    page.text_appears('form[aria-label="Site settings"]', "Set on this box · default: UTC")
    page.go("Audit log", "audit")  # every time now shows in the site's zone, named
    shown = page.find(".view tbody td").text
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T", shown), shown
    page.go("Site settings", "site")

    scan = page.find('details[data-rule="PORT_SCAN"] summary')
    scan.click()
    form = page.find('form[aria-label="Settings of PORT_SCAN"]')
    fill(form, "min_ports", "40")
    Select(form.find_element(By.NAME, "severity")).select_by_value("MEDIUM")
    submit(form)
    page.text_appears(".view .notice-success", "Saved PORT_SCAN")
    page.text_appears('[data-rule="PORT_SCAN"] [data-threshold="min_ports"]', "set on this box")
    page.text_appears('[data-rule="PORT_SCAN"] summary', "2 set on this box")
    screenshots(page, "site-settings")
    with server.client() as client:
        admin = login(client)
        site = client.get("/settings/site", headers=admin).json()["current"]
        assert site["internal_networks"] == ["10.20.0.0/16", "192.168.7.0/24"]
        assert site["dns_resolvers"] == ["10.20.0.53"]
        assert site["business_hours"] == {"start_hour": 8, "end_hour": 18, "weekdays": [0, 1, 2, 3, 4, 5],
                                          "timezone": "Europe/Berlin"}
        rules = client.get("/settings/rules", headers=admin).json()["rules"]
        scan = next(rule for rule in rules if rule["rule_name"] == "PORT_SCAN")
        assert scan["severity"]["value"] == "MEDIUM"
        assert {item["name"]: item["value"] for item in scan["thresholds"]}["min_ports"] == 40
        actions = [entry["action"] for entry in client.get("/settings/audit-log", headers=admin).json()["entries"]]
        assert {"user.created", "user.changed", "settings.site_changed", "settings.rule_changed"} <= set(actions)
    assert page_faults(browser) == []

    page.click_button("Log out")
    page.sign_in(OLGA_PASSWORD, username="olga")
    page.text_appears("#login-error", "invalid username, password or one-time code")  # replaced by the admin
    page.sign_in(OLGA_NEW_PASSWORD, username="olga")
    page.loaded("overview")
    assert "Users" not in page.find("#nav").text
    page.driver.get(f"{page.origin}/#/users")
    page.loaded("overview")  # not a page a viewer has
    page.go("Site settings", "site")
    page.text_appears(".view", "only an admin can change them")
    assert page.find('form[aria-label="Site settings"] fieldset').get_attribute("disabled") is not None
    assert not page.all('.view button[type="submit"]')
    page.go("Incidents", "incidents")
    assert not page.all('form[aria-label="Open an incident"]')  # the registers are an analyst's to fill in
    token = page.driver.execute_script("return sessionStorage.getItem('netsenx.token')")
    with server.client() as client:  # and the box itself refuses the viewer, whatever the page shows
        viewer = {"Authorization": f"Bearer {token}"}
        assert client.put("/settings/site", json={"dns_resolvers": []}, headers=viewer).status_code == 403
        assert client.post("/users", json={"username": "eve", "password": OLGA_PASSWORD, "role": "admin"},
                           headers=viewer).status_code == 403


def test_an_admin_changes_the_password_enrols_totp_with_the_box_drawn_qr_and_signs_in_with_a_recovery_code(
    page, box, browser  # noqa: F811
):
    server, _ = box
    page.open_as_admin()

    page.go("My account", "account")
    form = page.find('form[aria-label="Change my password"]')
    fill(form, "current_password", ADMIN_PASSWORD)
    fill(form, "new_password", "password1234")
    submit(form)
    page.text_appears('form[aria-label="Change my password"] .notice-error', "password: ")
    fill(form, "new_password", NEW_ADMIN_PASSWORD)
    submit(form)
    page.text_appears(".view .notice-success", "Password changed.")
    page.go("Alerts", "alerts")  # the page carries on with the new token
    page.go("My account", "account")

    page.click_button("Set up a one-time code app")
    secret = page.find("[data-totp-secret]").get_attribute("data-totp-secret")
    expected = segno.make(totp.provisioning_uri(secret, "admin"), error="m", micro=False).matrix
    drawn = page.find("svg.qr-code path").get_attribute("d")
    assert drawn.count("M") == sum(sum(1 for module in row if module) for row in expected)
    screenshots(page, "account-enrolment")
    form = page.find('form[aria-label="Confirm the one-time code app"]')
    fill(form, "code", totp.code_at(secret, time.time()))
    submit(form)
    codes = page.find("[data-recovery-codes] pre").text.split()
    assert len(codes) == users.RECOVERY_CODES

    page.click_button("Log out")
    page.sign_in(NEW_ADMIN_PASSWORD, code=codes[0])
    page.loaded("overview")
    page.go("My account", "account")
    page.text_appears(".view", f"{users.RECOVERY_CODES - 1} unused recovery codes left.")
    with server.client() as client:  # the recovery code was used up
        again = {"username": "admin", "password": NEW_ADMIN_PASSWORD, "recovery_code": codes[0]}
        assert client.post("/auth/login", json=again).status_code == 401
        assert client.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD,
                                                "recovery_code": codes[1]}).status_code == 401
    assert page_faults(browser) == []
