"""Tokens on the wire in each OCPI version: each read into the form they are stored in (2.2.1's)."""

from __future__ import annotations

from cpo.ocpi.models import VersionNumber
from cpo.tokens import v221, v230

# The Token an eMSP pushes or lists, and the AuthorizationInfo it answers, in each version.
TOKEN_IN: dict[VersionNumber, type[v221.Token]] = {
    VersionNumber.V2_2_1: v221.Token,
    VersionNumber.V2_3_0: v230.Token,
}
AUTHORIZATION_IN: dict[VersionNumber, type[v221.AuthorizationInfo]] = {
    VersionNumber.V2_2_1: v221.AuthorizationInfo,
    VersionNumber.V2_3_0: v230.AuthorizationInfo,
}
TOKEN_TYPES: dict[VersionNumber, frozenset[str]] = {
    VersionNumber.V2_2_1: frozenset(v221.TokenType),
    VersionNumber.V2_3_0: frozenset(v230.TokenType),
}
