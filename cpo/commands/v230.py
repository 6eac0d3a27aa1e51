"""OCPI 2.3.0 Commands: as 2.2.1 (v221.py), with 2.3.0 Tokens, and CommandType an open enum: a
command this platform does not know is answered NOT_SUPPORTED, not refused as unknown."""

from __future__ import annotations

from cpo.commands import v221
from cpo.commands.v221 import CommandType
from cpo.tokens.v230 import Token


class StartSessionIn(v221.StartSessionIn):
    token: Token


class ReserveNowIn(v221.ReserveNowIn):
    token: Token


REQUESTS: dict[CommandType, type[v221.CommandIn]] = v221.REQUESTS | {
    CommandType.START_SESSION: StartSessionIn,
    CommandType.RESERVE_NOW: ReserveNowIn,
}
