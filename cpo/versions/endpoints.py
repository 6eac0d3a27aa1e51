"""Versions and version details: how a peer finds every other endpoint of ours.

/ocpi/versions lists every version served (CPO_OCPI_VERSIONS), newest first; each version's
details list the modules served in it, in that version's shape."""

from __future__ import annotations

from starlette.responses import Response

from cpo.ocpi.models import VersionNumber
from cpo.ocpi.responses import OcpiResponse
from cpo.ocpi.router import Call, Module, OcpiRouter


def modules(router: OcpiRouter) -> list[Module]:
    versions = Module("versions", "SENDER", functional=False)
    details = Module("details", "SENDER", functional=False, versions=frozenset(VersionNumber))

    @versions.on("GET")
    async def list_versions(call: Call) -> Response:
        return OcpiResponse(
            [{"version": v.value, "url": router.details_url(v)} for v in router.versions]
        )

    @details.on("GET")
    async def version_details(call: Call) -> Response:
        version = call.in_version
        return OcpiResponse({"version": version.value, "endpoints": router.endpoints(version)})

    return [versions, details]
