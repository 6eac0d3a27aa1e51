"""What the Stations, Sessions and Messages pages show, over HTTP against the real platform:
the filters and the search, a charge under way with its live kWh and cost, then recent, and
the OCPP message log by station and way, a page at a time."""

from __future__ import annotations

import re

from tests.helpers.browser import add_user, client, events, logged_in, rows, shown_after_changes
from tests.helpers.ocpi import TARIFF, location
from tests.helpers.platform import Platform, online, post


async def test_the_filters_and_the_search_narrow_the_stations(platform: Platform) -> None:
    await add_user(platform, "fay", "viewer")
    sim = await online(platform, "CP-F1", "1.6")
    await sim.status(2, "Faulted")
    await platform.add_station("CP-F2_X")  # registered, never connected
    await post(platform, "/locations", location("SITE-A", [("SITE-A-1", "CP-F2_X", 1)]))
    async with client(platform) as http:
        await logged_in(http, "fay")

        async def shown(query: str) -> list[str]:
            page = await http.get(f"/console/stations?part=rows&{query}")
            assert page.status_code == 200
            return re.findall(r'<tr data-station="([^"]+)"', page.text)

        assert await shown("") == ["CP-F1", "CP-F2_X"]
        assert await shown("online=yes") == ["CP-F1"]
        assert await shown("online=no") == ["CP-F2_X"]
        assert await shown("status=Faulted") == ["CP-F1"]
        assert await shown("status=Reserved") == []
        assert await shown("location=SITE-A") == ["CP-F2_X"]
        assert await shown("q=f2") == ["CP-F2_X"]
        assert await shown("q=cposim") == ["CP-F1"]  # the vendor
        assert await shown("q=F2_") == ["CP-F2_X"]  # _ and % are themselves, not wildcards
        assert await shown("q=F_") == []
        assert await shown("q=%25") == []
        assert await shown("online=yes&status=Faulted&q=F1") == ["CP-F1"]
        page = await http.get("/console/stations?status=Faulted&location=SITE-A")
        assert "<option selected>Faulted</option>" in page.text
        assert "<option selected>SITE-A</option>" in page.text
        assert "No station matches these filters." in page.text
    await sim.close()


async def test_a_charge_shows_under_way_with_live_kwh_and_cost_then_among_the_recent(
    platform: Platform,
) -> None:
    await add_user(platform, "sam", "viewer")
    await post(platform, "/tariffs", TARIFF)
    await post(
        platform,
        "/locations",
        location("SITE-S", [("SITE-S-1", "CP-S", 1)], tariff_ids=["AC-STANDARD"]),
    )
    await post(platform, "/tokens", {"uid": "OWN-1"}, status=201)  # the operator's own
    sim = await online(platform, "CP-S", "1.6")
    rows = "/console/sessions?part=rows"
    async with client(platform) as http, client(platform) as reader:
        await logged_in(http, "sam")
        reader.cookies = http.cookies
        async with events(http) as lines:
            await sim.start_transaction(1, "OWN-1")
            await sim.send_meter_values(1, seconds=600)  # 11 kW for ten minutes

            def priced(page: str) -> bool:
                under_way = page.split("<h2>Recent</h2>")[0]
                return "OWN-1" in under_way and " EUR</td>" in under_way

            page = await shown_after_changes(lines, reader, rows, priced)
            under_way = page.split("<h2>Recent</h2>")[0]
            row = re.search(r'<tr data-transaction="(\d+)">(.*?)</tr>', under_way, re.S)
            assert row is not None
            cells = [
                re.sub(r"<[^>]+>", "", c).strip()
                for c in re.findall(r"<td.*?>(.*?)</td>", row.group(2), re.S)
            ]
            station, token, emsp, site, kwh, cost = (cells[i] for i in (1, 2, 3, 4, 7, 8))
            assert (station, token, emsp, site) == ("CP-S / 1", "OWN-1", "operator", "SITE-S")
            assert abs(float(kwh) - 11 * 600 / 3600) < 0.05
            assert re.fullmatch(r"\d+\.\d\d EUR", cost)

            await sim.stop_transaction(1)
            page = await shown_after_changes(
                lines, reader, rows, lambda p: "No charge under way." in p
            )
            recent = page.split("<h2>Recent</h2>")[1]
            assert f'<tr data-transaction="{row.group(1)}">' in recent
    await sim.close()


async def test_the_message_log_is_filtered_by_station_and_way_and_paged_newest_first(
    platform: Platform,
) -> None:
    await add_user(platform, "max", "viewer")
    quiet = await online(platform, "CP-M1", "1.6")
    busy = await online(platform, "CP-M2", "2.0.1")
    for _ in range(30):  # 60 frames: more than a page
        assert await busy.heartbeat()
    async with client(platform) as http:
        await logged_in(http, "max")

        async def shown(query: str) -> tuple[str, dict[str, list[str]]]:
            answer = await http.get(f"/console/messages?{query}")
            assert answer.status_code == 200, answer.text
            return answer.text, rows(answer.text, "message")

        page, first = await shown("")
        ids = [int(i) for i in first]
        assert len(ids) == 50 and ids == sorted(ids, reverse=True)
        assert {cells[1] for cells in first.values()} == {"CP-M2"}  # the newest are the busy one's
        older = re.search(r'href="(\?before=\d+)" rel="next"', page)
        assert older is not None
        _, second = await shown(older.group(1)[1:])
        assert max(int(i) for i in second) < min(ids)
        assert "CP-M1" in {cells[1] for cells in second.values()}

        page, mine = await shown("station=CP-M1")
        assert mine and {cells[1] for cells in mine.values()} == {"CP-M1"}
        assert {cells[2] for cells in mine.values()} == {"in", "out"}
        assert 'rel="next"' not in page
        assert "&#34;chargePointVendor&#34;: " in page  # the boot's frame, as pretty JSON
        _, out = await shown("station=CP-M1&direction=out")
        assert out and {tuple(cells[1:3]) for cells in out.values()} == {("CP-M1", "out")}
        assert set(out) < set(mine)
        _, incoming = await shown("direction=in")
        assert {cells[2] for cells in incoming.values()} == {"in"}

        for query, field, message in [
            ("station=CP-NONE", "station", "There is no station CP-NONE."),
            ("station=CP%00M1", "station", "printable characters"),
            ("station=" + "C" * 60, "station", "at most 48"),
            ("direction=sideways", "direction", "Choose in"),
            ("before=-5", "before", "not a place in the log"),
            ("before=" + "9" * 30, "before", "not a place in the log"),
        ]:
            answer = await http.get(f"/console/messages?{query}")
            assert answer.status_code == 400, query
            assert message in answer.text and f'id="{field}-error"' in answer.text, query
    await quiet.close()
    await busy.close()
