"""Local authorization lists: the tokens a charger may accept on its own, pushed full or by difference.

A charger gets every token that the owning eMSP lets us decide without asking it (whitelist
ALWAYS, ALLOWED, ALLOWED_OFFLINE) and the operator's own tokens; a token that turns NEVER, or
goes with its eMSP's registration, is removed. 1.6 chargers get the short stand-in of uids
longer than an idTag.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, String, Table, cast
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from cpo.push.outbox import IN_LIST_MAX
from cpo.tokens.store import Dropped
from cpo.tokens.tables import OcpiToken
from csms import upsert
from csms.commands import CommandResult, LocalListEntry, Outcome, SendLocalList
from csms.models import LocalToken, Meta
from csms.service import Csms

log = logging.getLogger("cpo.tokens.local_lists")

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


def _removal(token: Dropped, ocpp_version: str) -> LocalListEntry:
    id_token = token.short_tag if ocpp_version == "1.6" and token.short_tag else token.uid
    return LocalListEntry.model_validate(
        {"id_token": id_token, "token_type": TYPES.get(token.type, "Central")}
    )


REVOCATIONS = "cpo.locallist.revocations"
CATCH_UP_EVERY = 2.0  # seconds between looks for chargers whose list may hold revoked tokens
META: Table = Meta.__table__  # type: ignore[attr-defined]


async def note_revocation(session: AsyncSession) -> int:
    """Counts, in the transaction that deletes tokens chargers may hold, that lists sent
    before it are stale (one upsert); the new count. Any process may revoke (the CLI too):
    the server brings connected chargers' lists past it (`LocalLists.catch_up`)."""
    bumped = await session.execute(
        upsert.insert(session, META)
        .values(key=REVOCATIONS, value="1")
        .on_conflict_do_update(
            index_elements=["key"],
            set_={"value": cast(cast(META.c.value, Integer) + 1, String)},
        )
        .returning(META.c.value)
    )
    return int(bumped.scalar_one())


@dataclass(frozen=True)
class _Held:
    """What a charger's list is, as far as we know: its version, and the revocations it has
    seen (the count of `note_revocation` when it got a whole list or every removal since)."""

    version: int = 0
    revoked: int = 0

    @classmethod
    def parse(cls, value: str | None) -> _Held | None:
        if value is None:
            return None
        version, _, revoked = value.partition(" ")
        return cls(int(version), int(revoked or 0))

    def text(self) -> str:
        return f"{self.version} {self.revoked}"


class LocalLists:
    def __init__(self, database: async_sessionmaker[AsyncSession], csms: Csms) -> None:
        self.database = database
        self.csms = csms
        self.unsupported: set[str] = set()  # chargers that said NotSupported
        self._background: set[asyncio.Task[object]] = set()
        # Per connected charger, the revocation count last checked (or caught up) against.
        self._checked: dict[str, int] = {}
        # One push at a time per charger: each numbers its list from the version the last one
        # recorded, which it records only once the charger answered. (A lock per charger this
        # node has held: as many as its known stations.)
        self._pushing: dict[str, asyncio.Lock] = {}
        # Revocations whose removals this node is sending: the catch-up leaves them to those.
        self._removing: Counter[int] = Counter()
        # Several nodes: token changes that come to one node reach the chargers of all.
        # (Removals need no message: each node's catch-up reads the revocations' count.)
        if csms.cluster is not None:
            csms.cluster.on("tokens-changed", self._on_tokens_changed)

    def start(self) -> None:
        """Chargers whose lists may still hold revoked tokens get them whole, also when the
        revocation came from another process or found them offline."""
        self._run(self._follow(), "local-lists-catch-up")

    async def push(
        self,
        station_id: str,
        full: bool = True,
        token_ids: Iterable[int] = (),
        removed: Sequence[Dropped] = (),
        revocation: int | None = None,
    ) -> CommandResult:
        """Sends the whole list, or (not `full`) the tokens `token_ids` as they are now and
        the removal of the `removed` ones (revocation number `revocation`)."""
        async with self._pushing.setdefault(station_id, asyncio.Lock()):
            result = await self._push(station_id, full, token_ids, removed, revocation)
        assert result is not None  # only a catch-up's push is ever skipped
        return result

    async def _push(
        self,
        station_id: str,
        full: bool,
        token_ids: Iterable[int],
        removed: Sequence[Dropped],
        revocation: int | None,
        unless_past: int | None = None,
    ) -> CommandResult | None:
        """`push`, with this charger's turn held; with `unless_past`, only if the charger's
        list has not seen that many revocations (None: it has, nothing sent)."""
        conn = self.csms.registry.get(station_id)
        version_of = conn.ocpp_version if conn else "2.0.1"
        key = f"cpo.locallist.{station_id}"
        async with self.database() as session:
            held = _Held.parse(await self._value(session, key)) or _Held()
            if unless_past is not None and held.revoked >= unless_past:
                return None  # a push that ended meanwhile brought it past them
            revocations = int(await self._value(session, REVOCATIONS) or 0)
            stmt = select(OcpiToken).order_by(col(OcpiToken.id))
            if full:
                stmt = stmt.where(col(OcpiToken.whitelist).in_(OFFLINE_OK))
            else:
                stmt = stmt.where(col(OcpiToken.id).in_(list(token_ids)))
            entries = [_entry(t, version_of) for t in (await session.execute(stmt)).scalars()]
            if not full:
                entries += [_removal(t, version_of) for t in removed if t.whitelist in OFFLINE_OK]
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
            version=held.version + 1,
            update_type="Full" if full else "Differential",
            entries=entries,
        )
        result = await self.csms.commands.run(station_id, command)
        if result.status == "NotSupported" or result.error_code in (
            "NotSupported",
            "NotImplemented",
        ):
            self.unsupported.add(station_id)
        elif result.accepted:
            self.unsupported.discard(station_id)
            # A whole list holds nothing revoked before it was read; removals bring a list
            # that had seen every earlier revocation past theirs.
            revoked = held.revoked
            if full:
                revoked = revocations
            elif revocation is not None and held.revoked >= revocation - 1:
                revoked = max(revoked, revocation)
            value = _Held(command.version, revoked).text()
            async with self.database.begin() as session:
                await session.execute(
                    upsert.insert(session, META)
                    .values(key=key, value=value)
                    .on_conflict_do_update(index_elements=["key"], set_={"value": value})
                )
        elif not full and result.outcome is Outcome.ANSWERED:
            # VersionMismatch or Failed: the charger's list is not what we think; send it whole.
            return await self._push(station_id, True, (), (), None)
        return result

    @staticmethod
    async def _value(session: AsyncSession, key: str) -> str | None:
        meta = await session.get(Meta, key)
        return meta.value if meta is not None else None

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(CATCH_UP_EVERY)
            try:
                await self.catch_up()
            except Exception:
                log.exception("catching up chargers' local lists failed")

    async def catch_up(self) -> list[str]:
        """Sends the whole list to each connected charger whose list may hold tokens revoked
        since it got one (it was offline, or the revocation came from the CLI); which."""
        connected = set(self.csms.registry.connected()) - self.unsupported
        for gone in self._checked.keys() - connected:
            del self._checked[gone]  # checked again when it comes back
        async with self.database() as session:
            revocations = int(await self._value(session, REVOCATIONS) or 0)
            due = sorted(s for s in connected if self._checked.get(s) != revocations)
            if not revocations or not due:
                return []
            held: dict[str, _Held | None] = {}
            keys = [f"cpo.locallist.{s}" for s in due]
            for start in range(0, len(keys), IN_LIST_MAX):  # a bounded IN list per statement
                rows = await session.execute(
                    select(Meta).where(col(Meta.key).in_(keys[start : start + IN_LIST_MAX]))
                )
                held |= {
                    m.key.removeprefix("cpo.locallist."): _Held.parse(m.value)
                    for m in rows.scalars()
                }
        sent = []
        for station_id in due:
            if revocations in self._removing:
                continue  # looked at again next time, once the removals went out
            self._checked[station_id] = revocations
            state = held.get(station_id)
            if state is None or state.revoked >= revocations:
                continue  # it holds no list of ours, or one without revoked tokens
            # Read again in its turn: a removal in flight may bring it past them first.
            async with self._pushing.setdefault(station_id, asyncio.Lock()):
                if await self._push(station_id, True, (), (), None, unless_past=revocations):
                    log.info("%s: its local list may have held revoked tokens; sent whole",
                             station_id)  # fmt: skip
                    sent.append(station_id)
        return sent

    def tokens_changed(self, token_ids: list[int]) -> None:
        """Sends the changed tokens to every connected charger that keeps a list (in the
        background), on every node."""
        self._spread(token_ids, ())
        if self.csms.cluster is not None:
            self._run(self._tell_the_others(token_ids), "local-lists-nodes")

    async def _tell_the_others(self, token_ids: list[int]) -> None:
        cluster = self.csms.cluster
        assert cluster is not None
        for node in await cluster.live_nodes() - {cluster.node}:
            await cluster.send(node, {"kind": "tokens-changed", "tokens": list(token_ids)})

    async def _on_tokens_changed(self, message: dict[str, Any]) -> None:
        self._spread([int(i) for i in message["tokens"]], ())

    def tokens_removed(self, removed: Sequence[Dropped], revocation: int) -> None:
        """Removes deleted tokens (revocation number `revocation`) from every connected charger
        that keeps a list (in the background)."""
        self._removing[revocation] += 1
        self._spread((), removed, revocation)

    def _spread(
        self, token_ids: Sequence[int], removed: Sequence[Dropped], revocation: int | None = None
    ) -> None:
        async def spread() -> None:
            try:
                for station_id in self.csms.registry.connected():
                    if station_id in self.unsupported:
                        continue
                    try:
                        await self.push(
                            station_id,
                            full=False,
                            token_ids=token_ids,
                            removed=removed,
                            revocation=revocation,
                        )
                    except Exception:
                        log.exception("local list update for %s failed", station_id)
            finally:
                if revocation is not None:
                    self._removing[revocation] -= 1
                    if self._removing[revocation] <= 0:
                        del self._removing[revocation]

        self._run(spread(), "local-lists")

    def _run(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task: asyncio.Task[object] = asyncio.create_task(work, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
