"""The console's Firmware pages over HTTP against the real platform and simulated chargers: a
campaign started from the form followed to installed, one cancelled from its page, what a viewer
may not do, every bad input told next to the form, and the CSRF token; and in Chromium, the page
and its form."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.helpers.browser import Browser, add_user, client, field_error, logged_in, rows
from tests.helpers.firmware import reported
from tests.helpers.platform import Platform, online, post

IMAGE = "https://firmware.example.com/sim-2.0.0.bin"


async def start(http: httpx.AsyncClient, token: str, **fields: str) -> httpx.Response:
    return await http.post("/console/firmware", data={"csrf_token": token} | fields)


def hidden_token(page: str) -> str:
    """The CSRF token of the page's cancel form."""
    found = re.search(r'/cancel">\s*<input type="hidden" name="csrf_token" value="([^"]*)"', page)
    assert found, "no cancel form on the page"
    return found.group(1)


def started(answer: httpx.Response) -> int:
    """The campaign the form started (it answers with the way to the campaign's page)."""
    assert answer.status_code == 303, answer.text
    found = re.fullmatch(r"/console/firmware/(\d+)", answer.headers["location"])
    assert found, answer.headers["location"]
    return int(found.group(1))


async def test_a_campaign_started_from_the_form_shows_its_chargers_installed(
    platform: Platform,
) -> None:
    await add_user(platform, "oscar", "operator")
    sims = [await online(platform, "FW-16", "1.6"), await online(platform, "FW-201", "2.0.1")]
    events = platform.events()
    async with client(platform) as http:
        token = await logged_in(http, "oscar")
        page = await http.get("/console/firmware")
        assert page.status_code == 200
        assert '<a href="/console/firmware" aria-current="page">Firmware</a>' in page.text
        assert "No campaign yet." in page.text
        answer = await start(
            http,
            token,
            location=IMAGE,
            stations="FW-16,\r\nFW-201  FW-16",  # commas, lines, spaces; a repeat counts once
            attempts="2",
            attempt_interval="60",
        )
        campaign_id = started(answer)
        for sim in sims:
            await reported(platform, events, sim.id, "Installed", campaign_id)

        page = await http.get(f"/console/firmware/{campaign_id}")
        assert page.status_code == 200
        assert f"<h1>Campaign {campaign_id}</h1>" in page.text
        chargers = rows(page.text, "station")
        assert list(chargers) == ["FW-16", "FW-201"]
        for station_id, cells in chargers.items():
            charger, state, attempts, status, version, next_attempt, history = cells
            assert (charger, state, attempts, status) == (station_id, "installed", "1", "Installed")
            assert (version, next_attempt) == ("sim-2.0.0.bin", "—")
            assert history.startswith("6 steps")
            for step in ("attempt 1 Sent", "attempt 1 Accepted", "attempt 1 Installed"):
                assert step in history
            assert f'href="/console/stations/{station_id}"' in page.text
        assert "Cancel campaign" not in page.text  # nothing left to cancel

        listed = rows((await http.get("/console/firmware")).text, "campaign")
        assert list(listed) == [str(campaign_id)]
        number, image, _created, attempts, *counts = listed[str(campaign_id)]
        assert (number, image, attempts) == (str(campaign_id), IMAGE, "2 every 1 min 00 s")
        assert counts == ["0", "0", "0", "0", "0", "0", "2", "0", "0"]  # installed: 2
    # The admin API sees the campaign the console started.
    async with platform.admin() as admin:
        view = (await admin.get(f"/firmware/campaigns/{campaign_id}")).json()
    assert (view["attempts"], view["attempt_interval"], view["states"]) == (2, 60, {"installed": 2})
    events.close()
    for sim in sims:
        await sim.close()


async def test_newest_campaign_is_listed_first(platform: Platform) -> None:
    await add_user(platform, "vera", "viewer")
    for station_id in ("FW-OLD", "FW-NEW"):
        await platform.add_station(station_id)  # offline: their campaigns wait for them
    old = await post(
        platform, "/firmware/campaigns", {"location": IMAGE, "stations": ["FW-OLD"]}, 201
    )
    new = await post(
        platform,
        "/firmware/campaigns",
        {"location": "ftp://fw.example.com/<b>2.bin", "stations": ["FW-NEW"]},
        201,
    )
    async with client(platform) as http:
        await logged_in(http, "vera")
        page = await http.get("/console/firmware")
    assert list(rows(page.text, "campaign")) == [str(new["id"]), str(old["id"])]
    assert "&lt;b&gt;2.bin" in page.text and "<b>2.bin" not in page.text


async def test_cancelling_a_campaign_from_its_page_lets_its_chargers_go(
    platform: Platform,
) -> None:
    await add_user(platform, "ada", "admin")
    sim = await online(platform, "FW-SILENT", "2.0.1")
    sim.firmware_failures = ["Silent"]  # it starts downloading, then says nothing more
    events = platform.events()
    async with client(platform) as http:
        token = await logged_in(http, "ada")
        campaign_id = started(await start(http, token, location=IMAGE, stations="FW-SILENT"))
        await reported(platform, events, "FW-SILENT", "Downloading", campaign_id)
        page = await http.get(f"/console/firmware/{campaign_id}")
        assert rows(page.text, "station")["FW-SILENT"][1] == "updating"
        assert "Cancel campaign" in page.text
        cancel = f"/console/firmware/{campaign_id}/cancel"
        answer = await http.post(cancel, data={"csrf_token": hidden_token(page.text)})
        assert answer.status_code == 200
        assert "Cancelled: 1 charger left the campaign." in answer.text
        cells = rows(answer.text, "station")["FW-SILENT"]
        assert cells[1] == "cancelled" and "Cancelled" in cells[-1]
        assert "Cancel campaign" not in answer.text
        again = await http.post(cancel, data={"csrf_token": token})
        assert again.status_code == 200
        assert "Nothing to cancel: every charger of the campaign was done already." in again.text
        # The charger is free for another campaign at once.
        assert started(await start(http, token, location=IMAGE, stations="FW-SILENT"))
        for missing in ("/console/firmware/999999", "/console/firmware/99999999999999999999"):
            answer = await http.get(missing)
            assert answer.status_code == 404 and "There is no campaign" in answer.text
        answer = await http.post("/console/firmware/999999/cancel", data={"csrf_token": token})
        assert answer.status_code == 404 and "There is no campaign 999999." in answer.text
    events.close()
    await sim.close()


async def test_a_viewer_sees_the_campaigns_but_cannot_start_or_cancel_one(
    platform: Platform,
) -> None:
    await add_user(platform, "vera", "viewer")
    await platform.add_station("FW-VIEW")
    created = await post(
        platform, "/firmware/campaigns", {"location": IMAGE, "stations": ["FW-VIEW"]}, 201
    )
    async with client(platform) as http:
        token = await logged_in(http, "vera")
        page = await http.get("/console/firmware")
        assert page.status_code == 200
        assert ">Firmware</a>" in page.text and 'action="/console/firmware"' not in page.text
        assert str(created["id"]) in rows(page.text, "campaign")
        detail = await http.get(f"/console/firmware/{created['id']}")
        assert detail.status_code == 200
        # Waiting for the charger, which is offline (pending until the campaigns try it).
        assert rows(detail.text, "station")["FW-VIEW"][1] in ("pending", "sending", "offline")
        assert "Cancel campaign" not in detail.text
        answer = await start(http, token, location=IMAGE, stations="FW-VIEW")
        assert answer.status_code == 403 and "cannot act" in answer.text
        answer = await http.post(
            f"/console/firmware/{created['id']}/cancel", data={"csrf_token": token}
        )
        assert answer.status_code == 403 and "cannot act" in answer.text
    async with platform.admin() as admin:
        listed = (await admin.get("/firmware/campaigns")).json()
    assert [c["id"] for c in listed] == [created["id"]]
    assert "cancelled" not in listed[0]["states"]


async def test_bad_input_is_told_next_to_the_form_and_nothing_starts(platform: Platform) -> None:
    await add_user(platform, "oscar", "operator")
    for station_id in ("FW-OK", "FW-BUSY"):
        await platform.add_station(station_id)
    await post(platform, "/firmware/campaigns", {"location": IMAGE, "stations": ["FW-BUSY"]}, 201)
    cases: list[tuple[dict[str, str], int, str, str]] = [
        ({"location": "file:///etc/passwd"}, 422, "location", "must be a URL"),
        ({"location": ""}, 422, "location", "Field required"),
        ({"location": "https://fw.example.com/a\x00.bin"}, 422, "location", "control characters"),
        ({"stations": " , \n"}, 422, "stations", "at least 1 item"),
        ({"stations": "FW-OK NOPE"}, 422, "stations", "No such station: NOPE."),
        ({"stations": "FW-OK\x00"}, 422, "stations", "No such station: 'FW-OK\\x00'."),
        ({"stations": "FW-OK FW-BUSY"}, 409, "stations", "Already in an active campaign: FW-BUSY."),
        ({"stations": "x," * 10_001}, 422, "stations", "at most 10000 items"),
        ({"attempts": "0"}, 422, "attempts", "greater than or equal to 1"),
        ({"attempts": "three"}, 422, "attempts", "valid integer"),
        ({"attempt_interval": "-5"}, 422, "attempt_interval", "greater than or equal to 0"),
        ({"signature": "c2ln"}, 422, "form", "signing_certificate and signature go together"),
    ]
    async with client(platform) as http:
        token = await logged_in(http, "oscar")
        for fields, status, field, message in cases:
            answer = await start(http, token, **({"location": IMAGE, "stations": "FW-OK"} | fields))
            assert answer.status_code == status, (fields, answer.text[:300])
            said = field_error(answer.text, field)
            assert said is not None and message in said, (fields, said)
            assert "Nothing was started:" in answer.text
        # What was typed comes back in the form, escaped like everything the page shows.
        answer = await start(http, token, location=IMAGE, stations='FW-OK <script>"x"</script>')
        assert answer.status_code == 422
        assert "<script>" not in answer.text
        assert "FW-OK &lt;script&gt;&#34;x&#34;&lt;/script&gt;</textarea>" in answer.text
        assert field_error(answer.text, "stations") == 'No such station: <script>"x"</script>.'
    async with platform.admin() as admin:
        assert len((await admin.get("/firmware/campaigns")).json()) == 1  # FW-BUSY's alone


async def test_a_start_or_a_cancel_without_the_csrf_token_is_refused(platform: Platform) -> None:
    await add_user(platform, "oscar", "operator")
    await platform.add_station("FW-CSRF")
    created = await post(
        platform, "/firmware/campaigns", {"location": IMAGE, "stations": ["FW-CSRF"]}, 201
    )
    async with client(platform) as http:
        await logged_in(http, "oscar")
        form = {"location": IMAGE, "stations": "FW-CSRF"}
        for token in ({}, {"csrf_token": "forged"}):
            answer = await http.post("/console/firmware", data=form | token)
            assert answer.status_code == 403 and "security token" in answer.text
            answer = await http.post(f"/console/firmware/{created['id']}/cancel", data=token)
            assert answer.status_code == 403 and "security token" in answer.text
    async with platform.admin() as admin:
        listed: list[dict[str, Any]] = (await admin.get("/firmware/campaigns")).json()
    assert [c["id"] for c in listed] == [created["id"]]
    assert "cancelled" not in listed[0]["states"]


async def test_in_a_browser_the_form_starts_a_campaign(
    platform: Platform, browser: Browser
) -> None:
    await add_user(platform, "oscar", "operator")
    sim = await online(platform, "FW-BROWSER", "1.6")
    await browser.log_in(platform, "oscar")
    await browser.click('header nav a[href="/console/firmware"]')
    assert await browser.text("h1") == "Firmware"
    await browser.type("#location", IMAGE)
    await browser.type("#stations", "FW-BROWSER")
    await browser.click("form.campaign button[type=submit]")
    heading = await browser.text_once("h1", "Campaign ")
    async with platform.admin() as admin:
        (campaign,) = (await admin.get("/firmware/campaigns")).json()
    assert heading == f"Campaign {campaign['id']}"
    assert await browser.text('tr[data-station="FW-BROWSER"] a') == "FW-BROWSER"
    assert await browser.console_errors() == []
    await sim.close()
