"""The operator's own CPO roles: the party ids one deployment serves, the first the default.

Each Location and Tariff belongs to one of them (its country_code/party_id); what is sent about
an object (its Sessions, CDRs, command results, real-time authorizations at it) is sent as that
role, and a peer may address any of them (docs/adr/032-several-cpo-party-ids.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cpo.ocpi.headers import PartyRef
from cpo.ocpi.models import VersionNumber
from cpo.settings import Settings


class NotOurs(ValueError):
    """A country code and party id that is none of our roles."""


@dataclass(frozen=True)
class OurRole:
    ref: PartyRef
    business_details: dict[str, Any] = field(default_factory=dict)


class OurRoles:
    """`listed`: the roles were listed (CPO_ROLES), so an object naming another party is
    refused. A deployment of one id from the single-party settings takes the country code and
    party id it is given, as it always did (an import names them as its source had them)."""

    def __init__(self, roles: Iterable[OurRole], listed: bool = True) -> None:
        self.all = tuple(roles)
        self.listed = listed
        if not self.all:
            raise ValueError("a CPO has at least one role")

    @classmethod
    def of(cls, settings: Settings) -> OurRoles:
        return cls(
            (
                OurRole(
                    PartyRef(r.country_code, r.party_id),
                    r.business_details.model_dump(exclude_none=True),
                )
                for r in settings.cpo_roles
            ),
            listed=settings.roles is not None,
        )

    @classmethod
    def single(cls, ref: PartyRef, business_details: dict[str, Any] | None = None) -> OurRoles:
        """One role, taking what it is given as a one-id deployment does."""
        return cls([OurRole(ref, business_details or {})], listed=False)

    @property
    def default(self) -> PartyRef:
        return self.all[0].ref

    @property
    def refs(self) -> list[PartyRef]:
        return [r.ref for r in self.all]

    def find(self, country_code: str, party_id: str) -> PartyRef | None:
        """Our role of that name (compared without regard to case, as OCPI does), or None."""
        wanted = PartyRef(country_code, party_id)
        return next((r for r in self.refs if r.same(wanted)), None)

    def role_of(self, country_code: str, party_id: str) -> PartyRef:
        """The role that speaks for a stored object of this country code and party id: its own,
        or the default for one a one-id deployment took under another name."""
        return self.find(country_code, party_id) or self.default

    def in_url(self, country_code: str, party_id: str, version: VersionNumber) -> tuple[str, str]:
        """Where an object goes at a peer: under its own country code and party id; but a 2.1.1
        peer, whose registration knows one party of ours (the default, all 2.1.1 credentials
        hold), keeps every role's objects under the default's."""
        if version == VersionNumber.V2_1_1 and self.find(country_code, party_id) is not None:
            return self.default.country_code, self.default.party_id
        return country_code, party_id

    def owner(self, country_code: str | None, party_id: str | None) -> PartyRef:
        """What an object the operator gives is to be stored under: the role it names, the
        default's where it names none; NotOurs when it names another party (roles listed)."""
        if not country_code and not party_id:
            return self.default
        given = PartyRef(
            country_code or self.default.country_code, party_id or self.default.party_id
        )
        found = self.find(given.country_code, given.party_id)
        if found is None and not self.listed:
            return given
        if found is None:
            raise NotOurs(
                f"{country_code or '?'}/{party_id or '?'} is none of this platform's party ids"
                f" ({self.names()})"
            )
        return found

    def names(self) -> str:
        return ", ".join(map(str, self.refs))

    def view(self) -> list[dict[str, Any]]:
        """Our roles as the operator is shown them, the default first."""
        return [
            {
                "country_code": r.ref.country_code,
                "party_id": r.ref.party_id,
                "business_details": r.business_details,
                "default": i == 0,
            }
            for i, r in enumerate(self.all)
        ]
