"""A charger's Basic auth password (security profiles 1 and 2), changed without ever locking the
charger out: SetPassword.

The new password's hash is kept beside the current one before the charger is asked, and both
count until the charger logs in with the new one (csms.service), which then becomes the only
one. A charger that refuses it keeps the old one alone; one whose answer was lost (a timeout, a
dropped connection) may hold either, and either lets it in."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ocpp.exceptions import OCPPError
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from pydantic import Field

from csms.commands.port import Command, CommandResult, answered, implements
from csms.passwords import hash_password

if TYPE_CHECKING:
    from csms.connection import StationConnection
    from csms.store import Store

# The configuration keys that hold the password: set only through SetPassword.
PASSWORD_KEYS = {"authorizationkey", "securityctrlr.basicauthpassword"}
TAKEN = ("Accepted", "RebootRequired")


class SetPassword(Command):
    """A new Basic auth password for the charger: the one given, or one the platform makes
    (then said once in the answer's data)."""

    name = "set_password"
    password: str | None = Field(
        default=None,
        min_length=16,
        max_length=40,
        pattern=r"^[\x21-\x7e]+$",
        description="16 to 40 printable characters; none: the platform makes one",
    )


async def _rotate(
    conn: StationConnection,
    store: Store,
    command: SetPassword,
    ask: Callable[[str], Awaitable[CommandResult]],
) -> CommandResult:
    password = command.password or secrets.token_hex(16)
    hashed = await asyncio.to_thread(hash_password, password)  # argon2: off the event loop
    await store.password_offered(conn.station_id, hashed)
    try:
        result = await ask(password)
    except OCPPError:
        await store.password_refused(conn.station_id, hashed)
        raise
    # A timeout or a lost connection leaves both passwords: the charger may hold either.
    if result.status not in TAKEN:
        await store.password_refused(conn.station_id, hashed)
    elif command.password is None:
        result.data["password"] = password
    return result


@implements(SetPassword, "1.6")
async def set_password_16(
    conn: StationConnection, store: Store, command: SetPassword, timeout: float | None
) -> CommandResult:
    async def ask(password: str) -> CommandResult:
        request = call16.ChangeConfiguration(key="AuthorizationKey", value=password)
        return answered(await conn.call(request, timeout))

    return await _rotate(conn, store, command, ask)


@implements(SetPassword, "2.0.1")
async def set_password_201(
    conn: StationConnection, store: Store, command: SetPassword, timeout: float | None
) -> CommandResult:
    async def ask(password: str) -> CommandResult:
        item = {
            "component": {"name": "SecurityCtrlr"},
            "variable": {"name": "BasicAuthPassword"},
            "attribute_value": password,
        }
        reply = await conn.call(call201.SetVariables(set_variable_data=[item]), timeout)
        results = reply.set_variable_result or [{}]
        return answered(reply, status=str(results[0].get("attribute_status")))

    return await _rotate(conn, store, command, ask)
