"""Fixtures of the console's tests: one Chromium per test module, a clean browser per test,
and a screenshot of the page when a browser test fails."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from tests.helpers.browser import Browser, start_chromium


@pytest.fixture(scope="module")
def chromium() -> Iterator[WebDriver]:
    driver = start_chromium()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
async def browser(chromium: WebDriver, tmp_path: Path) -> AsyncIterator[Browser]:
    b = Browser(chromium, tmp_path)
    await b.reset()
    yield b
    # The page leaves before the platform stops: its live stream ends with it.
    await b.call(chromium.get, "about:blank")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Generator[None, Any, Any]:
    report = yield
    browser = getattr(item, "funcargs", {}).get("browser")
    if report.when == "call" and report.failed and isinstance(browser, Browser):
        try:
            path = browser.screenshot(item.name)
            report.sections.append(("console screenshot", f"the page as it was: {path}"))
        except Exception as e:  # the browser itself may be what failed
            report.sections.append(("console screenshot", f"none could be taken: {e}"))
    return report
