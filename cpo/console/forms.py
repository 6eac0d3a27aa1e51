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


# The fields of the set_charging_profile form that make its profile (the rest are the command's).
PROFILE_FIELDS = ("id", "purpose", "kind", "recurrency", "stack_level", "unit", "transaction_id")
PERIODS_MAX = 1024  # as many as a ChargingProfile holds


def profile_command_fields(form: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The set_charging_profile form as its command takes it: a profile with one schedule whose
    periods are written one a line as `start_s:limit` ("0:7400", "3600:11000"); and the
    problems of the lines that cannot be read (field name → message)."""
    fields: dict[str, Any] = {
        name: value.strip()
        for name, value in form.items()
        if name not in (CSRF_FIELD, "periods") and value.strip()
    }
    profile = {k: fields.pop(k) for k in PROFILE_FIELDS if k in fields}
    periods: list[dict[str, str]] = []
    lines = [line.strip() for line in form.get("periods", "").splitlines() if line.strip()]
    if not lines:
        return fields, {"periods": "Give at least one period, one a line: start_s:limit"}
    if len(lines) > PERIODS_MAX:
        return fields, {"periods": f"At most {PERIODS_MAX} periods"}
    for number, line in enumerate(lines, 1):
        start, colon, limit = line.partition(":")
        if not colon or not start.strip() or not limit.strip():
            return fields, {"periods": f"line {number}: write start_s:limit, as 0:7400"}
        periods.append({"start_period": start.strip(), "limit": limit.strip()})
    fields["profile"] = profile | {"periods": periods}
    return fields, {}


def profile_problems(error: ValidationError) -> dict[str, str]:
    """As `problems`, each named by the form's field: a profile's fields by their own name,
    a period's by the periods field and its line."""
    found: dict[str, str] = {}
    for err in error.errors(include_url=False, include_context=False, include_input=False):
        loc = list(err["loc"])
        message = err["msg"]
        if loc[:2] == ["profile", "periods"] and len(loc) > 2 and isinstance(loc[2], int):
            field, message = "periods", f"line {loc[2] + 1}: {loc[-1]}: {message}"
        elif loc[:1] == ["profile"] and len(loc) > 1:
            field = str(loc[1])
        else:
            field = str(loc[0]) if loc else ""
        found.setdefault(field, message)
    return found
