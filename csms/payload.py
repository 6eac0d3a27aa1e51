"""Reading payloads that skipped schema validation (chargers that bend the schema) without crashing."""

from __future__ import annotations

from typing import Any

from ocpp.exceptions import OCPPError, ProtocolError, TypeConstraintViolationError


def need(payload: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    """A required field: missing is a ProtocolError, the wrong type a TypeConstraintViolation."""
    if name not in payload or payload[name] is None:
        raise ProtocolError(details={"cause": f"{name} is required"})
    return check(payload, name, kind)


def check(payload: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = payload.get(name)
    if value is None:
        return None
    if kind is int and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)  # a number sent as a string: lenient, it means the same
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        raise TypeConstraintViolationError(details={"cause": f"{name} has the wrong type"})
    return value


__all__ = ["OCPPError", "check", "need"]
