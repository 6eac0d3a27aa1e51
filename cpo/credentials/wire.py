"""Credentials on the wire in each OCPI version, each read as 2.2.1's (the form kept)."""

from __future__ import annotations

from typing import Any

from cpo.credentials import v211, v221, v230
from cpo.ocpi.models import VersionNumber, Wire

CREDENTIALS: dict[VersionNumber, type[Wire]] = {
    VersionNumber.V2_1_1: v211.Credentials,
    VersionNumber.V2_2_1: v221.Credentials,
    VersionNumber.V2_3_0: v230.Credentials,
}


def credentials_in(given: Wire) -> v221.Credentials:
    """A peer's credentials, read in its version, as the platform keeps them. A 2.1.1 peer of
    a CPO is an eMSP: 2.1.1 names no role."""
    if isinstance(given, v211.Credentials):
        return v221.Credentials.model_validate(v211.credentials_in(given))
    assert isinstance(given, v221.Credentials)
    return given


def credentials_out(ours: dict[str, Any], version: VersionNumber) -> dict[str, Any]:
    """Our credentials (2.2.1's shape) in `version`."""
    return v211.credentials_out(ours) if version == VersionNumber.V2_1_1 else ours
