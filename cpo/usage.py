"""A transaction's meter data made fit to price: one energy register that never runs backwards.

Chargers send readings twice, out of order, from before a register reset, or with a glitch
that jumps by megawatt-hours (digest quirks 1, 5, 16). Energy is the sum of the plausible
steps between consecutive readings by the charger's clock: a step down (a reset) or a step
faster than any charger delivers counts nothing, and counting goes on from the new level.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from cpo.tariff_engine import Sample as PricedSample
from cpo.tariff_engine import SessionUsage
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
    """The session's usage for the tariff engine; `flags` say what was set aside and why."""
    flags: list[str] = []
    if end < start:
        flags.append("the end is before the start by the charger's clock; priced as zero time")
        end = start
    inside = [r for r in measured if start <= r.at <= end]
    if len(inside) < len(measured):
        flags.append(f"{len(measured) - len(inside)} reading(s) outside the session's time")
    points: list[tuple[datetime, float]] = []
    if start_wh is not None:
        points.append((start, start_wh))
    points += [(r.at, r.energy_wh) for r in inside if r.energy_wh is not None]
    if stop_wh is not None:
        points.append((end, stop_wh))

    samples: list[PricedSample] = []
    by_time = {r.at: r for r in inside}
    counter = _Register(max_power_w)
    for at, wh in points:
        counted = counter.read(at, wh)
        if counted is None:
            continue  # a glitch: no sample at all, the engine interpolates over it
        reading = by_time.get(at)
        if samples and samples[-1].at == at:
            samples.pop()  # the same moment twice (a Start reading repeated in a sample)
        samples.append(
            PricedSample(
                at=at,
                energy_wh=counted,
                power_w=reading.power_w if reading else None,
                current_a=reading.current_a if reading else None,
            )
        )
    counter.finish()
    backwards, jumps = counter.backwards, counter.jumps
    if backwards:
        flags.append(f"the energy register went backwards {backwards} time(s); not counted")
    if jumps:
        flags.append(
            f"{jumps} reading(s) jumped faster than {max_power_w / 1000:g} kW; not counted"
        )
    boundaries: tuple[datetime, ...] = ()
    if boundary_every is not None:
        boundaries = _every(start, [s.at for s in samples], boundary_every)
    return Usage(SessionUsage(start, end, samples, boundaries=boundaries), inside, flags)


class _Register:
    """Counts energy from raw register readings in time order.

    A step down is a reset: nothing counted, counting goes on from the new level. A step up
    faster than `max_power_w` is held back: if the next reading is plausible from before it,
    it was a glitch and is dropped; if the next is plausible from it, the register moved to a
    new level (a meter swap), counted as nothing.
    """

    def __init__(self, max_power_w: float) -> None:
        self.max_power_w = max_power_w
        self.base: tuple[datetime, float] | None = None
        self.held: tuple[datetime, float] | None = None
        self.counted = 0.0
        self.backwards = self.jumps = 0

    def _plausible(self, since: tuple[datetime, float], at: datetime, wh: float) -> bool:
        seconds = max((at - since[0]).total_seconds(), 1.0)
        return (wh - since[1]) * 3600 / seconds <= self.max_power_w

    def read(self, at: datetime, wh: float) -> float | None:
        """The energy counted up to this reading, or None if the reading is set aside."""
        if self.base is None:
            self.base = (at, wh)
            return self.counted
        if wh < self.base[1]:
            self.finish()
            self.backwards += 1
            self.base = (at, wh)
            return self.counted
        if self._plausible(self.base, at, wh):
            if self.held is not None:
                self.jumps += 1  # the held reading was a glitch
                self.held = None
            self.counted += wh - self.base[1]
            self.base = (at, wh)
            return self.counted
        if self.held is not None and self._plausible(self.held, at, wh) and wh >= self.held[1]:
            self.jumps += 1  # a new level: the jump to it counts nothing
            self.counted += wh - self.held[1]
            self.base, self.held = (at, wh), None
            return self.counted
        if self.held is not None:
            self.jumps += 1  # two glitches in a row: the first is dropped
        self.held = (at, wh)
        return None

    def finish(self) -> None:
        """A reading still held has no successor to vouch for it: a glitch."""
        if self.held is not None:
            self.jumps += 1
            self.held = None


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
