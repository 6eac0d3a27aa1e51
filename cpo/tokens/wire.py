"""Tokens on the wire in each OCPI version: each read into the form they are stored in (2.2.1's)."""

from __future__ import annotations

from typing import Any

from cpo.ocpi.models import VersionNumber
from cpo.ocpi.router import Call
from cpo.tables import Party
from cpo.tokens import v211, v221, v230

# The Token an eMSP pushes or lists, and the AuthorizationInfo it answers, from 2.2 on.
TOKENS: dict[VersionNumber, type[v221.Token]] = {
    VersionNumber.V2_2_1: v221.Token,
    VersionNumber.V2_3_0: v230.Token,
}
AUTHORIZATIONS: dict[VersionNumber, type[v221.AuthorizationInfo]] = {
    VersionNumber.V2_2_1: v221.AuthorizationInfo,
    VersionNumber.V2_3_0: v230.AuthorizationInfo,
}
TOKEN_TYPES: dict[VersionNumber, frozenset[str]] = {
    VersionNumber.V2_1_1: frozenset(v211.TokenType),
    VersionNumber.V2_2_1: frozenset(v221.TokenType),
    VersionNumber.V2_3_0: frozenset(v230.TokenType),
}


def own_role(party: Party) -> tuple[str, str]:
    """The (country_code, party_id) a 2.1.1 party's tokens belong to: its one role."""
    role = party.roles[0] if party.roles else {}
    return str(role.get("country_code", "")), str(role.get("party_id", ""))


def token_in(body: Any, version: VersionNumber, country_code: str, party_id: str) -> v221.Token:
    """A Token as the eMSP sent it in `version`, stored under the eMSP's (country_code,
    party_id) where the version names no owner (2.1.1). OCPI 2001 when it does not fit."""
    if version == VersionNumber.V2_1_1:
        token = Call.validate(v211.Token, body)
        return Call.validate(v221.Token, v211.token_in(token, country_code, party_id))
    return Call.validate(TOKENS[version], body)


def token_out(stored: dict[str, Any], version: VersionNumber) -> dict[str, Any]:
    return v211.token_out(stored) if version == VersionNumber.V2_1_1 else stored


def authorization_in(
    body: Any, version: VersionNumber, asked: dict[str, Any]
) -> v221.AuthorizationInfo:
    """An eMSP's answer to an authorize request, in `version`, about the token `asked` (stored
    form): 2.1.1's answer does not repeat the token. ValidationError when it does not fit."""
    if version == VersionNumber.V2_1_1:
        info = v211.AuthorizationInfo.model_validate(body)
        return v221.AuthorizationInfo.model_validate(v211.authorization_info_in(info, asked))
    return AUTHORIZATIONS[version].model_validate(body)
