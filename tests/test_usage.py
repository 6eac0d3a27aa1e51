"""Meter data made fit to price: resets, glitches and meter swaps count no energy (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from cpo.usage import Reading, usage

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
MAX_W = 350_000.0


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def counted(start_wh: float, *readings: tuple[float, float], stop: tuple[float, float]) -> float:
    measured = usage(
        T0,
        at(stop[0]),
        start_wh,
        stop[1],
        [Reading(at(m), wh) for m, wh in readings],
        MAX_W,
    )
    return measured.energy_wh


def test_a_steady_register_counts_its_difference() -> None:
    assert counted(10_000, (10, 12_000), (20, 14_000), stop=(30, 16_000)) == 6_000


def test_a_glitch_is_dropped_and_the_energy_around_it_kept() -> None:
    assert counted(10_000, (10, 12_000), (11, 9_999_999), (20, 14_000), stop=(30, 16_000)) == 6_000


def test_a_reset_counts_nothing_and_counting_goes_on_from_zero() -> None:
    measured = usage(
        T0, at(30), 10_000, 1_500, [Reading(at(10), 12_000), Reading(at(25), 500)], MAX_W
    )
    assert measured.energy_wh == 2_000 + 1_000
    assert any("backwards" in flag for flag in measured.flags)


def test_a_meter_swap_to_a_higher_register_is_a_new_level() -> None:
    # 10 kWh in 10 min, then the register shows 5,000 kWh and goes on counting from there.
    assert counted(0, (10, 2_000), (15, 5_000_000), (20, 5_001_000), stop=(30, 5_003_000)) == (
        2_000 + 1_000 + 2_000
    )


def test_a_last_reading_that_jumps_is_not_billed() -> None:
    measured = usage(T0, at(30), 0, 90_000_000, [Reading(at(10), 2_000)], MAX_W)
    assert measured.energy_wh == 2_000
    assert any("jumped" in flag for flag in measured.flags)


def test_readings_outside_the_session_are_set_aside() -> None:
    measured = usage(T0, at(30), 0, 3_000, [Reading(at(-5), 50), Reading(at(40), 9_000)], MAX_W)
    assert measured.energy_wh == 3_000
    assert any("outside" in flag for flag in measured.flags)


def test_live_sessions_close_periods_at_readings_an_interval_apart() -> None:
    readings = [Reading(at(m), m * 100) for m in (1, 2, 6, 7, 11)]
    measured = usage(T0, at(11), 0, None, readings, MAX_W, timedelta(minutes=5))
    assert measured.usage.boundaries == (at(6), at(11))


@given(
    st.lists(
        st.tuples(st.integers(1, 600), st.floats(0, 1e9, allow_nan=False)),
        min_size=0,
        max_size=30,
    )
)
def test_counted_energy_is_never_negative_nor_faster_than_any_charger(
    steps: list[tuple[int, float]],
) -> None:
    t, readings = 0, []
    for seconds, wh in steps:
        t += seconds
        readings.append(Reading(T0 + timedelta(seconds=t), wh))
    end = T0 + timedelta(seconds=t)
    measured = usage(T0, end, 0.0, None, readings, MAX_W)
    energies = [s.energy_wh for s in measured.usage.samples]
    assert all(e >= 0 for e in energies)
    assert energies == sorted(energies)
    assert measured.energy_wh <= MAX_W * max(t, 1) / 3600 + 1e-6 * max(energies, default=0)
