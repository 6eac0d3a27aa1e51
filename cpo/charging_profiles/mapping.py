"""Between OCPI's ChargingProfile and OCPP's: an eMSP's profile as the TxProfile a charger is
sent, and a charger's composite schedule as the ActiveChargingProfile an eMSP is told."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cpo.charging_profiles.v221 import ChargingProfile
from cpo.ocpi.models import parse_datetime
from cpo.ocpi.responses import timestamp
from csms.commands.port import INT32_MAX, CommandResult
from csms.commands.smart_charging import ChargingProfile as OcppProfile
from csms.commands.smart_charging import SchedulePeriod

# The OCPP profile an eMSP's profile becomes, one per EVSE of a charger: its id is this base
# plus the EVSE id, a band of its own (the operator picks small ids, the site power limit
# INT32_MAX - 29, a charging limit 1), so it replaces only the eMSP profile of the session
# that ran on that EVSE before (a TxProfile ends with its transaction anyway).
PROFILE_ID_BASE = 2_000_000_000
EVSE_ID_MAX = INT32_MAX - 100 - PROFILE_ID_BASE  # stays clear of the site limit's id
# Above the stack level 0 of the TxProfiles the platform sets itself (the operator's charging
# limit, the driver's charging preferences): the eMSP's latest word on its session wins over
# those, while a StationMax (the site power limit) still caps it, being another purpose.
STACK_LEVEL = 1


def profile_id(evse_id: int) -> int:
    return PROFILE_ID_BASE + evse_id


def to_ocpp(profile: ChargingProfile, evse_id: int, transaction_id: int) -> OcppProfile:
    """The TxProfile for the platform's transaction: Absolute from `start_date_time`, or
    Relative to the start of charging when there is none (OCPI's own reading of its absence)."""
    return OcppProfile(
        id=profile_id(evse_id),
        stack_level=STACK_LEVEL,
        purpose="Tx",
        kind="Absolute" if profile.start_date_time is not None else "Relative",
        transaction_id=transaction_id,
        unit=profile.charging_rate_unit,
        starts_at=profile.start_date_time,
        duration=profile.duration,
        min_rate=profile.min_charging_rate,
        periods=[
            SchedulePeriod(start_period=p.start_period, limit=p.limit)
            for p in profile.charging_profile_period
        ],
    )


def active_profile(result: CommandResult, now: datetime) -> dict[str, Any] | None:
    """The ActiveChargingProfile in a GetCompositeSchedule answer (1.6 `charging_schedule`,
    2.0.1 `schedule`), or None when the charger gave none."""
    data = result.data
    schedule = data.get("charging_schedule") or data.get("schedule")
    if not isinstance(schedule, dict):
        return None
    start = _when(
        data.get("schedule_start")
        or schedule.get("schedule_start")
        or schedule.get("start_schedule"),
        now,
    )
    periods = [
        {"start_period": int(p["start_period"]), "limit": round(float(p["limit"]), 1)}
        for p in schedule.get("charging_schedule_period") or []
        if isinstance(p, dict) and "start_period" in p and "limit" in p
    ]
    if not periods:
        return None
    profile: dict[str, Any] = {
        "start_date_time": start,
        "charging_rate_unit": schedule.get("charging_rate_unit") or "W",
        "charging_profile_period": periods,
    }
    if schedule.get("duration") is not None:
        profile["duration"] = int(schedule["duration"])
    if schedule.get("min_charging_rate") is not None:
        profile["min_charging_rate"] = round(float(schedule["min_charging_rate"]), 1)
    return {"start_date_time": start, "charging_profile": profile}


def full_power(max_w: float, duration: int, now: datetime) -> dict[str, Any]:
    """What OCPI asks for when no profile bounds the EVSE any more: its whole capacity."""
    start = timestamp(now)
    return {
        "start_date_time": start,
        "charging_profile": {
            "start_date_time": start,
            "duration": duration,
            "charging_rate_unit": "W",
            "charging_profile_period": [{"start_period": 0, "limit": round(max_w, 1)}],
        },
    }


def _when(value: Any, now: datetime) -> str:
    """A charger's time as OCPI's DateTime; one it garbled is replaced by the time it answered."""
    try:
        return timestamp(parse_datetime(value))
    except (ValueError, TypeError):
        return timestamp(now)
