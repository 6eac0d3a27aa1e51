"""Push delivery under misbehaving eMSPs: refusals kept for the operator, garbage retried, no party held back."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

import pytest

from cpo.locations.evse_status import ConnectorState, evse_status
from cpo.locations.push import read_ahead, sender
from cpo.push.deliverer import Claimed
from cpo.tables import Party
from simulators.charge_point import ChargePointSimulator
from simulators.emsp import EmspSimulator
from tests.helpers.ocpi import (
    PASSWORD,
    TARIFF,
    attempt,
    location,
    pushed,
    register_with,
    watch_pushes,
)
from tests.helpers.platform import Platform, post
from tests.helpers.processes import BIN, run


async def test_refused_push_is_kept_with_the_answer_and_retried_by_the_operator(
    quick_platform: Platform,
) -> None:
    async with EmspSimulator(party_id="EMS") as sim:
        party_id = (await register_with(quick_platform, sim))["id"]
        sim.fault("refuse", count=1, modules={"locations"})
        pushes = watch_pushes(quick_platform)
        await post(quick_platform, "/locations", location("REF-1", [("REF-1-1", "CP-REF", 1)]))
        await attempt(pushes, "refused", "REF-1")
        async with quick_platform.admin() as admin:
            state = (await admin.get(f"/parties/{party_id}/push")).json()
        assert state["failed"][0]["object_id"] == "REF-1"
        assert "simulated refusal" in state["failed"][0]["error"]
        assert ("NL", "CPO", "REF-1") not in sim.locations
        async with quick_platform.admin() as admin:
            assert (await admin.post(f"/parties/{party_id}/retry")).json() == {"retried": 1}
        await sim.wait_for(lambda r: pushed("PUT", "/REF-1")(r) and r.status < 300)
        assert ("NL", "CPO", "REF-1") in sim.locations


@pytest.mark.parametrize("fault", ["garbage", "http_500", "ocpi_3000", "slow"])
async def test_failed_deliveries_are_retried_until_the_emsp_holds_the_object(
    quick_platform: Platform, fault: str
) -> None:
    async with EmspSimulator(party_id="EMS", timeout=2) as sim:
        await register_with(quick_platform, sim)
        quick_platform.state.ocpi_side.client.timeout = 1.0  # a slow eMSP times out
        sim.fault(fault, count=2, delay=3.0, modules={"tariffs"})
        await post(quick_platform, "/tariffs", TARIFF)
        await sim.wait_for(
            lambda r: r.module == "tariffs" and r.ocpi_status == 1000 and r.method == "PUT",
            timeout=20,
        )
        assert ("NL", "CPO", "AC-STANDARD") in sim.tariffs
        async with quick_platform.admin() as admin:
            assert (await admin.delete("/tariffs/AC-STANDARD")).status_code == 204
            assert (await admin.delete("/tariffs/AC-STANDARD")).status_code == 404
        await sim.wait_for(lambda r: r.module == "tariffs" and r.method == "DELETE")
        assert ("NL", "CPO", "AC-STANDARD") not in sim.tariffs
        assert sim.violations == []


async def test_a_dead_party_holds_back_nobody_else(quick_platform: Platform) -> None:
    async with EmspSimulator(party_id="EMA") as alive, EmspSimulator(party_id="EMB") as slow:
        await register_with(quick_platform, alive)
        await register_with(quick_platform, slow)
        slow.fault("slow", delay=8.0, modules={"locations"})
        await post(
            quick_platform,
            "/locations",
            [location(f"D-{i}", [(f"D-{i}-1", f"CP-D{i}", 1)]) for i in range(20)],
        )
        for i in range(20):
            await alive.wait_for(pushed("PUT", f"/D-{i}"), timeout=5)
        assert len(alive.locations) == 20
        slow.clear_faults()


async def test_availability_and_reservation_show_in_the_evse_status(
    platform: Platform,
) -> None:
    async with EmspSimulator(party_id="EMS") as sim:
        await register_with(platform, sim)
        await post(platform, "/locations", location("AV-1", [("AV-1-1", "CP-AV", 1)]))
        await platform.add_station("CP-AV", PASSWORD)
        async with ChargePointSimulator(
            id="CP-AV", url=platform.ws_url, ocpp="1.6", password=PASSWORD
        ) as cp:
            await cp.boot()
            await cp.status(1, "Available")
            await sim.wait_for(
                lambda r: pushed("PATCH", "/AV-1-1")(r) and r.body["status"] == "AVAILABLE"
            )
            async with platform.admin() as admin:
                response = await admin.post(
                    "/stations/CP-AV/commands/change_availability",
                    json={"evse_id": 1, "operative": False},
                )
                assert response.status_code == 200 and response.json()["status"] == "Accepted", (
                    response.text
                )
            await sim.wait_for(
                lambda r: pushed("PATCH", "/AV-1-1")(r) and r.body["status"] == "INOPERATIVE"
            )
            async with platform.admin() as admin:
                response = await admin.post(
                    "/stations/CP-AV/commands/change_availability",
                    json={"evse_id": 1, "operative": True},
                )
            await cp.status(1, "Reserved")
            await sim.wait_for(
                lambda r: pushed("PATCH", "/AV-1-1")(r) and r.body["status"] == "RESERVED"
            )
        assert sim.violations == []


async def test_an_evse_sent_while_another_changed_is_not_sent_again(platform: Platform) -> None:
    """EVSE 1's PATCH is in flight when EVSE 2 of the same Location changes: the Location's
    outbox row goes again for EVSE 2, and EVSE 1, which the eMSP holds as it is, stays put."""
    async with EmspSimulator(party_id="EMS") as sim:
        await register_with(platform, sim)
        evses = [("SP-1-1", "CP-SP", 1), ("SP-1-2", "CP-SP", 2)]
        await post(platform, "/locations", location("SP-1", evses))
        await sim.wait_for(pushed("PUT", "/SP-1"))
        await platform.add_station("CP-SP", PASSWORD)
        async with ChargePointSimulator(
            id="CP-SP", url=platform.ws_url, ocpp="1.6", password=PASSWORD
        ) as cp:
            await cp.boot()
            for connector in (1, 2):
                await cp.status(connector, "Available")
                await sim.wait_for(
                    lambda r, c=connector: (
                        pushed("PATCH", f"/SP-1-{c}")(r) and r.body["status"] == "AVAILABLE"
                    )
                )
            sim.fault("slow", count=1, delay=1.5, modules={"locations"})
            await cp.status(1, "Preparing")
            await sim.wait_until_held("locations")
            await cp.status(2, "Faulted")
            await sim.wait_for(
                lambda r: pushed("PATCH", "/SP-1-2")(r) and r.body["status"] == "OUTOFORDER"
            )
            charging = [
                r
                for r in sim.received
                if pushed("PATCH", "/SP-1-1")(r) and r.body["status"] == "CHARGING"
            ]
            assert len(charging) == 1, [(r.method, r.path, r.body) for r in sim.received]
        assert sim.violations == []


async def test_unassigned_lists_what_chargers_report_and_nobody_bound(platform: Platform) -> None:
    await platform.add_station("CP-UN", PASSWORD)
    async with ChargePointSimulator(
        id="CP-UN", url=platform.ws_url, ocpp="1.6", password=PASSWORD, evses=2
    ) as cp:
        await cp.boot()
        await cp.status(1, "Available")
        await cp.status(2, "Available")
        await post(platform, "/locations", location("UN-1", [("UN-1-1", "CP-UN", 1)]))
        async with platform.admin() as admin:
            unassigned = (await admin.get("/unassigned")).json()
    assert unassigned == [
        {"station_id": "CP-UN", "ocpp_evse_id": 2, "connector_id": 1, "status": "Available"}
    ]


async def test_cli_imports_tariffs_and_locations_all_or_nothing(
    platform: Platform, tmp_path: Path
) -> None:
    env = platform.cli_env()
    tariffs = tmp_path / "tariffs.json"
    tariffs.write_text(json.dumps([TARIFF]))
    sites = tmp_path / "locations.json"
    sites.write_text(
        json.dumps([location("CLI-1", [("CLI-1-1", "CP-CLI", 1)], tariff_ids=["AC-STANDARD"])])
    )
    broken = tmp_path / "broken.json"
    broken.write_text(
        json.dumps(
            [
                location("CLI-2", [("CLI-2-1", "CP-CLI", 2)]),
                location("CLI-3", [], country="Netherlands"),
            ]
        )
    )
    code, out, err = await run(str(BIN / "cpo"), "tariff", "import", str(tariffs), env=env)
    assert code == 0 and "tariff AC-STANDARD: created" in out, err
    code, out, err = await run(
        str(BIN / "cpo"), "location", "import", str(sites), "--json", env=env
    )
    assert code == 0, err
    assert json.loads(out) == [{"id": "CLI-1", "created": True, "changed": True}]
    code, out, err = await run(str(BIN / "cpo"), "location", "import", str(broken), env=env)
    assert code == 1 and "1.country" in err and "nothing imported" in err
    code, out, err = await run(str(BIN / "cpo"), "location", "list", env=env)
    assert code == 0 and "CLI-1" in out and "CLI-2" not in out


@pytest.mark.parametrize(
    ("online", "station", "connectors", "expected"),
    [
        (False, None, [ConnectorState("Available")], "UNKNOWN"),
        (True, None, [], "UNKNOWN"),
        (True, None, [ConnectorState("Available")], "AVAILABLE"),
        (True, None, [ConnectorState("Occupied"), ConnectorState("Faulted")], "CHARGING"),
        (True, None, [ConnectorState("Reserved"), ConnectorState("Available")], "RESERVED"),
        (True, None, [ConnectorState("Faulted"), ConnectorState("Faulted")], "OUTOFORDER"),
        (True, None, [ConnectorState("Faulted"), ConnectorState("Unavailable")], "INOPERATIVE"),
        (True, "Faulted", [ConnectorState("Available")], "OUTOFORDER"),
        (True, "Unavailable", [ConnectorState("Occupied")], "INOPERATIVE"),
        (True, "Available", [], "AVAILABLE"),  # a charger that only reports connector 0
        (True, None, [ConnectorState("Available", "Inoperative")], "INOPERATIVE"),
        (True, None, [ConnectorState("Occupied", "Inoperative")], "CHARGING"),
    ],
)
def test_evse_status_follows_the_digest_mapping(
    online: bool, station: str | None, connectors: list[ConnectorState], expected: str
) -> None:
    assert evse_status(online, station, connectors) == expected


async def test_an_unreachable_emsp_is_probed_one_object_at_a_time_and_gets_all_when_back(
    tmp_path: Path,
) -> None:
    # Each object's own back-off would grow to a minute; the party is probed every 0.2 s.
    platform = await Platform(tmp_path, push_retry_max=60, push_probe_max=0.2).start()
    try:
        async with EmspSimulator(party_id="EMS") as sim:
            party_id = (await register_with(platform, sim))["id"]
            pushes = watch_pushes(platform)
            await sim.down()
            await post(
                platform,
                "/locations",
                [location(f"P-{i}", [(f"P-{i}-1", f"CP-P{i}", 1)]) for i in range(30)],
            )
            failures = 0
            async with asyncio.timeout(20):
                while failures < 15:  # the first wave, then probes
                    failures += (await pushes.get()).outcome == "retry"
            async with platform.admin() as admin:
                push = (await admin.get(f"/parties/{party_id}/push")).json()
            assert push["pending"] == 30
            # Only the first wave (the objects in flight when it went away) and the probes
            # were tried; the rest waited for the party, not for their own back-off.
            assert push["retrying"] <= platform.settings.push_concurrency + 1
            await sim.up()
            for i in range(30):
                await sim.wait_for(pushed("PUT", f"/P-{i}"), timeout=10)
            assert len(sim.locations) == 30
            assert sim.violations == []
    finally:
        await platform.stop()


async def test_a_round_reads_ahead_what_its_location_patches_need(platform: Platform) -> None:
    """The round that claims Location rows reads, in one query, what their PATCHes need:
    each status row's Location and EVSEs; a Location gone is an empty read (nothing to send);
    a row that goes whole is left to its sender."""
    evses = [("RA-1-1", "CP-RA", 1), ("RA-1-2", "CP-RA", 2)]
    await post(platform, "/locations", location("RA-1", evses))
    await post(platform, "/locations", location("RA-2", [("RA-2-1", "CP-RA", 3)]))

    def row(n: int, object_id: str, scope: str) -> Claimed:
        return Claimed(n, 1, "location", object_id, scope, [], 1, 0, None)

    claimed = [row(1, "RA-1", "status"), row(2, "RA-GONE", "status"), row(3, "RA-2", "full")]
    async with platform.state.ocpi_side.database() as session:
        ahead = await read_ahead(await session.connection(), claimed)
    assert set(ahead) == {1, 2}
    assert sorted(r.uid for r in ahead[1]) == ["RA-1-1", "RA-1-2"]
    assert {(r.country_code, r.party_id, r.status) for r in ahead[1]} == {("NL", "CPO", "UNKNOWN")}
    assert ahead[2] == []
    side = platform.state.ocpi_side
    gone = replace(claimed[1], ahead=[])
    assert await sender(side.client, side.database)(Party(id=1), gone, True) is None
