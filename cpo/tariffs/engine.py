"""Prices a charging session under an OCPI 2.2.1 Tariff: a pure function, no I/O (ADR 006).

By 2.2.1's rules unless told 2.1.1's (ADR 024): where they differ, 2.1.1 picks one element for
all dimensions at a time, rounds each component's volume to its own step_size, and knows no
price bounds and no elements restricted by current or for reservations."""

from __future__ import annotations

import bisect
import hashlib
import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from itertools import pairwise
from typing import Any, Literal
from zoneinfo import ZoneInfo

from cpo.ocpi.models import Price, VersionNumber
from cpo.ocpi.responses import timestamp
from cpo.tariffs.v221 import DayOfWeek, Tariff, TariffDimensionType, TariffRestrictions

__all__ = ["PARKING_POWER_W", "PriceMemo", "Priced", "Sample", "SessionUsage", "price"]

PARKING_POWER_W = 10
"""An interval whose average power (from the energy register) is at most this many watts is
parking: the EV is connected but not requesting power."""

Reservation = Literal["RESERVATION", "RESERVATION_EXPIRES"]
PriceDict = dict[str, float]

_US_PER_SECOND = 1_000_000
_US_PER_HOUR = 3_600 * _US_PER_SECOND
_WEEKDAYS = list(DayOfWeek)  # MONDAY first, as datetime.weekday() counts
_CENTS = Decimal("0.01")
_OCPI_NUMBER = Decimal("0.0001")

# Where each bucket's money goes. RESERVATION_* are TIME and FLAT components of an element with
# a reservation restriction: they price the reservation, not the charging session.
_ENERGY, _TIME, _PARKING, _FLAT = "ENERGY", "TIME", "PARKING_TIME", "FLAT"
_RES_TIME, _RES_FLAT = "RESERVATION_TIME", "RESERVATION_FLAT"
# Wh or microseconds per priced unit (kWh, hour), and per step_size unit (Wh, second).
_PER_UNIT = {_ENERGY: 1000, _TIME: _US_PER_HOUR, _PARKING: _US_PER_HOUR, _RES_TIME: _US_PER_HOUR}
_PER_STEP = {_ENERGY: 1, _TIME: _US_PER_SECOND, _PARKING: _US_PER_SECOND, _RES_TIME: _US_PER_SECOND}
_COMPONENT_TYPE = {
    _ENERGY: TariffDimensionType.ENERGY,
    _TIME: TariffDimensionType.TIME,
    _PARKING: TariffDimensionType.PARKING_TIME,
    _FLAT: TariffDimensionType.FLAT,
    _RES_TIME: TariffDimensionType.TIME,
    _RES_FLAT: TariffDimensionType.FLAT,
}


@dataclass(frozen=True)
class Sample:
    """One meter reading during the session, in time order."""

    at: datetime  # aware UTC
    energy_wh: float  # cumulative register (starts at the session's meter start)
    power_w: float | None = None
    current_a: float | None = None


@dataclass(frozen=True)
class SessionUsage:
    start: datetime  # aware UTC
    end: datetime  # aware UTC
    samples: list[Sample]  # may be only the start and end readings
    reservation: Reservation | None = None  # a reservation preceded the session
    reserved_at: datetime | None = None  # when it began; without it reservation TIME is 0
    # Moments where a charging period ends even if nothing tariff-relevant changes there (a
    # live Session's periods end at its progress updates, so that later ones only append).
    boundaries: tuple[datetime, ...] = ()


@dataclass(frozen=True)
class Priced:
    """The CDR's cost and volume fields for one session under one tariff."""

    charging_periods: list[dict[str, Any]]
    total_cost: PriceDict
    total_energy_cost: PriceDict | None
    total_time_cost: PriceDict | None
    total_parking_cost: PriceDict | None
    total_fixed_cost: PriceDict | None
    total_reservation_cost: PriceDict | None
    total_energy: float  # kWh
    total_time: float  # hours charging
    total_parking_time: float  # hours connected but not charging

    def to_cdr_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "charging_periods": self.charging_periods,
            "total_cost": self.total_cost,
            "total_energy": self.total_energy,
            "total_time": self.total_time,
            "total_parking_time": self.total_parking_time,
        }
        for name in (
            "total_fixed_cost",
            "total_energy_cost",
            "total_time_cost",
            "total_parking_cost",
            "total_reservation_cost",
        ):
            value = getattr(self, name)
            if value is not None:
                fields[name] = value
        return fields


def price(
    tariff: Tariff,
    usage: SessionUsage,
    time_zone: str,
    rules: VersionNumber = VersionNumber.V2_2_1,
    memo: PriceMemo | None = None,
) -> Priced:
    """Price `usage` under `tariff`, whose times of day and dates are local to `time_zone`
    (the Location's), by the tariff rules of OCPI version `rules`. Raises ValueError for usage
    that cannot be priced.

    With a `memo` (one per session, kept by the caller between calls): resumes from where the
    last call with that memo left off, when nothing it priced up to there has changed, and
    leaves the memo at this call's last reading. The same result either way (ADR 037)."""
    _check(usage)
    zone = ZoneInfo(time_zone)
    meter = _Meter(usage)
    end = _offset(usage.start, usage.end)
    key = (tariff, time_zone, rules, usage.start, usage.reservation, usage.reserved_at)
    if rules == VersionNumber.V2_1_1:
        tariff = _as_211(tariff)
    pricer = _Pricer(tariff, usage, zone, meter, by_element=rules == VersionNumber.V2_1_1)
    pairs = list(pairwise(pricer.cuts(0, end, 0)))

    # Where this call leaves the memo: its last reading before the end. The time line up to a
    # reading depends on the readings up to it only (the meter is flat past its last one).
    mark = meter.last_before(end) if memo is not None else None
    first = 0
    resumed = memo.resume(key, pricer, mark) if memo is not None else None
    if resumed is not None:
        first = bisect.bisect_left(pairs, (resumed,))
    else:
        if usage.reservation is not None:
            origin = _offset(usage.start, usage.reserved_at) if usage.reserved_at else 0
            pricer.flat(_RES_FLAT, pricer.moment(origin, origin, reserving=True))
            for a, b in pairwise(pricer.cuts(origin, 0, origin)):
                pricer.period(a, b, origin, reserving=True)
        pricer.flat(_FLAT, pricer.moment(0, 0, reserving=False))
    for a, b in pairs[first:]:
        pricer.period(a, b, 0, reserving=False)
        if b == mark:
            assert memo is not None
            memo.keep(key, pricer, mark)
    return pricer.result(end)


class PriceMemo:
    """What pricing a live session leaves for pricing it again: the pricer's state at a
    reading (its volumes and periods so far), with what that state was priced from (the
    tariff and the rest of the key, the readings up to there, the period boundaries).

    A live Session is priced again at each of its rebuilds, with a few readings more each
    time: from the start, that is all its readings each time. With a memo, `price` goes on
    from the reading the last call stopped at, where the key, every reading up to it and the
    boundaries up to it are as they were (a reading that came late, into the past, is not,
    and prices from the start again). ADR 037.
    """

    __slots__ = ("_at", "_boundaries", "_key", "_last", "_periods", "_readings", "_volumes")

    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        self._at = 0
        self._readings = b""
        self._boundaries: tuple[int, ...] = ()
        self._volumes: dict[tuple[str, int, int], Fraction] = {}
        self._last: dict[str, tuple[str, int, int]] = {}
        self._periods: list[_Period] = []

    def keep(self, key: tuple[Any, ...], pricer: _Pricer, at: int) -> None:
        self._key, self._at = key, at
        self._readings = pricer.meter.digest(at)
        self._boundaries = tuple(sorted(b for b in pricer.boundaries if b <= at))
        self._volumes = dict(pricer.volumes)
        self._last = dict(pricer.last)
        self._periods = [p.copy() for p in pricer.periods]

    def resume(self, key: tuple[Any, ...], pricer: _Pricer, mark: int | None) -> int | None:
        """Where `pricer` may go on from with this memo's state restored into it, or None."""
        at = self._at
        if (
            self._key is None
            or mark is None
            or at > mark
            or self._key != key
            or pricer.meter.digest(at) != self._readings
            or tuple(sorted(b for b in pricer.boundaries if b <= at)) != self._boundaries
        ):
            return None
        pricer.volumes = dict(self._volumes)
        pricer.last = dict(self._last)
        pricer.periods = [p.copy() for p in self._periods]
        return at


def _as_211(tariff: Tariff) -> Tariff:
    """The tariff as a 2.1.1 eMSP holds it: no price bounds, no element restricted by current
    or for reservations (cpo.tariffs.v211)."""
    kept = [
        e
        for e in tariff.elements
        if e.restrictions is None
        or (
            e.restrictions.min_current is None
            and e.restrictions.max_current is None
            and e.restrictions.reservation is None
        )
    ]
    return tariff.model_copy(update={"elements": kept, "min_price": None, "max_price": None})


def _check(usage: SessionUsage) -> None:
    moments = [usage.start, usage.end, *(s.at for s in usage.samples)]
    if usage.reserved_at is not None:
        moments.append(usage.reserved_at)
    if any(m.tzinfo is None for m in moments):
        raise ValueError("times must be aware (UTC)")
    if usage.end < usage.start:
        raise ValueError("end is before start")
    if usage.reserved_at is not None and usage.reserved_at > usage.start:
        raise ValueError("reserved_at is after start")
    for earlier, later in pairwise(usage.samples):
        if later.at < earlier.at:
            raise ValueError("samples are not in time order")
        if later.energy_wh < earlier.energy_wh:
            raise ValueError("the energy register goes down; normalise it before pricing")


def _offset(origin: datetime, at: datetime) -> int:
    """Microseconds from origin: all arithmetic on the time line is on integers."""
    return (at - origin) // timedelta(microseconds=1)


def _exact(value: float) -> Fraction:
    """The decimal a float was written as (0.1 is 1/10, not its binary neighbour)."""
    return Fraction(Decimal(repr(value)))


class _Meter:
    """The energy register as a piecewise-linear function of time, flat outside the samples."""

    def __init__(self, usage: SessionUsage) -> None:
        self.samples = usage.samples
        self.times = [_offset(usage.start, s.at) for s in usage.samples]
        self.wh = _ExactList([s.energy_wh for s in usage.samples])
        # Where the register crosses a kWh threshold, the period starting there starts at the
        # threshold exactly (its time is rounded to the microsecond; its energy is not).
        self.pinned: dict[int, Fraction] = {}
        self._slopes: dict[int, Fraction] = {}  # average_power_w of each sample interval
        self._powers: dict[int, Fraction] = {}  # each sample's power_w, exact

    def energy(self, t: int) -> Fraction:
        if t in self.pinned:
            return self.pinned[t]
        if not self.times:
            return Fraction(0)
        if t <= self.times[0]:
            return self.wh[0]
        if t >= self.times[-1]:
            return self.wh[-1]
        j = bisect.bisect_right(self.times, t)
        i = j - 1
        if self.times[i] == t:  # a reading's own time: most cuts are
            return self.wh[i]
        span = Fraction(t - self.times[i], self.times[j] - self.times[i])
        return self.wh[i] + (self.wh[j] - self.wh[i]) * span

    def last_before(self, end: int) -> int | None:
        """The time of the last reading after 0 and before `end`, if any."""
        i = bisect.bisect_left(self.times, end) - 1
        return self.times[i] if i >= 0 and self.times[i] > 0 else None

    def digest(self, at: int) -> bytes:
        """The readings up to `at`, every field of each, digested: equal digests, equal
        readings (BLAKE2b: no charger can make two sets of readings that share one)."""
        values = array("d")
        for t, s in zip(
            self.times[: bisect.bisect_right(self.times, at)], self.samples, strict=False
        ):
            values.extend(
                (
                    t,
                    s.energy_wh,
                    s.power_w is None,
                    s.power_w or 0.0,
                    s.current_a is None,
                    s.current_a or 0.0,
                )
            )
        return hashlib.blake2b(values.tobytes(), digest_size=16).digest()

    def held(self, t: int) -> int:
        """The index of the last reading at or before t (-1 before the first)."""
        return bisect.bisect_right(self.times, t) - 1

    def average_power_w(self, t: int) -> Fraction:
        """The register's slope over the sample interval holding t (0 outside the samples)."""
        i = self.held(t)
        if i < 0 or i + 1 >= len(self.times):
            return Fraction(0)
        slope = self._slopes.get(i)
        if slope is None:
            dt = self.times[i + 1] - self.times[i]
            slope = self._slopes[i] = (self.wh[i + 1] - self.wh[i]) * _US_PER_HOUR / dt
        return slope

    def power_w(self, i: int) -> Fraction:
        """Sample i's power_w (which it has), exact."""
        power = self._powers.get(i)
        if power is None:
            power = self._powers[i] = _exact(self.samples[i].power_w)  # type: ignore[arg-type]
        return power

    def crossings(self, wh: Fraction) -> list[int]:
        """When the register crosses `wh`, rounded up to the microsecond so that the period
        starting there is already at or past it."""
        found = []
        for i in range(len(self.times) - 1):
            e0, e1 = self.wh[i], self.wh[i + 1]
            if e0 < wh < e1:
                dt = self.times[i + 1] - self.times[i]
                at = self.times[i] + math.ceil((wh - e0) * dt / (e1 - e0))
                if at < self.times[i + 1]:  # else the next reading is the cut already
                    self.pinned[at] = wh
                    found.append(at)
        return found


class _ExactList:
    """The readings' energies as exact fractions, each made when first asked for: a resumed
    price (PriceMemo) asks for the last few only."""

    __slots__ = ("_floats", "_exact")

    def __init__(self, floats: list[float]) -> None:
        self._floats = floats
        self._exact: list[Fraction | None] = [None] * len(floats)

    def __getitem__(self, i: int) -> Fraction:
        value = self._exact[i]
        if value is None:
            value = self._exact[i] = _exact(self._floats[i])
        return value


@dataclass(frozen=True)
class _Moment:
    """What restrictions look at, at the start of a period (constant until its end)."""

    local: datetime
    elapsed_us: int
    energy_wh: Fraction  # charged so far in the session
    power_w: Fraction
    current_a: Fraction | None
    reserving: bool


@dataclass
class _Period:
    start: int
    end: int
    key: tuple[Any, ...]
    dimensions: dict[str, Fraction]
    powers: list[float]
    currents: list[float]

    def copy(self) -> _Period:
        return _Period(
            self.start,
            self.end,
            self.key,
            dict(self.dimensions),
            list(self.powers),
            list(self.currents),
        )


Match = tuple[int, int]  # (element index, price component index)


class _Pricer:
    def __init__(
        self,
        tariff: Tariff,
        usage: SessionUsage,
        zone: ZoneInfo,
        meter: _Meter,
        by_element: bool = False,
    ):
        self.tariff, self.usage, self.zone, self.meter = tariff, usage, zone, meter
        # 2.1.1: the first element whose restrictions hold prices every dimension (or leaves it
        # free); 2.2.1: each dimension is priced by the first element that prices it and holds.
        self.by_element = by_element
        self.base_wh = meter.energy(0)
        # volume per (bucket, element, component): Wh, microseconds, or a count for FLAT
        self.volumes: dict[tuple[str, int, int], Fraction] = {}
        self.last: dict[str, tuple[str, int, int]] = {}  # "ENERGY" / "TIME_LIKE" / _RES_TIME
        self.periods: list[_Period] = []
        self.boundaries = {_offset(usage.start, b) for b in usage.boundaries}

    # -- cutting the time line ------------------------------------------------------------

    def cuts(self, start: int, end: int, origin: int) -> list[int]:
        """Every moment in [start, end] where a restriction's answer or a reading can change."""
        points = set(self.meter.times) | self.boundaries
        for element in self.tariff.elements:
            r = element.restrictions
            if r is None:
                continue
            for seconds in (r.min_duration, r.max_duration):
                if seconds is not None:
                    points.add(origin + seconds * _US_PER_SECOND)
            for kwh in (r.min_kwh, r.max_kwh):
                if kwh is not None and end > 0:
                    points.update(self.meter.crossings(self.base_wh + _exact(kwh) * 1000))
        points.update(self._local_boundaries(start, end))
        return [start, *sorted(p for p in points if start < p < end), end] if end > start else []

    def _local_boundaries(self, start: int, end: int) -> Iterable[int]:
        clock = {time(0, 0)}
        for element in self.tariff.elements:
            r = element.restrictions
            for hhmm in (r.start_time, r.end_time) if r else ():
                if hhmm is not None:
                    clock.add(time(int(hhmm[:2]), int(hhmm[3:])))
        first = self._at(start).astimezone(self.zone).date() - timedelta(days=1)
        last = self._at(end).astimezone(self.zone).date() + timedelta(days=1)
        day = first
        while day <= last:
            for moment in clock:
                for fold in (0, 1):  # a time of day happens twice when the clocks go back
                    at = _local(day, moment.replace(fold=fold), self.zone)
                    yield _offset(self.usage.start, at)
            # A DST change moves the local clock without passing the times above.
            begin, finish = _local(day, time(0), self.zone), _local(day, time(23, 59), self.zone)
            if begin.astimezone(self.zone).utcoffset() != finish.astimezone(self.zone).utcoffset():
                yield _offset(self.usage.start, _transition(begin, finish, self.zone))
            day += timedelta(days=1)

    def _at(self, t: int) -> datetime:
        return self.usage.start + timedelta(microseconds=t)

    # -- restrictions ---------------------------------------------------------------------

    def moment(self, t: int, origin: int, *, reserving: bool) -> _Moment:
        current: Fraction | None = None
        if reserving:
            power, energy = Fraction(0), Fraction(0)
        else:
            i = self.meter.held(t)
            reading = self.meter.samples[i] if i >= 0 else None
            if reading is not None and reading.power_w is not None:
                power = self.meter.power_w(i)
            else:
                power = self.meter.average_power_w(t)
            if reading is not None and reading.current_a is not None:
                current = _exact(reading.current_a)
            energy = self.meter.energy(t) - self.base_wh
        return _Moment(
            local=self._at(t).astimezone(self.zone),
            elapsed_us=t - origin,
            energy_wh=energy,
            power_w=power,
            current_a=current,
            reserving=reserving,
        )

    def match(self, component_type: TariffDimensionType, m: _Moment) -> Match | None:
        """The first element that has a component of this type and whose restrictions hold
        (2.2.1); or the component of this type of the first element that holds (2.1.1)."""
        if self.by_element:
            for ei, element in enumerate(self.tariff.elements):
                if _holds(element.restrictions, m, self.usage.reservation):
                    ci = next(
                        (
                            i
                            for i, c in enumerate(element.price_components)
                            if c.type == component_type
                        ),
                        None,
                    )
                    return None if ci is None else (ei, ci)
            return None
        for ei, element in enumerate(self.tariff.elements):
            ci = next(
                (i for i, c in enumerate(element.price_components) if c.type == component_type),
                None,
            )
            if ci is not None and _holds(element.restrictions, m, self.usage.reservation):
                return ei, ci
        return None

    # -- pricing --------------------------------------------------------------------------

    def _bill(self, bucket: str, hit: Match | None, volume: Fraction) -> None:
        if hit is None or volume <= 0:
            return
        key = (bucket, *hit)
        held = self.volumes.get(key)
        self.volumes[key] = volume if held is None else held + volume
        last = "TIME_LIKE" if bucket in (_TIME, _PARKING) else bucket
        self.last[last] = key

    def flat(self, bucket: str, m: _Moment) -> None:
        self._bill(bucket, self.match(TariffDimensionType.FLAT, m), Fraction(1))

    def period(self, a: int, b: int, origin: int, *, reserving: bool) -> None:
        m = self.moment(a, origin, reserving=reserving)
        duration = Fraction(b - a)
        dimensions: dict[str, Fraction] = {}
        if reserving:
            time_hit = self.match(TariffDimensionType.TIME, m)
            self._bill(_RES_TIME, time_hit, duration)
            key: tuple[Any, ...] = ("reserving", time_hit)
            dimensions[_RES_TIME] = duration / _US_PER_HOUR
            powers: list[float] = []
            currents: list[float] = []
        else:
            charging = self.meter.average_power_w(a) > PARKING_POWER_W
            energy = self.meter.energy(b) - self.meter.energy(a)
            energy_hit = self.match(TariffDimensionType.ENERGY, m)
            self._bill(_ENERGY, energy_hit, energy)
            bucket = _TIME if charging else _PARKING
            time_hit = self.match(_COMPONENT_TYPE[bucket], m)
            self._bill(bucket, time_hit, duration)
            key = (bucket, energy_hit, time_hit)
            if charging or energy > 0:
                dimensions[_ENERGY] = energy / 1000
            dimensions[bucket] = duration / _US_PER_HOUR
            i = self.meter.held(a)
            reading = self.meter.samples[i] if i >= 0 else None
            powers = [reading.power_w] if reading and reading.power_w is not None else []
            currents = [reading.current_a] if reading and reading.current_a is not None else []
        previous = self.periods[-1] if self.periods else None
        if (
            previous is not None
            and previous.key == key
            and previous.end == a
            and a not in self.boundaries
        ):
            previous.end = b
            for name, volume in dimensions.items():
                held = previous.dimensions.get(name)
                previous.dimensions[name] = volume if held is None else held + volume
            previous.powers += powers
            previous.currents += currents
        else:
            self.periods.append(_Period(a, b, key, dimensions, powers, currents))

    def _round_up_to_steps(self) -> None:
        if self.by_element:
            # 2.1.1: each component bills its own volume in blocks of its step_size.
            for (bucket, ei, ci), volume in self.volumes.items():
                if bucket in _PER_STEP:
                    component = self.tariff.elements[ei].price_components[ci]
                    step = component.step_size * _PER_STEP[bucket]
                    if step > 0:
                        self.volumes[bucket, ei, ci] = Fraction(math.ceil(volume / step) * step)
            return
        # One rounding per session and family, by the last component that billed it, on the
        # total billed in that component's dimension (ADR 006).
        for family in (_ENERGY, "TIME_LIKE", _RES_TIME):
            key = self.last.get(family)
            if key is None:
                continue
            bucket, ei, ci = key
            step = self.tariff.elements[ei].price_components[ci].step_size * _PER_STEP[bucket]
            if step <= 0:
                continue
            total = sum((v for (b, _, _), v in self.volumes.items() if b == bucket), Fraction(0))
            extra = math.ceil(total / step) * step - total
            self.volumes[key] += extra

    def result(self, end: int) -> Priced:
        self._round_up_to_steps()
        buckets_of = {
            "energy": (_ENERGY,),
            "time": (_TIME,),
            "parking": (_PARKING,),
            "fixed": (_FLAT,),
            "reservation": (_RES_TIME, _RES_FLAT),
        }
        costs = {name: self._cost(buckets) for name, buckets in buckets_of.items()}
        excl = sum((c[0] for c in costs.values() if c), Decimal(0))
        known = all(c[1] is not None for c in costs.values() if c)
        incl = sum((c[1] or Decimal(0) for c in costs.values() if c), Decimal(0))
        total = _clamp(excl, incl if known else None, self.tariff.min_price, self.tariff.max_price)

        charging = sum((p.end - p.start for p in self.periods if p.key[0] == _TIME), 0)
        parking = sum((p.end - p.start for p in self.periods if p.key[0] == _PARKING), 0)
        return Priced(
            charging_periods=[self._wire(p) for p in self.periods],
            total_cost=total,
            total_energy_cost=_price_dict(costs["energy"]),
            total_time_cost=_price_dict(costs["time"]),
            total_parking_cost=_price_dict(costs["parking"]),
            total_fixed_cost=_price_dict(costs["fixed"]),
            total_reservation_cost=_price_dict(costs["reservation"]),
            total_energy=_number((self.meter.energy(end) - self.base_wh) / 1000),
            total_time=_number(Fraction(charging, _US_PER_HOUR)),
            total_parking_time=_number(Fraction(parking, _US_PER_HOUR)),
        )

    def _cost(self, buckets: tuple[str, ...]) -> tuple[Decimal, Decimal | None] | None:
        """Exact sum of the buckets' money, then rounded to cents; None if nothing billed."""
        excl, incl, vat_known, billed = Fraction(0), Fraction(0), True, False
        for (bucket, ei, ci), volume in self.volumes.items():
            if bucket not in buckets:
                continue
            component = self.tariff.elements[ei].price_components[ci]
            amount = _exact(component.price) * volume / _PER_UNIT.get(bucket, 1)
            billed = True
            excl += amount
            if component.vat is None:
                vat_known = False
            else:
                incl += amount * (1 + _exact(component.vat) / 100)
        if not billed:
            return None
        return _cents(excl), _cents(incl) if vat_known else None

    def _wire(self, p: _Period) -> dict[str, Any]:
        dimensions = [
            {"type": name, "volume": _number(volume)} for name, volume in p.dimensions.items()
        ]
        for kind, values, scale in (("POWER", p.powers, 1000), ("CURRENT", p.currents, 1)):
            if values:
                dimensions.append({"type": f"MAX_{kind}", "volume": _number(max(values) / scale)})
                dimensions.append({"type": f"MIN_{kind}", "volume": _number(min(values) / scale)})
        return {
            "start_date_time": timestamp(self._at(p.start)),
            "dimensions": dimensions,
            "tariff_id": self.tariff.id,
        }


def _holds(r: TariffRestrictions | None, m: _Moment, reservation: Reservation | None) -> bool:
    # An element with a reservation restriction prices the reservation only, and only for
    # the kind of reservation that preceded this session; every other element prices charging.
    wanted = reservation if m.reserving else None
    if (r.reservation if r is not None else None) != wanted:
        return False
    if r is None:
        return True
    if r.start_time is not None or r.end_time is not None:
        now = m.local.hour * 60 + m.local.minute
        lo = _minutes(r.start_time) if r.start_time else 0
        hi = (_minutes(r.end_time) or 24 * 60) if r.end_time else 24 * 60  # 00:00 ends the day
        inside = lo <= now < hi if lo <= hi else (now >= lo or now < hi)
        if not inside:
            return False
    today = m.local.date().isoformat()
    if r.start_date is not None and today < r.start_date:
        return False
    if r.end_date is not None and today >= r.end_date:
        return False
    if r.day_of_week is not None and _WEEKDAYS[m.local.weekday()] not in r.day_of_week:
        return False
    kwh = m.energy_wh / 1000
    if not _within(kwh, r.min_kwh, r.max_kwh):
        return False
    if not _within(m.power_w / 1000, r.min_power, r.max_power):  # kW, as the spec says
        return False
    if r.min_current is not None or r.max_current is not None:
        if m.current_a is None or not _within(m.current_a, r.min_current, r.max_current):
            return False
    seconds = Fraction(m.elapsed_us, _US_PER_SECOND)
    return _within(
        seconds,
        None if r.min_duration is None else float(r.min_duration),
        None if r.max_duration is None else float(r.max_duration),
    )


def _within(value: Fraction, low: float | None, high: float | None) -> bool:
    """Minimums are inclusive, maximums exclusive (OCPI 2.2.1 TariffRestrictions)."""
    if low is not None and value < _exact(low):
        return False
    return high is None or value < _exact(high)


def _minutes(hhmm: str) -> int:
    return int(hhmm[:2]) * 60 + int(hhmm[3:])


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _transition(before: datetime, after: datetime, zone: ZoneInfo) -> datetime:
    """The first minute at which the UTC offset is after's (offsets change on the minute)."""
    offset = after.astimezone(zone).utcoffset()
    low, high = 0, (after - before) // timedelta(minutes=1)
    while low < high:
        mid = (low + high) // 2
        if (before + timedelta(minutes=mid)).astimezone(zone).utcoffset() == offset:
            high = mid
        else:
            low = mid + 1
    return before + timedelta(minutes=low)


def _decimal(value: Fraction) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 60
        return Decimal(value.numerator) / Decimal(value.denominator)


def _cents(value: Fraction) -> Decimal:
    return _decimal(value).quantize(_CENTS, rounding=ROUND_HALF_UP)


def _number(value: Fraction | float) -> float:
    exact = _decimal(value) if isinstance(value, Fraction) else Decimal(repr(value))
    return float(exact.quantize(_OCPI_NUMBER, rounding=ROUND_HALF_UP))


def _price_dict(cost: tuple[Decimal, Decimal | None] | None) -> PriceDict | None:
    if cost is None or cost[0] == 0:
        return None
    return _as_price(*cost)


def _as_price(excl: Decimal, incl: Decimal | None) -> PriceDict:
    result = {"excl_vat": float(excl)}
    if incl is not None:
        result["incl_vat"] = float(incl)
    return result


def _clamp(excl: Decimal, incl: Decimal | None, low: Price | None, high: Price | None) -> PriceDict:
    """min_price and max_price bound excl and incl VAT separately. When a bound without
    incl_vat moves excl_vat, incl_vat moves with it at the session's own VAT ratio (and is
    unknown if excl_vat was 0, so there is no ratio)."""
    clamped = excl
    if low is not None:
        clamped = max(clamped, _money(low.excl_vat))
    if high is not None:
        clamped = min(clamped, _money(high.excl_vat))
    mover = low if clamped > excl else high if clamped < excl else None
    if incl is not None and mover is not None and mover.incl_vat is None:
        incl = (clamped * incl / excl).quantize(_CENTS, rounding=ROUND_HALF_UP) if excl else None
    if incl is not None and low is not None and low.incl_vat is not None:
        incl = max(incl, _money(low.incl_vat))
    if incl is not None and high is not None and high.incl_vat is not None:
        incl = min(incl, _money(high.incl_vat))
    return _as_price(clamped, incl)


def _money(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(_CENTS, rounding=ROUND_HALF_UP)
