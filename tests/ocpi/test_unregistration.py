"""A party's end and its return: its drivers' tokens die with its registration (at chargers and
in their local lists), what waited for it is dropped, and the same eMSP registered again owns
its tokens and sessions anew."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator

import pytest
from sqlmodel import col, func, select

from cpo.push.tables import PendingPush
from cpo.tokens.tables import OcpiToken
from simulators.charge_point import ChargePointSimulator
from simulators.emsp import EmspSimulator, make_token
from tests.helpers.ocpi import PASSWORD, location, push, register_with, sent
from tests.helpers.platform import Platform, post
from tests.helpers.processes import BIN, run

DRIVER = "DRIVER-0001"
STATION = "CP-GONE"


@pytest.fixture
async def platform_emsp(quick_platform: Platform) -> AsyncIterator[tuple[Platform, EmspSimulator]]:
    """The platform registered with an eMSP that pushed one ALWAYS token; a Location on the
    charger STATION."""
    async with EmspSimulator(party_id="EMS") as sim:
        await register_with(quick_platform, sim)
        assert await push(sim, make_token(DRIVER, whitelist="ALWAYS")) == 201
        await post(quick_platform, "/locations", location("GONE", [("GONE-1", STATION, 1)]))
        await quick_platform.add_station(STATION, PASSWORD)
        yield quick_platform, sim
        assert sim.violations == [], sim.violations


async def party_id_of(platform: Platform) -> int:
    async with platform.admin() as admin:
        parties = (await admin.get("/parties")).json()
    return int(next(p["id"] for p in parties if p["state"] == "REGISTERED"))


async def tokens_of(platform: Platform, party_id: int) -> int:
    async with platform.state.ocpi_side.database() as session:
        count = await session.execute(
            select(func.count()).select_from(OcpiToken).where(col(OcpiToken.owner_id) == party_id)
        )
        return int(count.scalar_one())


async def outbox_rows(platform: Platform, party_id: int) -> int:
    async with platform.state.ocpi_side.database() as session:
        count = await session.execute(
            select(func.count())
            .select_from(PendingPush)
            .where(col(PendingPush.party_id) == party_id)
        )
        return int(count.scalar_one())


async def booted_with_the_driver_listed(platform: Platform, cp: ChargePointSimulator) -> None:
    """The charger boots and is sent its whole local list, with the eMSP's driver on it."""
    await cp.boot()
    async with platform.admin() as admin:
        response = await admin.post(f"/stations/{STATION}/local-list")
        assert response.json()["status"] == "Accepted", response.text
    await cp.wait_for_call("SendLocalList")
    assert cp.local_list[DRIVER] == "Accepted"


async def test_tokens_die_with_their_emsp_and_belong_to_its_new_registration(
    platform_emsp: tuple[Platform, EmspSimulator], caplog: pytest.LogCaptureFixture
) -> None:
    platform, sim = platform_emsp
    caplog.set_level(logging.INFO, logger="cpo.credentials.registration")
    old = await party_id_of(platform)
    async with ChargePointSimulator(
        id=STATION, url=platform.ws_url, ocpp="1.6", password=PASSWORD
    ) as cp:
        await cp.boot()
        await cp.status(1, "Available")
        assert await cp.authorize(DRIVER) == "Accepted"
        async with platform.admin() as admin:
            response = await admin.post(f"/stations/{STATION}/local-list")
            assert response.status_code == 200 and response.json()["status"] == "Accepted"
        assert (await cp.wait_for_call("SendLocalList"))["updateType"] == "Full"
        assert cp.local_list[DRIVER] == "Accepted"

        # The eMSP cannot take Locations for now: a change waits for it in the outbox.
        sim.fault("http_500", modules={"locations"})
        await post(
            platform, "/locations", location("GONE", [("GONE-1", STATION, 1)], name="Renamed")
        )
        await sim.wait_for(lambda r: r.module == "locations" and r.status == 500)
        pending = await outbox_rows(platform, old)
        assert pending >= 1

        asked = len(sim.authorizations)
        async with platform.admin() as admin:
            response = await admin.delete(f"/parties/{old}")
        assert response.status_code == 200, response.text
        assert response.json()["state"] == "UNREGISTERED" and response.json()["peer_told"]
        sim.clear_faults()

        # The charger's list loses the token at once, by difference ...
        update = await cp.wait_for_call("SendLocalList")
        assert update["updateType"] == "Differential"
        assert update["localAuthorizationList"] == [{"idTag": DRIVER}]
        assert DRIVER not in cp.local_list
        # ... and the platform no longer accepts it, without asking the gone eMSP.
        assert await cp.authorize(DRIVER) == "Invalid"
        assert len(sim.authorizations) == asked
        tx = await cp.start_transaction(1, DRIVER)
        assert tx.status == "Invalid"
        await cp.stop_transaction(1)
        assert await tokens_of(platform, old) == 0
        assert await outbox_rows(platform, old) == 0
        said = [r.getMessage() for r in caplog.records if r.name == "cpo.credentials.registration"]
        assert any(
            re.search(
                rf"party {old} \(NL/EMS\) unregistered: {pending} pending pushes dropped, "
                r"1 tokens removed",
                line,
            )
            for line in said
        ), said

        # The same eMSP registers again: a new party, which holds none of the old tokens ...
        sim.tokens = []  # its list is empty for now: nothing to pull, nobody to claim DRIVER
        new = (await register_with(platform, sim))["id"]
        assert new != old
        assert await cp.authorize(DRIVER) == "Invalid"
        # ... until it gives them again: pulled, then pushed (which reaches the charger).
        sim.tokens = [make_token(DRIVER, whitelist="ALWAYS")]
        async with platform.admin() as admin:
            pulled = await admin.post(f"/parties/{new}/tokens/pull?full=true")
        assert pulled.status_code == 200 and pulled.json()["stored"] == 1, pulled.text
        assert await tokens_of(platform, new) == 1
        assert await cp.authorize(DRIVER) == "Accepted"
        assert await push(sim, make_token(DRIVER, whitelist="ALWAYS")) == 200
        update = await cp.wait_for_call("SendLocalList")
        assert update["updateType"] == "Differential"
        assert cp.local_list[DRIVER] == "Accepted"

        # A charge with its token is the new registration's Session, and reaches the eMSP.
        tx = await cp.start_transaction(1, DRIVER)
        assert tx.status == "Accepted"
        put = await sim.wait_for(sent("sessions", "PUT"))
        assert put.body["cdr_token"]["uid"] == DRIVER
        session_id = put.body["id"]
    async with platform.admin() as admin:
        mine = (await admin.get(f"/sessions/{session_id}")).json()
    assert mine["owner_party_id"] == new


async def test_an_emsp_that_unregisters_itself_takes_its_tokens_along(
    platform_emsp: tuple[Platform, EmspSimulator],
) -> None:
    platform, sim = platform_emsp
    old = await party_id_of(platform)
    asked = make_token("ASK-EVERY-TIME", whitelist="NEVER")  # decided by the eMSP in real time
    assert await push(sim, asked) == 201
    sim.tokens.append(asked)
    async with ChargePointSimulator(
        id=STATION, url=platform.ws_url, ocpp="2.0.1", password=PASSWORD
    ) as cp:
        await cp.boot()
        assert await cp.authorize("ASK-EVERY-TIME") == "Accepted"
        async with platform.admin() as admin:
            response = await admin.post(f"/stations/{STATION}/local-list")
            assert response.json()["status"] == "Accepted", response.text
        await cp.wait_for_call("SendLocalList")
        assert cp.local_list[DRIVER] == "Accepted"
        await sim.unregister()
        update = await cp.wait_for_call("SendLocalList")
        assert update["updateType"] == "Differential" and DRIVER not in cp.local_list
        assert await cp.authorize(DRIVER) == "Invalid"
        # The gone eMSP is not asked about its tokens any more.
        heard = len(sim.received)
        assert await cp.authorize("ASK-EVERY-TIME") == "Invalid"
        assert sim.received[heard:] == []
    assert await tokens_of(platform, old) == 0


async def test_cli_unregister_ends_the_tokens_in_the_servers_chargers_too(
    platform_emsp: tuple[Platform, EmspSimulator],
) -> None:
    platform, sim = platform_emsp
    old = await party_id_of(platform)
    env = platform.cli_env()
    async with ChargePointSimulator(
        id=STATION, url=platform.ws_url, ocpp="1.6", password=PASSWORD
    ) as cp:
        await booted_with_the_driver_listed(platform, cp)
        # The CLI is another process, a client of the server's admin API: the server
        # unregisters, so its chargers are sent only what changed.
        code, out, err = await run(str(BIN / "cpo"), "party", "unregister", str(old), env=env)
        assert code == 0, err
        assert not sim.registered  # the eMSP was told
        update = await cp.wait_for_call("SendLocalList")
        assert update["updateType"] == "Differential" and DRIVER not in cp.local_list
        assert await cp.authorize(DRIVER) == "Invalid"
    assert await tokens_of(platform, old) == 0
    code, out, err = await run(str(BIN / "cpo"), "party", "unregister", str(old), env=env)
    assert code == 1 and f"party {old} is not registered" in err


async def test_a_charger_offline_at_the_unregistration_gets_its_list_when_it_returns(
    platform_emsp: tuple[Platform, EmspSimulator],
) -> None:
    platform, sim = platform_emsp
    old = await party_id_of(platform)
    async with ChargePointSimulator(
        id=STATION, url=platform.ws_url, ocpp="2.0.1", password=PASSWORD
    ) as cp:
        await booted_with_the_driver_listed(platform, cp)
        await cp.close()
        async with platform.admin() as admin:
            assert (await admin.delete(f"/parties/{old}")).status_code == 200
        await cp.connect()
        update = await cp.wait_for_call("SendLocalList")
        assert update["updateType"] == "Full" and DRIVER not in cp.local_list
