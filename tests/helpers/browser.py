"""The console as its users reach it: a real headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium), and a plain HTTP client that logs in as a browser does."""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from cpo.console import accounts
from cpo.console.accounts import ConsoleUser
from tests.helpers.platform import Platform

T = TypeVar("T")

PASSWORD = "correct horse battery"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
NAV = [
    "Stations",
    "Sessions",
    "CDRs",
    "Parties",
    "Locations",
    "Tariffs",
    "Tokens",
    "Messages",
    "Firmware",
]
COMMAND_BUTTONS = ["Reset", "Unlock", "Start", "Stop", "Change availability", "Get configuration"]
INSTALL_HINT = "apt-get install -y chromium chromium-driver (what .ci/run does)"


async def add_user(platform: Platform, name: str, role: str) -> ConsoleUser:
    """An account in the platform's database, as `cpo user add` makes it."""
    return await accounts.add_user(platform.state.console.database, name, PASSWORD, role)


# -- over HTTP ----------------------------------------------------------------------------


def hidden(html: str, name: str = "csrf_token") -> str:
    """The value of a page's hidden field (the first of that name)."""
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden field {name} in the page"
    return found.group(1)


def client(platform: Platform) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=platform.url, timeout=30, follow_redirects=False)


async def log_in(http: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    """The login form fetched and sent, as a browser does; the answer to the POST."""
    form = await http.get("/console/")
    assert form.status_code == 200, form.text
    return await http.post(
        "/console/login",
        data={"csrf_token": hidden(form.text), "username": name, "password": password},
    )


def rows(page: str, attribute: str) -> dict[str, list[str]]:
    """The page's table rows that carry `data-<attribute>`, in order: that value → the text
    of each of the row's cells."""
    found: dict[str, list[str]] = {}
    pattern = rf'<tr data-{attribute}="([^"]*)"[^>]*>(.*?)</tr>'
    for value, body in re.findall(pattern, page, re.S):
        found[html.unescape(value)] = [
            " ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split())
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)
        ]
    return found


def field_error(page: str, field: str) -> str | None:
    """The message shown next to a form's field, if any."""
    found = re.search(rf'<p class="error" role="alert" id="{field}-error">(.*?)</p>', page, re.S)
    return html.unescape(found.group(1)) if found else None


async def logged_in(http: httpx.AsyncClient, name: str, password: str = PASSWORD) -> str:
    """Logs the client in as `name`; the CSRF token its pages then carry."""
    answer = await log_in(http, name, password)
    assert answer.status_code == 303, answer.text
    page = await http.get("/console/stations")
    assert page.status_code == 200, page.text
    return hidden(page.text)


@contextlib.asynccontextmanager
async def events(http: httpx.AsyncClient) -> AsyncIterator[AsyncIterator[str]]:
    """The console's live stream, line by line."""
    async with http.stream("GET", "/console/events") as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        yield answer.aiter_lines()


async def shown_after_changes(
    lines: AsyncIterator[str],
    http: httpx.AsyncClient,
    path: str,
    until: Callable[[str], bool],
    timeout: float = 10,
) -> str:
    """The page at `path` once `until` holds of it: looked at now, then after each change the
    live stream tells (as a browser's page fetches its live parts)."""
    async with asyncio.timeout(timeout):
        page = (await http.get(path)).text
        while not until(page):
            async for line in lines:
                if line.startswith("data:"):
                    break
            page = (await http.get(path)).text
        return page


# -- in Chromium --------------------------------------------------------------------------


def start_chromium() -> WebDriver:
    if not Path(CHROMIUM).exists() or not Path(CHROMEDRIVER).exists():
        raise RuntimeError(f"no Chromium or chromedriver: {INSTALL_HINT}")
    options = Options()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # we run as root in CI
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,900",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-sync",
        "--password-store=basic",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The driver's path is given: Selenium looks for nothing to download.
    service = Service(executable_path=CHROMEDRIVER, log_output=subprocess.DEVNULL)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    return driver


class Browser:
    """One Chromium driven from async tests. Each of its calls runs in a thread of its own:
    the platform runs on the test's event loop and must serve the page meanwhile."""

    def __init__(self, driver: WebDriver, directory: Path) -> None:
        self.driver = driver
        self.directory = directory

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    async def reset(self) -> None:
        """A browser as new: no cookies (from an earlier test's platform), a blank page."""
        await self.call(self.driver.get, "about:blank")
        await self.call(self.driver.execute_cdp_cmd, "Network.clearBrowserCookies", {})
        await self.call(self.driver.get_log, "browser")

    async def open(self, url: str) -> None:
        await self.call(self.driver.get, url)

    async def wait_for(self, condition: Callable[[WebDriver], T], timeout: float = 10) -> T:
        """The condition's first truthy value, looked for every 0.1 s within `timeout`."""
        wait = WebDriverWait(
            self.driver,
            timeout,
            poll_frequency=0.1,
            ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
        )
        return await self.call(wait.until, condition)

    async def text(self, css: str, timeout: float = 10) -> str:
        return await self.wait_for(lambda d: d.find_element(By.CSS_SELECTOR, css).text, timeout)

    async def text_once(self, css: str, prefix: str, timeout: float = 10) -> str:
        """The element's text once it starts with `prefix` (after a click that loads a page,
        the old page's element may still be read first)."""

        def arrived(driver: WebDriver) -> str | None:
            text: str = driver.find_element(By.CSS_SELECTOR, css).text
            return text if text.startswith(prefix) else None

        return await self.wait_for(arrived, timeout)

    async def texts(self, css: str) -> list[str]:
        def read(driver: WebDriver) -> list[str]:
            return [e.text for e in driver.find_elements(By.CSS_SELECTOR, css)]

        return await self.call(read, self.driver)

    async def type(self, css: str, text: str) -> None:
        def fill(driver: WebDriver) -> bool:
            field = driver.find_element(By.CSS_SELECTOR, css)
            field.clear()
            field.send_keys(text)
            return True

        await self.wait_for(fill)

    async def click(self, css: str) -> None:
        """Clicks the element, found anew if a live update replaced it meanwhile."""

        def click(driver: WebDriver) -> bool:
            driver.find_element(By.CSS_SELECTOR, css).click()
            return True

        await self.wait_for(click)

    async def script(self, source: str) -> Any:
        return await self.call(self.driver.execute_script, source)

    async def log_in(self, platform: Platform, name: str, password: str = PASSWORD) -> None:
        """Logs in through the form; returns once the page after it has loaded."""
        await self.open(f"{platform.url}/console/")
        await self.type("#username", name)
        await self.type("#password", password)
        await self.click("form button[type=submit]")
        await self.wait_for(
            lambda d: (
                "/console/stations" in d.current_url or d.find_elements(By.CSS_SELECTOR, ".error")
            )
        )

    async def live(self) -> None:
        """Once the page's live stream is open (and htmx loaded): changes from now on show."""
        await self.wait_for(
            lambda d: d.execute_script(
                "return typeof htmx !== 'undefined' && document.body.dataset.stream === 'open'"
            )
        )

    async def console_errors(self) -> list[dict[str, Any]]:
        """What the page logged as errors (JavaScript errors, failed loads) since the last look."""
        entries = await self.call(self.driver.get_log, "browser")
        return [e for e in entries if e.get("level") == "SEVERE"]

    def screenshot(self, name: str) -> Path:
        path = self.directory / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.png"
        self.driver.save_screenshot(str(path))
        return path
