"""The page of `ingest serve` in a real browser: Debian's headless Chromium driven through its chromium-driver by
Selenium (no browser download). Screenshots are kept in test-artifacts/."""

from __future__ import annotations

import os
import shutil

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import EXAMPLES, ROOT
from conftest import SERVE_TOKEN as TOKEN

ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not look for a driver online
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"))
    yield driver
    driver.quit()


@pytest.mark.slow
def test_a_run_started_from_the_page_moves_to_done_and_the_index_answers(ingest_server, browser, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(EXAMPLES / "norwich-city.txt", folder)
    shutil.copy(EXAMPLES / "reports" / "fake-memo.pdf", folder)
    (folder / "<img src=x onerror=alert(1)>.txt").write_text("A key with markup in it.")
    api = ingest_server("--local-path", str(folder), vectors=True)
    ARTIFACTS.mkdir(exist_ok=True)

    browser.get(api.url + "/")
    form = browser.find_element(By.ID, "start-run")
    form.find_element(By.NAME, "token").send_keys(TOKEN)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    message = form.find_element(By.CSS_SELECTOR, "[data-field=message]")
    WebDriverWait(browser, 30).until(lambda _: message.text.startswith("Run "))
    assert message.text == "Run 1 queued."

    seen = []

    def finished(driver) -> bool:
        rows = driver.find_elements(By.CSS_SELECTOR, '#runs tr[data-run-id="1"]')
        if not rows:
            return False
        status = rows[0].find_element(By.CSS_SELECTOR, "[data-field=status]").text
        bar = rows[0].find_element(By.CSS_SELECTOR, "progress")
        seen.append((status, bar.get_attribute("value"), bar.get_attribute("max")))
        return status in ("done", "failed")

    WebDriverWait(browser, 240, 0.2, (StaleElementReferenceException,)).until(finished)
    browser.save_screenshot(str(ARTIFACTS / "serve-runs.png"))
    row = browser.find_element(By.CSS_SELECTOR, '#runs tr[data-run-id="1"]')
    assert row.find_element(By.CSS_SELECTOR, "[data-field=status]").text == "done", seen
    assert row.find_element(By.CSS_SELECTOR, "[data-field=fraction]").text == "3 / 3"
    bar = row.find_element(By.CSS_SELECTOR, "progress")
    assert bar.get_attribute("value") == bar.get_attribute("max") == "3"
    assert any(status in ("queued", "running") for status, _, _ in seen)  # the page changed by itself

    row.find_element(By.LINK_TEXT, "1").click()
    WebDriverWait(browser, 30).until(lambda driver: "Run 1" in driver.find_element(By.TAG_NAME, "h1").text)
    keys = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#documents td.key")]
    assert sorted(keys) == [
        "<img src=x onerror=alert(1)>.txt",
        "fake-memo.pdf",
        "norwich-city.txt",
    ]  # shown as text, not markup
    assert not browser.find_elements(By.CSS_SELECTOR, "#documents img")

    browser.set_window_size(390, 844)  # a phone
    browser.save_screenshot(str(ARTIFACTS / "serve-run-phone.png"))
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")

    search = browser.find_element(By.CSS_SELECTOR, "form.search input[name=q]")
    search.send_keys("Which football club plays in Norwich?")
    search.submit()
    WebDriverWait(browser, 120).until(lambda driver: driver.find_elements(By.CSS_SELECTOR, ".hits li"))
    browser.save_screenshot(str(ARTIFACTS / "serve-search.png"))
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
    first = browser.find_element(By.CSS_SELECTOR, ".hits li .key").text
    assert first.endswith("norwich-city.txt")
    assert TOKEN not in browser.page_source
