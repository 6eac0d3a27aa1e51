"""Tariffs, SENDER: eMSPs page through our prices."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from starlette.responses import Response

from cpo.models import Tariff
from cpo.ocpi.pagination import paged_response
from cpo.ocpi.router import Call, Module, OcpiRouter
from cpo.sites import Sites, tariff_object


def module(router: OcpiRouter, sites: Sites, max_limit: int) -> Module:
    tariffs = Module("tariffs", "SENDER")

    @tariffs.on("GET")
    async def page(call: Call) -> Response:
        async def build(session: AsyncSession, rows: list[Tariff]) -> list[dict[str, Any]]:
            return [tariff_object(t) for t in rows]

        return await paged_response(
            call.request,
            router.module_url("tariffs"),
            sites.sessions,
            select(Tariff).where(col(Tariff.deleted).is_(False)),
            col(Tariff.last_updated),
            Tariff.id,
            build,
            max_limit,
        )

    return tariffs
