"""What a charger knows of tokens by itself: its local authorization list (SendLocalList,
GetLocalListVersion) and its authorization cache (ClearCache)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from pydantic import BaseModel, ConfigDict, Field

from csms import clock
from csms.commands.port import (
    ID_TAG_MAX,
    INT32_MAX,
    Command,
    CommandResult,
    TokenType,
    answered,
    id_tag,
    id_token,
    implements,
    sends,
)

if TYPE_CHECKING:
    from csms.connection import StationConnection
    from csms.store import Store


class LocalListEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id_token: str = Field(min_length=1, max_length=36)
    token_type: TokenType = "ISO14443"
    status: Literal["Accepted", "Blocked", "Expired", "Invalid"] | None = Field(
        default=None, description="None removes the token (Differential only)"
    )
    expires_at: datetime | None = None
    group_id: str | None = Field(default=None, max_length=36)


class SendLocalList(Command):
    name = "send_local_list"
    version: int = Field(ge=1, le=INT32_MAX)
    update_type: Literal["Full", "Differential"] = "Full"
    entries: list[LocalListEntry] = Field(default_factory=list)


class GetLocalListVersion(Command):
    name = "get_local_list_version"


class ClearCache(Command):
    """Empties the charger's authorization cache: tokens it remembered from earlier answers."""

    name = "clear_cache"


@implements(SendLocalList, "1.6")
async def send_16(
    conn: StationConnection, store: Store, command: SendLocalList, timeout: float | None
) -> CommandResult:
    entries = []
    for entry in command.entries:
        item: dict[str, Any] = {"id_tag": id_tag(entry.id_token)}
        if entry.status is not None:
            info: dict[str, Any] = {"status": entry.status}
            if entry.expires_at is not None:
                info["expiry_date"] = clock.iso(entry.expires_at)
            if entry.group_id:
                info["parent_id_tag"] = entry.group_id[:ID_TAG_MAX]
            item["id_tag_info"] = info
        entries.append(item)
    request = call16.SendLocalList(
        list_version=command.version,
        update_type=command.update_type,
        local_authorization_list=entries,
    )
    return answered(await conn.call(request, timeout))


@implements(SendLocalList, "2.0.1")
async def send_201(
    conn: StationConnection, store: Store, command: SendLocalList, timeout: float | None
) -> CommandResult:
    entries = []
    for entry in command.entries:
        item: dict[str, Any] = {"id_token": id_token(entry.id_token, entry.token_type)}
        if entry.status is not None:
            info: dict[str, Any] = {"status": entry.status}
            if entry.expires_at is not None:
                info["cache_expiry_date_time"] = clock.iso(entry.expires_at)
            if entry.group_id:
                info["group_id_token"] = id_token(entry.group_id, "Central")
            item["id_token_info"] = info
        entries.append(item)
    request = call201.SendLocalList(
        version_number=command.version,
        update_type=command.update_type,
        local_authorization_list=entries or None,
    )
    return answered(await conn.call(request, timeout))


sends(GetLocalListVersion, "1.6", lambda _: call16.GetLocalListVersion(), status="Accepted")
sends(GetLocalListVersion, "2.0.1", lambda _: call201.GetLocalListVersion(), status="Accepted")
sends(ClearCache, "1.6", lambda _: call16.ClearCache())
sends(ClearCache, "2.0.1", lambda _: call201.ClearCache())
