"""OCPI 2.3.0 Credentials: as 2.2.1 (v221.py), and a platform with hub functionality names its
own party in `hub_party_id` (country code and party id run together). We send none."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from cpo.credentials import v221


class Credentials(v221.Credentials):
    hub_party_id: (
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}[A-Za-z0-9]{3}$")] | None
    ) = None
