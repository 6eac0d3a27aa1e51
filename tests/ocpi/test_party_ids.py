"""Several CPO party ids in one deployment (CPO_ROLES): our credentials list each, a peer may
address either, and what belongs to the second id (its Locations, Tariffs, and the Sessions,
CDRs, command results and real-time authorizations at its sites) reaches the eMSP as that id."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from cpo.ocpi.headers import FROM_COUNTRY, FROM_PARTY, TO_COUNTRY, TO_PARTY
from cpo.settings import Settings
from simulators.charge_point import ChargePointSimulator
from simulators.emsp import EmspSimulator, Received, make_token
from tests.helpers.ocpi import PASSWORD, envelope, location, push, register_with, token_header
from tests.helpers.platform import Platform, post

DEFAULT = ("NL", "CPO")
SECOND = ("DE", "SEC")
ROLES = [
    {"country_code": "NL", "party_id": "CPO", "business_details": {"name": "CPO Platform"}},
    {
        "country_code": "DE",
        "party_id": "SEC",
        "business_details": {"name": "Zweite Ladesäulen GmbH", "website": "https://sec.example"},
    },
]
UID = "04SECOND0001"  # the eMSP decides each use: a real-time authorization at every charge
TARIFF = {
    "id": "SEC-KWH",
    "country_code": "DE",
    "party_id": "SEC",
    "currency": "EUR",
    "elements": [{"price_components": [{"type": "ENERGY", "price": 0.40, "step_size": 1}]}],
}
VERSIONS = ["2.2.1", "2.3.0"]


def sites() -> list[dict[str, Any]]:
    """HOME, the default id's (it names none), on CP-HOME; AWAY, the second id's, on CP-SEC."""
    home = location("HOME", [("HOME-1", "CP-HOME", 1)])
    away = location("AWAY", [("AWAY-1", "CP-SEC", 1)], tariff_ids=["SEC-KWH"])
    away |= {"country_code": "de", "party_id": "sec"}  # our ids are compared without case
    away["evses"][0]["capabilities"] = ["REMOTE_START_STOP_CAPABLE", "RFID_READER"]
    return [home, away]


@contextlib.asynccontextmanager
async def two_ids(tmp_path: Path, version: str) -> AsyncIterator[tuple[Platform, EmspSimulator]]:
    """The platform as NL/CPO and DE/SEC, registered with an eMSP of `version` whose driver
    holds UID; HOME and AWAY imported."""
    async with (
        Platform(
            tmp_path,
            roles=ROLES,
            push_retry_max=0.2,
            session_update_seconds=0.2,
            ocpp_response_timeout=1.0,
            status_trigger_delay=60,  # no triggered status racing the ones under test
        ) as platform,
        EmspSimulator(party_id="EMS", version=version) as sim,
    ):
        await register_with(platform, sim)
        if version != "2.1.1":
            token = make_token(UID, whitelist="NEVER", version=version)
            sim.tokens.append(token)  # what it answers real-time authorizations from
            assert await push(sim, token) == 201
        await post(platform, "/tariffs", TARIFF)
        await post(platform, "/locations", sites())
        for station in ("CP-HOME", "CP-SEC"):
            await platform.add_station(station, PASSWORD)
        yield platform, sim
        assert sim.violations == [], sim.violations


def routed(received: Received) -> tuple[tuple[str, str], tuple[str, str]]:
    """Who a request the eMSP received says it is from, and to."""
    h = received.headers
    return (
        (h[FROM_COUNTRY.lower()], h[FROM_PARTY.lower()]),
        (h[TO_COUNTRY.lower()], h[TO_PARTY.lower()]),
    )


def answered_as(response: httpx.Response) -> tuple[str, str]:
    return response.headers[FROM_COUNTRY], response.headers[FROM_PARTY]


def put_of(module: str, party: tuple[str, str], object_id: str) -> Any:
    def matches(r: Received) -> bool:
        return (
            r.module == module
            and r.method == "PUT"
            and r.status < 300
            and r.path.endswith(f"/{party[0]}/{party[1]}/{object_id}")
        )

    return matches


# -- settings ------------------------------------------------------------------------------------


def test_without_cpo_roles_the_single_party_settings_are_the_one_role() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, country_code="BE", party_id="ONE", business_name="Solo"
    )
    (only,) = settings.cpo_roles
    assert (only.country_code, only.party_id, only.business_details.name) == ("BE", "ONE", "Solo")


def test_cpo_roles_refuse_the_same_id_twice_whatever_its_case() -> None:
    twice = [ROLES[0], ROLES[1] | {"country_code": "nl", "party_id": "cpo"}]
    with pytest.raises(ValidationError, match="NL/CPO is named twice"):
        Settings(_env_file=None, roles=twice)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Settings(_env_file=None, roles=[ROLES[0] | {"party_id": "TOOLONG"}])  # type: ignore[call-arg]


# -- registration and incoming requests ----------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_credentials_list_every_id_and_a_request_to_either_is_answered_by_it(
    tmp_path: Path, version: str
) -> None:
    async with two_ids(tmp_path, version) as (platform, sim):
        assert sim.cpo is not None
        roles = sim.cpo.credentials["roles"]
        assert [(r["role"], r["country_code"], r["party_id"]) for r in roles] == [
            ("CPO", "NL", "CPO"),
            ("CPO", "DE", "SEC"),
        ]
        assert roles[1]["business_details"] == ROLES[1]["business_details"]

        # Addressed to either id, in any case, a request is answered from that id; the eMSP
        # simulator checks the answer's routing headers against the id it addressed.
        for to in (SECOND, ("nl", "cpo")):
            response = await sim.request("GET", "locations", "/AWAY", to=to)
            assert envelope(response, 200, 1000)["id"] == "AWAY"
            assert answered_as(response) == (to[0].upper(), to[1].upper())
        # The lists serve every id's objects, whichever is addressed.
        listed = await sim.fetch_all("locations")
        assert sorted((x["country_code"], x["party_id"], x["id"]) for x in listed) == [
            ("DE", "SEC", "AWAY"),
            ("NL", "CPO", "HOME"),
        ]
        tariffs = await sim.fetch_all("tariffs")
        assert [(x["country_code"], x["party_id"], x["id"]) for x in tariffs] == [
            ("DE", "SEC", "SEC-KWH")
        ]

        # A third party id is none of ours: refused as a bad request.
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(
                sim.cpo.endpoints[("locations", "SENDER")],
                headers=token_header(sim.cpo.token)
                | {
                    "X-Request-ID": "r1",
                    "X-Correlation-ID": "c1",
                    FROM_COUNTRY: "NL",
                    FROM_PARTY: "EMS",
                    TO_COUNTRY: "BE",
                    TO_PARTY: "XXX",
                },
            )
        envelope(response, 400, 2001)
        assert "BE/XXX, not this platform (NL/CPO, DE/SEC)" in response.json()["status_message"]


async def test_2_1_1_credentials_carry_the_default_id_which_holds_every_site(
    tmp_path: Path,
) -> None:
    async with two_ids(tmp_path, "2.1.1") as (_, sim):
        assert sim.cpo is not None
        sent = sim.cpo.credentials
        assert (sent["country_code"], sent["party_id"]) == DEFAULT
        assert sent["business_details"]["name"] == "CPO Platform"
        # A 2.1.1 registration knows one party of ours: the second id's site and tariff are
        # kept there under the default's (OCPI 2.1.1 puts the requesting CPO in the URL).
        await sim.wait_for(put_of("locations", DEFAULT, "AWAY"))
        await sim.wait_for(put_of("tariffs", DEFAULT, "SEC-KWH"))
        assert ("NL", "CPO", "AWAY") in sim.locations


# -- what is pushed ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_each_ids_locations_and_tariffs_reach_the_emsp_as_that_id(
    tmp_path: Path, version: str
) -> None:
    async with two_ids(tmp_path, version) as (_, sim):
        away = await sim.wait_for(put_of("locations", SECOND, "AWAY"))
        assert routed(away) == (SECOND, ("NL", "EMS"))
        assert (away.body["country_code"], away.body["party_id"]) == SECOND
        tariff = await sim.wait_for(put_of("tariffs", SECOND, "SEC-KWH"))
        assert routed(tariff)[0] == SECOND
        home = await sim.wait_for(put_of("locations", DEFAULT, "HOME"))
        assert routed(home)[0] == DEFAULT
        assert sim.locations[("DE", "SEC", "AWAY")]["evses"][0]["uid"] == "AWAY-1"


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_charge_at_a_second_ids_site_is_that_ids_session_and_cdr(
    tmp_path: Path, version: str
) -> None:
    async with (
        two_ids(tmp_path, version) as (platform, sim),
        ChargePointSimulator(
            id="CP-SEC", url=platform.ws_url, ocpp="2.0.1", password=PASSWORD, power_w=11000
        ) as cp,
    ):
        await cp.boot()
        await cp.status(1, "Available")
        await cp.run_session(1, UID, meter_updates=2, seconds_per_update=300)

        # The driver's eMSP was asked as the id whose site the driver stands at.
        asked = await sim.wait_for(
            lambda r: r.module == "tokens" and r.method == "POST" and r.path.endswith("/authorize")
        )
        assert routed(asked) == (SECOND, ("NL", "EMS"))
        assert asked.body["location_id"] == "AWAY"

        session = await sim.wait_for(
            lambda r: r.module == "sessions" and r.method == "PUT" and r.status < 300
        )
        assert (session.body["country_code"], session.body["party_id"]) == SECOND
        assert session.path.endswith(f"/DE/SEC/{session.body['id']}")
        assert routed(session)[0] == SECOND
        posted = await sim.wait_for(
            lambda r: r.module == "cdrs" and r.method == "POST" and r.status < 300
        )
        cdr = posted.body
        assert (cdr["country_code"], cdr["party_id"]) == SECOND
        assert cdr["session_id"] == session.body["id"]
        assert cdr["cdr_location"]["id"] == "AWAY"
        assert [t["id"] for t in cdr["tariffs"]] == ["SEC-KWH"]
        assert routed(posted)[0] == SECOND
        assert ("DE", "SEC", session.body["id"]) in sim.sessions


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_command_at_a_second_ids_site_is_answered_by_that_id(
    tmp_path: Path, version: str
) -> None:
    async with (
        two_ids(tmp_path, version) as (platform, sim),
        ChargePointSimulator(
            id="CP-SEC", url=platform.ws_url, ocpp="1.6", password=PASSWORD, power_w=11000
        ) as cp,
    ):
        await cp.boot()
        await cp.status(1, "Available")
        token = make_token(UID, whitelist="NEVER", version=version)
        status, answer = await sim.send_command(
            "START_SESSION",
            {"token": token, "location_id": "AWAY", "evse_uid": "AWAY-1"},
        )
        assert status == 200 and answer["data"]["result"] == "ACCEPTED", answer
        result = await sim.wait_for(lambda r: r.module == "commands" and r.method == "POST")
        assert result.body["result"] == "ACCEPTED"
        assert routed(result) == (SECOND, ("NL", "EMS"))


# -- the operator's input ------------------------------------------------------------------------


async def test_the_admin_api_refuses_a_location_or_tariff_of_another_party(
    tmp_path: Path,
) -> None:
    platform = await Platform(tmp_path, roles=ROLES).start()
    try:
        async with platform.admin() as admin:
            foreign = location("ELSE", [("ELSE-1", "CP-ELSE", 1)]) | {
                "country_code": "BE",
                "party_id": "XYZ",
            }
            response = await admin.post("/locations", json=[sites()[0], foreign])
            assert response.status_code == 422, response.text
            (problem,) = response.json()["errors"]
            assert problem["field"] == "1.party_id"
            assert (
                "BE/XYZ is none of this platform's party ids (NL/CPO, DE/SEC)"
                in (problem["problem"])
            )
            response = await admin.post("/tariffs", json=TARIFF | {"party_id": "XYZ"})
            assert response.status_code == 422, response.text
            assert "DE/XYZ is none" in response.json()["errors"][0]["problem"]
            # Nothing of either was stored.
            assert (await admin.get("/locations")).json() == []
            assert (await admin.get("/tariffs")).json() == []
            # Naming none is the default's; naming ours, in any case, is that one's.
            response = await admin.post(
                "/tariffs",
                json=[
                    TARIFF | {"country_code": "de"},
                    {k: v for k, v in TARIFF.items() if k not in ("country_code", "party_id")}
                    | {"id": "HOME-KWH"},
                ],
            )
            assert response.status_code == 200, response.text
            owners = {
                t["id"]: (t["country_code"], t["party_id"])
                for t in (await admin.get("/tariffs")).json()
            }
            assert owners == {"SEC-KWH": SECOND, "HOME-KWH": DEFAULT}
    finally:
        await platform.stop()
