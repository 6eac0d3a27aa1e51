"""Local authorization lists: the tokens a charger may accept on its own, pushed full or by difference.

A charger gets every token that the owning eMSP lets us decide without asking it (whitelist
ALWAYS, ALLOWED, ALLOWED_OFFLINE) and the operator's own tokens; a token that turns NEVER is
removed. 1.6 chargers get the short stand-in of uids longer than an idTag.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from cpo.models import OcpiToken
from csms.commands import CommandResult, LocalListEntry, Outcome, SendLocalList
from csms.models import LocalToken, Meta
from csms.service import Csms

log = logging.getLogger("cpo.local_lists")

OFFLINE_OK = ("ALWAYS", "ALLOWED", "ALLOWED_OFFLINE")
TYPES = {"RFID": "ISO14443", "APP_USER": "Central", "AD_HOC_USER": "Central", "OTHER": "Local"}


def _entry(token: OcpiToken, ocpp_version: str) -> LocalListEntry:
    id_token = token.short_tag if ocpp_version == "1.6" and token.short_tag else token.uid
    status = (
        None if token.whitelist not in OFFLINE_OK else ("Accepted" if token.valid else "Invalid")
    )
    return LocalListEntry.model_validate(
        {
            "id_token": id_token,
            "token_type": TYPES.get(token.type, "Central"),
            "status": status,
            "group_id": token.data.get("group_id"),
        }
    )


class LocalLists:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], csms: Csms) -> None:
        self.sessions = sessions
        self.csms = csms
        self.unsupported: set[str] = set()  # chargers that said NotSupported
        self._background: set[asyncio.Task[object]] = set()

    async def push(
        self, station_id: str, full: bool = True, token_ids: Iterable[int] = ()
    ) -> CommandResult:
        conn = self.csms.registry.get(station_id)
        version_of = conn.ocpp_version if conn else "2.0.1"
        key = f"cpo.locallist.{station_id}"
        async with self.sessions() as session:
            meta = await session.get(Meta, key)
            current = int(meta.value) if meta else 0
            stmt = select(OcpiToken).order_by(col(OcpiToken.id))
            if full:
                stmt = stmt.where(col(OcpiToken.whitelist).in_(OFFLINE_OK))
            else:
                stmt = stmt.where(col(OcpiToken.id).in_(list(token_ids)))
            entries = [_entry(t, version_of) for t in (await session.execute(stmt)).scalars()]
            if full:
                entries = [e for e in entries if e.status is not None]
                for own in (await session.execute(select(LocalToken))).scalars():
                    entries.append(
                        LocalListEntry.model_validate(
                            {
                                "id_token": own.uid,
                                "status": own.status,
                                "expires_at": own.expires_at,
                            }
                        )
                    )
        if version_of == "1.6":
            entries = [e for e in entries if len(e.id_token) <= 20]
        command = SendLocalList(
            version=current + 1, update_type="Full" if full else "Differential", entries=entries
        )
        result = await self.csms.commands.run(station_id, command)
        if result.status == "NotSupported" or result.error_code in (
            "NotSupported",
            "NotImplemented",
        ):
            self.unsupported.add(station_id)
        elif result.accepted:
            self.unsupported.discard(station_id)
            async with self.sessions.begin() as session:
                meta = await session.get(Meta, key)
                if meta is None:
                    session.add(Meta(key=key, value=str(command.version)))
                else:
                    meta.value = str(command.version)
        elif not full and result.outcome is Outcome.ANSWERED:
            # VersionMismatch or Failed: the charger's list is not what we think; send it whole.
            return await self.push(station_id, full=True)
        return result

    def tokens_changed(self, token_ids: list[int]) -> None:
        """Sends the changed tokens to every connected charger that keeps a list (in the background)."""

        async def spread() -> None:
            for station_id in self.csms.registry.connected():
                if station_id in self.unsupported:
                    continue
                try:
                    await self.push(station_id, full=False, token_ids=token_ids)
                except Exception:
                    log.exception("local list update for %s failed", station_id)

        task: asyncio.Task[object] = asyncio.create_task(spread(), name="local-lists")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
