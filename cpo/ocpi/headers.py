"""OCPI request headers: request and correlation ids, and the OCPI-from/to routing headers."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

REQUEST_ID = "X-Request-ID"
CORRELATION_ID = "X-Correlation-ID"
FROM_COUNTRY = "OCPI-from-country-code"
FROM_PARTY = "OCPI-from-party-id"
TO_COUNTRY = "OCPI-to-country-code"
TO_PARTY = "OCPI-to-party-id"

_ID = re.compile(r"^[\x21-\x7e]{1,64}$")


def new_id() -> str:
    return str(uuid.uuid4())


def usable_id(value: str | None) -> str | None:
    """A peer's id is echoed only when it is printable and at most 64 characters long."""
    return value if value and _ID.match(value) else None


@dataclass(frozen=True)
class PartyRef:
    """A (country code, party id) pair: who a functional request is from or to."""

    country_code: str
    party_id: str

    def same(self, other: PartyRef) -> bool:
        return (
            self.country_code.upper() == other.country_code.upper()
            and self.party_id.upper() == other.party_id.upper()
        )

    def __str__(self) -> str:
        return f"{self.country_code}/{self.party_id}"


def routing(sender: PartyRef, receiver: PartyRef) -> dict[str, str]:
    return {
        FROM_COUNTRY: sender.country_code,
        FROM_PARTY: sender.party_id,
        TO_COUNTRY: receiver.country_code,
        TO_PARTY: receiver.party_id,
    }
