"""Roaming through a hub: the eMSP simulator plays a hub with three eMSPs behind it, beside a
direct peer, in OCPI 2.2.1 and 2.3.0. Each eMSP's drivers charge, and what each eMSP owns
reaches it alone; Locations go once, to the hub; unknown tokens are asked by Open Routing; bad
routing headers are refused; one eMSP never sees or changes another's objects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from cpo.tokens.tables import OcpiToken
from simulators.charge_point import ChargePointSimulator
from simulators.emsp import EmspSimulator, HubSimulator, make_token
from tests.helpers.browser import add_user, client, logged_in, rows
from tests.helpers.cluster import until
from tests.helpers.ocpi import PASSWORD, envelope, location, peer, push, register_with, sent
from tests.helpers.platform import Platform, post
from tests.helpers.processes import BIN, run

AAA, BBB, CCC = ("DE", "AAA"), ("DE", "BBB"), ("FR", "CCC")
CLIENTS = (AAA, BBB, CCC)


def card(owner: tuple[str, str], version: str, uid: str | None = None) -> dict[str, Any]:
    cc, pid = owner
    return make_token(
        uid or f"{pid}CARD01", country_code=cc, party_id=pid, whitelist="ALLOWED", version=version
    )


@pytest.fixture(params=["2.2.1", "2.3.0"])
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Platform]:
    async with Platform(
        tmp_path,
        push_retry_max=0.2,
        authorize_timeout=2.0,
        session_update_seconds=0.2,
        cdr_gap_wait_seconds=30,
    ) as p:
        yield p


async def parties(live: Platform) -> list[dict[str, Any]]:
    async with live.admin() as admin:
        response = await admin.get("/parties")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


async def behind(live: Platform, hub_id: int) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (p["roles"][0]["country_code"], p["roles"][0]["party_id"]): p
        for p in await parties(live)
        if p["hub_id"] == hub_id
    }


async def client_id(live: Platform, hub: HubSimulator, client: tuple[str, str]) -> int:
    """The platform's party for a client of the hub."""
    return int((await behind(live, hub.hub_id))[client]["id"])  # type: ignore[attr-defined]


async def owner_of(live: Platform, uid: str) -> int:
    """The party the platform keeps a token under."""
    async with live.state.ocpi_side.database() as session:
        row = (
            await session.execute(select(OcpiToken).where(OcpiToken.uid_key == uid))
        ).scalar_one()
    return row.owner_id


@pytest.fixture
async def hub(live: Platform, version: str) -> AsyncIterator[HubSimulator]:
    """The hub registered with the platform, its three eMSPs known as CONNECTED clients, each
    holding one card; a Location (EVSE HUB-1 on charger CP-HUB)."""
    tokens = [card(c, version) for c in CLIENTS]
    async with HubSimulator(clients=CLIENTS, version=version, tokens=tokens) as sim:
        view = await register_with(live, sim)
        assert view["hub_party"] == "DEHUB"
        assert view["roles"][0]["role"] == "HUB"

        async def all_known() -> bool:
            clients = await behind(live, view["id"])
            return len(clients) == 3 and all(
                c["client_status"] == "CONNECTED" and c["state"] == "REGISTERED"
                for c in clients.values()
            )

        await until(all_known, what="the hub's three clients")
        await post(live, "/locations", location("HUB", [("HUB-1", "CP-HUB", 1)]))
        await live.add_station("CP-HUB", PASSWORD)
        sim.hub_id = view["id"]  # type: ignore[attr-defined]
        yield sim


@pytest.fixture
async def direct(live: Platform, hub: HubSimulator, version: str) -> AsyncIterator[EmspSimulator]:
    async with EmspSimulator(party_id="EMS", version=version) as sim:
        await register_with(live, sim)
        assert await push(sim, make_token("EMSCARD01", version=version)) == 201
        yield sim
        assert sim.violations == [], sim.violations


async def test_each_emsps_sessions_and_cdrs_reach_only_it(
    live: Platform, hub: HubSimulator, direct: EmspSimulator, version: str
) -> None:
    async with ChargePointSimulator(id="CP-HUB", url=live.ws_url, password=PASSWORD) as cp:
        await cp.boot()
        for client in (AAA, CCC):
            uid = f"{client[1]}CARD01"
            assert await cp.authorize(uid) == "Accepted"
            await cp.run_session(1, uid, meter_updates=2, seconds_per_update=60)
            await cdr_of(hub, client)
        assert await cp.authorize("EMSCARD01") == "Accepted"
        await cp.run_session(1, "EMSCARD01", meter_updates=1, seconds_per_update=60)
        await direct.wait_for(sent("cdrs", "POST"))

    for client in (AAA, CCC):
        sessions, cdrs = hub.sessions_of(client), hub.cdrs_of(client)
        assert len(cdrs) == 1 and sessions
        assert {s["cdr_token"]["party_id"] for s in sessions} == {client[1]}
        assert cdrs[0]["cdr_token"]["uid"] == f"{client[1]}CARD01"
    assert hub.sessions_of(BBB) == [] and hub.cdrs_of(BBB) == []
    # The direct peer got its own charge and nothing of the hub's eMSPs; the hub nothing of it.
    assert {c["cdr_token"]["uid"] for c in direct.cdrs.values()} == {"EMSCARD01"}
    assert all(c["cdr_token"]["uid"] != "EMSCARD01" for c in hub.cdrs.values())
    assert hub.violations == [], hub.violations


async def cdr_of(hub: HubSimulator, client: tuple[str, str]) -> Any:
    """Waits for the CDR of `client`'s charge to reach the hub (routed to whomever)."""
    return await hub.wait_for(
        lambda r: sent("cdrs", "POST")(r) and r.body["cdr_token"]["party_id"] == client[1]
    )


async def test_a_location_change_reaches_the_hub_once(
    live: Platform, hub: HubSimulator, direct: EmspSimulator
) -> None:
    changed = location("HUB", [("HUB-1", "CP-HUB", 1)]) | {"name": "Renamed site"}
    async with live.admin() as admin:
        response = await admin.put("/locations/HUB", json=changed)
        assert response.status_code < 300, response.text
    await direct.wait_for(
        lambda r: sent("locations", "PUT")(r) and r.body.get("name") == "Renamed site"
    )
    await hub.wait_for(
        lambda r: sent("locations", "PUT")(r) and r.body.get("name") == "Renamed site"
    )
    puts = [
        r
        for r in hub.received
        if r.module == "locations" and r.method == "PUT" and r.body.get("name") == "Renamed site"
    ]
    assert len(puts) == 1  # once, to the hub: not once per eMSP behind it
    assert puts[0].headers["ocpi-to-party-id"] == "HUB"
    assert all(not any(x.module == "locations" for x in hub.routed[c]) for c in CLIENTS)
    assert hub.violations == [], hub.violations


async def test_an_unknown_token_is_authorized_by_open_routing(
    live: Platform, hub: HubSimulator, version: str
) -> None:
    late = card(BBB, version, uid="BBBLATE01") | {"whitelist": "NEVER"}
    hub.tokens.append(late)  # the platform pulled the list before: it does not know this one
    async with ChargePointSimulator(id="CP-HUB", url=live.ws_url, password=PASSWORD) as cp:
        await cp.boot()
        assert await cp.authorize("BBBLATE01") == "Accepted"
    asked = [a for a in hub.authorizations if a["uid"] == "BBBLATE01"]
    assert asked and asked[-1]["open_routing"] and asked[-1]["client"] == BBB
    # The answer is kept under its owner behind the hub.
    assert await owner_of(live, "BBBLATE01") == await client_id(live, hub, BBB)
    assert hub.violations == [], hub.violations


async def test_bad_routing_headers_are_answered_per_the_spec(
    live: Platform, hub: HubSimulator, version: str
) -> None:
    token = card(AAA, version, uid="AAANEW01")
    client = hub.as_client(AAA)
    for headers, why in [
        ({"OCPI-from-country-code": None, "OCPI-from-party-id": None}, "send OCPI-from"),
        ({"OCPI-from-party-id": "ZZZ"}, "not a party this hub relays for"),
        ({"OCPI-to-party-id": "XYZ"}, "not this platform"),
    ]:
        response = await client.push_token(token, headers=headers)
        data = envelope(response, 400, 2001)
        assert data is None
        assert why in response.json()["status_message"]
    # The right headers work, and the token is AAA's.
    assert (await client.push_token(token)).status_code in (200, 201)
    # One eMSP cannot write another's token, through the hub or not.
    other = hub.as_client(BBB)
    response = await other.push_token(token)
    assert response.status_code == 401 and response.json()["status_code"] == 2001


async def test_one_emsp_behind_the_hub_never_sees_anothers_objects(
    live: Platform, hub: HubSimulator
) -> None:
    async with ChargePointSimulator(id="CP-HUB", url=live.ws_url, password=PASSWORD) as cp:
        await cp.boot()
        await cp.run_session(1, "AAACARD01", meter_updates=1, seconds_per_update=60)
        await cdr_of(hub, AAA)
    since = {"date_from": "2020-01-01T00:00:00Z"}
    mine = await hub.as_client(AAA).fetch_all("sessions", since)
    theirs = await hub.as_client(BBB).fetch_all("sessions", since)
    assert len(mine) == 1 and theirs == []
    assert len(await hub.as_client(AAA).fetch_all("cdrs", since)) == 1
    assert await hub.as_client(BBB).fetch_all("cdrs", since) == []
    session_id = mine[0]["id"]
    response = await hub.as_client(BBB).request(
        "PUT",
        "sessions",
        f"{session_id}/charging_preferences",
        json={"profile_type": "FAST"},
    )
    assert response.status_code in (200, 404) and response.json()["status_code"] != 1000


async def test_traffic_to_an_offline_emsp_waits_in_the_outbox(
    live: Platform, hub: HubSimulator
) -> None:
    status, body = await hub.push_client_info(CCC, "OFFLINE")
    assert status == 200 and body["status_code"] == 1000
    clients = await behind(live, hub.hub_id)  # type: ignore[attr-defined]
    assert clients[CCC]["client_status"] == "OFFLINE"
    async with ChargePointSimulator(id="CP-HUB", url=live.ws_url, password=PASSWORD) as cp:
        await cp.boot()
        await cp.run_session(1, "CCCCARD01", meter_updates=1, seconds_per_update=60)

        async def owed() -> bool:
            async with live.admin() as admin:
                view = (await admin.get(f"/parties/{clients[CCC]['id']}/push")).json()
            return bool(view.get("pending") or view.get("modules"))

        await until(owed, what="CCC's session and CDR waiting")
    assert hub.cdrs_of(CCC) == []
    status, _ = await hub.push_client_info(CCC, "CONNECTED")
    assert status == 200
    await cdr_of(hub, CCC)
    assert hub.violations == [], hub.violations


async def test_unregistering_the_hub_ends_the_parties_behind_it(
    live: Platform, hub: HubSimulator
) -> None:
    hub_id = hub.hub_id  # type: ignore[attr-defined]
    async with live.admin() as admin:
        assert (await admin.delete(f"/parties/{hub_id}")).status_code == 200
        # A party behind the hub is not unregistered on its own.
    clients = await behind(live, hub_id)
    assert {c["state"] for c in clients.values()} == {"UNREGISTERED"}


async def test_client_info_from_anyone_but_the_hub_or_malformed_is_refused(
    live: Platform, hub: HubSimulator, direct: EmspSimulator, version: str
) -> None:
    url = f"/ocpi/{version}/hubclientinfo/DE/AAA"
    good = {
        "party_id": "AAA",
        "country_code": "DE",
        "role": "EMSP",
        "status": "OFFLINE",
        "last_updated": "2026-01-01T00:00:00Z",
    }
    # A direct peer is no hub: it cannot say who is connected.
    async with peer(live, direct.cpo.token if direct.cpo else "") as http:
        envelope(await http.put(url, json=good), 403, 2000)
    async with peer(live, hub.cpo.token if hub.cpo else "") as http:
        for body, why in [
            (good | {"party_id": "BBB"}, "the URL names"),
            (good | {"status": "GONE"}, "status"),
            (good | {"last_updated": "yesterday"}, "last_updated"),
            ({"party_id": "AAA"}, "role"),
        ]:
            response = await http.put(url, json=body)
            envelope(response, 200, 2001)
            assert why in response.json()["status_message"]
        envelope(await http.put(f"/ocpi/{version}/hubclientinfo/DEU/AAA", json=good), 400, 2001)
        envelope(await http.put(url, content=b"{not json"), 400, 2000)
        # An older word than the one held changes nothing; the CPO's copy reads back.
        envelope(await http.put(url, json=good), 200, 1000)
        clients = await behind(live, hub.hub_id)  # type: ignore[attr-defined]
        assert clients[AAA]["client_status"] == "CONNECTED"
        held = envelope(await http.get(url), 200, 1000)
        assert held["status"] == "CONNECTED" and held["party_id"] == "AAA"
        envelope(await http.get(f"/ocpi/{version}/hubclientinfo/NL/ZZZ"), 404, 2000)
        # Routing headers do not belong on a configuration module, but a broadcast through the
        # hub naming an owner it never listed is refused.
    response = await hub.push_token(card(AAA, version) | {"party_id": "ZZZ"})
    envelope(response, 400, 2001)
    assert "not a party this hub relays for" in response.json()["status_message"]


async def test_an_emsp_reachable_both_ways_is_reached_the_way_the_operator_chooses(
    live: Platform, version: str
) -> None:
    tokens = [card(c, version) for c in CLIENTS]
    async with (
        EmspSimulator(country_code="DE", party_id="AAA", version=version) as aaa,
        HubSimulator(clients=CLIENTS, version=version, tokens=tokens) as hub,
    ):
        direct_id = (await register_with(live, aaa))["id"]
        hub_id = (await register_with(live, hub))["id"]

        async def listed() -> dict[tuple[str, str], dict[str, Any]] | None:
            clients = await behind(live, hub_id)
            return clients if len(clients) == 3 else None

        clients = await until(listed, what="the hub's clients")
        # Reached directly: behind the hub it waits, suspended, for the operator.
        assert clients[AAA]["state"] == "SUSPENDED" and clients[BBB]["state"] == "REGISTERED"
        response = await hub.as_client(AAA).push_token(card(AAA, version, uid="AAAVIAHUB"))
        envelope(response, 401, 2000)
        # The operator switches AAA to the hub.
        async with live.admin() as admin:
            assert (await admin.post(f"/parties/{direct_id}/suspend")).status_code == 200
            resumed = await admin.post(f"/parties/{clients[AAA]['id']}/resume")
            assert resumed.status_code == 200, resumed.text
            # Behind a hub, a party has no registration of its own to end or resync.
            for method, path in [
                ("DELETE", ""),
                ("POST", "/resync"),
                ("POST", "/rotate"),
                ("POST", "/tokens/pull"),
            ]:
                answer = await admin.request(method, f"/parties/{clients[AAA]['id']}{path}")
                assert answer.status_code == 409, (path, answer.text)
                assert f"through hub #{hub_id}" in answer.text
        response = await hub.as_client(AAA).push_token(card(AAA, version, uid="AAAVIAHUB"))
        assert response.status_code in (200, 201)


async def test_the_operator_sees_who_is_behind_a_hub(live: Platform, hub: HubSimulator) -> None:
    hub_id = hub.hub_id  # type: ignore[attr-defined]
    await hub.push_client_info(BBB, "PLANNED")
    code, out, err = await run(
        str(BIN / "cpo"), "party", "clients", str(hub_id), env=live.cli_env()
    )
    assert code == 0, err
    assert "3 listed, 0 skipped" in out
    lines = [line for line in out.splitlines() if f"via hub #{hub_id}" in line]
    assert len(lines) == 3
    assert any("DE/BBB" in line and "PLANNED" in line for line in lines)
    await add_user(live, "olga", "operator")
    async with client(live) as http:
        await logged_in(http, "olga")
        page = (await http.get("/console/parties")).text
        listed = rows(page, "party")
        behind_hub = [cells for cells in listed.values() if f"via hub #{hub_id}" in cells[2]]
        assert len(behind_hub) == 3
        assert any("PLANNED" in cells[2] for cells in behind_hub)
        one = (await http.get(f"/console/parties/{hub_id}")).text
        assert "DE-HUB" in one


async def test_word_of_a_new_party_arriving_at_once_makes_one_party(
    live: Platform, hub: HubSimulator, version: str
) -> None:
    url = f"/ocpi/{version}/hubclientinfo/NL/NEW"
    info = {
        "party_id": "NEW",
        "country_code": "NL",
        "role": "EMSP",
        "status": "PLANNED",
        "last_updated": "2026-01-01T00:00:00Z",
    }
    async with peer(live, hub.cpo.token if hub.cpo else "") as http:
        answers = await asyncio.gather(*(http.put(url, json=info) for _ in range(8)))
    assert [a.json()["status_code"] for a in answers] == [1000] * 8
    clients = await behind(live, hub.hub_id)  # type: ignore[attr-defined]
    assert clients[("NL", "NEW")]["client_status"] == "PLANNED"
    assert len(clients) == 4


async def test_a_token_broadcast_by_the_hub_is_kept_under_its_owner(
    live: Platform, hub: HubSimulator, version: str
) -> None:
    response = await hub.push_token(card(CCC, version, uid="CCCBCAST1"))  # FROM = the hub
    assert response.status_code in (200, 201), response.text
    assert await owner_of(live, "CCCBCAST1") == await client_id(live, hub, CCC)
    async with ChargePointSimulator(id="CP-HUB", url=live.ws_url, password=PASSWORD) as cp:
        await cp.boot()
        assert await cp.authorize("CCCBCAST1") == "Accepted"


async def test_an_emsp_behind_the_hub_limits_its_own_session_on_the_charger(
    live: Platform, hub: HubSimulator
) -> None:
    capable = location("HUB", [("HUB-1", "CP-HUB", 1)])
    capable["evses"][0]["capabilities"] = ["CHARGING_PROFILE_CAPABLE", "RFID_READER"]
    async with live.admin() as admin:
        assert (await admin.put("/locations/HUB", json=capable)).status_code < 300
    limit = {
        "charging_rate_unit": "W",
        "charging_profile_period": [{"start_period": 0, "limit": 7400}],
    }
    async with ChargePointSimulator(id="CP-HUB", url=live.ws_url, password=PASSWORD) as cp:
        await cp.boot()
        await cp.status(1, "Available")
        assert await cp.authorize("AAACARD01") == "Accepted"
        assert (await cp.start_transaction(1, "AAACARD01")).status == "Accepted"
        put = await hub.wait_for(
            lambda r: sent("sessions", "PUT")(r) and r.body["cdr_token"]["party_id"] == "AAA"
        )
        session_id = put.body["id"]
        # Another eMSP behind the same hub cannot touch it, and the charger hears nothing.
        _, answer = await hub.as_client(BBB).set_charging_profile(session_id, limit)
        assert answer.get("data", {}).get("result") == "UNKNOWN_SESSION", answer
        assert not [a for a, _ in cp.received_calls if a == "SetChargingProfile"]
        _, answer = await hub.as_client(AAA).set_charging_profile(session_id, limit)
        assert answer["data"]["result"] == "ACCEPTED", answer
        result = await hub.wait_for(lambda r: sent("chargingprofiles", "POST")(r))
        assert result.body == {"result": "ACCEPTED"}
        assert result.headers["ocpi-to-party-id"] == "AAA"
        (payload,) = [p for a, p in cp.received_calls if a == "SetChargingProfile"]
        periods = payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"]
        assert periods[0]["limit"] == 7400
        # What now bounds the EVSE goes to its eMSP, through the hub.
        active = await hub.wait_for(lambda r: sent("chargingprofiles", "PUT")(r))
        assert active.headers["ocpi-to-party-id"] == "AAA"
        assert active.path.endswith(session_id)

        # A command, likewise: only the session's eMSP may stop it, and its result is routed
        # back to it alone.
        stop = {"session_id": session_id}
        _, answer = await hub.as_client(BBB).send_command("STOP_SESSION", stop)
        assert answer["data"]["result"] != "ACCEPTED", answer
        assert "RemoteStopTransaction" not in [a for a, _ in cp.received_calls]
        _, answer = await hub.as_client(AAA).send_command("STOP_SESSION", stop)
        assert answer["data"]["result"] == "ACCEPTED", answer
        done = await hub.wait_for(
            lambda r: sent("commands", "POST")(r) and r.headers["ocpi-to-party-id"] == "AAA"
        )
        assert done.body["result"] == "ACCEPTED"
        assert "RemoteStopTransaction" in [a for a, _ in cp.received_calls]
    assert hub.violations == [], hub.violations
