"""Versions and version details: how a peer finds every other endpoint of ours."""

from __future__ import annotations

from starlette.responses import Response

from cpo.ocpi.responses import OcpiResponse
from cpo.ocpi.router import VERSION, Call, Module, OcpiRouter


def modules(router: OcpiRouter) -> list[Module]:
    versions = Module("versions", "SENDER", functional=False)
    details = Module("details", "SENDER", functional=False)

    @versions.on("GET")
    async def list_versions(call: Call) -> Response:
        return OcpiResponse([{"version": VERSION, "url": router.details_url}])

    @details.on("GET")
    async def version_details(call: Call) -> Response:
        return OcpiResponse({"version": VERSION, "endpoints": router.endpoints()})

    return [versions, details]
