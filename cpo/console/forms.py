"""The console's forms as they arrive: URL-encoded bodies read within a bound, and a command's
fields handed to the command port's own model (its validation is the admin API's)."""

from __future__ import annotations

import typing
from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from cpo.body_limit import BodyTooLarge

FORM_MAX = 64 * 1024  # bytes: far more than any console form holds
FIELDS_MAX = 100
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class BadForm(Exception):
    """A form the console cannot read at all; `status` and a message for the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


async def read_form(request: Request) -> dict[str, str]:
    """The form's fields (the first of a repeated one), none for an empty body; BadForm when
    it is not a URL-encoded form, too large, or not UTF-8."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > FORM_MAX:
                raise BadForm(413, f"the form is larger than {FORM_MAX // 1024} KiB")
    except BodyTooLarge:
        raise BadForm(413, f"the form is larger than {FORM_MAX // 1024} KiB") from None
    if kind != "application/x-www-form-urlencoded":
        if not body:  # a button's POST with nothing in it
            return {}
        raise BadForm(415, "send the form as application/x-www-form-urlencoded")
    try:
        pairs = parse_qsl(
            body.decode(), keep_blank_values=True, max_num_fields=FIELDS_MAX, errors="strict"
        )
    except UnicodeDecodeError:
        raise BadForm(400, "the form is not UTF-8 text") from None
    except ValueError:
        raise BadForm(400, f"the form has more than {FIELDS_MAX} fields") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


def plain(text: str) -> str:
    """The text without control characters (PostgreSQL takes no NUL in a string; no name
    or search term has any)."""
    return "".join(c for c in text if c >= " " and c != "\x7f")


def sent_token(request: Request, fields: dict[str, str] | None) -> str | None:
    """The CSRF token a POST carries: the form's hidden field, or htmx's header."""
    return (fields or {}).get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)


def command_fields(model: type[BaseModel], form: dict[str, str]) -> dict[str, Any]:
    """A form's fields as the command's model takes them: empty ones left out (the model's
    default applies), a list field from comma-separated text; everything else as typed, for
    the model to convert and judge exactly as it judges the admin API's JSON."""
    fields: dict[str, Any] = {}
    for name, value in form.items():
        if name == CSRF_FIELD or not value.strip():
            continue
        info = model.model_fields.get(name)
        if info is not None and typing.get_origin(info.annotation) is list:
            fields[name] = [part.strip() for part in value.split(",") if part.strip()]
        else:
            fields[name] = value.strip()
    return fields


def problems(error: ValidationError) -> dict[str, str]:
    """Each field's first problem, in words (field name → message)."""
    found: dict[str, str] = {}
    for err in error.errors(include_url=False, include_context=False, include_input=False):
        field = str(err["loc"][0]) if err["loc"] else ""
        found.setdefault(field, err["msg"])
    return found
