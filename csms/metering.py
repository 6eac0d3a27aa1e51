"""Meter readings from either OCPP version, normalised to base units (Wh, W, A, V, Celsius, Percent, Hz)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

ENERGY_REGISTER = "Energy.Active.Import.Register"

# unit as the charger spells it -> (base unit, factor)
_UNITS: dict[str, tuple[str, float]] = {
    "Wh": ("Wh", 1.0),
    "kWh": ("Wh", 1000.0),
    "varh": ("varh", 1.0),
    "kvarh": ("varh", 1000.0),
    "W": ("W", 1.0),
    "kW": ("W", 1000.0),
    "VA": ("VA", 1.0),
    "kVA": ("VA", 1000.0),
    "var": ("var", 1.0),
    "kvar": ("var", 1000.0),
    "A": ("A", 1.0),
    "V": ("V", 1.0),
    "Celsius": ("Celsius", 1.0),
    "Celcius": ("Celsius", 1.0),  # the 1.6 errata's spelling, sent by real chargers
    "Percent": ("Percent", 1.0),
    "Hertz": ("Hz", 1.0),
    "Hz": ("Hz", 1.0),
    "RPM": ("RPM", 1.0),
}


def _default_unit(measurand: str) -> str | None:
    if measurand.startswith("Energy.Reactive"):
        return "varh"
    if measurand.startswith("Energy"):
        return "Wh"
    if measurand.startswith("Power.Reactive"):
        return "var"
    if measurand.startswith("Power.Factor"):
        return None
    if measurand.startswith("Power"):
        return "W"
    if measurand.startswith("Current"):
        return "A"
    if measurand == "Voltage":
        return "V"
    if measurand == "SoC":
        return "Percent"
    if measurand == "Temperature":
        return "Celsius"
    if measurand == "Frequency":
        return "Hz"
    return None


@dataclass(frozen=True, slots=True)
class Sample:
    timestamp: datetime
    measurand: str
    value: float | None
    unit: str | None
    phase: str | None = None
    location: str | None = None
    context: str | None = None
    signed_data: str | None = None

    @property
    def is_energy_register(self) -> bool:
        """The reading that bills: the total import register at the outlet, not per phase."""
        return (
            self.measurand == ENERGY_REGISTER
            and self.phase is None
            and self.location in (None, "Outlet")
            and self.value is not None
        )


def normalise(
    timestamp: datetime,
    sampled: dict[str, Any],
    energy_unit_override: str | None = None,
) -> Sample:
    """One 1.6 or 2.0.1 sampled value (snake_case keys as the ocpp library hands them over)."""
    measurand = sampled.get("measurand") or ENERGY_REGISTER
    unit_of_measure = sampled.get("unit_of_measure") or {}
    unit = sampled.get("unit") or unit_of_measure.get("unit") or _default_unit(measurand)
    multiplier = unit_of_measure.get("multiplier", 0) or 0
    signed = sampled.get("signed_meter_value")
    signed_data = signed.get("signed_meter_data") if isinstance(signed, dict) else None

    raw = sampled.get("value")
    value: float | None
    if sampled.get("format") == "SignedData":
        signed_data, value = str(raw), None
    else:
        value = _number(raw)

    if energy_unit_override and unit == "Wh" and measurand.startswith("Energy"):
        unit = energy_unit_override
    if temp := _temperature(unit, value):
        unit, value = temp
    base = _UNITS.get(unit) if unit else None
    if value is not None:
        value *= 10.0**multiplier
        if base:
            value *= base[1]
    return Sample(
        timestamp=timestamp,
        measurand=measurand,
        value=value,
        unit=base[0] if base else unit,
        phase=sampled.get("phase"),
        location=sampled.get("location"),
        context=sampled.get("context"),
        signed_data=signed_data,
    )


def _number(raw: Any) -> float | None:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if value == value and abs(value) != float("inf") else None


def _temperature(unit: str | None, value: float | None) -> tuple[str, float | None] | None:
    if unit == "K":
        return "Celsius", None if value is None else value - 273.15
    if unit == "Fahrenheit":
        return "Celsius", None if value is None else (value - 32.0) * 5.0 / 9.0
    return None


def energy_register_wh(samples: list[Sample]) -> float | None:
    """The billing register of one meter value: the total, or the sum of the phases if that is all there is."""
    totals = [s.value for s in samples if s.is_energy_register and s.value is not None]
    if totals:
        return totals[-1]
    phases = [
        s.value
        for s in samples
        if s.measurand == ENERGY_REGISTER
        and s.phase in ("L1", "L2", "L3")
        and s.location in (None, "Outlet")
        and s.value is not None
    ]
    return sum(phases) if phases else None


def latest_register(
    samples: list[Sample], wh: float | None, at: datetime | None
) -> tuple[float | None, datetime | None]:
    """The latest register reading (Wh, when) by the charger's clock after these samples,
    from the one known before, whatever order the messages came in."""
    by_time: dict[datetime, list[Sample]] = {}
    for s in samples:
        by_time.setdefault(s.timestamp, []).append(s)
    for moment in sorted(by_time):
        reading = energy_register_wh(by_time[moment])
        if reading is not None and (at is None or moment >= at):
            wh, at = reading, moment
    return wh, at


def summary(samples: list[Sample]) -> dict[str, float]:
    """The latest value of each total (phase-less) measurand, for the event log."""
    out: dict[str, float] = {}
    for s in samples:
        if s.value is not None and s.phase is None and s.location in (None, "Outlet", "EV"):
            out[s.measurand] = s.value
    if ENERGY_REGISTER not in out and (wh := energy_register_wh(samples)) is not None:
        out[ENERGY_REGISTER] = wh
    return out
