"""OCPI status codes, and the error that carries one with the HTTP status the spec pairs it with."""

from __future__ import annotations

import enum
from typing import Any


class Status(enum.IntEnum):
    SUCCESS = 1000
    CLIENT_ERROR = 2000
    INVALID_PARAMETERS = 2001
    NOT_ENOUGH_INFORMATION = 2002
    UNKNOWN_LOCATION = 2003
    UNKNOWN_TOKEN = 2004
    SERVER_ERROR = 3000
    CLIENT_API_UNUSABLE = 3001
    UNSUPPORTED_VERSION = 3002
    NO_MATCHING_ENDPOINTS = 3003


class OcpiError(Exception):
    """An OCPI error answer. `http` defaults to 200: the spec forbids HTTP errors for valid JSON
    that reached an existing resource, and keeps 400/401/404/405 for the cases it names."""

    def __init__(
        self, status: Status | int, message: str, http: int = 200, data: Any = None
    ) -> None:
        super().__init__(message)
        self.status = int(status)
        self.message = message
        self.http = http
        self.data = data


def unauthorized(message: str = "missing or unknown token") -> OcpiError:
    return OcpiError(Status.CLIENT_ERROR, message, http=401)


def not_found(message: str, status: Status = Status.CLIENT_ERROR) -> OcpiError:
    return OcpiError(status, message, http=404)


def not_allowed(message: str) -> OcpiError:
    return OcpiError(Status.CLIENT_ERROR, message, http=405)


def invalid(message: str, http: int = 200, data: Any = None) -> OcpiError:
    return OcpiError(Status.INVALID_PARAMETERS, message, http=http, data=data)
