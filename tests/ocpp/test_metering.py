"""Meter readings of both versions normalised to base units, quirks included."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from csms import clock
from csms.metering import energy_register_wh, normalise

AT = datetime(2026, 5, 1, 12, tzinfo=UTC)


def test_16_units_scale_to_base_units() -> None:
    assert normalise(AT, {"value": "1.5", "unit": "kWh"}).value == 1500.0
    assert (
        normalise(AT, {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"}).value
        == 7200.0
    )
    assert (
        normalise(AT, {"value": "300", "measurand": "Temperature", "unit": "K"}).value
        == 300 - 273.15
    )
    celcius = normalise(AT, {"value": "21", "measurand": "Temperature", "unit": "Celcius"})
    assert (celcius.value, celcius.unit) == (21.0, "Celsius")
    assert normalise(AT, {"value": "50", "measurand": "Frequency", "unit": "Hertz"}).unit == "Hz"


def test_defaults_follow_the_measurand() -> None:
    energy = normalise(AT, {"value": "1234"})
    assert (energy.measurand, energy.unit, energy.value) == (
        "Energy.Active.Import.Register",
        "Wh",
        1234.0,
    )
    assert normalise(AT, {"value": "16", "measurand": "Current.Import"}).unit == "A"


def test_201_multiplier_and_unit_of_measure() -> None:
    sample = normalise(AT, {"value": 12.5, "unit_of_measure": {"unit": "kWh", "multiplier": 1}})
    assert sample.value == 125_000.0
    signed = normalise(
        AT,
        {
            "value": 10,
            "signed_meter_value": {
                "signed_meter_data": "ABC",
                "signing_method": "x",
                "encoding_method": "y",
                "public_key": "k",
            },
        },
    )
    assert signed.signed_data == "ABC" and signed.value == 10.0


def test_signed_16_value_is_kept_as_signed_data() -> None:
    sample = normalise(AT, {"value": "OCMF|{...}", "format": "SignedData"})
    assert sample.value is None and sample.signed_data == "OCMF|{...}"


def test_kwh_labelled_wh_is_fixed_by_the_station_override() -> None:
    assert (
        normalise(AT, {"value": "12.3", "unit": "Wh"}, energy_unit_override="kWh").value == 12_300.0
    )
    assert (
        normalise(
            AT, {"value": "230", "measurand": "Voltage", "unit": "V"}, energy_unit_override="kWh"
        ).value
        == 230.0
    )


def test_junk_values_become_none_not_errors() -> None:
    assert normalise(AT, {"value": "n/a"}).value is None
    assert normalise(AT, {"value": "NaN"}).value is None
    assert normalise(AT, {}).value is None


def test_billing_register_prefers_the_total_then_sums_phases() -> None:
    phases = [
        normalise(AT, {"value": v, "phase": p})
        for v, p in (("100", "L1"), ("200", "L2"), ("300", "L3"))
    ]
    assert energy_register_wh(phases) == 600.0
    inlet = normalise(AT, {"value": "999", "location": "Inlet"})
    assert energy_register_wh([*phases, inlet]) == 600.0
    assert energy_register_wh([*phases, normalise(AT, {"value": "650"})]) == 650.0


@given(
    st.floats(min_value=0, max_value=1e9, allow_nan=False),
    st.sampled_from(["Wh", "kWh"]),
    st.integers(min_value=-3, max_value=3),
)
def test_energy_is_always_wh_and_proportional(value: float, unit: str, multiplier: int) -> None:
    sample = normalise(
        AT, {"value": value, "unit_of_measure": {"unit": unit, "multiplier": multiplier}}
    )
    factor = (1000.0 if unit == "kWh" else 1.0) * 10.0**multiplier
    assert sample.unit == "Wh"
    assert sample.value is not None and abs(sample.value - value * factor) <= 1e-6 * max(
        1.0, value * factor
    )


def test_implausible_timestamps_fall_back_to_receive_time() -> None:
    received = datetime(2026, 5, 1, 12, tzinfo=UTC)
    assert clock.parse("1970-01-01T00:00:00Z", received) == (received, True)
    assert clock.parse("2027-05-01T00:00:00Z", received) == (received, True)
    assert clock.parse("garbage", received) == (received, True)
    assert clock.parse(None, received) == (received, True)
    assert clock.parse("2026-05-01T11:59:00+02:00", received) == (
        datetime(2026, 5, 1, 9, 59, tzinfo=UTC),
        False,
    )
    assert clock.parse("2026-05-01T11:59:00", received) == (
        datetime(2026, 5, 1, 11, 59, tzinfo=UTC),
        False,
    )
