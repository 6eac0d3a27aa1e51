"""A site power limit: the Location's limit shared by the chargers charging there (equal
shares, an EVSE that cannot draw its share capped and the rest shared again), sent to each as
its StationMax profile when a transaction starts or ends there and when the limit changes."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cpo.site_power.allocation import allocate
from simulators.charge_point import ChargePointSimulator
from tests.helpers.ocpi import location
from tests.helpers.platform import Platform, online, post
from tests.helpers.processes import run

ROOT = Path(__file__).resolve().parents[2]

# -- the allocation ------------------------------------------------------------------------------

maxima = st.dictionaries(
    st.integers(min_value=1, max_value=40),
    st.one_of(st.none(), st.integers(min_value=0, max_value=400_000)),
    max_size=30,
)
limits = st.integers(min_value=0, max_value=2_000_000)


@given(limits, maxima)
def test_shares_never_exceed_the_limit_nor_go_negative(limit: int, evses: dict[int, Any]) -> None:
    shares = allocate(limit, evses)
    assert set(shares) == set(evses)
    assert sum(shares.values()) <= limit
    assert all(share >= 0 for share in shares.values())
    assert all(evses[k] is None or shares[k] <= evses[k] for k in evses)


@given(limits, maxima)
def test_evses_below_their_maximum_get_equal_shares(limit: int, evses: dict[int, Any]) -> None:
    shares = allocate(limit, evses)
    uncapped = [shares[k] for k in evses if evses[k] is None or shares[k] < evses[k]]
    if uncapped:
        assert max(uncapped) - min(uncapped) <= 1  # whole watts: a remainder goes one by one
        # and none of them gets less than a capped one was given
        assert all(shares[k] <= max(uncapped) + 1 for k in evses)


@given(limits, maxima)
def test_the_limit_is_used_up_when_the_evses_can_draw_it(limit: int, evses: dict[int, Any]) -> None:
    shares = allocate(limit, evses)
    if evses and None in evses.values():
        assert sum(shares.values()) == limit
    else:
        assert sum(shares.values()) == min(limit, sum(v for v in evses.values() if v))


def test_a_small_evse_is_capped_and_the_others_share_what_it_leaves() -> None:
    assert allocate(30_000, {"a": 22_000, "b": None, "c": 3_700}) == {
        "a": 13_150,
        "b": 13_150,
        "c": 3_700,
    }
    assert allocate(10, {}) == {}
    with pytest.raises(ValueError):
        allocate(-1, {"a": None})


# -- end to end -------------------------------------------------------------------------------


def limit_sent(payload: dict[str, Any]) -> float:
    """The first period's limit of a SetChargingProfile, in either version's words."""
    if "csChargingProfiles" in payload:
        schedule = payload["csChargingProfiles"]["chargingSchedule"]
    else:
        schedule = payload["chargingProfile"]["chargingSchedule"][0]
    return float(schedule["chargingSchedulePeriod"][0]["limit"])


async def next_limit(sim: ChargePointSimulator) -> float:
    payload = await sim.wait_for_call("SetChargingProfile")
    purpose = (payload.get("csChargingProfiles") or payload.get("chargingProfile") or {}).get(
        "chargingProfilePurpose"
    )
    assert purpose in ("ChargePointMaxProfile", "ChargingStationMaxProfile"), payload
    assert payload.get("connectorId", payload.get("evseId")) == 0
    return limit_sent(payload)


async def test_a_site_limit_is_shared_by_the_chargers_charging_there(platform: Platform) -> None:
    a = await online(platform, "CP-SITE-A", "1.6")
    b = await online(platform, "CP-SITE-B", "2.0.1")
    c = await online(platform, "CP-SITE-C", "2.0.1")
    site = location("SITE", [("S-A", a.id, 1), ("S-B", b.id, 1), ("S-C", c.id, 1)])
    site["evses"][2]["connectors"][0]["max_electric_power"] = 3700  # a small wallbox
    await post(platform, "/locations", site)
    async with platform.admin() as admin:
        # Nobody charges yet: every charger is held at 0 until a transaction starts there.
        put = await admin.put("/locations/SITE/power-limit", json={"limit_w": 30000})
        assert put.status_code == 200, put.text
        assert [await next_limit(sim) for sim in (a, b, c)] == [0, 0, 0]
        assert [c["limit_w"] for c in put.json()["chargers"]] == [0, 0, 0]

        await a.start_transaction(1, "DRIVER-A")
        assert await next_limit(a) == 22000  # alone, but its EVSE draws at most 22 kW
        await b.start_transaction(1, "DRIVER-B")
        assert (await next_limit(a), await next_limit(b)) == (15000, 15000)
        await c.start_transaction(1, "DRIVER-C")
        assert (await next_limit(a), await next_limit(b), await next_limit(c)) == (
            13150,
            13150,
            3700,
        )

        # A transaction ends: the others' shares grow.
        await b.stop_transaction(1)
        assert (await next_limit(a), await next_limit(b)) == (22000, 0)

        # The limit changes: new profiles at once.
        put = await admin.put("/locations/SITE/power-limit", json={"limit_w": 12000})
        assert put.status_code == 200, put.text
        assert await next_limit(a) == 8300
        held = await admin.get("/locations/SITE/power-limit")
        assert held.status_code == 200
        assert held.json()["limit_w"] == 12000
        assert {c["station_id"]: c["limit_w"] for c in held.json()["chargers"]} == {
            a.id: 8300,
            b.id: 0,
            c.id: 3700,
        }
        # What each charger should hold is with its other profiles.
        profiles = await admin.get(f"/stations/{a.id}/charging-profiles")
        assert [(p["evse_id"], p["purpose"]) for p in profiles.json()] == [(0, "StationMax")]

        # Lifted: the profiles it put there are cleared.
        assert (await admin.delete("/locations/SITE/power-limit")).status_code == 204
        for sim in (a, b, c):
            cleared = await sim.wait_for_call("ClearChargingProfile")
            assert cleared.get("id", cleared.get("chargingProfileId")) is not None
        assert (await admin.get("/locations/SITE/power-limit")).status_code == 404
    for sim in (a, b, c):
        await sim.close()


async def test_limits_changed_at_once_leave_each_charger_the_share_of_the_last(
    platform: Platform,
) -> None:
    """Recomputes of one Location take turns, each reading the state anew: whatever order the
    changes land in, what the charger holds is the share of the limit that stands."""
    sim = await online(platform, "CP-SITE-RACE", "2.0.1")
    await post(platform, "/locations", location("RACE", [("R-1", sim.id, 1)]))
    await sim.start_transaction(1, "DRIVER-RACE")
    async with platform.admin() as admin:
        answers = await asyncio.gather(
            *(
                admin.put("/locations/RACE/power-limit", json={"limit_w": watts})
                for watts in (4000, 5000, 6000, 7000)
            )
        )
        assert [a.status_code for a in answers] == [200] * 4
        standing = (await admin.get("/locations/RACE/power-limit")).json()
    assert standing["chargers"] == [{"station_id": sim.id, "limit_w": standing["limit_w"]}]
    # The charger holds it too (its StationMax, kept as the library handed it).
    (held,) = [p for (evse, _), p in sim.profiles.items() if evse == 0]
    (schedule,) = held["charging_schedule"]
    assert schedule["charging_schedule_period"][0]["limit"] == standing["limit_w"]
    await sim.close()


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/locations/SITE/power-limit", {"limit_w": -1}, 422),
        ("/locations/SITE/power-limit", {"limit_w": 10**12}, 422),
        ("/locations/SITE/power-limit", {"limit_w": "lots"}, 422),
        ("/locations/SITE/power-limit", {"limit_w": 1000, "phases": 3}, 422),
        ("/locations/NOWHERE/power-limit", {"limit_w": 1000}, 404),
    ],
)
async def test_a_bad_site_limit_is_refused_as_a_problem(
    platform: Platform, path: str, body: dict[str, Any], status: int
) -> None:
    await post(platform, "/locations", location("SITE", [("S-X", "CP-NONE", 1)]))
    async with platform.admin() as admin:
        response = await admin.put(path, json=body)
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert (await admin.get("/locations/SITE/power-limit")).status_code == 404


async def test_the_cli_sets_shows_and_lifts_a_site_limit(
    platform: Platform, tmp_path: Path
) -> None:
    await post(platform, "/locations", location("SITE", [("S-X", "CP-CLI-SITE", 1)]))

    async def cpo(*args: str) -> tuple[int, str, str]:
        # This checkout's `cpo`, as an operator runs it against the server.
        env = platform.cli_env() | {"PYTHONPATH": str(ROOT)}
        return await run(sys.executable, "-m", "cpo.cli", *args, env=env, cwd=tmp_path)

    code, out, err = await cpo("location", "power-limit", "SITE", "11000")
    assert code == 0, err
    assert out.splitlines() == [
        "location SITE: 11000 W",
        "  CP-CLI-SITE              nothing held yet",
    ]
    code, out, err = await cpo("location", "power-limit", "SITE", "--json")
    assert code == 0 and json.loads(out)["limit_w"] == 11000, err
    code, _, err = await cpo("location", "power-limit", "SITE", "-5")
    assert code == 1 and "greater than or equal to 0" in err
    code, out, err = await cpo("location", "power-limit", "SITE", "--remove")
    assert code == 0 and "no power limit" in out, err
    code, _, err = await cpo("location", "power-limit", "SITE")
    assert code == 1 and "has no power limit" in err
