"""OCPI 2.2.1 Credentials objects: the token, versions URL and roles each side hands the other."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from cpo.ocpi.models import URL, BusinessDetails, CountryCode, PartyId, Role, Wire


class CredentialsRole(Wire):
    role: Role
    business_details: BusinessDetails
    party_id: PartyId
    country_code: CountryCode


def _token(value: str) -> str:
    if not all("\x21" <= ch <= "\x7e" for ch in value):
        raise ValueError("must be printable ASCII without spaces")
    return value


# string(64), and printable ASCII without spaces: it follows "Token " in Authorization headers.
CredentialsToken = Annotated[
    str, StringConstraints(min_length=1, max_length=64), AfterValidator(_token)
]


class Credentials(Wire):
    token: CredentialsToken
    url: URL
    roles: Annotated[list[CredentialsRole], Field(min_length=1)]

    def unique_roles(self) -> bool:
        keys = {(r.role, r.country_code.upper(), r.party_id.upper()) for r in self.roles}
        return len(keys) == len(self.roles)
