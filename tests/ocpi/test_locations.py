"""Locations and Tariffs end to end: operator data and live chargers, pulled and pushed to an eMSP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from simulators.charge_point import ChargePointSimulator
from simulators.emsp import EmspSimulator
from tests.helpers.ocpi import (
    PASSWORD,
    TARIFF,
    attempt,
    envelope,
    location,
    peer,
    pushed,
    register_with,
    watch_pushes,
)
from tests.helpers.platform import Platform, post


@pytest.fixture
async def emsp(platform: Platform) -> AsyncIterator[EmspSimulator]:
    """An eMSP simulator registered with the platform (the platform started it)."""
    async with EmspSimulator(party_id="EMS") as sim:
        sim.required_endpoints.add(("locations", "SENDER"))
        await register_with(platform, sim)
        yield sim
        assert sim.violations == [], sim.violations


async def test_location_and_tariff_reach_the_emsp_and_status_changes_arrive_as_patches(
    platform: Platform, emsp: EmspSimulator
) -> None:
    await post(platform, "/tariffs", TARIFF)
    await post(
        platform,
        "/locations",
        location(
            "UTR-1",
            [("UTR-1-1", "CP-L16", 1), ("UTR-1-2", "CP-L16", 2), ("UTR-1-3", "CP-L201", 1)],
            tariff_ids=["AC-STANDARD"],
        ),
    )
    await emsp.wait_for(pushed("PUT", "/NL/CPO/UTR-1"))
    await emsp.wait_for(lambda r: r.module == "tariffs" and r.method == "PUT")
    held = emsp.locations[("NL", "CPO", "UTR-1")]
    assert [e["status"] for e in held["evses"]] == ["UNKNOWN"] * 3  # never seen yet
    assert "station_id" not in held["evses"][0] and "ocpp_evse_id" not in held["evses"][0]
    assert emsp.tariffs[("NL", "CPO", "AC-STANDARD")]["currency"] == "EUR"

    await platform.add_station("CP-L16", PASSWORD)
    await platform.add_station("CP-L201", PASSWORD)
    async with (
        ChargePointSimulator(
            id="CP-L16", url=platform.ws_url, ocpp="1.6", password=PASSWORD, evses=2
        ) as old,
        ChargePointSimulator(
            id="CP-L201", url=platform.ws_url, ocpp="2.0.1", password=PASSWORD
        ) as new,
    ):
        await old.boot()
        await new.boot()
        await old.status(1, "Available")
        patch = await emsp.wait_for(pushed("PATCH", "/NL/CPO/UTR-1/UTR-1-1"))
        assert patch.body["status"] == "AVAILABLE" and set(patch.body) == {"status", "last_updated"}
        await old.status(2, "Charging")
        await emsp.wait_for(
            lambda r: pushed("PATCH", "/UTR-1-2")(r) and r.body["status"] == "CHARGING"
        )
        await new.status(1, "Faulted")
        await emsp.wait_for(
            lambda r: pushed("PATCH", "/UTR-1-3")(r) and r.body["status"] == "OUTOFORDER"
        )
        await new.status(1, "Available")
        await emsp.wait_for(
            lambda r: pushed("PATCH", "/UTR-1-3")(r) and r.body["status"] == "AVAILABLE"
        )

    # Both chargers went away: their EVSEs are UNKNOWN again, at the eMSP too (by PATCHes, or
    # by one PUT when the three changes are seen together).
    def statuses() -> list[str]:
        return [e["status"] for e in emsp.locations[("NL", "CPO", "UTR-1")]["evses"]]

    await emsp.wait_for(lambda r: statuses() == ["UNKNOWN"] * 3)
    async with peer(platform, emsp.cpo.token) as sim:  # type: ignore[union-attr]
        ours = envelope(await sim.get("/ocpi/2.2.1/locations/UTR-1"), 200, 1000)
    assert emsp.locations[("NL", "CPO", "UTR-1")]["last_updated"] == ours["last_updated"]
    assert statuses() == ["UNKNOWN"] * 3


async def test_sender_interface_pages_and_finds_objects(
    platform: Platform, emsp: EmspSimulator
) -> None:
    await post(platform, "/tariffs", TARIFF)
    await post(
        platform,
        "/locations",
        [location(f"L-{i:03}", [(f"E-{i:03}", f"CP-{i:03}", 1)]) for i in range(120)],
    )
    listed = await emsp.fetch_all("locations", params={"limit": "25"})
    assert [loc["id"] for loc in listed] == [f"L-{i:03}" for i in range(120)]
    assert len(await emsp.fetch_all("tariffs")) == 1
    async with peer(platform, emsp.cpo.token) as sim:  # type: ignore[union-attr]
        evse = envelope(await sim.get("/ocpi/2.2.1/locations/L-007/E-007"), 200, 1000)
        assert evse["uid"] == "E-007" and evse["status"] == "UNKNOWN"
        found = envelope(await sim.get("/ocpi/2.2.1/locations/l-007/e-007/1"), 200, 1000)
        assert found["standard"] == "IEC_62196_T2"
        envelope(await sim.get("/ocpi/2.2.1/locations/NOPE"), 404, 2003)
        envelope(await sim.get("/ocpi/2.2.1/locations/L-007/NOPE"), 404, 2003)
        envelope(await sim.get("/ocpi/2.2.1/locations/L-007/E-007/9"), 404, 2003)
        envelope(await sim.get("/ocpi/2.2.1/locations?limit=x"), 400, 2001)
        response = await sim.get("/ocpi/2.2.1/locations", params={"limit": 1000})
        assert response.headers["x-limit"] == "100" and response.headers["x-total-count"] == "120"
        assert (
            response.headers["ocpi-from-party-id"] == "CPO"
        )  # routing headers on functional modules
        assert response.headers["ocpi-to-party-id"] == "EMS"
        # Routing headers that name somebody else are refused.
        envelope(
            await sim.get(
                "/ocpi/2.2.1/locations",
                headers={"OCPI-from-party-id": "XXX", "OCPI-from-country-code": "NL"},
            ),
            400,
            2001,
        )
        envelope(
            await sim.get(
                "/ocpi/2.2.1/locations",
                headers={"OCPI-to-party-id": "ZZZ", "OCPI-to-country-code": "DE"},
            ),
            400,
            2001,
        )


async def test_paging_with_date_filters_sees_each_location_once_while_statuses_change(
    platform: Platform, emsp: EmspSimulator
) -> None:
    await post(
        platform,
        "/locations",
        [location(f"P-{i:03}", [(f"PE-{i:03}", "CP-PAGE", i + 1)]) for i in range(200)],
    )
    await platform.add_station("CP-PAGE", PASSWORD)
    seen: list[str] = []
    async with (
        ChargePointSimulator(
            id="CP-PAGE", url=platform.ws_url, ocpp="2.0.1", password=PASSWORD, evses=200
        ) as cp,
        peer(platform, emsp.cpo.token) as sim,  # type: ignore[union-attr]
    ):
        await cp.boot()
        url: str | None = (
            "/ocpi/2.2.1/locations?limit=20&date_from=2020-01-01T00:00:00Z&date_to=2100-01-01T00:00:00Z"
        )
        page = 0
        while url:
            response = await sim.get(url)
            data = envelope(response, 200, 1000)
            seen += [loc["id"] for loc in data]
            await cp.status(page * 20 + 1, "Available")  # the data changes under the crawl
            page += 1
            link = response.headers.get("link")
            url = link[1 : link.index(">")] if link else None
            assert page <= 10
    assert seen == [f"P-{i:03}" for i in range(200)]


async def test_bad_operator_data_is_refused_whole_with_every_problem(
    platform: Platform, emsp: EmspSimulator
) -> None:
    good = location("OK-1", [("OK-1-1", "CP-A", 1)])
    bad = location("BAD-1", [("BAD-1-1", "CP-A", 1)], country="NL", time_zone="Mars/Olympus")
    async with platform.admin() as admin:
        response = await admin.post("/locations", json=[good, bad])
        assert response.status_code == 422, response.text
        fields = {e["field"] for e in response.json()["errors"]}
        assert {"1.country", "1.time_zone"} <= fields
        response = await admin.post(
            "/locations", json=location("T-1", [("T-1-1", "CP-T", 1)], tariff_ids=["NOPE"])
        )
        assert response.status_code == 422 and "no tariff 'NOPE'" in response.text
        assert (await admin.post("/locations", content=b"{nope")).status_code == 400
        assert (await admin.get("/locations")).json() == []  # nothing half imported
        assert (await admin.post("/locations", json=good)).status_code == 200
        # The same charger EVSE cannot stand at two locations.
        twice = location("OK-2", [("OK-2-1", "CP-A", 1)])
        response = await admin.post("/locations", json=twice)
        assert response.status_code == 422 and "bound already" in response.text
        assert (await admin.post("/tariffs", json=TARIFF | {"currency": "euro"})).status_code == 422
        unassigned = (await admin.get("/unassigned")).json()
    assert unassigned == []


async def test_emsp_outage_ends_with_the_current_state_and_no_stale_status(
    tmp_path: Path,
) -> None:
    platform = await Platform(tmp_path, push_retry_max=0.3).start()
    try:
        async with EmspSimulator(party_id="EMS") as sim:
            party_id = (await register_with(platform, sim))["id"]
            await post(
                platform,
                "/locations",
                [location("OUT-1", [("OUT-1-1", "CP-OUT", 1), ("OUT-1-2", "CP-OUT", 2)])],
            )
            await sim.wait_for(pushed("PUT", "/OUT-1"))
            await platform.add_station("CP-OUT", PASSWORD)
            pushes = watch_pushes(platform)
            await sim.down()
            async with ChargePointSimulator(
                id="CP-OUT", url=platform.ws_url, ocpp="1.6", password=PASSWORD, evses=2
            ) as cp:
                await cp.boot()
                for status in ("Available", "Charging", "Faulted", "Available", "Charging"):
                    await cp.status(1, status)
                await cp.status(2, "Faulted")
                await attempt(pushes, "retry", "OUT-1")
                async with platform.admin() as admin:
                    push = (await admin.get(f"/parties/{party_id}/push")).json()
                assert push["pending"] == 1 and push["retrying"] == 1  # one row, coalesced
                seen = len(sim.received)
                await sim.up()
                put = await sim.wait_for(
                    lambda r: (
                        r.module == "locations"
                        and r.method in ("PUT", "PATCH")
                        and sim.received.index(r) >= seen
                    ),
                    timeout=15,
                )
                assert put.method == "PUT"  # after a failure the whole object goes, not a replay
                assert [e["status"] for e in put.body["evses"]] == ["CHARGING", "OUTOFORDER"]
                statuses = [
                    r.body.get("status")
                    for r in sim.received[seen:]
                    if r.module == "locations" and r.method == "PATCH"
                ]
                assert "AVAILABLE" not in statuses  # no stale status replayed
            assert sim.violations == []
    finally:
        await platform.stop()


async def test_restart_mid_delivery_loses_nothing(tmp_path: Path) -> None:
    first = await Platform(tmp_path, push_retry_max=0.3).start()
    async with EmspSimulator(party_id="EMS") as sim:
        try:
            await register_with(first, sim)
            await sim.down()
            await post(first, "/tariffs", TARIFF)
            await post(
                first,
                "/locations",
                [location(f"R-{i}", [(f"R-{i}-1", f"CP-R{i}", 1)]) for i in range(5)],
            )
        finally:
            await first.stop()
        second = await Platform(tmp_path, port=0, push_retry_max=0.3).start()
        try:
            await sim.up()
            for i in range(5):
                await sim.wait_for(pushed("PUT", f"/NL/CPO/R-{i}"), timeout=15)
            await sim.wait_for(lambda r: r.module == "tariffs" and r.method == "PUT", timeout=15)
            assert set(sim.locations) == {("NL", "CPO", f"R-{i}") for i in range(5)}
            assert sim.violations == []
        finally:
            await second.stop()


async def test_many_evses_changed_at_once_travel_as_one_put(platform: Platform) -> None:
    async with EmspSimulator(party_id="EMS") as sim:
        party_id = (await register_with(platform, sim))["id"]
        hub = [(f"HUB-1-{k}", "CP-HUB", k) for k in range(1, 5)]
        await post(platform, "/locations", location("HUB-1", hub))
        await sim.wait_for(pushed("PUT", "/HUB-1"))
        await platform.add_station("CP-HUB", PASSWORD)
        async with ChargePointSimulator(
            id="CP-HUB", url=platform.ws_url, ocpp="1.6", password=PASSWORD, evses=4
        ) as cp:
            await cp.boot()
            await cp.status(1, "Available")
            await sim.wait_for(pushed("PATCH", "/HUB-1/HUB-1-1"))  # one EVSE: a PATCH
            async with platform.admin() as admin:  # the changes pile up while it is suspended
                assert (await admin.post(f"/parties/{party_id}/suspend")).status_code == 200
                for k in range(1, 5):
                    await cp.status(k, "Charging")
                await platform.state.ocpi_side.projection.step()  # all four marked, none sent
                seen = len(sim.received)
                assert (await admin.post(f"/parties/{party_id}/resume")).status_code == 200
            put = await sim.wait_for(
                lambda r: sim.received.index(r) >= seen and pushed("PUT", "/HUB-1")(r)
            )
            assert [e["status"] for e in put.body["evses"]] == ["CHARGING"] * 4
            assert not [r for r in sim.received[seen:] if r.method == "PATCH"]
