"""The ChargingProfiles module's wire objects, 2.2.1 field for field; 2.3.0's are the same (it
only rewords what W means). What the platform could never carry to a charger, or a charger
could not hold, is refused here: OCPI 2001."""

from __future__ import annotations

import enum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from cpo.ocpi.models import URL, DateTime, Wire

# A day in quarter hours: more than chargers take (OCPP's ChargingScheduleMaxPeriods is
# commonly 24 to 48), far fewer than an eMSP could send to make work for nobody.
PERIODS_MAX = 96
# A profile for one charging session: a month is more than any session lasts.
DURATION_MAX = 31 * 24 * 3600
# What a charger is asked for at most (the csms's own bound on GetCompositeSchedule).
ACTIVE_DURATION_MAX = 7 * 24 * 3600
# Limits: 10 MW in total (W), 2000 A per phase (A); anything above is no EVSE's.
LIMIT_MAX = {"W": 10_000_000.0, "A": 2_000.0}


class ChargingProfileResponseType(enum.StrEnum):
    ACCEPTED = "ACCEPTED"
    NOT_SUPPORTED = "NOT_SUPPORTED"
    REJECTED = "REJECTED"
    TOO_OFTEN = "TOO_OFTEN"
    UNKNOWN_SESSION = "UNKNOWN_SESSION"


class ChargingProfileResultType(enum.StrEnum):
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    UNKNOWN = "UNKNOWN"


class ChargingProfilePeriod(Wire):
    start_period: Annotated[int, Field(ge=0, le=DURATION_MAX)]
    limit: Annotated[float, Field(ge=0, allow_inf_nan=False)]


class ChargingProfile(Wire):
    start_date_time: DateTime | None = None
    duration: Annotated[int, Field(ge=1, le=DURATION_MAX)] | None = None
    charging_rate_unit: Literal["W", "A"]
    min_charging_rate: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    # OCPI allows none; OCPP needs at least one, and there is nothing to limit without one.
    charging_profile_period: Annotated[
        list[ChargingProfilePeriod], Field(min_length=1, max_length=PERIODS_MAX)
    ]

    @model_validator(mode="after")
    def _chargeable(self) -> ChargingProfile:
        highest = LIMIT_MAX[self.charging_rate_unit]
        limits = [p.limit for p in self.charging_profile_period]
        if self.min_charging_rate is not None:
            limits.append(self.min_charging_rate)
        if max(limits) > highest:
            raise ValueError(f"a limit in {self.charging_rate_unit} is at most {highest:g}")
        starts = [p.start_period for p in self.charging_profile_period]
        if starts[0] != 0 or starts != sorted(set(starts)):
            raise ValueError("periods start at 0, each later than the one before")
        if self.duration is not None and starts[-1] >= self.duration:
            raise ValueError("every period starts within the profile's duration")
        return self


class SetChargingProfile(Wire):
    charging_profile: ChargingProfile
    response_url: URL
