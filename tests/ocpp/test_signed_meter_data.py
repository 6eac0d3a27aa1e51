"""Signed meter readings from simulated 1.6 and 2.0.1 chargers, kept beside the samples they sign."""

from __future__ import annotations

import base64
import json

import pytest

from simulators.charge_point import ChargePointSimulator
from tests.helpers.platform import Platform


def ocmf_reading_wh(signed_data: str) -> float:
    """The register reading inside a base64 OCMF record (`OCMF|payload|signature`)."""
    record = base64.b64decode(signed_data).decode()
    kind, payload, signature = record.split("|")
    assert kind == "OCMF" and json.loads(signature)["SD"]
    return float(json.loads(payload)["RD"][0]["RV"]) * 1000


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_signed_readings_of_a_session_reach_its_meter_samples(
    platform: Platform, version: str
) -> None:
    station_id = f"CP-SIGNED-{version}"
    await platform.add_station(station_id)
    events = platform.events()
    async with ChargePointSimulator(
        id=station_id, url=platform.ws_url, ocpp=version, signed=True
    ) as sim:
        assert await sim.boot() == "Accepted"
        for _ in range(2):  # the second starts with a register above zero
            await sim.start_transaction(1, "EICHRECHT")
            await sim.send_meter_values(1, seconds=600)
            await sim.stop_transaction(1)
            ended = await events.wait("TransactionEnded", lambda e: e.station_id == station_id)
    async with platform.admin() as admin:
        detail = (await admin.get(f"/transactions/{ended.data['transaction_id']}")).json()
    signed = {s["context"]: s for s in detail["samples"] if s["signed_data"]}
    assert sorted(s["context"] for s in detail["samples"] if s["signed_data"]) == [
        "Transaction.Begin",
        "Transaction.End",
    ]
    start, stop = ended.data["meter_start_wh"], ended.data["meter_stop_wh"]
    assert stop > start > 0
    assert ocmf_reading_wh(signed["Transaction.Begin"]["signed_data"]) == start
    assert ocmf_reading_wh(signed["Transaction.End"]["signed_data"]) == stop
    for sample in signed.values():
        assert sample["measurand"] == "Energy.Active.Import.Register"
        # 1.6 sends the signature as a value of its own; 2.0.1 attaches it to the reading.
        assert sample["value"] == (
            None
            if version == "1.6"
            else {"Transaction.Begin": start, "Transaction.End": stop}[sample["context"]]
        )
    # Unsigned periodic samples stay as they were.
    periodic = [s for s in detail["samples"] if s["context"] == "Sample.Periodic"]
    assert periodic and not any(s["signed_data"] for s in periodic)


async def test_an_unsigned_charger_sends_no_signed_data(platform: Platform) -> None:
    await platform.add_station("CP-PLAIN")
    events = platform.events()
    async with ChargePointSimulator(id="CP-PLAIN", url=platform.ws_url, ocpp="2.0.1") as sim:
        assert await sim.boot() == "Accepted"
        await sim.start_transaction(1, "PLAIN")
        await sim.stop_transaction(1)
        ended = await events.wait("TransactionEnded", lambda e: e.station_id == "CP-PLAIN")
    async with platform.admin() as admin:
        detail = (await admin.get(f"/transactions/{ended.data['transaction_id']}")).json()
    assert detail["samples"] and not any(s["signed_data"] for s in detail["samples"])
