"""Tokens end to end: an eMSP pushes its drivers' tokens, chargers of both versions get its answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from cpo.tokens.local_lists import note_revocation
from simulators.charge_point import ChargePointSimulator
from simulators.emsp import EmspSimulator, make_token
from tests.helpers.ocpi import PASSWORD, envelope, location, peer, push, registers_with_us
from tests.helpers.platform import Platform, post


@pytest.fixture
async def emsp(quick_platform: Platform) -> AsyncIterator[EmspSimulator]:
    """An eMSP registered with the platform, whose tokens sender knows REMOTE-ONLY."""
    async with EmspSimulator(party_id="EMS", tokens=[make_token("REMOTE-ONLY")]) as sim:
        await registers_with_us(quick_platform, sim)
        yield sim
        assert sim.violations == [], sim.violations


async def _invite(platform: Platform) -> tuple[int, str]:
    async with platform.admin() as admin:
        invitation = (await admin.post("/parties/invitations", json={})).json()
    return invitation["party_id"], invitation["token"]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_chargers_get_the_emsp_decision_for_every_kind_of_token(
    quick_platform: Platform, emsp: EmspSimulator, version: str
) -> None:
    platform = quick_platform
    assert await push(emsp, make_token("04A1B2C3D4", whitelist="ALWAYS")) == 201
    assert await push(emsp, make_token("04A1B2C3D4", whitelist="ALWAYS")) == 200  # replaced
    await push(emsp, make_token("ALWAYS-INVALID", whitelist="ALWAYS", valid=False))
    await push(emsp, make_token("NEVER-BLOCKED", whitelist="NEVER"))
    await push(emsp, make_token("NEVER-EXPIRED", whitelist="NEVER"))
    await push(emsp, make_token("OFFLINE-OK", whitelist="ALLOWED_OFFLINE"))
    emsp.tokens += [
        make_token(uid, whitelist="NEVER")
        for uid in ("NEVER-BLOCKED", "NEVER-EXPIRED", "OFFLINE-OK")
    ]
    emsp.authorize_answers |= {"NEVER-BLOCKED": "BLOCKED", "NEVER-EXPIRED": "EXPIRED"}
    await post(platform, "/locations", location("TOK-1", [("TOK-1-1", f"CP-T{version}", 1)]))
    await platform.add_station(f"CP-T{version}", PASSWORD)
    async with ChargePointSimulator(
        id=f"CP-T{version}", url=platform.ws_url, ocpp=version, password=PASSWORD
    ) as cp:
        await cp.boot()
        assert await cp.authorize("04a1b2c3d4") == "Accepted"  # uids compare without case
        assert await cp.authorize("ALWAYS-INVALID") == "Invalid"
        assert await cp.authorize("NEVER-BLOCKED") == "Blocked"
        assert await cp.authorize("NEVER-EXPIRED") == "Expired"
        assert await cp.authorize("REMOTE-ONLY") == "Accepted"  # never pushed: asked in real time
        assert await cp.authorize("NOBODY-KNOWS") == ("Invalid")
        # The real-time calls carried where the driver stands.
        asks = [r for r in emsp.received if r.path.endswith("/NEVER-BLOCKED/authorize")]
        assert asks and asks[0].body == {"location_id": "TOK-1", "evse_uids": ["TOK-1-1"]}
        assert asks[0].query.get("type") == "RFID"
        # The eMSP cannot answer in time: ALLOWED_OFFLINE falls back to the token, NEVER does not.
        emsp.fault("slow", delay=3.0, modules={"tokens"})
        assert await cp.authorize("OFFLINE-OK") == "Accepted"
        assert await cp.authorize("NEVER-BLOCKED") == "Invalid"
        emsp.clear_faults()
        # ... and the same when it answers garbage.
        emsp.fault("garbage", modules={"tokens"})
        assert await cp.authorize("OFFLINE-OK") == "Accepted"
        assert await cp.authorize("NEVER-BLOCKED") == "Invalid"
        emsp.clear_faults()
        # A transaction start is decided the same way, and keeps the eMSP's reference.
        tx = await cp.start_transaction(1, "NEVER-EXPIRED")
        assert tx.status == "Expired"
        emsp.authorize_answers["NEVER-EXPIRED"] = "ALLOWED"
        tx = await cp.start_transaction(1, "NEVER-EXPIRED")
        assert tx.status == "Accepted"
        reference = emsp.authorizations[-1]["authorization_reference"]
        async with platform.admin() as admin:
            rows = (await admin.get(f"/stations/CP-T{version}/transactions")).json()
        assert reference and rows[0]["authorization_reference"] == reference


async def test_a_party_touches_only_its_own_tokens_and_bad_tokens_are_refused(
    quick_platform: Platform, emsp: EmspSimulator
) -> None:
    token = make_token("04A1B2C3D4")
    assert await push(emsp, token) == 201
    async with peer(quick_platform, emsp.cpo.token) as sim:  # type: ignore[union-attr]
        base = "/ocpi/2.2.1/tokens"
        got = envelope(await sim.get(f"{base}/NL/EMS/04a1b2c3d4"), 200, 1000)
        assert got["uid"] == "04A1B2C3D4" and got["whitelist"] == "ALLOWED"
        envelope(await sim.get(f"{base}/NL/EMS/04A1B2C3D4?type=APP_USER"), 404, 2004)
        envelope(await sim.get(f"{base}/NL/EMS/NOPE"), 404, 2004)
        envelope(await sim.get(f"{base}/DE/OTH/04A1B2C3D4"), 401, 2001)
        envelope(
            await sim.put(
                f"{base}/DE/OTH/X1",
                json=token | {"country_code": "DE", "party_id": "OTH", "uid": "X1"},
            ),
            401,
            2001,
        )
        envelope(await sim.get(f"{base}/NL/EMS/04A1B2C3D4?type=CARD"), 400, 2001)
        envelope(
            await sim.put(f"{base}/NL/EMS/{'X' * 37}", json=token | {"uid": "X" * 37}), 400, 2001
        )
        envelope(
            await sim.put(f"{base}/NL/EMS/LONG", json=token | {"uid": "LONG", "type": "CARD"}),
            200,
            2001,
        )
        envelope(
            await sim.put(f"{base}/NL/EMS/OTHER", json=token), 200, 2001
        )  # URL and body differ
        envelope(
            await sim.put(f"{base}/NL/EMS/W", json=token | {"uid": "W", "whitelist": "SOMETIMES"}),
            200,
            2001,
        )
        envelope(await sim.put(f"{base}/NL/EMS/W", content=b"{nope"), 400, 2000)
        envelope(await sim.patch(f"{base}/NL/EMS/04A1B2C3D4", json={"valid": False}), 200, 2001)
        envelope(
            await sim.patch(
                f"{base}/NL/EMS/NOPE", json={"valid": False, "last_updated": "2026-01-01T00:00:00Z"}
            ),
            404,
            2004,
        )
        envelope(
            await sim.patch(
                f"{base}/NL/EMS/04A1B2C3D4",
                json={"uid": "OTHER", "last_updated": "2026-01-01T00:00:00Z"},
            ),
            200,
            2001,
        )
        envelope(
            await sim.patch(
                f"{base}/NL/EMS/04A1B2C3D4",
                json={"valid": False, "last_updated": "2026-11-24T10:00:00Z"},
            ),
            200,
            1000,
        )
        got = envelope(await sim.get(f"{base}/NL/EMS/04A1B2C3D4"), 200, 1000)
        assert got["valid"] is False and got["last_updated"] == "2026-11-24T10:00:00.000Z"
    # Another party cannot see the first one's token.
    async with EmspSimulator(party_id="OTH") as other:
        _, token_a = await _invite(quick_platform)
        await other.register(f"{quick_platform.url}/ocpi/versions", token_a)
        async with peer(quick_platform, other.cpo.token) as intruder:  # type: ignore[union-attr]
            envelope(await intruder.get("/ocpi/2.2.1/tokens/NL/EMS/04A1B2C3D4"), 401, 2001)
            envelope(await intruder.get("/ocpi/2.2.1/tokens/NL/OTH/04A1B2C3D4"), 404, 2004)


async def test_long_app_uids_get_a_short_idtag_for_16_chargers(
    quick_platform: Platform, emsp: EmspSimulator
) -> None:
    uid = "APP-0123456789-ABCDEFGHIJKLMNOP"  # 30 characters: too long for a 1.6 idTag
    await push(emsp, make_token(uid, type="APP_USER", whitelist="ALWAYS"))
    ocpi_side = quick_platform.state.ocpi_side
    async with ocpi_side.database() as session:
        from sqlmodel import select

        from cpo.tokens.tables import OcpiToken

        row = (await session.execute(select(OcpiToken).where(OcpiToken.uid == uid))).scalars().one()
    assert row.short_tag and len(row.short_tag) <= 20
    await quick_platform.add_station("CP-SHORT", PASSWORD)
    async with ChargePointSimulator(
        id="CP-SHORT", url=quick_platform.ws_url, ocpp="1.6", password=PASSWORD
    ) as cp:
        await cp.boot()
        assert await cp.authorize(row.short_tag) == "Accepted"


async def test_platform_pulls_the_token_list_fully_then_incrementally(
    quick_platform: Platform,
) -> None:
    listed = [
        make_token(f"PULL{i:04}", whitelist="ALWAYS", last_updated="2026-01-01T00:00:00Z")
        for i in range(120)
    ]
    listed.append(
        make_token(
            "FOREIGN-1", country_code="DE", party_id="XYZ", last_updated="2026-01-01T00:00:00Z"
        )
    )
    async with EmspSimulator(party_id="EMS", tokens=listed, page_limit=50) as sim:
        party_id, token_a = await _invite(quick_platform)
        await sim.register(f"{quick_platform.url}/ocpi/versions", token_a)
        async with quick_platform.admin() as admin:
            pulled = (await admin.post(f"/parties/{party_id}/tokens/pull?full=true")).json()
            assert pulled == {"stored": 120, "skipped": 1, "invalidated": 0}
            # The pull that registration started and this one took turns, page after page.
            pages = [r for r in sim.received if r.module == "tokens" and r.method == "GET"]
            assert [r.query.get("offset", "0") for r in pages] == ["0", "50", "100"] * 2
            sim.tokens[5] |= {"valid": False, "last_updated": "2100-01-01T00:00:00Z"}
            del sim.tokens[7]  # gone from the list: no longer valid after a full pull
            pulled = (await admin.post(f"/parties/{party_id}/tokens/pull")).json()
            assert pulled["stored"] == 1  # only what changed since the last pull
            last = [r for r in sim.received if r.module == "tokens" and r.method == "GET"][-1]
            assert "date_from" in last.query
            pulled = (await admin.post(f"/parties/{party_id}/tokens/pull?full=true")).json()
            assert pulled["invalidated"] == 1
        await quick_platform.add_station("CP-PULL", PASSWORD)
        async with ChargePointSimulator(
            id="CP-PULL", url=quick_platform.ws_url, ocpp="2.0.1", password=PASSWORD
        ) as cp:
            await cp.boot()
            assert await cp.authorize("PULL0001") == "Accepted"
            assert await cp.authorize("PULL0005") == "Invalid"
            assert await cp.authorize("PULL0007") == "Invalid"
        assert sim.violations == []


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_chargers_get_local_lists_full_and_then_by_difference(
    quick_platform: Platform, emsp: EmspSimulator, version: str
) -> None:
    long_uid = "APP-0123456789-ABCDEFGHIJKLMNOP"
    await push(emsp, make_token("LL-ALWAYS", whitelist="ALWAYS"))
    await push(emsp, make_token("LL-NEVER", whitelist="NEVER"))
    await push(emsp, make_token("LL-OFFLINE", whitelist="ALLOWED_OFFLINE", valid=False))
    await push(emsp, make_token(long_uid, type="APP_USER", whitelist="ALWAYS"))
    station = f"CP-LL{version}"
    await quick_platform.add_station(station, PASSWORD)
    async with ChargePointSimulator(
        id=station, url=quick_platform.ws_url, ocpp=version, password=PASSWORD
    ) as cp:
        await cp.boot()
        async with quick_platform.admin() as admin:
            response = await admin.post(f"/stations/{station}/local-list")
            assert response.status_code == 200 and response.json()["status"] == "Accepted", (
                response.text
            )
        assert cp.local_list_version == 1
        assert (await cp.wait_for_call("SendLocalList"))["updateType"] == "Full"
        assert cp.local_list["LL-ALWAYS"] == "Accepted" and cp.local_list["LL-OFFLINE"] == "Invalid"
        assert "LL-NEVER" not in cp.local_list
        if version == "1.6":  # the long uid travels as its short stand-in
            # (REMOTE-ONLY came with the token list the platform pulled at registration)
            assert long_uid not in cp.local_list and len(cp.local_list) == 4
        else:
            assert cp.local_list[long_uid] == "Accepted"
        # The eMSP blocks a token: the change alone reaches the charger.
        await emsp.request(
            "PATCH",
            "tokens",
            "/NL/EMS/LL-ALWAYS",
            json={"valid": False, "last_updated": "2026-11-24T12:00:00Z"},
        )
        update = await cp.wait_for_call("SendLocalList")
        assert update["updateType"] == "Differential"
        listed = update["localAuthorizationList"]
        assert len(listed) == 1
        info = listed[0].get("idTagInfo") or listed[0].get("idTokenInfo")
        assert info["status"] == "Invalid"
        async with quick_platform.admin() as admin:
            # Asked after the update (a charger answers in order): the list moved to version 2.
            response = await admin.post(
                f"/stations/{station}/commands/get_local_list_version", json={}
            )
            assert response.json()["data"] in ({"list_version": 2}, {"version_number": 2})
        assert cp.local_list["LL-ALWAYS"] == "Invalid"
        # A charger without a local list says so, and is left alone afterwards.
        cp.local_list_supported = False
        async with quick_platform.admin() as admin:
            response = await admin.post(f"/stations/{station}/local-list")
        if version == "1.6":
            assert response.json()["status"] == "NotSupported"
        else:  # a 2.0.1 station says so with a CALLERROR
            assert response.status_code == 502 and response.json()["error_code"] == "NotSupported"
        assert station in quick_platform.state.ocpi_side.local_lists.unsupported


async def test_a_catch_up_waits_for_the_removal_in_flight_and_then_sends_nothing(
    quick_platform: Platform, emsp: EmspSimulator
) -> None:
    # A revocation's removal is on its way to the charger when the catch-up looks: the list
    # will have seen the revocation once the charger answers, so the catch-up sends nothing,
    # and never a second list under the same version number.
    await push(emsp, make_token("LL-RACE", whitelist="ALWAYS"))
    station = "CP-LLRACE"
    await quick_platform.add_station(station, PASSWORD)
    lists = quick_platform.state.ocpi_side.local_lists
    lists.stop()  # no periodic catch-up of its own: this test makes the one that races
    async with ChargePointSimulator(
        id=station, url=quick_platform.ws_url, ocpp="1.6", password=PASSWORD
    ) as cp:
        await cp.boot()
        assert (await lists.push(station)).accepted
        assert (await cp.wait_for_call("SendLocalList"))["updateType"] == "Full"
        async with quick_platform.state.ocpi_side.database.begin() as session:
            revocation = await note_revocation(session)
        removal = asyncio.create_task(lists.push(station, full=False, revocation=revocation))
        caught_up = await lists.catch_up()
        assert (await removal).accepted
        assert caught_up == []
        sent = await cp.wait_for_call("SendLocalList")
        assert (sent["updateType"], sent["listVersion"]) == ("Differential", 2)
        assert cp.local_list_version == 2 and cp.local_list["LL-RACE"] == "Accepted"
