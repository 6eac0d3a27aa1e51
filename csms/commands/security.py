"""How a charger connects: its Basic auth password (security profiles 1 and 2), changed without
ever locking the charger out (SetPassword), and a 2.0.1 charger's network profiles
(SetNetworkProfile: the CSMS URL and security profile of a configuration slot).

The new password's hash is kept beside the current one before the charger is asked, and both
count until the charger logs in with the new one (csms.service), which then becomes the only
one. A charger that refuses it keeps the old one alone; one whose answer was lost (a timeout, a
dropped connection) may hold either, and either lets it in."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal

from ocpp.exceptions import OCPPError
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from pydantic import Field

from csms.commands.port import INT32_MAX, Command, CommandResult, answered, implements, sends
from csms.passwords import hash_password

if TYPE_CHECKING:
    from csms.connection import StationConnection
    from csms.store import Store

# The configuration keys that hold the password: set only through SetPassword.
PASSWORD_KEYS = {"authorizationkey", "securityctrlr.basicauthpassword"}


def not_the_password(key: str) -> None:
    """For the commands that set variables: a key that holds the charger's
    password may only change through SetPassword (ValueError otherwise)."""
    if key.lower() in PASSWORD_KEYS:
        raise ValueError(
            "the charger's password changes through set_password, which keeps it able to log in"
        )


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


class SetNetworkProfile(Command):
    """A 2.0.1 network connection profile in a configuration slot; the charger uses it once
    OCPPCommCtrlr.NetworkConfigurationPriority names the slot (set_variables)."""

    name = "set_network_profile"
    slot: int = Field(ge=0, le=INT32_MAX, description="The configuration slot")
    csms_url: str = Field(
        min_length=8, max_length=512, pattern=r"^wss?://", description="ws:// or wss://"
    )
    security_profile: int = Field(ge=0, le=3)
    interface: Literal[
        "Wired0", "Wired1", "Wired2", "Wired3", "Wireless0", "Wireless1", "Wireless2", "Wireless3"
    ] = "Wired0"
    message_timeout: int = Field(default=30, ge=1, le=3600, description="Seconds")


sends(
    SetNetworkProfile,
    "2.0.1",
    lambda c: call201.SetNetworkProfile(
        configuration_slot=c.slot,
        connection_data={
            "ocpp_version": "OCPP20",
            "ocpp_transport": "JSON",
            "ocpp_csms_url": c.csms_url,
            "message_timeout": c.message_timeout,
            "security_profile": c.security_profile,
            "ocpp_interface": c.interface,
        },
    ),
)
