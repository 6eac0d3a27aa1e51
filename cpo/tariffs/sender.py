"""Tariffs, SENDER: eMSPs page through our prices."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from starlette.responses import Response

from cpo.ocpi.pagination import paged_response
from cpo.ocpi.router import Call, Module, OcpiRouter
from cpo.tariffs.store import Tariffs, tariff_object
from cpo.tariffs.tables import Tariff
from cpo.tariffs.wire import tariffs_out


def module(router: OcpiRouter, tariffs: Tariffs, max_limit: int) -> Module:
    sender = Module("tariffs", "SENDER")

    @sender.on("GET")
    async def page(call: Call) -> Response:
        async def build(session: AsyncSession, rows: list[Tariff]) -> list[dict[str, Any]]:
            return tariffs_out([tariff_object(t) for t in rows], call.in_version)

        return await paged_response(
            call.request,
            router.module_url("tariffs", call.in_version),
            tariffs.database,
            select(Tariff).where(col(Tariff.deleted).is_(False)),
            col(Tariff.last_updated),
            Tariff.id,
            build,
            max_limit,
        )

    return sender
