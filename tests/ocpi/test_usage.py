"""Meter data made fit to price: resets, glitches and meter swaps count no energy (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import example, given, settings
from hypothesis import strategies as st

from cpo.sessions.usage import Reading, readings, usage
from csms.metering import ENERGY_REGISTER

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


@example(steps=[(1, 3.2086942812518645e-266), (1, 999997903.0), (1, 999997984.0)])
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


# -- a low reading is a glitch unless what follows confirms a reset ----------------------------


def test_a_single_low_reading_between_readings_is_a_glitch_not_a_reset() -> None:
    for low in (0, -5000):
        measured = usage(
            T0,
            at(5),
            10_000,
            10_500,
            [Reading(at(m), wh) for m, wh in ((1, 10_100), (2, low), (3, 10_300), (4, 10_400))],
            MAX_W,
        )
        assert measured.energy_wh == 500, low
        assert not any("reset" in flag for flag in measured.flags), measured.flags
        assert any("glitch" in flag or "negative" in flag for flag in measured.flags)


def test_a_run_of_low_readings_the_register_comes_back_from_is_glitches() -> None:
    assert counted(10_000, (1, 10_100), (2, 0), (3, 0), (4, 10_300), stop=(5, 10_500)) == 500
    assert counted(10_000, (1, 10_100), (2, 0), (3, 5_000), (4, 10_300), stop=(5, 10_500)) == 500


def test_a_high_reading_the_register_never_reaches_is_set_aside() -> None:
    # 10,250 is a plausible step from 10,100, but the register goes on from below it.
    assert counted(10_000, (1, 10_100), (2, 10_250), (3, 10_200), stop=(4, 10_220)) == 220


def test_a_stop_below_the_start_counts_to_the_last_reading_and_says_so() -> None:
    measured = usage(T0, at(5), 10_000, 0, [Reading(at(2), 10_300)], MAX_W)
    assert measured.energy_wh == 300
    assert any("stop reading" in flag for flag in measured.flags), measured.flags


def test_negative_registers_are_never_energy() -> None:
    measured = usage(T0, at(5), -5_000, 400, [Reading(at(2), 100)], MAX_W)
    assert measured.energy_wh == 300
    assert any("negative" in flag for flag in measured.flags)


def test_a_live_sessions_latest_low_reading_waits_for_the_next() -> None:
    live = [Reading(at(1), 10_100), Reading(at(2), 0)]
    assert usage(T0, at(2), 10_000, None, live, MAX_W).energy_wh == 100
    back = [*live, Reading(at(3), 10_300)]
    assert usage(T0, at(3), 10_000, None, back, MAX_W).energy_wh == 300


def test_energy_is_bounded_by_the_elapsed_time_at_the_maximum_power() -> None:
    # 50 Wh in 100 ms is 1.8 MW: no charger's. The step is a jump, not energy.
    measured = usage(T0, T0 + timedelta(milliseconds=100), 0, 50, [], MAX_W)
    assert measured.energy_wh == 0


# -- properties over random meter stories ------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """A stored register sample, as `readings` reads them."""

    timestamp: datetime
    value: float | None
    measurand: str = ENERGY_REGISTER
    unit: str | None = "Wh"
    phase: str | None = None
    location: str | None = None
    context: str | None = None
    signed_data: str | None = None


@dataclass
class Story:
    """A transaction's true register, then the rows a faulty charger sent of it."""

    start_wh: int
    stop_wh: int
    seconds: int  # from start to stop
    reset: bool  # whether the true register was reset (went on from a low value)
    rows: list[Row] = field(default_factory=list)


def _t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@st.composite
def stories(draw: st.DrawFn, reset: bool) -> Story:
    """Readings at most MAX_W apart; with `reset`, the register once starts again from below
    everything it read before. Between true readings: nothing, a low outlier, a run of
    zeros, a negative one or a high outlier (above the next true reading); some rows twice;
    the 1.6 stop reading among the rows or not; all in any order."""
    start = draw(st.integers(1 if reset else 0, 2_000_000))
    count = draw(st.integers(0, 10))
    reset_at = draw(st.integers(0, count)) if reset else -1  # count: between last and stop
    true: list[tuple[int, int]] = [(0, start)]
    lowest = start
    for i in range(count + 1):
        seconds = draw(st.integers(2, 900))
        if i == reset_at:
            wh = draw(st.integers(0, lowest - 1))
        else:
            wh = true[-1][1] + draw(st.integers(0, int(MAX_W * seconds // 3600)))
        lowest = min(lowest, wh)
        true.append((true[-1][0] + seconds, wh))
    rows = [Row(_t(s), float(wh)) for s, wh in true[1:-1]]
    for (t0, before), (t1, after) in pairwise(true):
        kind = draw(st.sampled_from(["none", "low", "zeros", "negative", "high"]))
        if kind == "low" and before > 0:
            values = [draw(st.integers(0, before - 1))]
        elif kind == "zeros":
            values = [0] * draw(st.integers(1, 3))  # a meter that reads nothing for a while
        elif kind == "negative":
            values = [draw(st.integers(-1_000_000, -1))]
        elif kind == "high":
            values = [draw(st.integers(after + 1, after + 10_000_000))]
        else:
            values = []
        step = (t1 - t0) / (len(values) + 1)
        rows += [Row(_t(t0 + step * (j + 1)), float(v)) for j, v in enumerate(values)]
    if draw(st.booleans()):  # the 1.6 meterStop, kept as a sample
        rows.append(Row(_t(true[-1][0]), float(true[-1][1]), context="Transaction.End"))
    rows += draw(st.lists(st.sampled_from(rows), max_size=3)) if rows else []
    rows = draw(st.permutations(rows))
    return Story(start, true[-1][1], true[-1][0], reset, rows)


def bill(story: Story) -> tuple[float, list[str]]:
    measured = usage(
        T0, _t(story.seconds), story.start_wh, story.stop_wh, readings(story.rows), MAX_W
    )
    energies = [s.energy_wh for s in measured.usage.samples]
    assert energies == sorted(energies), "counted energy runs backwards"
    return measured.energy_wh, measured.flags


@settings(max_examples=150, deadline=None)
@given(stories(reset=False))
def test_without_a_reset_the_bill_is_stop_minus_start_whatever_the_glitches(story: Story) -> None:
    energy, flags = bill(story)
    assert energy == story.stop_wh - story.start_wh, flags
    assert not any("reset" in flag for flag in flags), flags


@settings(max_examples=150, deadline=None)
@given(stories(reset=True))
def test_with_a_reset_the_bill_stays_within_what_the_charger_can_deliver(story: Story) -> None:
    energy, flags = bill(story)
    assert 0 <= energy <= MAX_W * story.seconds / 3600, flags
