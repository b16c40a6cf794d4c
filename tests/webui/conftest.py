"""A real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium) for the UI tests."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
MISSING_BROWSER = ("the web UI tests need Debian's chromium and chromium-driver: run `just system-packages` "
                   "(or `apt-get install -y chromium chromium-driver`)")


class Browser:
    """One Chromium for the whole module; each test gets a clean origin state and its own downloads dir."""

    def __init__(self, driver, downloads: Path) -> None:
        self.driver = driver
        self.downloads = downloads

    def fresh_downloads(self, directory: Path) -> None:
        self.downloads = directory
        self.driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                                    {"behavior": "allow", "downloadPath": str(directory)})

    def reset(self) -> None:
        # sessionStorage belongs to the tab's origin; a new server is a new port, hence a new origin anyway.
        self.driver.get("about:blank")
        self.driver.delete_all_cookies()

    def requested_urls(self) -> list[str]:
        """Every URL the browser asked for since the last call (DevTools' Network.requestWillBeSent)."""
        urls = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
        return urls

    def console_errors(self) -> list[str]:
        return [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]


@pytest.fixture(scope="module")
def browser_session():
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail(MISSING_BROWSER)
    profile = Path(tempfile.mkdtemp(prefix="netsenx-chromium-"))
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,900", f"--user-data-dir={profile / 'profile'}"):
        options.add_argument(flag)
    # The performance log carries the DevTools network events: every request the page tries, even one refused.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # An explicit driver path: Selenium Manager never tries to download a driver or a browser.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield Browser(driver, profile)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(browser_session, tmp_path):
    browser_session.reset()
    browser_session.driver.get_log("browser")  # drop what earlier tests logged
    browser_session.driver.get_log("performance")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser_session.fresh_downloads(downloads)
    return browser_session
