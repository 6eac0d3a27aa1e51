"""The console in a real headless Chromium against the real platform and simulated chargers:
logging in, live updates without reload, a remote start from the station page and the CDR of
that session with its cost and in the CSV, what a viewer is shown, and pages free of
JavaScript errors."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.helpers.browser import COMMAND_BUTTONS, NAV, Browser, add_user
from tests.helpers.ocpi import TARIFF, invite, location
from tests.helpers.platform import Platform, online, post


async def test_log_in_and_a_wrong_password_is_refused(platform: Platform, browser: Browser) -> None:
    await add_user(platform, "alice", "operator")
    await browser.log_in(platform, "alice", "not the password")
    assert await browser.text("#form-error") == "Wrong user name or password."
    assert "/console/stations" not in browser.driver.current_url

    await browser.log_in(platform, "alice")
    assert await browser.text("h1") == "Stations"
    assert (await browser.texts("header nav a"))[: len(NAV)] == NAV
    assert "alice" in await browser.text("header .who")


async def test_a_status_change_shows_on_the_stations_page_without_reload(
    platform: Platform, browser: Browser
) -> None:
    await add_user(platform, "olga", "viewer")
    sim = await online(platform, "CP-LIVE", "2.0.1")
    await browser.log_in(platform, "olga")
    cell = '[data-station="CP-LIVE"] [data-evse="1"]'
    assert "Available" in await browser.text(cell)
    await browser.live()
    await browser.script("window.samePage = true")

    await sim.status(1, "Faulted")
    await browser.wait_for(
        lambda d: "Faulted" in d.find_element(By.CSS_SELECTOR, cell).text, timeout=5
    )
    assert await browser.script("return window.samePage === true"), "the page was reloaded"
    await sim.close()
    await browser.wait_for(
        lambda d: (
            d.find_element(By.CSS_SELECTOR, '[data-station="CP-LIVE"] .badge').text == "offline"
        ),
        timeout=5,
    )


async def test_a_remote_start_from_the_station_page_starts_a_session_then_its_cdr_shows(
    platform: Platform, browser: Browser
) -> None:
    await add_user(platform, "oscar", "operator")
    # The charger stands at a Location with a tariff and the token is the operator's own:
    # the charge is billed, and its CDR made when it ends.
    await post(platform, "/tariffs", TARIFF)
    await post(
        platform,
        "/locations",
        location("SITE-START", [("SITE-START-1", "CP-START", 1)], tariff_ids=["AC-STANDARD"]),
    )
    await post(platform, "/tokens", {"uid": "04A1B2C3"}, 201)
    events = platform.events()
    sim = await online(platform, "CP-START", "1.6")
    await browser.log_in(platform, "oscar")
    await browser.click('a[href="/console/stations/CP-START"]')
    assert await browser.text("h1") == "CP-START"
    await browser.live()
    start = 'form[action$="/commands/remote_start"]'
    await browser.type(f"{start} input[name=id_token]", "04A1B2C3")
    await browser.type(f"{start} input[name=evse_id]", "1")
    await browser.click(f"{start} button")

    assert await browser.text(f"{start} .outcome .result") == "The charger answered: Accepted."
    started = await events.wait("TransactionStarted", lambda e: e.station_id == sim.id)
    # The charger was asked, and started: the platform has its StartTransaction.
    assert ("RemoteStartTransaction",) == tuple(
        a for a, _ in sim.received_calls if a.startswith("RemoteStart")
    )
    assert (started.data["id_token"], started.data["evse_id"]) == ("04A1B2C3", 1)
    # The page shows the transaction under way, live.
    row = f'#live [data-transaction="{started.data["transaction_id"]}"]'
    assert "04A1B2C3" in await browser.text(row)
    await sim.send_meter_values(1, seconds=600)  # 11 kW for ten minutes

    await browser.click(f"{row} button")  # Stop
    assert await browser.text("#stop-outcome .result") == "The charger answered: Accepted."
    ended = await events.wait("TransactionEnded", lambda e: e.station_id == sim.id)
    assert ended.data["stop_reason"] == "Remote"
    await browser.wait_for(lambda d: not d.find_elements(By.CSS_SELECTOR, row), timeout=5)
    events.close()
    await sim.close()

    # After the session, its CDR on the CDRs page with its cost, in the totals and the chart.
    await browser.click('header nav a[href="/console/cdrs"]')
    cdr = await browser.wait_for(cdr_shown, timeout=15)
    cells = await browser.texts(f'tr[data-cdr="{cdr}"] td')
    assert cells[2:5] == ["operator NL-CPO", "SITE-START Site SITE-START", "04A1B2C3"]
    energy, cost, currency = float(cells[5]), cells[7], cells[9]
    assert abs(energy - 11 * 600 / 3600) < 0.05 and currency == "EUR"
    async with platform.admin() as admin:
        (billed,) = (await admin.get("/cdrs")).json()["cdrs"]
    assert billed["id"] == cdr and billed["cost_excl_vat"] >= energy * 0.35 - 0.01
    assert cost == f"{billed['cost_excl_vat']:.2f}"
    assert await browser.text("#total-cdrs") == "1"
    await browser.wait_for(
        lambda d: d.find_elements(By.CSS_SELECTOR, '#cdr-chart[data-drawn="true"] canvas')
    )
    # The link named CSV downloads exactly the page's CDRs, fetched as the browser would.
    link = await browser.wait_for(lambda d: d.find_element(By.LINK_TEXT, "CSV"))
    href = await browser.call(link.get_attribute, "href")
    text = await browser.call(
        browser.driver.execute_async_script,
        "fetch(arguments[0]).then(r => r.text()).then(arguments[1]);",
        href,
    )
    header, *lines = text.strip().splitlines()
    assert header.startswith("id,session_id,") and len(lines) == 1
    assert lines[0].startswith(f"{cdr},") and f",{billed['cost_excl_vat']}," in lines[0]
    assert await browser.console_errors() == []
    await browser.click(f'tr[data-cdr="{cdr}"] a')
    assert await browser.text("h1") == f"CDR {cdr}"
    assert await browser.console_errors() == []


def cdr_shown(driver: WebDriver) -> str | None:
    """The CDR the page shows, if any; the page is loaded again until there is one (the CDR is
    made by the projection a moment after the transaction ends)."""
    found = driver.find_elements(By.CSS_SELECTOR, "tr[data-cdr]")
    if found:
        return found[0].get_attribute("data-cdr")
    driver.refresh()
    return None


async def test_a_viewer_sees_no_command_buttons(platform: Platform, browser: Browser) -> None:
    await add_user(platform, "vera", "viewer")
    sim = await online(platform, "CP-VIEW", "2.0.1")
    await browser.log_in(platform, "vera")
    await browser.open(f"{platform.url}/console/stations/CP-VIEW")
    assert await browser.text("h1") == "CP-VIEW"
    buttons = await browser.texts("button")
    assert "Log out" in buttons  # the page is whole: it has its one button
    assert not set(COMMAND_BUTTONS) & set(buttons), buttons
    assert await browser.texts("form[action*='/commands/']") == []
    await sim.close()


async def test_every_page_loads_without_a_javascript_error(
    platform: Platform, browser: Browser
) -> None:
    await add_user(platform, "ada", "admin")
    await invite(platform, name="Invited eMSP")
    sim = await online(platform, "CP-PAGES", "1.6")
    await browser.log_in(platform, "ada")
    for name in [*NAV, "Users"]:
        await browser.click(f'header nav a[href="/console/{name.lower()}"]')
        assert await browser.text("h1") == name
        await browser.wait_for(lambda d: d.execute_script("return typeof htmx !== 'undefined'"))
        if name in ("Stations", "Sessions"):
            await browser.live()
        assert await browser.console_errors() == [], name
    await browser.open(f"{platform.url}/console/stations/CP-PAGES")
    await browser.live()
    assert await browser.console_errors() == []
    await browser.open(f"{platform.url}/console/parties")
    await browser.click('tr[data-party] a[href^="/console/parties/"]')
    assert await browser.text("h1") == "Invited eMSP"
    assert await browser.console_errors() == []
    await sim.close()
