"""Stored tokens: each eMSP's tokens kept per owner, written as upserts, dropped with their owner.

Identity is (country_code, party_id, uid, type), uid compared without regard to case; a party
reads and writes only its own. A uid longer than a 1.6 idTag (20) gets a short stand-in.
"""

from __future__ import annotations

import secrets
import string as strings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.ocpi.responses import timestamp
from cpo.parties import NotRegistered, hold_registered
from cpo.tokens.tables import OcpiToken
from cpo.tokens.v221 import Token
from csms import clock, upsert

IDTAG_MAX = 20  # OCPP 1.6 idTag
TOKENS: Table = OcpiToken.__table__  # type: ignore[attr-defined]

KEYS = ("country_code", "party_id", "uid", "type")
STORE_PASSES = 8  # a key that vanishes under a store more often than this is a bug


def token_object(row: OcpiToken) -> dict[str, Any]:
    return (
        {
            "country_code": row.country_code,
            "party_id": row.party_id,
            "uid": row.uid,
            "type": row.type,
        }
        | row.data
        | {
            "valid": row.valid,
            "whitelist": row.whitelist,
            "last_updated": timestamp(row.last_updated),
        }
    )


def short_tag() -> str:
    """A stand-in a 1.6 idTag (20 characters) can hold, for a longer uid."""
    return "T" + "".join(
        secrets.choice(strings.ascii_uppercase + strings.digits) for _ in range(19)
    )


async def store_tokens(
    session: AsyncSession, owner_id: int, tokens: Iterable[Token]
) -> list[tuple[bool, int]]:
    """Creates or replaces tokens for their owner: whether each was new, and its row id.

    The owner must be registered, read under a share lock: an unregistration that drops the
    owner's tokens waits for this transaction, or this one sees the party gone
    (NotRegistered) and writes nothing. A token written by a new registration of the same eMSP
    (same country_code/party_id) becomes the new party's. Each token is one INSERT ... ON
    CONFLICT DO NOTHING and, when the key was held, one UPDATE: no read-then-write race.
    """
    if await hold_registered(session, owner_id) is None:
        raise NotRegistered(owner_id)
    tokens = list(tokens)
    done: list[tuple[bool, int]] = [(False, 0)] * len(tokens)
    # Rows are locked in key order, whatever the order given: two batches holding the same
    # tokens (two pulls at once) wait for each other instead of deadlocking on PostgreSQL.
    for n in sorted(range(len(tokens)), key=lambda n: _key(tokens[n])):
        done[n] = await _store(session, owner_id, tokens[n])
    return done


def _key(token: Token) -> tuple[str, str, str, str]:
    return (
        token.country_code.upper(),
        token.party_id.upper(),
        token.uid.upper(),
        token.type.value,
    )


async def _store(session: AsyncSession, owner_id: int, token: Token) -> tuple[bool, int]:
    cc, pid, uid_key, kind = _key(token)
    key = (
        TOKENS.c.country_code == cc,
        TOKENS.c.party_id == pid,
        TOKENS.c.uid_key == uid_key,
        TOKENS.c.type == kind,
    )
    values: dict[str, Any] = dict(
        owner_id=owner_id,
        uid=token.uid,
        data=token.model_dump(
            mode="json",
            exclude_none=True,
            exclude={*KEYS, "valid", "whitelist", "last_updated"},
        ),
        valid=token.valid,
        whitelist=token.whitelist.value,
        last_updated=token.last_updated,
        received_at=clock.now(),
    )
    # The insert waits for a transaction inserting the same key and then yields to it; the
    # key's row may vanish before the update (its former owner's registration dropped, which
    # no lock of ours holds back): then it is inserted again.
    for _ in range(STORE_PASSES):
        created = (
            await session.execute(
                upsert.insert(session, TOKENS)
                .values(
                    values
                    | dict(
                        country_code=cc,
                        party_id=pid,
                        uid_key=uid_key,
                        type=kind,
                        short_tag=short_tag() if len(token.uid) > IDTAG_MAX else None,
                    )
                )
                .on_conflict_do_nothing(
                    index_elements=["country_code", "party_id", "uid_key", "type"]
                )
                .returning(TOKENS.c.id)
            )
        ).scalar_one_or_none()
        if created is not None:
            return True, int(created)
        row_id = (
            await session.execute(update(TOKENS).where(*key).values(values).returning(TOKENS.c.id))
        ).scalar_one_or_none()
        if row_id is not None:
            return False, int(row_id)
    raise RuntimeError(f"token {cc}/{pid}/{uid_key} kept vanishing while it was stored")


async def store_token(session: AsyncSession, owner_id: int, token: Token) -> tuple[bool, int]:
    """Creates or replaces one token (see `store_tokens`): whether it was new, and its row id."""
    return (await store_tokens(session, owner_id, [token]))[0]


@dataclass(frozen=True)
class Dropped:
    """A token removed with its owner's registration, as chargers' local lists may hold it."""

    uid: str
    short_tag: str | None
    type: str
    whitelist: str


async def drop_owned(session: AsyncSession, owner_id: int) -> list[Dropped]:
    """Deletes every token a party owns, in one statement; what was deleted."""
    rows = await session.execute(
        delete(TOKENS)
        .where(TOKENS.c.owner_id == owner_id)
        .returning(TOKENS.c.uid, TOKENS.c.short_tag, TOKENS.c.type, TOKENS.c.whitelist)
    )
    return [Dropped(*row) for row in rows]
