"""OCPI 2.1.1 Credentials object: the token, versions URL and the one party each side hands the
other, and the converters to and from the stored 2.2.1 form.

What 2.1.1 differs in: no `roles` list; the party (business_details, party_id, country_code)
is at the top level, one per connection, and its role is not said (the versions URL it was
exchanged on says it)."""

from __future__ import annotations

from typing import Any

from cpo.credentials.v221 import Credentials as Credentials221
from cpo.credentials.v221 import CredentialsToken
from cpo.ocpi.models import URL, CountryCode, PartyId, Role, Wire
from cpo.ocpi.models_v211 import BusinessDetails, business_details_out

__all__ = ["Credentials", "credentials_in", "credentials_out"]


class Credentials(Wire):
    token: CredentialsToken  # 2.1.1's string(64), without spaces as in 2.2.1 (where it is kept)
    url: URL
    business_details: BusinessDetails
    party_id: PartyId
    country_code: CountryCode


def credentials_in(credentials: Credentials, role: str = "EMSP") -> dict[str, Any]:
    """2.1.1 Credentials as the platform stores them (2.2.1), with one role: `role`."""
    stored = {
        "token": credentials.token,
        "url": credentials.url,
        "roles": [
            {
                "role": Role(role),
                "business_details": credentials.business_details.wire(),
                "party_id": credentials.party_id,
                "country_code": credentials.country_code,
            }
        ],
    }
    return Credentials221.model_validate(stored).wire()


def credentials_out(stored: dict[str, Any]) -> dict[str, Any]:
    """Stored 2.2.1 Credentials as 2.1.1 sends them: the first role, flattened."""
    first = stored["roles"][0]
    out = {
        "token": stored["token"],
        "url": stored["url"],
        "business_details": business_details_out(first["business_details"]),
        "party_id": first["party_id"],
        "country_code": first["country_code"],
    }
    return Credentials.model_validate(out).wire()
