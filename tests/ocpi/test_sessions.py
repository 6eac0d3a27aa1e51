"""Sessions and CDRs end to end: chargers of both versions charge with an eMSP's tokens, and the
eMSP sees the session live and receives one CDR priced to the cent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import text, update
from sqlmodel import col, or_, select

from cpo.cdrs.v221 import CDR
from cpo.push.tables import Delivered, PendingPush
from cpo.sessions.tables import ChargingSession
from cpo.sessions.v221 import Session
from csms.events import Announcement, EventType
from csms.models import Event
from simulators.charge_point import ChargePointSimulator
from simulators.emsp import EmspSimulator, make_token
from tests.helpers.cluster import until
from tests.helpers.ocpi import PASSWORD, attempt, location, push, register_with, sent, watch_pushes
from tests.helpers.platform import Platform, post

UID = "04AABBCCDD"

# The first 2 kWh at 0.25, the rest at 0.35; charging time costs 2.00/h after 20 minutes;
# 0.50 to start. VAT 21 % on all of it.
TARIFF = {
    "id": "AC-TIERED",
    "currency": "EUR",
    "elements": [
        {
            "price_components": [
                {"type": "FLAT", "price": 0.50, "vat": 21.0, "step_size": 1},
                {"type": "ENERGY", "price": 0.25, "vat": 21.0, "step_size": 1},
            ],
            "restrictions": {"max_kwh": 2.0},
        },
        {
            "price_components": [{"type": "TIME", "price": 2.00, "vat": 21.0, "step_size": 60}],
            "restrictions": {"min_duration": 1200},
        },
        {"price_components": [{"type": "ENERGY", "price": 0.35, "vat": 21.0, "step_size": 1}]},
    ],
}


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Platform]:
    """The platform with live sessions updated every 0.2 s (of wall and charger time)."""
    p = await Platform(
        tmp_path,
        push_retry_max=0.2,
        authorize_timeout=1.0,
        session_update_seconds=0.2,
        cdr_gap_wait_seconds=30,
    ).start()
    try:
        yield p
    finally:
        await p.stop()


@pytest.fixture
async def emsp(live: Platform) -> AsyncIterator[EmspSimulator]:
    """An eMSP registered with the platform, with the session and CDR receivers, whose driver
    holds UID; one Location (EVSE SES-1 on charger CP-SES, EVSE 1) under the tiered tariff."""
    async with EmspSimulator(party_id="EMS") as sim:
        await register_with(live, sim)
        assert await push(sim, make_token(UID, whitelist="ALLOWED")) == 201
        await post(live, "/tariffs", TARIFF)
        await post(
            live, "/locations", location("SES", [("SES-1", "CP-SES", 1)], tariff_ids=["AC-TIERED"])
        )
        await live.add_station("CP-SES", PASSWORD)
        yield sim
        assert sim.violations == [], sim.violations


def cents(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)


def money(value: Fraction) -> float:
    return float(cents(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def hand_priced(kwh: Fraction, hours: Fraction) -> dict[str, float]:
    """The tariff above worked by hand for a session charging at a steady rate."""
    cheap = min(kwh, Fraction(2))
    energy = cheap * Fraction(25, 100) + (kwh - cheap) * Fraction(35, 100)
    time = max(hours - Fraction(1, 3), Fraction(0)) * 2
    flat = Fraction(1, 2)
    vat = Fraction(121, 100)
    excl = money(energy) + money(time) + money(flat)
    incl = money(energy * vat) + money(time * vat) + money(flat * vat)
    return {
        "excl_vat": round(excl, 2),
        "incl_vat": round(incl, 2),
        "energy": money(energy),
        "time": money(time),
    }


def energy_of(periods: list[dict[str, Any]]) -> float:
    return sum(d["volume"] for p in periods for d in p["dimensions"] if d["type"] == "ENERGY")


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_charge_is_a_live_session_then_one_cdr_priced_to_the_cent(
    live: Platform, emsp: EmspSimulator, version: str
) -> None:
    async with ChargePointSimulator(
        id="CP-SES", url=live.ws_url, ocpp=version, password=PASSWORD, power_w=11000, signed=True
    ) as cp:
        await cp.boot()
        await cp.status(1, "Available")
        assert await cp.authorize(UID) == "Accepted"
        tx = await cp.start_transaction(1, UID)
        assert tx.status == "Accepted"
        first = await emsp.wait_for(sent("sessions", "PUT"))
        session_id = first.body["id"]
        assert first.body["status"] == "ACTIVE"
        assert first.body["kwh"] == 0
        assert first.body["cdr_token"]["uid"] == UID
        assert first.body["cdr_token"]["contract_id"] == f"NL-EMS-C{UID}"
        assert first.body["auth_method"] == "WHITELIST"
        assert (first.body["location_id"], first.body["evse_uid"]) == ("SES", "SES-1")
        assert first.body["connector_id"] == "1"
        assert first.body["currency"] == "EUR"
        assert first.path.endswith(f"/NL/CPO/{session_id}")

        # Every 10 minutes of charging, a PATCH appends the periods that closed.
        for n in range(1, 4):
            await cp.send_meter_values(1, 600)
            update = await emsp.wait_for(
                lambda r, n=n: (
                    sent("sessions", "PATCH")(r) and r.body.get("kwh", 0) >= 11 * n / 6 - 0.01
                )
            )
            assert update.body["status"] == "ACTIVE"
            assert "id" not in update.body  # a PATCH names only what changes
        live_copy = emsp.sessions[("NL", "CPO", session_id)]
        assert live_copy["kwh"] == 5.5
        assert live_copy["total_cost"]["excl_vat"] > 0
        await cp.stop_transaction(1)

        posted = await emsp.wait_for(sent("cdrs", "POST"))
    cdr = posted.body
    final = emsp.sessions[("NL", "CPO", session_id)]
    assert final["status"] == "COMPLETED"
    assert final["end_date_time"] == cdr["end_date_time"]
    # The periods the eMSP gathered PATCH by PATCH add up: none lost, none twice.
    assert energy_of(final["charging_periods"]) == pytest.approx(5.5, abs=1e-3)

    expected = hand_priced(Fraction(55, 10), Fraction(1, 2))
    assert cdr["session_id"] == session_id
    assert cdr["total_energy"] == 5.5
    assert cdr["total_time"] == 0.5
    assert cdr["total_parking_time"] == 0
    assert cdr["total_cost"] == {"excl_vat": expected["excl_vat"], "incl_vat": expected["incl_vat"]}
    assert cdr["total_energy_cost"]["excl_vat"] == expected["energy"]
    assert cdr["total_time_cost"]["excl_vat"] == expected["time"]
    assert cdr["total_fixed_cost"] == {"excl_vat": 0.5, "incl_vat": 0.61}
    assert final["total_cost"] == cdr["total_cost"]
    assert energy_of(cdr["charging_periods"]) == pytest.approx(5.5, abs=1e-3)
    assert [t["id"] for t in cdr["tariffs"]] == ["AC-TIERED"]
    assert cdr["cdr_location"]["id"] == "SES"
    assert cdr["cdr_location"]["evse_uid"] == "SES-1"
    assert cdr["cdr_location"]["connector_standard"] == "IEC_62196_T2"
    assert cdr["cdr_token"] == first.body["cdr_token"]
    # The 2 kWh threshold cut a period where the meter crossed it.
    assert any(
        p["tariff_id"] == "AC-TIERED" and p["start_date_time"] > first.body["start_date_time"]
        for p in cdr["charging_periods"]
    )
    assert posted.status == 201
    # The charger signed its start and end readings: the driver can check them.
    assert cdr["signed_data"]["encoding_method"] == "OCMF"
    natures = [v["nature"] for v in cdr["signed_data"]["signed_values"]]
    assert natures[0] == "Start" and natures[-1] == "End"
    # Exactly one CDR, kept where the eMSP said.
    assert len(emsp.cdrs) == 1
    # The push worker stores the eMSP's Location header once the POST's answer is back, which
    # is after the eMSP has the CDR: ask until it is there.
    async with live.admin() as admin:

        async def kept_at() -> str | None:
            mine = (await admin.get(f"/sessions/{session_id}")).json()
            return mine["cdrs"][0]["location_url"]

        location_url = await until(kept_at, what="the CDR's location_url")
    assert location_url.endswith(f"/cdrs/{cdr['id']}")


async def charged(
    live: Platform, emsp: EmspSimulator, ocpp: str, meter_updates: int, seconds_per_update: int
) -> dict[str, Any]:
    """A charge with the eMSP's driver at CP-SES, to its end; the CDR the eMSP received."""
    async with ChargePointSimulator(
        id="CP-SES", url=live.ws_url, ocpp=ocpp, password=PASSWORD
    ) as cp:
        await cp.boot()
        await cp.run_session(
            1, UID, meter_updates=meter_updates, seconds_per_update=seconds_per_update
        )
        return (await emsp.wait_for(sent("cdrs", "POST"))).body  # type: ignore[no-any-return]


async def test_a_correction_credits_the_cdr_and_issues_a_new_one(
    live: Platform, emsp: EmspSimulator
) -> None:
    original = await charged(live, emsp, "2.0.1", meter_updates=2, seconds_per_update=900)
    session_id = original["session_id"]
    async with live.admin() as admin:
        response = await admin.post(f"/sessions/{session_id}/correct")
        assert response.status_code == 201, response.text
        assert [c["id"] for c in response.json()["cdrs"]] == [
            session_id,
            f"{session_id}-C1",
            f"{session_id}-R1",
        ]
        missing = await admin.post("/sessions/nope/correct")
        assert missing.status_code == 404
    credit = (await emsp.wait_for(lambda r: sent("cdrs", "POST")(r) and r.body.get("credit"))).body
    assert credit["id"] == f"{session_id}-C1" and credit["credit_reference_id"] == session_id
    assert credit["total_cost"]["excl_vat"] == -original["total_cost"]["excl_vat"]
    assert credit["total_energy"] == original["total_energy"]
    fresh = (await emsp.wait_for(lambda r: (r.body or {}).get("id") == f"{session_id}-R1")).body
    assert fresh["total_cost"] == original["total_cost"] and not fresh.get("credit")
    assert len(emsp.cdrs) == 3
    # What the eMSP holds is what the platform's own 2.2.1 models describe, credit CDR included.
    assert [CDR.model_validate(c).id for c in emsp.cdrs.values()] == [
        c["id"] for c in emsp.cdrs.values()
    ]
    assert all(Session.model_validate(s).id == s["id"] for s in emsp.sessions.values())


async def test_the_admin_session_list_names_each_sessions_cdrs_corrections_included(
    live: Platform, emsp: EmspSimulator
) -> None:
    cdr = await charged(live, emsp, "1.6", meter_updates=1, seconds_per_update=600)
    session_id = cdr["session_id"]

    async def listed() -> list[str]:
        async with live.admin() as admin:
            response = await admin.get("/sessions")
        assert response.status_code == 200, response.text
        (mine,) = [s for s in response.json() if s["id"] == session_id]
        return [c["id"] for c in mine["cdrs"]]

    assert await listed() == [session_id]
    async with live.admin() as admin:
        assert (await admin.post(f"/sessions/{session_id}/correct")).status_code == 201
    assert await listed() == [session_id, f"{session_id}-C1", f"{session_id}-R1"]


async def test_the_operators_own_token_gets_a_priced_session_no_emsp_ever_sees(
    live: Platform, emsp: EmspSimulator
) -> None:
    async with live.admin() as admin:
        assert (await admin.post("/tokens", json={"uid": "STAFF-0001"})).status_code == 201
    pushes = watch_pushes(live)
    async with ChargePointSimulator(
        id="CP-SES", url=live.ws_url, ocpp="1.6", password=PASSWORD, power_w=11000
    ) as cp:
        await cp.boot()
        await cp.run_session(1, "STAFF-0001", meter_updates=2, seconds_per_update=900)
        # Then an eMSP's driver: once that CDR is in, the operator's was made long before.
        await cp.run_session(1, UID, meter_updates=1, seconds_per_update=600)
        theirs = (await emsp.wait_for(sent("cdrs", "POST"))).body

    async with live.admin() as admin:
        listed = (await admin.get("/sessions")).json()
    (own,) = [s for s in listed if s["id"] != theirs["session_id"]]
    (their_view,) = [s for s in listed if s["id"] == theirs["session_id"]]
    assert their_view["operator"] is False and their_view["owner_party_id"] is not None
    assert own["owner_party_id"] is None and own["operator"] is True
    assert own["status"] == "COMPLETED"
    assert own["session"]["cdr_token"]["uid"] == "STAFF-0001"
    assert (
        own["session"]["cdr_token"]["country_code"],
        own["session"]["cdr_token"]["party_id"],
    ) == (
        "NL",
        "CPO",
    )
    assert [c["id"] for c in own["cdrs"]] == [own["id"]]
    # Priced like any other charge there: 5.5 kWh over half an hour under the tiered tariff.
    assert own["cdrs"][0]["total_cost"] == {
        "excl_vat": hand_priced(Fraction(55, 10), Fraction(1, 2))["excl_vat"],
        "incl_vat": hand_priced(Fraction(55, 10), Fraction(1, 2))["incl_vat"],
    }
    ours = {own["id"]}

    # Nothing of it was ever marked for the eMSP, tried, sent or listed to it.
    async with live.state.ocpi_side.database() as session:
        for table in (PendingPush, Delivered):
            found = await session.execute(
                select(table).where(
                    or_(*(col(table.object_id).startswith(i) for i in ours))  # CDR ids too
                )
            )
            assert found.scalars().all() == [], table
    tried = [pushes.get_nowait() for _ in range(pushes.qsize())]
    assert tried and not [a for a in tried if a.object_id.startswith(own["id"])]
    assert own["id"] not in orjson.dumps([(r.path, r.body) for r in emsp.received]).decode()
    assert [s["id"] for s in emsp.sessions.values()] == [theirs["session_id"]]
    assert [c["id"] for c in emsp.cdrs.values()] == [theirs["id"]]
    pulled = await emsp.fetch_all("sessions", params={"date_from": "2020-01-01T00:00:00Z"})
    assert [s["id"] for s in pulled] == [theirs["session_id"]]
    assert [c["id"] for c in await emsp.fetch_all("cdrs")] == [theirs["id"]]

    # Nor can it command it or state preferences for it.
    _, answer = await emsp.send_command("STOP_SESSION", {"session_id": own["id"]})
    assert answer["data"]["result"] == "REJECTED"
    path = f"/{own['id']}/charging_preferences"
    prefer = await emsp.request("PUT", "sessions", path, json={"profile_type": "FAST"})
    assert prefer.status_code == 404

    # Even a row that named the eMSP by mistake sends nothing: objects go to their owner only.
    ocpi_side, emsp_id = live.state.ocpi_side, their_view["owner_party_id"]
    async with ocpi_side.database.begin() as session:
        await ocpi_side.outbox.mark(session, [emsp_id], "session", own["id"])
        await ocpi_side.outbox.mark(session, [emsp_id], "cdr", own["id"])
    ocpi_side.outbox.wake()
    done = {(await attempt(pushes, "delivered", own["id"])).kind for _ in range(2)}
    assert done == {"session", "cdr"}
    assert own["id"] not in orjson.dumps([(r.path, r.body) for r in emsp.received]).decode()


async def test_emsps_page_their_own_sessions_and_cdrs_only(
    live: Platform, emsp: EmspSimulator
) -> None:
    async with ChargePointSimulator(
        id="CP-SES", url=live.ws_url, ocpp="1.6", password=PASSWORD
    ) as cp:
        await cp.boot()
        await cp.run_session(1, UID, meter_updates=2, seconds_per_update=300)
        await emsp.wait_for(sent("cdrs", "POST"))
    since = "2020-01-01T00:00:00Z"
    sessions = await emsp.fetch_all("sessions", params={"date_from": since})
    assert [s["status"] for s in sessions] == ["COMPLETED"]
    cdrs = await emsp.fetch_all("cdrs")
    assert len(cdrs) == 1 and cdrs[0]["session_id"] == sessions[0]["id"]

    # date_from is required of Sessions alone.
    response = await emsp.request("GET", "sessions", "")
    assert response.status_code == 400 and response.json()["status_code"] == 2001

    # Another eMSP sees none of them.
    async with EmspSimulator(party_id="OTH") as other:
        await register_with(live, other)
        assert await other.fetch_all("sessions", params={"date_from": since}) == []
        assert await other.fetch_all("cdrs") == []


async def test_charging_preferences_are_answered_from_what_the_charger_does(
    live: Platform, emsp: EmspSimulator
) -> None:
    site = location("PREF", [("PREF-1", "CP-PREF", 1)], tariff_ids=["AC-TIERED"])
    site["evses"][0]["capabilities"].append("CHARGING_PREFERENCES_CAPABLE")
    await post(live, "/locations", site)
    await live.add_station("CP-PREF", PASSWORD)
    async with ChargePointSimulator(
        id="CP-PREF", url=live.ws_url, ocpp="2.0.1", password=PASSWORD, power_w=11000
    ) as cp:
        await cp.boot()
        assert await cp.authorize(UID) == "Accepted"
        await cp.start_transaction(1, UID)
        put = await emsp.wait_for(
            lambda r: sent("sessions", "PUT")(r) and r.body["location_id"] == "PREF"
        )
        session_id = put.body["id"]

        async def prefer(body: dict[str, Any], session: str = session_id) -> Any:
            path = f"/{session}/charging_preferences"
            response = await emsp.request("PUT", "sessions", path, json=body)
            return response.status_code, response.json()

        in_two_hours = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        regular = {"profile_type": "REGULAR", "departure_time": in_two_hours, "energy_need": 10}
        status, body = await prefer(regular)
        assert (status, body["data"]) == (200, "ACCEPTED")
        # 10 kWh in two hours: the charger is capped at 5 kW until departure.
        assert cp.charging_limits[1]["limit_w"] == pytest.approx(5000, rel=0.01)
        assert (await prefer({"profile_type": "FAST"}))[1]["data"] == "ACCEPTED"
        assert 1 not in cp.charging_limits
        assert (await prefer({"profile_type": "CHEAP"}))[1]["data"] == "PROFILE_TYPE_NOT_SUPPORTED"
        no_departure = {"profile_type": "REGULAR", "energy_need": 10}
        assert (await prefer(no_departure))[1]["data"] == "DEPARTURE_REQUIRED"
        no_need = {"profile_type": "REGULAR", "departure_time": in_two_hours}
        assert (await prefer(no_need))[1]["data"] == "ENERGY_NEED_REQUIRED"
        too_much = regular | {"energy_need": 100}  # 50 kW from a 22 kW connector
        assert (await prefer(too_much))[1]["data"] == "NOT_POSSIBLE"
        cp.smart_charging_supported = False
        assert (await prefer(regular))[1]["data"] == "NOT_POSSIBLE"
        cp.smart_charging_supported = True

        status, body = await prefer({"profile_type": "TURBO"})
        assert body["status_code"] == 2001
        status, body = await prefer(regular, session="0" * 32)
        assert (status, body["status_code"]) == (404, 2001)
        async with EmspSimulator(party_id="OTH") as other:
            await register_with(live, other)
            path = f"/{session_id}/charging_preferences"
            response = await other.request("PUT", "sessions", path, json=regular)
            assert response.status_code == 404  # another eMSP's session does not exist for it

        await cp.stop_transaction(1)
        await emsp.wait_for(
            lambda r: r.module == "sessions" and (r.body or {}).get("status") == "COMPLETED"
        )
        assert (await prefer(regular))[1]["data"] == "NOT_POSSIBLE"


async def test_charging_preferences_need_a_capable_evse(
    live: Platform, emsp: EmspSimulator
) -> None:
    async with ChargePointSimulator(
        id="CP-SES", url=live.ws_url, ocpp="1.6", password=PASSWORD
    ) as cp:
        await cp.boot()
        await cp.authorize(UID)
        await cp.start_transaction(1, UID)
        session_id = (await emsp.wait_for(sent("sessions", "PUT"))).body["id"]
        response = await emsp.request(
            "PUT",
            "sessions",
            f"/{session_id}/charging_preferences",
            json={"profile_type": "FAST"},
        )
        assert response.status_code == 404 and response.json()["status_code"] == 2001, response.text


async def _session_kwh(live: Platform, tx_id: int) -> float:
    async with live.state.ocpi_side.projection.database() as db:
        row = (
            await db.execute(
                select(ChargingSession).where(col(ChargingSession.transaction_id) == tx_id)
            )
        ).scalar_one()
        return float(row.data["kwh"])


def _builds_ahead(live: Platform) -> bool:
    """Whether the projection builds Sessions before its write transaction: on SQLite only
    (ADR 035), whose write transaction holds off every other writer."""
    builds = live.settings.database_url.startswith("sqlite")
    assert (live.state.ocpi_side.projection.readers is not None) == builds
    return builds


async def _build_ahead(live: Platform, tx_id: int) -> None:
    """What the projection's step does before its write transaction (on SQLite)."""
    projection = live.state.ocpi_side.projection
    if projection.readers is None:
        return
    async with projection.readers() as reading:
        await reading.execute(text("BEGIN"))
        await projection.charging.build_ahead(reading, {tx_id})


async def _refresh(live: Platform, tx_id: int) -> None:
    async with live.state.ocpi_side.projection.database.begin() as db:
        await live.state.ocpi_side.projection.charging.refresh(db, {tx_id})


@pytest.mark.parametrize("charger", ["CP-SES", "CP-NOWHERE"])  # at a Location, at none yet
async def test_a_session_built_before_newer_readings_is_built_again(
    live: Platform, emsp: EmspSimulator, charger: str
) -> None:
    """The projection builds waiting Sessions before its write transaction (ADR 035): one
    whose transaction took readings meanwhile is written as built, a moment behind, and noted
    stale so that it is built again; one whose transaction ended meanwhile is built afresh.
    On PostgreSQL every Session is built in the write transaction, current each time."""
    if charger != "CP-SES":
        await live.add_station(charger, PASSWORD)
    async with ChargePointSimulator(
        id=charger, url=live.ws_url, ocpp="1.6", password=PASSWORD, power_w=11000
    ) as cp:
        await cp.boot()
        await cp.status(1, "Available")
        await cp.start_transaction(1, UID)
        tx_id = int(cp.transactions[1].transaction_id)
        projection = live.state.ocpi_side.projection
        await projection.stop()  # the test steps it from here
        await projection.step()  # the start: the Session opens
        await cp.send_meter_values(1, 600)  # 11 kW for 10 minutes: 1.8333 kWh
        charging = live.state.ocpi_side.projection.charging

        await _build_ahead(live, tx_id)
        await _refresh(live, tx_id)  # nothing arrived in between: the build ahead is current
        assert charging.stale == set()
        assert await _session_kwh(live, tx_id) == pytest.approx(11 / 6, abs=1e-3)

        await _build_ahead(live, tx_id)
        await cp.send_meter_values(1, 600)  # committed before the write transaction
        # The deliverer noting what the eMSP holds changes nothing built (cpo.sessions.push).
        async with projection.database.begin() as db:
            await db.execute(
                update(ChargingSession)
                .where(col(ChargingSession.transaction_id) == tx_id)
                .values(pushed_periods=ChargingSession.pushed_periods + 1, pushed_digest="x")
            )
        await _refresh(live, tx_id)
        if _builds_ahead(live):
            assert charging.stale == {tx_id}  # written from the state before the readings
            assert await _session_kwh(live, tx_id) == pytest.approx(11 / 6, abs=1e-3)
        else:
            assert charging.stale == set()
            assert await _session_kwh(live, tx_id) == pytest.approx(22 / 6, abs=1e-3)
        await _refresh(live, tx_id)  # built again: the readings are in
        assert charging.stale == set()
        assert await _session_kwh(live, tx_id) == pytest.approx(22 / 6, abs=1e-3)

        await _build_ahead(live, tx_id)
        await cp.send_meter_values(1, 600)
        await cp.stop_transaction(1)  # the end changes more than the progress
        await _refresh(live, tx_id)
        assert charging.stale == set()
        async with live.state.ocpi_side.projection.database() as db:
            row = (
                await db.execute(
                    select(ChargingSession).where(col(ChargingSession.transaction_id) == tx_id)
                )
            ).scalar_one()
        assert row.data["status"] == "COMPLETED"
        assert row.data["kwh"] == pytest.approx(33 / 6, abs=1e-3)


async def test_a_step_waits_for_more_readings_but_not_past_any_other_event(live: Platform) -> None:
    """Announcements of nothing but readings let the projection wait `readings_gather` for
    more (their Sessions' rebuilds wait anyway); any other event ends the wait at `gather`."""
    projection = live.state.ocpi_side.projection
    projection.readings_gather = 3600.0  # readings alone would wait an hour
    queue: asyncio.Queue[Event | Announcement] = asyncio.Queue()
    reading = Announcement("CP-SES", EventType.METER_VALUES_SAMPLED, {"transaction_id": 1})
    updated = Announcement(
        "CP-SES", EventType.TRANSACTION_UPDATED, {"transaction_id": 1, "event_type": "Updated"}
    )
    status = Announcement("CP-SES", EventType.CONNECTOR_STATUS_CHANGED, {"connector_id": 1})

    # Announced readings, or the wait for one that ran out (None): the step waits, while
    # more readings (a 2.0.1 Updated naming no token is one) come and are taken off the queue.
    for announced in (reading, None):
        gathering = asyncio.create_task(projection._gather(queue, time.monotonic(), announced))
        queue.put_nowait(reading)
        queue.put_nowait(updated)
        done, _ = await asyncio.wait([gathering], timeout=0.3)
        assert not done and queue.empty()
        queue.put_nowait(reading)
        queue.put_nowait(status)  # the next step is due at once
        await asyncio.wait_for(gathering, 10)
        assert queue.empty()

    # A token in an Updated is news for the Session: no wait either.
    with_token = Announcement(
        "CP-SES",
        EventType.TRANSACTION_UPDATED,
        {"transaction_id": 1, "event_type": "Updated", "id_token": "X"},
    )
    await asyncio.wait_for(projection._gather(queue, time.monotonic(), with_token), 10)
