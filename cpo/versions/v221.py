"""OCPI 2.2.1 Version and VersionDetails objects: the versions a peer speaks and their endpoints."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from cpo.ocpi.models import URL, Wire, string


class Version(Wire):
    version: Annotated[str, string(8, 1)]
    url: URL


class Endpoint(Wire):
    identifier: Annotated[str, string(32, 1)]
    role: Annotated[str, string(16)] = "SENDER"
    url: URL


class VersionDetails(Wire):
    version: Annotated[str, string(8, 1)]
    endpoints: Annotated[list[Endpoint], Field(min_length=1)]
