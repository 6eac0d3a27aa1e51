"""ChargingProfiles end to end (2.2.1 and 2.3.0): an eMSP sets, reads and clears the limit of
its own running session on simulated chargers of both OCPP versions; each result reaches it at
its response_url, every change to what bounds the EVSE comes to it as an ActiveChargingProfile,
and whatever it may not or cannot ask is answered at once and never reaches the charger."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulators.charge_point import ChargePointSimulator
from simulators.emsp import EmspSimulator, make_token
from simulators.emsp.wire import authorization
from tests.helpers.ocpi import PASSWORD, location, push, register_with, sent
from tests.helpers.platform import Platform, post

UID = "04CAFE0001"
OTHER_UID = "04CAFE0002"
STATION = "CP-PROF"
EMSP_PROFILE_ID = 2_000_000_001  # the eMSP's profile on EVSE 1 (cpo.charging_profiles.mapping)
CAPABLE = ["CHARGING_PROFILE_CAPABLE", "REMOTE_START_STOP_CAPABLE", "RFID_READER"]
LIMIT = {"charging_rate_unit": "W", "charging_profile_period": [{"start_period": 0, "limit": 7400}]}
TARIFF = {
    "id": "PROF-KWH",
    "currency": "EUR",
    "elements": [{"price_components": [{"type": "ENERGY", "price": 0.30, "step_size": 1}]}],
}
# (the eMSP's OCPI version, the charger's OCPP version): each OCPI version on each OCPP one.
CASES = [("2.2.1", "1.6"), ("2.3.0", "2.0.1")]


def site(capabilities: list[str] = CAPABLE) -> dict[str, Any]:
    """Location PROF: EVSE PROF-1 on charger CP-PROF, EVSE 1 (22 kW)."""
    body = location("PROF", [("PROF-1", STATION, 1)], tariff_ids=["PROF-KWH"])
    body["evses"][0]["capabilities"] = capabilities
    return body


@dataclass
class Site:
    platform: Platform
    emsp: EmspSimulator  # owns the session
    other: EmspSimulator  # another registered eMSP
    cp: ChargePointSimulator
    session_id: str


@contextlib.asynccontextmanager
async def charging(tmp_path: Path, case: tuple[str, str], **settings: Any) -> AsyncIterator[Site]:
    """A platform, two registered eMSPs, and a charge of the first one's driver running on
    EVSE 1 of CP-PROF (its OCPI Session pushed to it)."""
    ocpi_version, ocpp_version = case
    async with (
        Platform(
            tmp_path,
            push_retry_max=0.2,
            session_update_seconds=0.2,
            ocpp_response_timeout=1.0,
            status_trigger_delay=60,  # no triggered status racing the ones under test
            **settings,
        ) as platform,
        EmspSimulator(party_id="EMS", version=ocpi_version) as emsp,
        EmspSimulator(party_id="OTH") as other,
    ):
        await register_with(platform, emsp)
        await register_with(platform, other)
        assert await push(emsp, make_token(UID, party_id="EMS", whitelist="ALLOWED")) == 201
        token = make_token(OTHER_UID, party_id="OTH", whitelist="ALLOWED")
        assert await push(other, token) == 201
        await post(platform, "/tariffs", TARIFF)
        await post(platform, "/locations", site())
        await platform.add_station(STATION, PASSWORD)
        async with ChargePointSimulator(
            id=STATION, url=platform.ws_url, ocpp=ocpp_version, password=PASSWORD
        ) as cp:
            await cp.boot()
            await cp.status(1, "Available")
            assert await cp.authorize(UID) == "Accepted"
            assert (await cp.start_transaction(1, UID)).status == "Accepted"
            put = await emsp.wait_for(sent("sessions", "PUT"))
            yield Site(platform, emsp, other, cp, put.body["id"])
        assert emsp.violations == [], emsp.violations
        assert other.violations == [], other.violations


def cpo_token(emsp: EmspSimulator) -> str:
    """The token the eMSP calls the platform with."""
    assert emsp.cpo is not None
    return emsp.cpo.token


def calls(cp: ChargePointSimulator, *actions: str) -> list[dict[str, Any]]:
    """What the charger was sent of `actions` (OCPP payloads, in order)."""
    return [payload for action, payload in cp.received_calls if action in actions]


def tx_profile(cp: ChargePointSimulator, payload: dict[str, Any]) -> dict[str, Any]:
    """The profile in a SetChargingProfile, in either OCPP version."""
    if cp.ocpp == "1.6":
        assert payload["connectorId"] == 1
        return payload["csChargingProfiles"]  # type: ignore[no-any-return]
    assert payload["evseId"] == 1
    return payload["chargingProfile"]  # type: ignore[no-any-return]


async def accepted(emsp: EmspSimulator, method: str, session_id: str, **kw: Any) -> str:
    """Sends a request the platform must accept; the id its result comes with."""
    status, answer, request_id = await emsp.send_charging_profile(method, session_id, **kw)
    assert (status, answer["status_code"]) == (200, 1000), answer
    assert answer["data"]["result"] == "ACCEPTED" and answer["data"]["timeout"] > 1, answer
    return request_id


async def answered(emsp: EmspSimulator, method: str, session_id: str, **kw: Any) -> str:
    """Sends a request: the ChargingProfileResponseType it got at once."""
    status, answer, _ = await emsp.send_charging_profile(method, session_id, **kw)
    assert (status, answer["status_code"]) == (200, 1000), answer
    return str(answer["data"]["result"])


@pytest.mark.parametrize("case", CASES, ids=["2.2.1-on-1.6", "2.3.0-on-2.0.1"])
async def test_a_profile_is_set_read_back_and_cleared_on_the_charger(
    tmp_path: Path, case: tuple[str, str]
) -> None:
    async with charging(tmp_path, case) as at:
        emsp, cp, session_id = at.emsp, at.cp, at.session_id

        request_id = await accepted(emsp, "PUT", session_id, profile=LIMIT)
        assert await emsp.profile_result(request_id) == {"result": "ACCEPTED"}
        (payload,) = calls(cp, "SetChargingProfile")
        profile = tx_profile(cp, payload)
        assert profile["chargingProfilePurpose"] == "TxProfile"
        assert profile["chargingProfileKind"] == "Relative"  # no start_date_time: from the start
        assert profile["stackLevel"] == 1
        assert str(profile["transactionId"]) == cp.transactions[1].transaction_id
        schedule = profile["chargingSchedule"]
        schedule = schedule if cp.ocpp == "1.6" else schedule[0]
        assert schedule["chargingRateUnit"] == "W"
        assert schedule["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 7400}]
        assert cp.charging_limits[1]["limit_w"] == 7400

        # Once set, what the EVSE will follow is told to the eMSP's SENDER interface.
        active = await emsp.active_profile(session_id)
        assert active["charging_profile"]["charging_profile_period"][0]["limit"] == 7400

        request_id = await accepted(emsp, "GET", session_id, duration=900)
        result = await emsp.profile_result(request_id)
        assert result["result"] == "ACCEPTED"
        assert result["profile"]["charging_profile"]["charging_profile_period"] == [
            {"start_period": 0, "limit": 7400}
        ]
        assert result["profile"]["charging_profile"]["duration"] == 900
        # The eMSP's GET, beside the platform's own looks at the hour ahead (3600 s).
        assert [c["duration"] for c in calls(cp, "GetCompositeSchedule")] == [3600, 900]

        request_id = await accepted(emsp, "DELETE", session_id)
        assert await emsp.profile_result(request_id) == {"result": "ACCEPTED"}
        (cleared,) = calls(cp, "ClearChargingProfile")
        assert cleared["id" if cp.ocpp == "1.6" else "chargingProfileId"] == EMSP_PROFILE_ID
        assert 1 not in cp.charging_limits
        # Nothing bounds the EVSE any more: the eMSP is told its full capacity.
        freed = await emsp.active_profile(session_id, count=2)
        assert freed["charging_profile"]["charging_profile_period"][0]["limit"] == 22000


@pytest.mark.parametrize("case", CASES, ids=["2.2.1-on-1.6", "2.3.0-on-2.0.1"])
async def test_only_the_sessions_owner_may_act_on_a_running_session(
    tmp_path: Path, case: tuple[str, str]
) -> None:
    async with charging(tmp_path, case) as at:
        # Another eMSP's request on this session: as if the session did not exist.
        assert await answered(at.other, "PUT", at.session_id, profile=LIMIT) == "UNKNOWN_SESSION"
        assert await answered(at.other, "GET", at.session_id, duration=900) == "UNKNOWN_SESSION"
        assert await answered(at.other, "DELETE", at.session_id) == "UNKNOWN_SESSION"
        # A session that never was.
        assert await answered(at.emsp, "PUT", "0" * 32, profile=LIMIT) == "UNKNOWN_SESSION"
        # A finished one.
        await at.cp.send_meter_values(1, 300)
        await at.cp.stop_transaction(1)
        await at.emsp.wait_for(
            lambda r: (
                sent("sessions", "PATCH")(r)
                and r.body.get("status") == "COMPLETED"
                or sent("sessions", "PUT")(r)
                and r.body.get("status") == "COMPLETED"
            )
        )
        assert await answered(at.emsp, "PUT", at.session_id, profile=LIMIT) == "UNKNOWN_SESSION"
        ocpp = ("SetChargingProfile", "GetCompositeSchedule", "ClearChargingProfile")
        assert calls(at.cp, *ocpp) == []
        assert at.other.profile_results == {} and at.emsp.profile_results == {}


async def test_what_cannot_be_asked_is_refused_with_2001(tmp_path: Path) -> None:
    async with charging(tmp_path, CASES[0]) as at:
        emsp, session_id = at.emsp, at.session_id
        url = f"{emsp.module_url('chargingprofiles')}/results/x"
        put_bodies = {
            "no response_url": {"charging_profile": LIMIT},
            "a response_url elsewhere": {
                "charging_profile": LIMIT,
                "response_url": "http://10.0.0.1/r",
            },
            "a negative limit": LIMIT
            | {"charging_profile_period": [{"start_period": 0, "limit": -1}]},
            "an absurd limit": LIMIT
            | {"charging_profile_period": [{"start_period": 0, "limit": 1e9}]},
            "an absurd current": {
                "charging_rate_unit": "A",
                "charging_profile_period": [{"start_period": 0, "limit": 5000}],
            },
            "a bad unit": LIMIT | {"charging_rate_unit": "kW"},
            "too many periods": LIMIT
            | {
                "charging_profile_period": [
                    {"start_period": 60 * n, "limit": 7400} for n in range(97)
                ]
            },
            "no periods": LIMIT | {"charging_profile_period": []},
            "periods out of order": LIMIT
            | {
                "charging_profile_period": [
                    {"start_period": 0, "limit": 7400},
                    {"start_period": 0, "limit": 3700},
                ]
            },
            "a negative duration": LIMIT | {"duration": -60},
        }
        for problem, body in put_bodies.items():
            if "response_url" not in body and "charging_profile" not in body:
                body = {"charging_profile": body, "response_url": url}
            response = await emsp.request("PUT", "chargingprofiles", session_id, json=body)
            # A body that is JSON but no SetChargingProfile: OCPI 2001 in an HTTP 200, as the
            # router answers every module's bodies (query parameters below get HTTP 400).
            status = (response.status_code, response.json()["status_code"])
            assert status == (200, 2001), (problem, response.text)

        for problem, params in {
            "no duration": {"response_url": url},
            "a negative duration": {"response_url": url, "duration": -1},
            "a huge duration": {"response_url": url, "duration": 10**9},
            "a duration that is no number": {"response_url": url, "duration": "soon"},
            "no response_url": {"duration": 900},
            "a response_url that is no URL": {"duration": 900, "response_url": "file:///etc"},
        }.items():
            response = await emsp.request("GET", "chargingprofiles", session_id, params=params)
            assert (response.status_code, response.json()["status_code"]) == (400, 2001), problem
        response = await emsp.request("DELETE", "chargingprofiles", session_id)
        assert (response.status_code, response.json()["status_code"]) == (400, 2001)

        # Not JSON at all.
        async with httpx.AsyncClient() as http:
            response = await http.put(
                f"{emsp.endpoint('chargingprofiles')}/{session_id}",
                content=b"{not json",
                headers={"Authorization": authorization(cpo_token(emsp), "base64")},
            )
        assert (response.status_code, response.json()["status_code"]) == (400, 2000)
        assert calls(at.cp, "SetChargingProfile", "GetCompositeSchedule") == []


async def test_the_same_call_again_too_soon_is_too_often(tmp_path: Path) -> None:
    async with charging(tmp_path, CASES[1]) as at:
        request_id = await accepted(at.emsp, "PUT", at.session_id, profile=LIMIT)
        assert await answered(at.emsp, "PUT", at.session_id, profile=LIMIT) == "TOO_OFTEN"
        assert await at.emsp.profile_result(request_id) == {"result": "ACCEPTED"}
        assert len(calls(at.cp, "SetChargingProfile")) == 1
        # Each kind of call has a turn of its own: reading the result back is no hammering.
        await accepted(at.emsp, "GET", at.session_id, duration=600)


@pytest.mark.parametrize("case", CASES, ids=["2.2.1-on-1.6", "2.3.0-on-2.0.1"])
async def test_a_site_limit_that_bounds_the_session_reaches_the_emsp_as_its_active_profile(
    tmp_path: Path, case: tuple[str, str]
) -> None:
    async with charging(tmp_path, case) as at:
        request_id = await accepted(at.emsp, "PUT", at.session_id, profile=LIMIT)
        assert await at.emsp.profile_result(request_id) == {"result": "ACCEPTED"}
        first = await at.emsp.active_profile(at.session_id)
        assert first["charging_profile"]["charging_profile_period"][0]["limit"] == 7400

        # The operator caps the site below the eMSP's limit: the charger follows the lower.
        async with at.platform.admin() as admin:
            response = await admin.put("/locations/PROF/power-limit", json={"limit_w": 5000})
        assert response.status_code == 200, response.text
        after = await at.emsp.active_profile(at.session_id, count=2)
        assert after["charging_profile"]["charging_profile_period"][0]["limit"] == 5000


@pytest.mark.parametrize("case", CASES, ids=["2.2.1-on-1.6", "2.3.0-on-2.0.1"])
async def test_a_charger_that_refuses_the_profile_makes_it_rejected(
    tmp_path: Path, case: tuple[str, str]
) -> None:
    async with charging(tmp_path, case) as at:
        at.cp.answers["SetChargingProfile"] = "Rejected"
        request_id = await accepted(at.emsp, "PUT", at.session_id, profile=LIMIT)
        assert await at.emsp.profile_result(request_id) == {"result": "REJECTED"}
        assert len(calls(at.cp, "SetChargingProfile")) == 1
        assert 1 not in at.cp.charging_limits
        # A charger that holds no such profile says so to a clear.
        request_id = await accepted(at.emsp, "DELETE", at.session_id)
        assert await at.emsp.profile_result(request_id) == {"result": "UNKNOWN"}
        # Nothing was ever set: the eMSP is told of no active profile.
        assert at.emsp.active_profiles == {}


async def test_an_evse_without_smart_charging_is_not_supported_at_once(tmp_path: Path) -> None:
    async with charging(tmp_path, CASES[0]) as at:
        await post(at.platform, "/locations", site(["RFID_READER"]))
        assert await answered(at.emsp, "PUT", at.session_id, profile=LIMIT) == "NOT_SUPPORTED"
        assert calls(at.cp, "SetChargingProfile") == []


async def test_a_charger_gone_offline_gives_unknown(tmp_path: Path) -> None:
    async with charging(tmp_path, CASES[0]) as at:
        await at.cp.close()
        request_id = await accepted(at.emsp, "PUT", at.session_id, profile=LIMIT)
        assert await at.emsp.profile_result(request_id) == {"result": "UNKNOWN"}


async def test_chargingprofiles_is_served_in_2_2_1_and_2_3_0_only(tmp_path: Path) -> None:
    platform = await Platform(tmp_path).start()
    try:
        async with (
            EmspSimulator(party_id="OLD", version="2.1.1") as old,
            EmspSimulator(party_id="NEW", version="2.3.0") as new,
        ):
            await register_with(platform, old)
            await register_with(platform, new)
            assert ("chargingprofiles", "RECEIVER") in new.cpo.endpoints  # type: ignore[union-attr]
            assert not any(m == "chargingprofiles" for m, _ in old.cpo.endpoints)  # type: ignore[union-attr]
            async with httpx.AsyncClient() as http:
                response = await http.get(
                    f"{platform.url}/ocpi/2.1.1/chargingprofiles/S1",
                    params={"duration": 60, "response_url": f"{old.url}/r"},
                    headers={"Authorization": authorization(cpo_token(old), "raw")},
                )
            assert (response.status_code, response.json()["status_code"]) == (404, 2000)
            # The same in 2.3.0 is served: a session nobody knows.
            assert await answered(new, "GET", "S1", duration=60) == "UNKNOWN_SESSION"
            assert new.violations == [] and old.violations == []
    finally:
        await platform.stop()
