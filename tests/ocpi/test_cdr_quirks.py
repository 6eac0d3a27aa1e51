"""Charger reality: duplicates, gaps, late and lost messages, reboots and wild meters still make
exactly one correct CDR per transaction, and never one with negative energy."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from simulators.emsp import EmspSimulator, Received, make_token
from tests.helpers.ocpi import envelope, location, peer, push, register_with
from tests.helpers.platform import Platform, post
from tests.helpers.wire import booted, call, charge16, mv, start16

UID = "QUIRK-TOKEN-01"
TARIFF = {
    "id": "KWH-30",
    "currency": "EUR",
    "elements": [{"price_components": [{"type": "ENERGY", "price": 0.30, "step_size": 1}]}],
}


def T(minutes: float) -> str:
    """A moment of a past morning, as a charger writes it."""
    return (datetime(2026, 5, 1, 10, 0, tzinfo=UTC) + timedelta(minutes=minutes)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


@contextlib.asynccontextmanager
async def ocpi_side(platform: Platform) -> AsyncIterator[EmspSimulator]:
    """An eMSP whose driver holds UID, registered with the platform; a tariff of 0.30/kWh."""
    async with EmspSimulator(party_id="EMS") as sim:
        await register_with(platform, sim)
        assert await push(sim, make_token(UID, whitelist="ALLOWED")) == 201
        await post(platform, "/tariffs", TARIFF)
        yield sim
        assert sim.violations == [], sim.violations


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Platform]:
    p = await Platform(
        tmp_path, push_retry_max=0.2, session_update_seconds=0.2, cdr_gap_wait_seconds=60
    ).start()
    try:
        yield p
    finally:
        await p.stop()


@pytest.fixture
async def emsp(live: Platform) -> AsyncIterator[EmspSimulator]:
    async with ocpi_side(live) as sim:
        yield sim


async def charger(platform: Platform, station_id: str, version: str = "1.6") -> Any:
    """A raw charger, booted, whose EVSE 1 stands at a Location under the 0.30/kWh tariff."""
    ws = await booted(platform, station_id, version)
    evses = [(f"{station_id}-E1", station_id, 1)]
    await post(platform, "/locations", location(f"L-{station_id}", evses, tariff_ids=["KWH-30"]))
    return ws


def cdr_posted(energy: float | None = None) -> Any:
    def matches(r: Received) -> bool:
        return (
            r.module == "cdrs"
            and r.method == "POST"
            and r.status < 300
            and (energy is None or r.body["total_energy"] == energy)
        )

    return matches


async def session16(
    ws: Any, start_min: float, start_wh: float, stop_min: float, stop_wh: float
) -> int:
    return await charge16(ws, UID, T(start_min), start_wh, T(stop_min), stop_wh)


async def test_repeated_16_messages_make_one_session_and_one_cdr(
    live: Platform, emsp: EmspSimulator
) -> None:
    ws = await charger(live, "CP-DUP")
    start = {"connectorId": 1, "idTag": UID, "meterStart": 1000, "timestamp": T(0)}
    tx = await start16(ws, start)
    assert await start16(ws, start) == tx
    values = {"connectorId": 1, "transactionId": tx, "meterValue": [mv(T(10), 3000)]}
    for _ in range(2):
        assert (await call(ws, "MeterValues", values))[0] == 3
    stop = {"transactionId": tx, "meterStop": 5000, "timestamp": T(20)}
    for _ in range(2):
        assert (await call(ws, "StopTransaction", stop))[0] == 3
    # A later session on the same charger: once both CDRs are in, a second CDR of the first
    # would have to be in the platform's own list too (a CDR travels once it is made).
    await session16(ws, 30, 5000, 40, 6000)
    await emsp.wait_for(cdr_posted(1.0))
    await emsp.wait_for(cdr_posted(4.0))
    async with peer(live, emsp.cpo.token) as sim:  # type: ignore[union-attr]
        listed = envelope(await sim.get("/ocpi/2.2.1/cdrs"), 200, 1000)
    assert sorted(c["total_energy"] for c in listed) == [1.0, 4.0]
    energies = sorted(c["total_energy"] for c in emsp.cdrs.values())
    assert energies == [1.0, 4.0]
    first = next(c for c in emsp.cdrs.values() if c["total_energy"] == 4.0)
    assert first["total_cost"] == {"excl_vat": 1.2}
    assert (first["start_date_time"], first["end_date_time"]) == (
        "2026-05-01T10:00:00.000Z",
        "2026-05-01T10:20:00.000Z",
    )
    assert len(emsp.sessions) == 2
    await ws.close()


def event201(kind: str, seq: int, minutes: float, kwh: float, **extra: Any) -> dict[str, Any]:
    context = {"Started": "Transaction.Begin", "Ended": "Transaction.End"}.get(
        kind, "Sample.Periodic"
    )
    return {
        "eventType": kind,
        "timestamp": T(minutes),
        "triggerReason": {"Started": "Authorized", "Ended": "EVDeparted"}.get(
            kind, "MeterValuePeriodic"
        ),
        "seqNo": seq,
        "offline": True,
        "transactionInfo": {"transactionId": "tx-gap-1"} | extra.pop("info", {}),
        "meterValue": [
            {
                "timestamp": T(minutes),
                "sampledValue": [
                    {"value": kwh, "context": context, "unitOfMeasure": {"unit": "kWh"}}
                ],
            }
        ],
    } | extra


async def test_201_events_out_of_order_with_a_gap_hold_the_cdr_until_the_gap_fills(
    live: Platform, emsp: EmspSimulator
) -> None:
    ws = await charger(live, "CP-GAP", "2.0.1")
    token = {"idToken": UID, "type": "ISO14443"}
    started = event201("Started", 0, 0, 1.0, idToken=token, evse={"id": 1, "connectorId": 1})
    assert (await call(ws, "TransactionEvent", started))[2]["idTokenInfo"]["status"] == "Accepted"
    ended = event201("Ended", 3, 30, 9.0, info={"stoppedReason": "EVDisconnected"})
    assert (await call(ws, "TransactionEvent", ended))[0] == 3
    completed = await emsp.wait_for(
        lambda r: r.module == "sessions" and (r.body or {}).get("status") == "COMPLETED"
    )
    session_id = completed.path.rsplit("/", 1)[1]
    async with live.admin() as admin:
        waiting = (await admin.get(f"/sessions/{session_id}")).json()
    assert waiting["cdrs"] == [] and waiting["cdr_due_at"] is not None  # seqNo 1 and 2 missing

    assert (await call(ws, "TransactionEvent", event201("Updated", 2, 20, 7.0)))[0] == 3
    assert (await call(ws, "TransactionEvent", event201("Updated", 1, 10, 3.0)))[0] == 3
    posted = await emsp.wait_for(cdr_posted())  # well before the 60 s wait for the gap
    cdr = posted.body
    assert cdr["total_energy"] == 8.0 and cdr["total_cost"] == {"excl_vat": 2.4}
    assert cdr["session_id"] == session_id
    assert "never arrived" not in cdr.get("remark", "")
    final = emsp.sessions[("NL", "CPO", session_id)]
    assert final["kwh"] == 8.0 and final["status"] == "COMPLETED"
    await ws.close()


async def test_201_gap_that_never_fills_still_gets_its_cdr_after_the_wait(tmp_path: Path) -> None:
    platform = await Platform(tmp_path, push_retry_max=0.2, cdr_gap_wait_seconds=0.5).start()
    try:
        async with ocpi_side(platform) as emsp:
            ws = await charger(platform, "CP-GAP2", "2.0.1")
            token = {"idToken": UID, "type": "ISO14443"}
            started = event201(
                "Started", 0, 0, 1.0, idToken=token, evse={"id": 1, "connectorId": 1}
            )
            await call(ws, "TransactionEvent", started)
            await call(ws, "TransactionEvent", event201("Ended", 2, 30, 4.0))
            posted = await emsp.wait_for(cdr_posted())
            assert posted.body["total_energy"] == 3.0
            assert "1 of the charger's messages never arrived" in posted.body["remark"]
            await ws.close()
    finally:
        await platform.stop()


async def test_a_transaction_sent_hours_later_keeps_the_chargers_times(
    live: Platform, emsp: EmspSimulator
) -> None:
    ws = await charger(live, "CP-LATE")
    began = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)

    def ago(minutes: float) -> str:
        return (began + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")

    tx = await start16(ws, {"connectorId": 1, "idTag": UID, "meterStart": 0, "timestamp": ago(0)})
    values = {"connectorId": 1, "transactionId": tx, "meterValue": [mv(ago(30), 3500)]}
    await call(ws, "MeterValues", values)
    await call(
        ws, "StopTransaction", {"transactionId": tx, "meterStop": 7000, "timestamp": ago(60)}
    )
    cdr = (await emsp.wait_for(cdr_posted())).body
    assert cdr["start_date_time"] == ago(0).replace("Z", ".000Z")
    assert cdr["end_date_time"] == ago(60).replace("Z", ".000Z")
    assert cdr["total_energy"] == 7.0 and cdr["total_time"] == 1.0
    assert emsp.sessions[("NL", "CPO", cdr["session_id"])]["status"] == "COMPLETED"
    await ws.close()


async def test_a_stop_for_an_unknown_transaction_is_answered_and_bills_nothing(
    live: Platform, emsp: EmspSimulator
) -> None:
    ws = await charger(live, "CP-UNK")
    stray = {"transactionId": 424242, "meterStop": 9000, "timestamp": T(5), "idTag": UID}
    answer = await call(ws, "StopTransaction", stray)
    assert answer[0] == 3
    await session16(ws, 10, 0, 20, 1000)
    await emsp.wait_for(cdr_posted(1.0))
    assert [c["total_energy"] for c in emsp.cdrs.values()] == [1.0]
    await ws.close()


async def test_a_transaction_left_open_by_a_reboot_is_billed_to_its_last_reading(
    live: Platform, emsp: EmspSimulator
) -> None:
    ws = await charger(live, "CP-BOOT")
    tx = await start16(ws, {"connectorId": 1, "idTag": UID, "meterStart": 0, "timestamp": T(0)})
    values = {"connectorId": 1, "transactionId": tx, "meterValue": [mv(T(10), 2000)]}
    await call(ws, "MeterValues", values)
    # Power cut: the charger boots again and its Stop never comes; a new charge starts.
    booted_again = await call(
        ws, "BootNotification", {"chargePointVendor": "TestVendor", "chargePointModel": "TestModel"}
    )
    assert booted_again[2]["status"] == "Accepted"
    await session16(ws, 30, 2500, 40, 4500)
    for ended in (T(10), T(40)):  # the lost one ends at its last reading
        await emsp.wait_for(
            lambda r, ended=ended: (
                cdr_posted(2.0)(r) and r.body["end_date_time"] == ended.replace("Z", ".000Z")
            )
        )
    assert len(emsp.cdrs) == 2
    await ws.close()


async def test_a_meter_that_jumps_and_resets_is_billed_only_for_plausible_energy(
    live: Platform, emsp: EmspSimulator
) -> None:
    ws = await charger(live, "CP-WILD")
    tx = await start16(
        ws, {"connectorId": 1, "idTag": UID, "meterStart": 10_000, "timestamp": T(0)}
    )
    for minutes, wh in ((10, 12_000), (11, 9_999_999), (20, 14_000), (25, 500)):
        values = {"connectorId": 1, "transactionId": tx, "meterValue": [mv(T(minutes), wh)]}
        await call(ws, "MeterValues", values)
    await call(ws, "StopTransaction", {"transactionId": tx, "meterStop": 1500, "timestamp": T(30)})
    cdr = (await emsp.wait_for(cdr_posted())).body
    # 10→12 kWh, (glitch), 12→14 kWh, (reset to 0.5), 0.5→1.5 kWh.
    assert cdr["total_energy"] == 5.0
    assert cdr["total_cost"] == {"excl_vat": 1.5}
    assert "backwards" in cdr["remark"] and "jumped" in cdr["remark"]
    assert all(d["volume"] >= 0 for p in cdr["charging_periods"] for d in p["dimensions"])
    await ws.close()


@pytest.mark.parametrize("low", [0, -5000])
async def test_a_single_low_reading_is_a_glitch_and_the_cdr_bills_stop_minus_start(
    live: Platform, emsp: EmspSimulator, low: int
) -> None:
    ws = await charger(live, f"CP-LOW{abs(low)}")
    tx = await start16(
        ws, {"connectorId": 1, "idTag": UID, "meterStart": 10_000, "timestamp": T(0)}
    )
    for minutes, wh in ((1, 10_100), (2, low), (3, 10_300), (4, 10_400)):
        values = {"connectorId": 1, "transactionId": tx, "meterValue": [mv(T(minutes), wh)]}
        assert (await call(ws, "MeterValues", values))[0] == 3
    stop = {"transactionId": tx, "meterStop": 10_500, "timestamp": T(5)}
    assert (await call(ws, "StopTransaction", stop))[0] == 3
    cdr = (await emsp.wait_for(cdr_posted())).body
    assert cdr["total_energy"] == 0.5
    assert cdr["total_cost"] == {"excl_vat": 0.15}
    assert "reset" not in cdr["remark"]
    assert ("glitch" if low == 0 else "negative") in cdr["remark"]
    session = emsp.sessions[("NL", "CPO", cdr["session_id"])]
    assert session["kwh"] == 0.5
    await ws.close()
