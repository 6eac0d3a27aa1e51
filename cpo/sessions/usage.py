"""A transaction's meter data made fit to price: one energy register that never runs backwards.

Chargers send readings twice, out of order, from before a register reset, with a glitch that
reads zero, a negative value or megawatt-hours. The readings are put in the charger's time
order, negative ones dropped, and each reading that breaks the register's climb is judged by
the readings after it (`_count`, ADR 014): a glitch is dropped, a reset is believed only when
the readings go on from the low value and never come back. Without a reset the energy is
exactly the stop register less the start register; it never exceeds the charger's maximum
power over the elapsed time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from cpo.tariffs.engine import Sample as PricedSample
from cpo.tariffs.engine import SessionUsage
from csms.metering import ENERGY_REGISTER, Sample, energy_register_wh

PHASES = ("L1", "L2", "L3")


@dataclass(frozen=True)
class Reading:
    """What the charger measured at one moment, in base units."""

    at: datetime
    energy_wh: float | None = None
    power_w: float | None = None
    current_a: float | None = None
    soc: float | None = None


@dataclass
class Usage:
    usage: SessionUsage
    readings: list[Reading]  # in time order, within the session
    flags: list[str] = field(default_factory=list)

    @property
    def energy_wh(self) -> float:
        return self.usage.samples[-1].energy_wh if self.usage.samples else 0.0


class SampleRow(Protocol):
    """What is read of a stored sample: a `MeterSample`, or a row of its columns."""

    @property
    def timestamp(self) -> datetime: ...
    @property
    def measurand(self) -> str: ...
    @property
    def value(self) -> float | None: ...
    @property
    def unit(self) -> str | None: ...
    @property
    def phase(self) -> str | None: ...
    @property
    def location(self) -> str | None: ...
    @property
    def context(self) -> str | None: ...
    @property
    def signed_data(self) -> str | None: ...


def readings(rows: Iterable[SampleRow]) -> list[Reading]:
    """One Reading per timestamp, from the normalised sample rows of a transaction."""
    by_time: dict[datetime, list[SampleRow]] = {}
    for row in rows:
        by_time.setdefault(row.timestamp, []).append(row)
    return [_reading(at, group) for at, group in sorted(by_time.items())]


def _reading(at: datetime, rows: list[SampleRow]) -> Reading:
    samples = [
        Sample(at, r.measurand, r.value, r.unit, r.phase, r.location, r.context) for r in rows
    ]
    return Reading(
        at=at,
        energy_wh=energy_register_wh(samples),
        power_w=_total(samples, "Power.Active.Import"),
        current_a=_total(samples, "Current.Import"),
        soc=next((s.value for s in reversed(samples) if s.measurand == "SoC" and s.value), None),
    )


def _total(samples: list[Sample], measurand: str) -> float | None:
    """The value at the outlet: the phase-less one, else the phases summed."""
    at_outlet = [
        s
        for s in samples
        if s.measurand == measurand and s.location in (None, "Outlet") and s.value is not None
    ]
    whole = [s.value for s in at_outlet if s.phase is None]
    if whole:
        return whole[-1]
    phases = [s.value for s in at_outlet if s.phase in PHASES]
    return sum(v for v in phases if v is not None) if phases else None


def usage(
    start: datetime,
    end: datetime,
    start_wh: float | None,
    stop_wh: float | None,
    measured: list[Reading],
    max_power_w: float,
    boundary_every: timedelta | None = None,
) -> Usage:
    """The session's usage for the tariff engine; `flags` say what was set aside and why.

    `stop_wh` is the charger's stop reading, None while the session runs: then the latest
    reading is no last word, and a drop there waits for the reading after it.
    """
    flags: list[str] = []
    if end < start:
        flags.append("the end is before the start by the charger's clock; priced as zero time")
        end = start
    inside = [r for r in measured if start <= r.at <= end]
    if len(inside) < len(measured):
        flags.append(f"{len(measured) - len(inside)} reading(s) outside the session's time")
    registers = {r.at: r.energy_wh for r in inside if r.energy_wh is not None}
    # The transaction's own start and stop registers stand for their moments.
    if start_wh is not None:
        registers[start] = start_wh
    if stop_wh is not None:
        registers[end] = stop_wh
    points = sorted(registers.items())
    counted = _count(
        [p for p in points if p[1] >= 0], max_power_w, final=stop_wh is not None and stop_wh >= 0
    )
    negative = sum(1 for _, wh in points if wh < 0)
    by_time = {r.at: r for r in inside}
    samples = [
        PricedSample(
            at=at,
            energy_wh=wh,
            power_w=by_time[at].power_w if at in by_time else None,
            current_a=by_time[at].current_a if at in by_time else None,
        )
        for at, wh in counted.energy
    ]
    flags += counted.flags(max_power_w)
    if negative:
        flags.append(f"{negative} negative reading(s): no register reads that, not counted")
    boundaries: tuple[datetime, ...] = ()
    if boundary_every is not None:
        boundaries = _every(start, [s.at for s in samples], boundary_every)
    return Usage(SessionUsage(start, end, samples, boundaries=boundaries), inside, flags)


@dataclass
class _Counted:
    """The readings that count, with the energy counted up to each, and what was set aside."""

    energy: list[tuple[datetime, float]] = field(default_factory=list)
    low: int = 0  # below the register's level, which it came back to
    high: int = 0  # above the level the register went on from
    jumps: int = 0  # a step faster than any charger
    levels: int = 0  # jumped to a new level that it kept (a meter swap)
    resets: int = 0  # went down and went on from there
    stop_aside: float | None = None  # a stop below the register's level, nothing to confirm it

    def flags(self, max_power_w: float) -> list[str]:
        out = []
        if self.resets:
            out.append(
                f"the energy register was reset {self.resets} time(s): it went backwards and "
                "the readings went on from the low value; the drop is not counted"
            )
        if self.low:
            out.append(
                f"{self.low} reading(s) below the register's level, which the readings came "
                "back to: glitches, not counted"
            )
        if self.high:
            out.append(
                f"{self.high} reading(s) above the level the register went on from: glitches, "
                "not counted"
            )
        if self.jumps:
            out.append(
                f"{self.jumps} reading(s) jumped faster than {max_power_w / 1000:g} kW; not counted"
            )
        if self.levels:
            out.append(
                f"the register jumped to a new level {self.levels} time(s) (a meter swap); "
                "the jump is not counted"
            )
        if self.stop_aside is not None:
            out.append(
                f"the stop reading ({self.stop_aside:g} Wh) is below the register's level, "
                "with nothing after it to confirm a reset: counted to the reading before it"
            )
        return out


def _count(points: list[tuple[datetime, float]], max_power_w: float, final: bool) -> _Counted:
    """Which register readings count, in one pass (ADR 014).

    Readings that count form segments: each a chain that never goes down and never rises
    faster than `max_power_w`; a segment ends only at a confirmed reset or a meter swap, and
    counts its last reading less its first. A reading that breaks the chain is judged by what
    comes after it:

    - above the chain's top, too fast: a glitch, unless the readings go on from it and could
      not have from the top (a new level, nothing counted for the jump);
    - below the top, still within the segment: either it is low or those above it were high.
      If a later reading is back at the top, it was low; if the next different reading goes
      on from it, the readings above it are dropped (and so they are for the stop, the
      transaction's own register); else it was low;
    - below where the segment began: a reset only if no later reading comes back to the
      segment and some later one rises from it; if they come back, all of them were glitches.

    Within a segment, then, the energy is always its last reading less its first: without a
    reset or swap that is stop − start, whatever was dropped on the way.
    """
    counted = _Counted()
    n = len(points)
    values = [wh for _, wh in points]
    # For each reading: the next one that reads differently, and the highest from it on.
    other, highest = [n] * n, values[:]
    for i in range(n - 2, -1, -1):
        other[i] = i + 1 if values[i + 1] != values[i] else other[i + 1]
        highest[i] = max(values[i], highest[i + 1])

    def plausible(a: int, b: int) -> bool:
        seconds = (points[b][0] - points[a][0]).total_seconds()
        return values[b] - values[a] <= max_power_w * seconds / 3600

    # For each reading that counts, the first that counts with the same value: a rise is
    # measured from when the register reached its level, not from the last time it read it.
    reached: dict[int, int] = {}

    def extend(chain: list[int], i: int) -> None:
        reached[i] = reached[chain[-1]] if chain and values[chain[-1]] == values[i] else i
        chain.append(i)

    segments: list[list[int]] = []
    i = 0
    while i < n:
        if not segments:
            segments.append([])
            extend(segments[-1], i)
            i += 1
            continue
        chain = segments[-1]
        top, first, wh, after = reached[chain[-1]], chain[0], values[i], other[i]
        if wh >= values[top]:
            if plausible(top, i):
                extend(chain, i)
            elif (
                after < n
                and values[after] >= wh
                and plausible(i, after)
                and not plausible(top, after)
            ):
                counted.levels += 1
                segments.append([])
                extend(segments[-1], i)
            else:
                counted.jumps += 1
        elif wh >= values[first]:
            if i + 1 < n and highest[i + 1] >= values[top]:
                counted.low += 1  # the register comes back to where it was
            elif after == n and not final:
                pass  # the latest reading of a live session: the next one decides
            elif after == n or (values[after] >= wh and plausible(i, after)):
                # The register goes on from here (or this is the stop, its own last word):
                # the readings above it were too high.
                while values[chain[-1]] > wh:
                    chain.pop()
                    counted.high += 1
                extend(chain, i)
            else:
                counted.low += 1  # nothing goes on from it either
        elif i + 1 < n and highest[i + 1] >= values[first]:
            # The register comes back to the segment: everything below it was a glitch.
            while values[i] < values[first]:
                counted.low += 1
                i += 1
            continue
        elif i + 1 < n and highest[i + 1] > wh:
            counted.resets += 1  # the readings after it go on from it
            segments.append([])
            extend(segments[-1], i)
        else:
            # Nothing after it rises from it: a reset or a glitch, the energy is the same.
            if final:
                counted.stop_aside = values[-1]
                counted.low += n - 1 - i
            break
        i += 1

    total = 0.0
    for chain in segments:
        base = values[chain[0]]
        # The rise within the segment first: a large register less its base is exact, while
        # adding a small total to it first would round that total away (energy going back).
        counted.energy += [(points[k][0], total + (values[k] - base)) for k in chain]
        total += values[chain[-1]] - base
    return counted


def _every(start: datetime, times: list[datetime], interval: timedelta) -> tuple[datetime, ...]:
    """Reading times at least `interval` apart: where a live session's periods close."""
    chosen: list[datetime] = []
    last = start
    for at in times:
        if at - last >= interval:
            chosen.append(at)
            last = at
    return tuple(chosen)


__all__ = ["ENERGY_REGISTER", "Reading", "SampleRow", "Usage", "readings", "usage"]
