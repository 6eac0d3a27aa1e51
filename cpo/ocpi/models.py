"""OCPI 2.2.1 types shared by every module (spec names): strings, dates, roles, images, business
details, display texts, prices."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from cpo.ocpi.responses import timestamp


def cistring(n: int, min_length: int = 1) -> StringConstraints:
    """CiString(n): printable ASCII, at most n characters, compared without regard to case.

    Used as `Annotated[str, cistring(36)]`."""
    return StringConstraints(min_length=min_length, max_length=n, pattern=r"^[\x20-\x7e]*$")


def string(n: int, min_length: int = 0) -> StringConstraints:
    """string(n): printable UTF-8, at most n characters. Used as `Annotated[str, string(255)]`."""
    return StringConstraints(min_length=min_length, max_length=n)


def _url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value


URL = Annotated[str, StringConstraints(min_length=8, max_length=255), AfterValidator(_url)]


def parse_datetime(value: Any) -> datetime:
    """RFC 3339; a missing offset means UTC (as OCPI allows); anything is kept in UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and 0 < len(value) <= 35:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    else:
        raise ValueError("must be an RFC 3339 date and time")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-01:00 is after the last day there is
        raise ValueError("must be a date and time between the years 1 and 9999 in UTC") from None


DateTime = Annotated[
    datetime, BeforeValidator(parse_datetime), PlainSerializer(timestamp, return_type=str)
]


def problems_of(error: ValidationError, prefix: str = "") -> list[dict[str, Any]]:
    """A validation error as the list OCPI answers and admin errors carry: field and problem."""
    return [
        {"field": prefix + ".".join(map(str, err["loc"])) or "(body)", "problem": err["msg"]}
        for err in error.errors(include_url=False, include_context=False, include_input=False)
    ]


class Wire(BaseModel):
    """Wire objects keep unknown fields out of our way and leave out what is None."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class VersionNumber(enum.StrEnum):
    """An OCPI version this code knows; each is served at /ocpi/{version}/ when enabled."""

    V2_1_1 = "2.1.1"
    V2_2_1 = "2.2.1"
    V2_3_0 = "2.3.0"

    @property
    def key(self) -> tuple[int, ...]:
        return tuple(int(part) for part in self.value.split("."))

    @property
    def routed(self) -> bool:
        """Whether calls to functional modules carry OCPI-from-* and OCPI-to-* (2.2 on)."""
        return self != VersionNumber.V2_1_1


# The versions whose every module this code serves in that version's shapes: only these may
# be enabled (CPO_OCPI_VERSIONS).
IMPLEMENTED: tuple[VersionNumber, ...] = tuple(VersionNumber)


def newest_first(versions: Iterable[VersionNumber]) -> list[VersionNumber]:
    return sorted(set(versions), key=lambda v: v.key, reverse=True)


class Role(enum.StrEnum):
    CPO = "CPO"
    EMSP = "EMSP"
    HUB = "HUB"
    NAP = "NAP"
    NSP = "NSP"
    OTHER = "OTHER"
    SCSP = "SCSP"


class InterfaceRole(enum.StrEnum):
    SENDER = "SENDER"
    RECEIVER = "RECEIVER"


class ImageCategory(enum.StrEnum):
    CHARGER = "CHARGER"
    ENTRANCE = "ENTRANCE"
    LOCATION = "LOCATION"
    NETWORK = "NETWORK"
    OPERATOR = "OPERATOR"
    OTHER = "OTHER"
    OWNER = "OWNER"


class Image(Wire):
    url: URL
    thumbnail: URL | None = None
    category: ImageCategory
    type: Annotated[str, cistring(4)]
    width: Annotated[int, Field(ge=0, le=99999)] | None = None
    height: Annotated[int, Field(ge=0, le=99999)] | None = None


class BusinessDetails(Wire):
    name: Annotated[str, string(100, 1)]
    website: URL | None = None
    logo: Image | None = None


CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")]
PartyId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{3}$")]


class DisplayText(Wire):
    language: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")]
    text: Annotated[str, string(512, 1)]


class Price(Wire):
    """Applied to the amounts without and with VAT separately (min_price, max_price, totals)."""

    excl_vat: Annotated[float, Field(ge=0)]
    incl_vat: Annotated[float, Field(ge=0)] | None = None


def invalid(message: str) -> PydanticCustomError:
    """A validation error whose message is exactly `message` (no "Value error, " prefix)."""
    return PydanticCustomError("ocpi_invalid", message)


_HOUR_MINUTE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def _hour_minute(value: str) -> str:
    if not _HOUR_MINUTE.match(value):
        raise invalid(f"{value!r} is not a time of day HH:MM between 00:00 and 23:59")
    return value


HourMinute = Annotated[str, AfterValidator(_hour_minute)]
"""str(5) `HH:MM`, local time, as RegularHours and TariffRestrictions use it."""
