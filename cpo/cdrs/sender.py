"""CDRs, SENDER: an eMSP pages through its own CDRs (the ones we push, for when it missed any)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select
from starlette.responses import Response

from cpo.cdrs.tables import Cdr
from cpo.cdrs.wire import cdrs_out
from cpo.ocpi.pagination import paged_response
from cpo.ocpi.router import Call, Module, OcpiRouter


def module(
    router: OcpiRouter, database: async_sessionmaker[AsyncSession], max_limit: int
) -> Module:
    cdrs = Module("cdrs", "SENDER")

    @cdrs.on("GET")
    async def page(call: Call) -> Response:
        async def build(session: AsyncSession, rows: list[Cdr]) -> list[dict[str, Any]]:
            return await cdrs_out(session, [r.data for r in rows], call.in_version)

        return await paged_response(
            call.request,
            router.module_url("cdrs", call.in_version),
            database,
            select(Cdr).where(Cdr.owner_id == call.party.id),
            col(Cdr.last_updated),
            Cdr.id,
            build,
            max_limit,
        )

    return cdrs
