"""The console's smart-charging forms, posted as a browser posts them: a charging profile built
from its fields and its periods written one a line, and a Location's power limit."""

from __future__ import annotations

from tests.helpers.browser import add_user, client, logged_in
from tests.helpers.ocpi import location
from tests.helpers.platform import Platform, online, post


async def test_the_station_page_sets_a_charging_profile_from_lines_of_periods(
    platform: Platform,
) -> None:
    await add_user(platform, "kai", "operator")
    sim = await online(platform, "CP-FORM", "2.0.1")
    async with client(platform) as http:
        token = await logged_in(http, "kai")
        page = await http.get("/console/stations/CP-FORM")
        assert "/commands/set_charging_profile" in page.text and 'name="periods"' in page.text
        url = "/console/stations/CP-FORM/commands/set_charging_profile"
        form = {
            "csrf_token": token,
            "evse_id": "1",
            "id": "21",
            "purpose": "TxDefault",
            "kind": "Absolute",
            "stack_level": "2",
            "unit": "A",
            "periods": "0:16\r\n3600:32\r\n",
        }
        answer = await http.post(url, data=form)
        assert answer.status_code == 200 and "Accepted" in answer.text, answer.text
        profile = sim.profiles[1, 21]
        assert profile["charging_profile_purpose"] == "TxDefaultProfile"
        assert profile["stack_level"] == 2
        (schedule,) = profile["charging_schedule"]
        assert schedule["charging_rate_unit"] == "A"
        assert [(p["start_period"], p["limit"]) for p in schedule["charging_schedule_period"]] == [
            (0, 16),
            (3600, 32),
        ]

        cases = [
            ({"periods": ""}, "periods", "at least one period"),
            ({"periods": "0:16\n3600"}, "periods", "line 2: write start_s:limit"),
            ({"periods": "0:sixteen"}, "periods", "line 1: limit: Input should be a valid number"),
            ({"periods": "60:16"}, "profile", "periods start at 0"),
            ({"periods": "0:-1"}, "periods", "greater than or equal to 0"),
            ({"purpose": "Everything"}, "purpose", "Input should be"),
            ({"purpose": "Tx"}, "form", "a Tx profile names its transaction_id"),
            ({"kind": "Recurring"}, "profile", "names its recurrency"),
            ({"stack_level": "-1"}, "stack_level", "greater than or equal to 0"),
            ({"unit": "kW"}, "unit", "Input should be"),
        ]
        for change, field, message in cases:
            answer = await http.post(url, data=form | change)
            assert answer.status_code == 422, (change, answer.text)
            assert message in answer.text and f"<b>{field}</b>" in answer.text, (
                change,
                answer.text,
            )
    assert len([a for a, _ in sim.received_calls if a == "SetChargingProfile"]) == 1
    await sim.close()


async def test_the_locations_page_sets_and_lifts_a_site_power_limit(platform: Platform) -> None:
    await add_user(platform, "lea", "operator")
    sim = await online(platform, "CP-LIMIT", "1.6")
    await post(platform, "/locations", location("DEPOT", [("D-1", sim.id, 1)]))
    async with client(platform) as http:
        token = await logged_in(http, "lea")
        page = await http.get("/console/locations")
        assert "/locations/DEPOT/power-limit" in page.text
        url = "/console/locations/DEPOT/power-limit"
        answer = await http.post(url, data={"csrf_token": token, "limit_w": "40000"})
        assert answer.status_code == 200 and "Limited to 40000 W" in answer.text, answer.text
        assert 'value="40000"' in (await http.get("/console/locations")).text
        answer = await http.post(url, data={"csrf_token": token, "limit_w": "-3"})
        assert answer.status_code == 422 and "<b>limit_w</b>" in answer.text
        answer = await http.post(url, data={"csrf_token": token, "limit_w": ""})
        assert answer.status_code == 200 and "lifted" in answer.text
        answer = await http.post(
            "/console/locations/NOWHERE/power-limit", data={"csrf_token": token, "limit_w": "1"}
        )
        assert answer.status_code == 404
    calls = [a for a, _ in sim.received_calls]
    assert calls.count("SetChargingProfile") == 1 and calls.count("ClearChargingProfile") == 1
    await sim.close()
