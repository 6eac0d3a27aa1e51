"""The tariff engine: worked OCPI 2.2.1 examples and properties (ADR 006), and where OCPI
2.1.1's rules price otherwise (ADR 024)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpo.ocpi.models import VersionNumber
from cpo.tariffs.engine import Priced, PriceMemo, Sample, SessionUsage, _Pricer, price
from cpo.tariffs.v221 import Tariff

AMS = "Europe/Amsterdam"
V211 = VersionNumber.V2_1_1
T0 = datetime(2024, 1, 10, 12, 0, tzinfo=UTC)  # a Wednesday in winter: Amsterdam is UTC+1


def tariff(*elements: dict[str, Any], **fields: Any) -> Tariff:
    return Tariff.model_validate(
        {
            "country_code": "NL",
            "party_id": "CPO",
            "id": "T1",
            "currency": "EUR",
            "elements": list(elements),
            "last_updated": "2024-01-01T00:00:00Z",
            **fields,
        }
    )


def component(type_: str, price_: float, step: int = 1, vat: float | None = None) -> dict[str, Any]:
    return {"type": type_, "price": price_, "step_size": step, "vat": vat}


def usage(*readings: tuple[float, float], end_min: float | None = None, **kw: Any) -> SessionUsage:
    """readings: (minutes after T0, Wh on the register)."""
    samples = [Sample(T0 + timedelta(minutes=m), wh) for m, wh in readings]
    end = T0 + timedelta(minutes=end_min if end_min is not None else readings[-1][0])
    return SessionUsage(T0, end, samples, **kw)


def dims(period: dict[str, Any]) -> dict[str, float]:
    return {d["type"]: d["volume"] for d in period["dimensions"]}


# -- worked examples ---------------------------------------------------------------------


def test_simple_energy_tariff_prices_kwh() -> None:
    priced = price(
        tariff({"price_components": [component("ENERGY", 0.25)]}), usage((0, 0), (120, 20_000)), AMS
    )
    assert priced.total_energy_cost == {"excl_vat": 5.0}
    assert priced.total_cost == {"excl_vat": 5.0}
    assert priced.total_energy == 20.0 and priced.total_time == 2.0
    assert priced.total_parking_time == 0.0
    assert [dims(p) for p in priced.charging_periods] == [{"ENERGY": 20.0, "TIME": 2.0}]
    assert priced.charging_periods[0]["start_date_time"] == "2024-01-10T12:00:00.000Z"
    assert priced.charging_periods[0]["tariff_id"] == "T1"


def test_energy_and_parking_at_night_across_midnight_in_amsterdam() -> None:
    night = {"start_time": "23:00", "end_time": "07:00"}
    t = tariff(
        {
            "price_components": [component("ENERGY", 0.20), component("PARKING_TIME", 2.0)],
            "restrictions": night,
        },
        {"price_components": [component("ENERGY", 0.30), component("PARKING_TIME", 5.0)]},
    )
    start = datetime(2024, 1, 15, 21, 0, tzinfo=UTC)  # 22:00 local
    samples = [Sample(start, 0), Sample(start + timedelta(minutes=90), 15_000)]
    priced = price(t, SessionUsage(start, start + timedelta(hours=4), samples), AMS)
    # 22:00-23:00 local: 10 kWh by day; 23:00-23:30: 5 kWh by night; then parked until 02:00
    assert priced.total_energy_cost == {"excl_vat": 3.0 + 1.0}
    assert priced.total_parking_cost == {"excl_vat": 5.0}  # 2.5 h at 2.00, past midnight
    assert priced.total_cost == {"excl_vat": 9.0}
    assert priced.total_time == 1.5 and priced.total_parking_time == 2.5
    assert [p["start_date_time"] for p in priced.charging_periods] == [
        "2024-01-15T21:00:00.000Z",
        "2024-01-15T22:00:00.000Z",
        "2024-01-15T22:30:00.000Z",
    ]
    assert dims(priced.charging_periods[2]) == {"PARKING_TIME": 2.5}


def test_flat_start_fee_is_charged_once_and_only_in_totals() -> None:
    t = tariff({"price_components": [component("FLAT", 1.0), component("TIME", 2.0)]})
    priced = price(t, usage((0, 0), (45, 5000), (90, 10_000)), AMS)
    assert priced.total_fixed_cost == {"excl_vat": 1.0}
    assert priced.total_time_cost == {"excl_vat": 3.0}
    assert priced.total_cost == {"excl_vat": 4.0}
    assert all("FLAT" not in dims(p) for p in priced.charging_periods)


def test_flat_fee_comes_from_the_first_element_that_applies_at_session_start() -> None:
    t = tariff(
        {"price_components": [component("FLAT", 9.0)], "restrictions": {"min_duration": 60}},
        {"price_components": [component("FLAT", 1.0), component("ENERGY", 0.0)]},
    )
    assert price(t, usage((0, 0), (90, 1000)), AMS).total_fixed_cost == {"excl_vat": 1.0}


def test_first_ten_kwh_at_one_price_the_rest_at_another() -> None:
    t = tariff(
        {"price_components": [component("ENERGY", 0.30)], "restrictions": {"max_kwh": 10}},
        {"price_components": [component("ENERGY", 0.20)]},
    )
    priced = price(t, usage((0, 0), (150, 25_000)), AMS)
    assert priced.total_energy_cost == {"excl_vat": 3.0 + 3.0}
    starts = [p["start_date_time"] for p in priced.charging_periods]
    assert starts == ["2024-01-10T12:00:00.000Z", "2024-01-10T13:00:00.000Z"]  # 10 kWh at 1 h
    assert [dims(p)["ENERGY"] for p in priced.charging_periods] == [10.0, 15.0]


def test_a_kwh_threshold_between_readings_splits_the_energy_exactly() -> None:
    # 5.5 kWh in 30 minutes at a steady rate: the meter crosses 2 kWh between two readings,
    # at no whole microsecond. 2 kWh at 0.25 + 3.5 kWh at 0.35 = 1.725, so 1.73 half-up: not
    # 1.72 from a few micro-watt-hours billed at the cheaper price.
    priced = price(
        tariff(
            {"price_components": [component("ENERGY", 0.25)], "restrictions": {"max_kwh": 2}},
            {"price_components": [component("ENERGY", 0.35)]},
        ),
        usage((0, 0), (10, 1833), (20, 3666), (30, 5500)),
        AMS,
    )
    assert priced.total_energy_cost == {"excl_vat": 1.73}
    assert [dims(p)["ENERGY"] for p in priced.charging_periods] == [2.0, 3.5]


def test_time_step_size_rounds_the_session_total_up() -> None:
    t = tariff({"price_components": [component("TIME", 6.0, step=300)]})
    priced = price(t, usage((0, 0), (6 + 1 / 60, 1000)), AMS)  # 6 min 1 s -> 10 min
    assert priced.total_time_cost == {"excl_vat": 1.0}
    assert priced.total_time == pytest.approx(0.1003, abs=1e-4)  # volumes stay as measured


def test_when_parking_follows_time_only_the_parking_is_rounded() -> None:
    t = tariff(
        {
            "price_components": [
                component("TIME", 6.0, step=300),
                component("PARKING_TIME", 12.0, step=600),
            ]
        }
    )
    priced = price(t, usage((0, 0), (7, 1000), end_min=8), AMS)
    assert priced.total_time_cost == {"excl_vat": 0.7}  # 7 min, not rounded
    assert priced.total_parking_cost == {"excl_vat": 2.0}  # 1 min -> 10 min


def test_energy_step_size_is_in_wh() -> None:
    t = tariff({"price_components": [component("ENERGY", 1.0, step=1000)]})
    assert price(t, usage((0, 0), (60, 1200)), AMS).total_energy_cost == {"excl_vat": 2.0}


def test_vat_adds_incl_vat_and_rounds_to_cents() -> None:
    t = tariff({"price_components": [component("ENERGY", 0.25, vat=21)]})
    priced = price(t, usage((0, 0), (60, 10_000)), AMS)
    assert priced.total_energy_cost == {"excl_vat": 2.5, "incl_vat": 3.03}  # 3.025 half up
    assert priced.total_cost == {"excl_vat": 2.5, "incl_vat": 3.03}


def test_a_component_without_vat_leaves_incl_vat_unknown() -> None:
    t = tariff({"price_components": [component("ENERGY", 0.25, vat=21), component("TIME", 1.0)]})
    priced = price(t, usage((0, 0), (60, 10_000)), AMS)
    assert priced.total_time_cost == {"excl_vat": 1.0}
    assert priced.total_cost == {"excl_vat": 3.5}


def test_min_price_raises_the_total() -> None:
    t = tariff(
        {"price_components": [component("ENERGY", 0.25, vat=21)]},
        min_price={"excl_vat": 5.0, "incl_vat": 6.05},
    )
    priced = price(t, usage((0, 0), (60, 10_000)), AMS)
    assert priced.total_cost == {"excl_vat": 5.0, "incl_vat": 6.05}
    assert priced.total_energy_cost == {"excl_vat": 2.5, "incl_vat": 3.03}  # not clamped


def test_max_price_caps_the_total_and_moves_incl_vat_at_the_vat_ratio() -> None:
    t = tariff(
        {"price_components": [component("ENERGY", 0.25, vat=21)]}, max_price={"excl_vat": 2.0}
    )
    priced = price(t, usage((0, 0), (60, 10_000)), AMS)
    assert priced.total_cost == {"excl_vat": 2.0, "incl_vat": 2.42}


def test_day_of_week_is_the_local_day() -> None:
    t = tariff(
        {
            "price_components": [component("TIME", 1.0)],
            "restrictions": {"day_of_week": ["SATURDAY", "SUNDAY"]},
        },
        {"price_components": [component("TIME", 2.0)]},
    )
    start = datetime(2024, 1, 12, 22, 30, tzinfo=UTC)  # Friday 23:30 in Amsterdam
    samples = [Sample(start, 0), Sample(start + timedelta(hours=1), 10_000)]
    priced = price(t, SessionUsage(start, start + timedelta(hours=1), samples), AMS)
    assert priced.total_time_cost == {"excl_vat": 1.0 + 0.5}  # Friday half at 2, Saturday at 1


def test_reservation_elements_price_the_reservation_not_the_charging() -> None:
    t = tariff(
        {
            "price_components": [component("FLAT", 3.0), component("TIME", 6.0)],
            "restrictions": {"reservation": "RESERVATION"},
        },
        {
            "price_components": [component("FLAT", 4.0)],
            "restrictions": {"reservation": "RESERVATION_EXPIRES"},
        },
        {"price_components": [component("ENERGY", 0.25)]},
    )
    reserved = usage(
        (0, 0), (60, 10_000), reservation="RESERVATION", reserved_at=T0 - timedelta(minutes=30)
    )
    priced = price(t, reserved, AMS)
    assert priced.total_reservation_cost == {"excl_vat": 3.0 + 3.0}
    assert priced.total_energy_cost == {"excl_vat": 2.5}
    assert priced.total_time_cost is None and priced.total_fixed_cost is None
    assert priced.total_cost == {"excl_vat": 8.5}
    assert dims(priced.charging_periods[0]) == {"RESERVATION_TIME": 0.5}

    expired = usage(
        (0, 0), end_min=0, reservation="RESERVATION_EXPIRES", reserved_at=T0 - timedelta(minutes=15)
    )
    assert price(t, expired, AMS).total_reservation_cost == {"excl_vat": 4.0}

    walk_in = price(t, usage((0, 0), (60, 10_000)), AMS)
    assert walk_in.total_reservation_cost is None and walk_in.total_cost == {"excl_vat": 2.5}


def test_times_of_day_are_local_to_the_tariff_time_zone_not_utc() -> None:
    t = tariff(
        {
            "price_components": [component("ENERGY", 0.40)],
            "restrictions": {"start_time": "09:00", "end_time": "17:00"},
        },
        {"price_components": [component("ENERGY", 0.20)]},
    )
    start = datetime(2024, 1, 10, 8, 30, tzinfo=UTC)  # 09:30 in Amsterdam
    samples = [Sample(start, 0), Sample(start + timedelta(hours=1), 10_000)]
    priced = price(t, SessionUsage(start, start + timedelta(hours=1), samples), AMS)
    assert priced.total_energy_cost == {"excl_vat": 4.0}
    assert price(
        t, SessionUsage(start, start + timedelta(hours=1), samples), "UTC"
    ).total_energy_cost == {"excl_vat": 3.0}


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (datetime(2024, 3, 31, tzinfo=UTC), 0.25 + 2.75 * 2),  # 03:00-03:15 CEST only
        (datetime(2024, 10, 27, tzinfo=UTC), 0.5 + 0.75 + 1.75 * 2),  # 02:30-03:00 twice over
    ],
)
def test_local_times_follow_daylight_saving_changes(day: datetime, expected: float) -> None:
    t = tariff(
        {
            "price_components": [component("TIME", 1.0)],
            "restrictions": {"start_time": "02:30", "end_time": "03:15"},
        },
        {"price_components": [component("TIME", 2.0)]},
    )
    samples = [Sample(day, 0), Sample(day + timedelta(hours=3), 30_000)]
    priced = price(t, SessionUsage(day, day + timedelta(hours=3), samples), AMS)
    assert priced.total_time_cost == {"excl_vat": expected}


def test_an_element_can_apply_to_one_dimension_and_not_another() -> None:
    t = tariff(
        {
            "price_components": [component("PARKING_TIME", 3.0)],
            "restrictions": {"start_time": "09:00", "end_time": "17:00"},
        },
        {"price_components": [component("ENERGY", 0.25), component("PARKING_TIME", 1.0)]},
    )
    priced = price(t, usage((0, 0), (60, 10_000), end_min=120), AMS)  # 13:00-15:00 local
    assert priced.total_energy_cost == {"excl_vat": 2.5}
    assert priced.total_parking_cost == {"excl_vat": 3.0}


def test_by_2_1_1_rules_the_first_element_that_holds_prices_every_dimension() -> None:
    # The same tariff as above: in daytime the first element holds, and it prices no ENERGY.
    t = tariff(
        {
            "price_components": [component("PARKING_TIME", 3.0)],
            "restrictions": {"start_time": "09:00", "end_time": "17:00"},
        },
        {"price_components": [component("ENERGY", 0.25), component("PARKING_TIME", 1.0)]},
    )
    priced = price(t, usage((0, 0), (60, 10_000), end_min=120), AMS, V211)
    assert priced.total_energy_cost is None  # free under 2.1.1, 2.50 under 2.2.1
    assert priced.total_parking_cost == {"excl_vat": 3.0}
    assert priced.total_cost == {"excl_vat": 3.0}


def test_by_2_1_1_rules_each_component_rounds_to_its_own_step() -> None:
    # 2.2.1 rounds the session's TIME once, by the last component; 2.1.1 each component.
    t = tariff(
        {
            "price_components": [component("TIME", 6.0, step=600)],
            "restrictions": {"max_duration": 300},
        },
        {"price_components": [component("TIME", 6.0, step=600)]},
    )
    reading = usage((0, 0), (7, 1000))  # 5 min in the first element, 2 in the second
    assert price(t, reading, AMS).total_time_cost == {"excl_vat": 1.0}  # 7 min -> 10
    assert price(t, reading, AMS, V211).total_time_cost == {"excl_vat": 2.0}  # 10 + 10


def test_by_2_1_1_rules_there_are_no_price_bounds_nor_current_or_reservation_elements() -> None:
    t = tariff(
        {"price_components": [component("ENERGY", 9.0)], "restrictions": {"min_current": 1}},
        {"price_components": [component("ENERGY", 0.25)]},
        min_price={"excl_vat": 10.0},
        max_price={"excl_vat": 20.0},
    )
    readings = [Sample(T0, 0, current_a=16), Sample(T0 + timedelta(hours=1), 10_000, None, 16)]
    charged = SessionUsage(T0, T0 + timedelta(hours=1), readings)
    assert price(t, charged, AMS).total_cost == {"excl_vat": 20.0}  # 90.00, capped
    assert price(t, charged, AMS, V211).total_cost == {"excl_vat": 2.5}  # 0.25 x 10, no bounds


def test_power_restrictions_are_in_kw_and_use_the_reported_power() -> None:
    t = tariff(
        {"price_components": [component("ENERGY", 0.50)], "restrictions": {"min_power": 50}},
        {"price_components": [component("ENERGY", 0.30)]},
    )
    samples = [
        Sample(T0, 0, power_w=60_000),
        Sample(T0 + timedelta(hours=1), 60_000, power_w=11_000),
        Sample(T0 + timedelta(hours=2), 71_000, power_w=0),
    ]
    priced = price(t, SessionUsage(T0, T0 + timedelta(hours=2), samples), AMS)
    assert priced.total_energy_cost == {"excl_vat": 30.0 + 3.3}
    assert dims(priced.charging_periods[0])["MAX_POWER"] == 60.0


def test_a_current_restriction_does_not_hold_without_current_readings() -> None:
    t = tariff(
        {"price_components": [component("ENERGY", 0.50)], "restrictions": {"min_current": 0}},
        {"price_components": [component("ENERGY", 0.30)]},
    )
    assert price(t, usage((0, 0), (60, 10_000)), AMS).total_energy_cost == {"excl_vat": 3.0}


def test_duration_thresholds_cut_periods() -> None:
    t = tariff(
        {"price_components": [component("TIME", 1.0)], "restrictions": {"max_duration": 1800}},
        {"price_components": [component("TIME", 4.0)]},
    )
    priced = price(t, usage((0, 0), (60, 10_000)), AMS)
    assert priced.total_time_cost == {"excl_vat": 0.5 + 2.0}
    assert len(priced.charging_periods) == 2


def test_end_date_is_exclusive() -> None:
    t = tariff(
        {"price_components": [component("TIME", 1.0)], "restrictions": {"end_date": "2024-01-10"}},
        {"price_components": [component("TIME", 2.0)]},
    )
    assert price(t, usage((0, 0), (60, 1000)), AMS).total_time_cost == {"excl_vat": 2.0}


def test_cdr_fields_leave_out_costs_that_do_not_apply() -> None:
    fields = price(
        tariff({"price_components": [component("ENERGY", 0.25)]}), usage((0, 0), (60, 4000)), AMS
    ).to_cdr_fields()
    assert set(fields) == {
        "charging_periods",
        "total_cost",
        "total_energy",
        "total_time",
        "total_parking_time",
        "total_energy_cost",
    }


def test_unpriceable_usage_is_refused() -> None:
    t = tariff({"price_components": [component("ENERGY", 0.25)]})
    with pytest.raises(ValueError, match="goes down"):
        price(t, usage((0, 5000), (60, 1000)), AMS)
    with pytest.raises(ValueError, match="aware"):
        price(t, SessionUsage(datetime(2024, 1, 1), datetime(2024, 1, 1, 1), []), AMS)


# -- properties --------------------------------------------------------------------------

prices = st.sampled_from([0.0, 0.1, 0.25, 0.333, 1.0, 2.5])
vats = st.sampled_from([None, 0.0, 9.0, 21.0])
steps = st.sampled_from([1, 1, 60, 300, 1000])
restrictions = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {
            "start_time": st.sampled_from(["07:00", "22:00", "13:30"]),
            "end_time": st.sampled_from(["00:00", "09:00", "18:00"]),
        }
    ),
    st.fixed_dictionaries({"max_kwh": st.sampled_from([1.0, 5.5, 20.0])}),
    st.fixed_dictionaries({"min_kwh": st.sampled_from([2.0, 7.25])}),
    st.fixed_dictionaries({"max_duration": st.sampled_from([600, 3600])}),
    st.fixed_dictionaries({"day_of_week": st.just(["MONDAY", "SATURDAY"])}),
)
components = st.builds(
    component, st.sampled_from(["ENERGY", "TIME", "PARKING_TIME", "FLAT"]), prices, steps, vats
)
elements = st.builds(
    lambda cs, r: {"price_components": cs, "restrictions": r},
    st.lists(components, min_size=1, max_size=3),
    restrictions,
)
tariffs = st.lists(elements, min_size=1, max_size=4).map(lambda es: tariff(*es))
# (seconds since the previous reading, Wh since then): even numbers, so midpoints are exact
steps_of_usage = st.lists(
    st.tuples(
        st.integers(1, 3600).map(lambda s: 2 * s), st.integers(0, 10_000).map(lambda w: 2 * w)
    ),
    min_size=1,
    max_size=6,
)
starts = st.datetimes(datetime(2024, 1, 1), datetime(2024, 12, 31)).map(
    lambda d: d.replace(microsecond=0, tzinfo=UTC)
)
bounded = settings(max_examples=50, deadline=None)


def session(start: datetime, increments: list[tuple[int, int]], parked_s: int = 0) -> SessionUsage:
    samples, at, wh = [Sample(start, 1000.0)], start, 1000
    for seconds, delta in increments:
        at, wh = at + timedelta(seconds=seconds), wh + delta
        samples.append(Sample(at, float(wh)))
    return SessionUsage(start, at + timedelta(seconds=parked_s), samples)


def finer(u: SessionUsage) -> SessionUsage:
    samples = [u.samples[0]]
    for a, b in zip(u.samples, u.samples[1:], strict=False):
        samples.append(Sample(a.at + (b.at - a.at) / 2, (a.energy_wh + b.energy_wh) / 2))
        samples.append(b)
    return SessionUsage(u.start, u.end, samples)


def costs(p: Priced) -> list[float]:
    parts = [p.total_energy_cost, p.total_time_cost, p.total_parking_cost, p.total_fixed_cost]
    return [c["excl_vat"] if c else 0.0 for c in parts]


@bounded
@given(tariffs, starts, steps_of_usage, st.integers(0, 7200))
def test_costs_are_never_negative_and_incl_vat_is_never_below_excl(
    t: Tariff, start: datetime, increments: list[tuple[int, int]], parked: int
) -> None:
    priced = price(t, session(start, increments, parked), AMS)
    assert priced.total_cost["excl_vat"] >= 0
    for cost in (
        priced.total_cost,
        priced.total_energy_cost,
        priced.total_time_cost,
        priced.total_parking_cost,
    ):
        if cost is not None and "incl_vat" in cost:
            assert cost["incl_vat"] >= cost["excl_vat"]


@bounded
@given(prices, steps, vats, starts, steps_of_usage, st.integers(1, 50_000))
def test_more_energy_never_costs_less_under_an_energy_tariff(
    p: float,
    step: int,
    vat: float | None,
    start: datetime,
    increments: list[tuple[int, int]],
    more: int,
) -> None:
    t = tariff({"price_components": [component("ENERGY", p, step, vat)]})
    base = session(start, increments)
    last = base.samples[-1]
    extra = SessionUsage(
        base.start, base.end, [*base.samples[:-1], Sample(last.at, last.energy_wh + more)]
    )
    assert costs(price(t, extra, AMS))[0] >= costs(price(t, base, AMS))[0]


@bounded
@given(tariffs, starts, steps_of_usage)
def test_total_energy_is_the_register_difference_in_kwh(
    t: Tariff, start: datetime, increments: list[tuple[int, int]]
) -> None:
    u = session(start, increments)
    expected = (u.samples[-1].energy_wh - u.samples[0].energy_wh) / 1000
    assert price(t, u, AMS).total_energy == pytest.approx(expected, abs=0.00005)


@bounded
@given(tariffs, starts, steps_of_usage, st.integers(0, 7200))
def test_finer_samples_do_not_change_the_cost(
    t: Tariff, start: datetime, increments: list[tuple[int, int]], parked: int
) -> None:
    u = session(start, increments, parked)
    coarse, fine = price(t, u, AMS), price(t, finer(u), AMS)
    assert costs(fine) == pytest.approx(costs(coarse), abs=0.0001)
    assert fine.total_cost["excl_vat"] == pytest.approx(coarse.total_cost["excl_vat"], abs=0.0001)


@bounded
@given(tariffs, starts, steps_of_usage, st.integers(0, 7200))
def test_periods_are_in_time_order_and_cover_the_session(
    t: Tariff, start: datetime, increments: list[tuple[int, int]], parked: int
) -> None:
    u = session(start, increments, parked)
    periods = price(t, u, AMS).charging_periods
    moments = [datetime.fromisoformat(p["start_date_time"]) for p in periods]
    assert moments[0] == u.start
    assert moments == sorted(moments) and moments[-1] < u.end
    hours = sum(dims(p).get("TIME", 0) + dims(p).get("PARKING_TIME", 0) for p in periods)
    assert hours == pytest.approx((u.end - u.start) / timedelta(hours=1), abs=0.0001 * len(periods))


@bounded
@given(tariffs, starts, steps_of_usage, st.integers(0, 7200))
def test_total_cost_is_the_sum_of_the_dimension_costs(
    t: Tariff, start: datetime, increments: list[tuple[int, int]], parked: int
) -> None:
    priced = price(t, session(start, increments, parked), AMS)
    assert priced.total_cost["excl_vat"] == pytest.approx(sum(costs(priced)), abs=1e-9)


# -- resuming with a memo (ADR 037) --------------------------------------------------------

long_usage = st.lists(
    st.tuples(
        st.integers(1, 1800).map(lambda s: 2 * s),
        st.integers(0, 8_000).map(lambda w: 2 * w),
        st.sampled_from([None, 0.0, 7400.0, 11000.5]),
    ),
    min_size=1,
    max_size=12,
)


def live(
    start: datetime,
    samples: list[Sample],
    every: int | None,
    reservation: bool,
    parked_s: int = 0,
) -> SessionUsage:
    end = samples[-1].at + timedelta(seconds=parked_s)
    boundaries: tuple[datetime, ...] = ()
    if every:
        count = int((end - start) / timedelta(seconds=every))
        boundaries = tuple(start + timedelta(seconds=every * (n + 1)) for n in range(count))
    return SessionUsage(
        start,
        end,
        samples,
        boundaries=boundaries,
        reservation="RESERVATION" if reservation else None,
        reserved_at=start - timedelta(minutes=20) if reservation else None,
    )


@settings(max_examples=120, deadline=None)
@given(
    tariffs,
    starts,
    long_usage,
    st.sampled_from([None, 300, 900]),
    st.sampled_from([VersionNumber.V2_2_1, V211]),
    st.booleans(),
    st.integers(0, 3600),
    st.integers(0, 20),
)
def test_a_memo_prices_every_step_of_a_live_session_as_pricing_it_afresh(
    t: Tariff,
    start: datetime,
    increments: list[tuple[int, int, float | None]],
    every: int | None,
    rules: VersionNumber,
    reservation: bool,
    parked: int,
    late_at: int,
) -> None:
    samples, at, wh = [Sample(start, 1000.0)], start, 1000
    for seconds, delta, power in increments:
        at, wh = at + timedelta(seconds=seconds), wh + delta
        samples.append(Sample(at, float(wh), power_w=power))
    memo = PriceMemo()
    for k in range(1, len(samples) + 1):
        shown = samples[:k]
        if k == late_at and k >= 3:
            # A reading that came late, into the past, half-way between the first two: none
            # of their energy was charged in the first half (the periods change).
            a, b = shown[0], shown[1]
            shown = [a, Sample(a.at + (b.at - a.at) / 2, a.energy_wh), *shown[1:]]
        for parked_s in (0, parked) if k == len(samples) else (0,):
            u = live(start, shown, every, reservation, parked_s)
            assert price(t, u, AMS, rules, memo=memo) == price(t, u, AMS, rules)


def test_a_memo_prices_only_what_came_since_the_last_call(monkeypatch: pytest.MonkeyPatch) -> None:
    t = tariff({"price_components": [component("ENERGY", 0.25), component("TIME", 1.5)]})
    samples = [Sample(T0 + timedelta(seconds=10 * i), 1000.0 + 7.5 * i) for i in range(300)]
    memo = PriceMemo()
    price(t, SessionUsage(T0, samples[-2].at, samples[:-1]), AMS, memo=memo)

    periods: list[int] = []
    real = _Pricer.period

    def counted(self: _Pricer, a: int, b: int, origin: int, *, reserving: bool) -> None:
        periods.append(a)
        real(self, a, b, origin, reserving=reserving)

    monkeypatch.setattr(_Pricer, "period", counted)
    whole = SessionUsage(T0, samples[-1].at, samples)
    assert price(t, whole, AMS, memo=memo) == price(t, whole, AMS)
    # The memo's call priced from the last reading before the last call's end (a reading at
    # the end is no cut yet): two intervals; the call without, all 299.
    assert len(periods) == 2 + 299
    # A tariff changed meanwhile: no resuming with the memo of another.
    periods.clear()
    other = tariff({"price_components": [component("ENERGY", 0.30)]})
    assert price(other, whole, AMS, memo=memo) == price(other, whole, AMS)
    assert len(periods) == 2 * 299
