"""What one charger can make the platform store: each frame, event and meter message bounded,
and all of them together bounded per minute, however large and fast its frames."""

from __future__ import annotations

import json

from prometheus_client import REGISTRY
from sqlalchemy import text

from csms import clock
from tests.helpers.platform import Platform
from tests.helpers.wire import booted, call

LOG_BUDGET = 100_000  # bytes of frames a minute, in the test below
DATA_BUDGET = 200_000  # bytes of events and meter samples a minute
MAX_FRAME = 16_384


async def stored_bytes(p: Platform, station_id: str) -> dict[str, int]:
    """What the charger's frames, events and meter samples take in the database: their text
    (and the payload and data columns) byte for byte, and the rows."""
    await p.csms.message_log.flush()
    texts = "measurand, phase, location, context, unit, signed_data"
    async with p.csms.store.database() as session:
        # Bytes of a column's text: SQLite counts a BLOB's, PostgreSQL the octets of its text.
        on_sqlite = session.bind.dialect.name == "sqlite"

        def size(column: str) -> str:
            inner = f"CAST({column} AS BLOB)" if on_sqlite else f"CAST({column} AS TEXT)"
            return f"coalesce({'length' if on_sqlite else 'octet_length'}({inner}), 0)"

        queries = {
            "log": f"SELECT count(*), coalesce(sum({size('payload')}), 0) FROM message_log",
            "events": f"SELECT count(*), coalesce(sum({size('data')}), 0) FROM events",
            "samples": "SELECT count(*), coalesce(sum("
            + " + ".join(size(c) for c in texts.split(", "))
            + "), 0) FROM meter_samples",
        }
        out: dict[str, int] = {}
        for name, query in queries.items():
            rows, size = (
                await session.execute(text(query + " WHERE station_id = :s"), {"s": station_id})
            ).one()
            out[f"{name}_rows"], out[f"{name}_bytes"] = rows, size
    return out


def cut_count(store: str, reason: str) -> float:
    return (
        REGISTRY.get_sample_value("cpo_ocpp_stored_cut_total", {"store": store, "reason": reason})
        or 0.0
    )


async def test_a_charger_sending_large_frames_fast_fills_only_its_budgets(tmp_path) -> None:
    p = await Platform(
        tmp_path,
        message_log_max_frame=MAX_FRAME,
        message_log_bytes_per_minute=LOG_BUDGET,
        charger_data_bytes_per_minute=DATA_BUDGET,
    ).start()
    cut_before = cut_count("message_log", "budget")
    try:
        ws = await booted(p, "CP-FLOOD")
        big = "A" * 200_000
        many = [
            {"value": str(n), "measurand": "Power.Active.Import", "unit": "W"} for n in range(3000)
        ]
        calls = 1
        for _ in range(20):
            answer = await call(ws, "DataTransfer", {"vendorId": "Flood", "data": big})
            assert answer[0] == 3, answer
            meter = {"timestamp": clock.iso(clock.now()), "sampledValue": many}
            answer = await call(ws, "MeterValues", {"connectorId": 1, "meterValue": [meter]})
            assert answer[0] == 3, answer
            calls += 2
        await ws.close()
        stored = await stored_bytes(p, "CP-FLOOD")
        async with p.admin() as admin:
            frames = (await admin.get("/stations/CP-FLOOD/messages", params={"limit": 1000})).json()
    finally:
        await p.stop()

    # Sent: 4 MB of DataTransfer data and 60,000 meter samples in 41 CALLs. Kept: each
    # budget, twice over if the run straddled two minutes, and a small remainder per frame.
    assert stored["log_bytes"] <= 2 * LOG_BUDGET + stored["log_rows"] * 200, stored
    kept = stored["events_bytes"] + stored["samples_bytes"] + 96 * stored["samples_rows"]
    assert kept <= 2 * DATA_BUDGET + calls * 2048, stored
    assert cut_count("message_log", "budget") - cut_before > 0

    # The first large frame fitted the budget: its first MAX_FRAME bytes, and its size.
    first = next(f for f in reversed(frames) if f["action"] == "DataTransfer")
    sent = json.dumps([2, first["message_id"], "DataTransfer", {"vendorId": "Flood", "data": big}])
    marker = f"…[cut by the CSMS: {len(sent)} bytes, the first {MAX_FRAME} kept]"
    assert first["payload"] == sent[:MAX_FRAME] + marker, first["payload"][-200:]
    # Past the budget, frames are logged by their metadata only (the newest need not be: the
    # minute may have turned just before it).
    inbound = [
        f["payload"] for f in frames if f["action"] == "DataTransfer" and f["direction"] == "in"
    ]
    assert any("past this charger's 100000 bytes a minute" in text for text in inbound), inbound


async def test_past_its_budget_a_charger_still_bills_from_its_register_readings(
    tmp_path,
) -> None:
    p = await Platform(tmp_path, charger_data_bytes_per_minute=65_536).start()
    try:
        async with p.admin() as admin:
            assert (await admin.post("/tokens", json={"uid": "BILL-TAG"})).status_code == 201
        ws = await booted(p, "CP-BILL")
        start = {"connectorId": 1, "idTag": "BILL-TAG", "meterStart": 1000}
        started = await call(ws, "StartTransaction", start | {"timestamp": clock.iso(clock.now())})
        transaction_id = started[2]["transactionId"]
        noise = [{"value": "7", "measurand": "Voltage", "unit": "V"}] * 2000
        meter_values = [
            {
                "timestamp": clock.iso(clock.now()),
                "sampledValue": [{"value": str(wh), "measurand": "Energy.Active.Import.Register"}]
                + noise,
            }
            for wh in (1500, 1700, 2100)
        ]
        answer = await call(
            ws,
            "MeterValues",
            {"connectorId": 1, "transactionId": transaction_id, "meterValue": meter_values},
        )
        assert answer[0] == 3, answer
        await ws.close()
        async with p.admin() as admin:
            tx = (await admin.get(f"/transactions/{transaction_id}")).json()
    finally:
        await p.stop()
    # 6,000 voltages are more than the charger's minute allows; its first and last register
    # readings are what the energy is counted from, and they are kept.
    assert tx["meter_last_wh"] == 2100
    assert [(s["measurand"], s["value"]) for s in tx["samples"]] == [
        ("Energy.Active.Import.Register", 1500),
        ("Energy.Active.Import.Register", 2100),
    ]
