"""Credentials on the wire in each OCPI version, each read as 2.2.1's (the form kept)."""

from __future__ import annotations

from cpo.credentials import v221, v230
from cpo.ocpi.models import VersionNumber

CREDENTIALS: dict[VersionNumber, type[v221.Credentials]] = {
    VersionNumber.V2_2_1: v221.Credentials,
    VersionNumber.V2_3_0: v230.Credentials,
}
