"""OCPI 2.3.0 Token objects: as 2.2.1 (v221.py), with the EMAID token type (ISO 15118 Plug &
Charge contracts), which eMSPs should not push but the CPO may authorize in real time."""

from __future__ import annotations

import enum

from cpo.tokens import v221


class TokenType(enum.StrEnum):
    AD_HOC_USER = "AD_HOC_USER"
    APP_USER = "APP_USER"
    EMAID = "EMAID"
    OTHER = "OTHER"
    RFID = "RFID"


class Token(v221.Token):
    type: TokenType  # type: ignore[assignment]


class AuthorizationInfo(v221.AuthorizationInfo):
    token: Token
