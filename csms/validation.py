"""Every CALL a charger sends, checked against its OCPP version's JSON schema before a handler sees it."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import fastjsonschema
from jsonschema import Draft4Validator, validators
from jsonschema.exceptions import ValidationError, best_match
from ocpp.exceptions import (
    FormatViolationError,
    OccurrenceConstraintViolationError,
    OCPPError,
    PropertyConstraintViolationError,
    ProtocolError,
    TypeConstraintViolationError,
)
from ocpp.messages import MessageType, get_validator


@dataclass(frozen=True, slots=True)
class Leniency:
    """What a handler accepts beyond its message's schema, each for chargers known to send it.

    Any handler with a Leniency also takes a number sent as a string ("1" for 1) and a null
    for an optional field it would rather have left out; nothing else is relaxed unless named.
    """

    # Properties whose value may be any string: vendors extend these enums (an Alfen
    # `context`, `Hz` or `Celcius` as a unit, a stop reason of their own).
    open_enums: frozenset[str] = frozenset()
    # Properties whose value may be any JSON at all (a 1.6 DataTransfer's `data` as an object).
    any_value: frozenset[str] = frozenset()
    # Objects may carry fields the schema does not name (extra fields in Authorize).
    extra_fields: bool = False
    # Integer properties that may carry a decimal (a meterStop of 1234.5 Wh).
    decimals: frozenset[str] = frozenset()


# Ids of places are never negative; the schemas leave that to the specification's text.
_NOT_NEGATIVE = frozenset({"connectorId", "evseId", "EVSEType.id"})

# OCPP 2.0.1 defines `integer` as 32 bits; 1.6 names no width, and its integers go to the same
# 32-bit columns, except the registers in Wh and the transaction ids we issue (64-bit columns).
_WIDE_INTEGERS = {"1.6": frozenset({"meterStart", "meterStop", "transactionId"})}

# A 1.6 sampled value is a decimal number in a string unless its format is SignedData.
_DECIMAL = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")

# Which code each version names for a violated keyword (the 1.6 spellings are applied when
# the error is sent). A value outside the type's width is a data type violation, like a string
# over its length: OCPP's types are `integer` (32 bits) and `CiString20`, not bare JSON.
_CODES: dict[str, type[OCPPError]] = {
    "type": TypeConstraintViolationError,
    "maxLength": TypeConstraintViolationError,
    "minLength": TypeConstraintViolationError,
    "ocppWidth": TypeConstraintViolationError,
    "enum": PropertyConstraintViolationError,
    "minimum": PropertyConstraintViolationError,
    "maximum": PropertyConstraintViolationError,
    "multipleOf": PropertyConstraintViolationError,
    "ocppDecimal": PropertyConstraintViolationError,
    "minItems": OccurrenceConstraintViolationError,
    "maxItems": OccurrenceConstraintViolationError,
    "required": ProtocolError,
}


def _width(validator: Any, bits: int, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
    if isinstance(instance, int | float) and not isinstance(instance, bool):
        if not -(2 ** (bits - 1)) <= instance < 2 ** (bits - 1):
            yield ValidationError(f"{instance} does not fit a {bits}-bit integer")


def _decimal(validator: Any, on: bool, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
    if not (on and isinstance(instance, dict)) or instance.get("format") == "SignedData":
        return
    value = instance.get("value")
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        yield ValidationError(f"{value!r} is not a decimal number", path=["value"])


_Validator = validators.extend(Draft4Validator, {"ocppWidth": _width, "ocppDecimal": _decimal})

# What a keyword-free copy of a shaped schema leaves out: Draft4Validator checks no `format`
# (we pass it no format checker) and fills no `default`, while fastjsonschema would do both;
# an `$id` URN would make it resolve `$ref`s against that URN.
_NOT_COMPILED = frozenset({"format", "default", "$id", "id", "ocppWidth", "ocppDecimal"})
# The keywords whose value is a schema, a list of schemas or a name -> schema map.
_SUBSCHEMA = frozenset({"items", "additionalProperties", "not"})
_SUBSCHEMAS = frozenset({"allOf", "anyOf", "oneOf"})
_SCHEMA_MAPS = frozenset({"properties", "definitions", "patternProperties"})


def _plain(node: Any, root: dict[str, Any], expanding: frozenset[str] = frozenset()) -> Any:
    """A shaped schema in plain Draft 4 for fastjsonschema: `ocppWidth` as an inclusive minimum
    and an exclusive maximum (the same bounds as `_width`, for decimals too), `ocppDecimal` as
    "format is SignedData, or value (when a string) matches _DECIMAL".

    Each `$ref` to one of the root's definitions is replaced by that definition (Draft 4
    ignores a `$ref`'s siblings): compiled, a `$ref` is a call that builds the error path of
    the value it checks on every call (with `str.format(**locals())` for a list's items),
    which took about half the time of a 2.0.1 TransactionEvent. A definition within itself
    stays a `$ref` (no shipped schema has one).
    """
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/"):
        name = ref.removeprefix("#/definitions/")
        if name in (root.get("definitions") or {}) and name not in expanding:
            return _plain(root["definitions"][name], root, expanding | {name})
    plain: dict[str, Any] = {}
    extra: list[dict[str, Any]] = []
    for key, value in node.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            plain[key] = {name: _plain(sub, root, expanding) for name, sub in value.items()}
        elif key in _SUBSCHEMAS and isinstance(value, list):
            plain[key] = [_plain(sub, root, expanding) for sub in value]
        elif key in _SUBSCHEMA:
            plain[key] = _plain(value, root, expanding)
        elif key not in _NOT_COMPILED:
            plain[key] = value
    if bits := node.get("ocppWidth"):
        bound = 2 ** (bits - 1)
        extra.append({"minimum": -bound, "maximum": bound, "exclusiveMaximum": True})
    if node.get("ocppDecimal"):
        # The decimal first: the compiled anyOf tries its branches in order and a failed one
        # costs a raised exception, which nearly every sampled value (no format) would pay.
        extra.append(
            {
                "anyOf": [
                    {"properties": {"value": {"pattern": rf"\A(?:{_DECIMAL.pattern})\Z"}}},
                    {"required": ["format"], "properties": {"format": {"enum": ["SignedData"]}}},
                ]
            }
        )
    if extra:
        plain["allOf"] = plain.get("allOf", []) + extra
    return plain


class PayloadChecker:
    """One action's request schema, as the library ships it, with our ranges and the handler's
    leniencies worked in."""

    __slots__ = ("_schema", "_validator", "_forgiver", "_accepts")

    def __init__(self, version: str, action: str, leniency: Leniency | None) -> None:
        shipped = get_validator(MessageType.Call, action, version).schema
        self._schema = _Shaper(version, leniency).shape(copy.deepcopy(shipped))
        self._forgiver = None if leniency is None else _Forgiver.of(self._schema, self._schema, {})
        self._validator = _Validator(self._schema)
        # The same schema compiled to Python once: it accepts what the jsonschema validator
        # accepts (tests/ocpp/test_compiled_validation.py) in a tenth of the time, and a
        # payload it rejects is checked again by jsonschema, whose best_match names the error
        # (code and cause) a charger has always been answered.
        # Draft 4, as the validator reads every schema (the 2.0.1 ones name draft 6).
        plain = _plain(self._schema, self._schema) | {
            "$schema": "http://json-schema.org/draft-04/schema#"
        }
        self._accepts = fastjsonschema.compile(
            plain, use_default=False, use_formats=False, detailed_exceptions=False
        )

    def check(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload as the handler will see it; raises the OCPPError OCPP names for the
        first violation."""
        payload = self.forgive(payload)
        if self.accepts(payload):
            return payload
        error = self.explain(payload)
        if error is not None:
            where = ".".join(str(p) for p in error.absolute_path)
            cause = f"{where}: {error.message}" if where else error.message
            raise _CODES.get(str(error.validator), FormatViolationError)(details={"cause": cause})
        return payload

    @property
    def schema(self) -> dict[str, Any]:
        """The shaped schema (jsonschema's, with our keywords)."""
        return self._schema

    def forgive(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload with what the handler's leniency forgives made plain: nulls dropped,
        numbers sent as strings made numbers (so that their ranges are checked as numbers).

        The payload itself when there is nothing to forgive (no leniency, or a payload already
        plain, as nearly all are); otherwise a copy of what changed, sharing the rest with the
        payload. Nothing downstream mutates either: the hot path hands the handler a copy
        (hot_path.snake_payload), the library path a new parse of the text.
        """
        if self._forgiver is None:
            return payload
        forgiven: dict[str, Any] = _forgive(payload, self._forgiver)
        return forgiven

    def accepts(self, payload: dict[str, Any]) -> bool:
        """Whether the compiled schema accepts the payload (after any leniency's forgiving)."""
        try:
            self._accepts(payload)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    def explain(self, payload: dict[str, Any]) -> ValidationError | None:
        """jsonschema's verdict on the same payload: the error OCPP answers, or None."""
        return best_match(self._validator.iter_errors(payload))


_checkers: dict[tuple[str, str, Leniency | None], PayloadChecker] = {}


def checker(version: str, action: str, leniency: Leniency | None) -> PayloadChecker:
    key = (version, action, leniency)
    if key not in _checkers:
        _checkers[key] = PayloadChecker(version, action, leniency)
    return _checkers[key]


class _Shaper:
    """Rewrites a shipped schema: integer widths, the ranges the spec states in prose, and the
    leniencies."""

    def __init__(self, version: str, leniency: Leniency | None) -> None:
        self.version = version
        self.wide = _WIDE_INTEGERS.get(version, frozenset())
        self.leniency = leniency

    def shape(self, root: dict[str, Any]) -> dict[str, Any]:
        for name, definition in (root.get("definitions") or {}).items():
            root["definitions"][name] = self._node(definition, name, None)
        return self._node(root, None, None)

    def _node(self, node: dict[str, Any], owner: str | None, prop: str | None) -> dict[str, Any]:
        lenient = self.leniency
        if lenient is not None and prop in lenient.any_value:
            return {}
        if lenient is not None and prop in lenient.open_enums:
            return {"type": "string"}
        if node.get("type") == "integer":
            if lenient is not None and prop in lenient.decimals:
                node["type"] = "number"
            node["ocppWidth"] = 64 if prop in self.wide else 32
            if prop in _NOT_NEGATIVE or f"{owner}.{prop}" in _NOT_NEGATIVE:
                node["minimum"] = max(node.get("minimum", 0), 0)
        if "properties" in node:
            node["properties"] = {
                name: self._node(sub, owner, name) for name, sub in node["properties"].items()
            }
            if lenient is not None and lenient.extra_fields:
                node.pop("additionalProperties", None)
            if self.version == "1.6" and {"value", "format"} <= node["properties"].keys():
                node["ocppDecimal"] = True
        if isinstance(node.get("items"), dict):
            node["items"] = self._node(node["items"], owner, None)
        return node


def _as_integer(text: str) -> Any:
    """The integer a string writes, or the string: one int() refuses (more than 4,300 digits)
    stays a string, which the schema answers as a wrong type."""
    if not _INTEGER.fullmatch(text):
        return text
    try:
        return int(text)
    except ValueError:
        return text


def _as_number(text: str) -> Any:
    return float(text) if _DECIMAL.fullmatch(text) else text


class _Forgiver:
    """What a lenient handler forgives at one node of a shaped schema, worked out once per
    schema rather than on every payload: the plan of each named property, that of a list's
    items, and how a string becomes the number the node is typed as.

    A payload goes through it as it always has (tests/ocpp/test_compiled_validation.py holds
    it to that recursive walk of the schema): every object met has its nulls dropped, and
    only the properties the schema names are walked further; a list is walked when its node
    names its items as a schema; a string in an integer or number node that reads as one
    becomes that number; anything else stays as it is. `$ref`s are resolved here, once, as the
    walk resolved them (one step, into the root's definitions); every shipped schema names
    only definitions that exist.
    """

    __slots__ = ("properties", "numbers", "items", "number")

    properties: dict[str, _Forgiver]
    # The properties typed as numbers, with how a string becomes one (what a plain string
    # is checked against, without looking at its property's own plan).
    numbers: dict[str, Callable[[str], Any]]
    items: _Forgiver | None
    number: Callable[[str], Any] | None

    @classmethod
    def of(
        cls, node: dict[str, Any], root: dict[str, Any], made: dict[int, _Forgiver]
    ) -> _Forgiver:
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            node = root["definitions"][ref.removeprefix("#/definitions/")]
        # A definition used in several places (or within itself) is planned once.
        if (plan := made.get(id(node))) is not None:
            return plan
        plan = made[id(node)] = cls()
        kind = node.get("type")
        plan.number = _as_integer if kind == "integer" else _as_number if kind == "number" else None
        plan.properties = {
            name: cls.of(sub, root, made) for name, sub in (node.get("properties") or {}).items()
        }
        plan.numbers = {
            name: sub.number for name, sub in plan.properties.items() if sub.number is not None
        }
        items = node.get("items")
        plan.items = cls.of(items, root, made) if isinstance(items, dict) else None
        return plan


def _forgive(value: Any, plan: _Forgiver) -> Any:
    """`value` with what `plan` forgives made plain; `value` itself when nothing is.

    Depth first in the payload's own order, so that a string too long to read as an integer
    fails (ValueError) where it always has. The walk only goes where the schema does, so no
    deeper than the schema, whatever the payload's nesting.
    """
    if isinstance(value, dict):
        numbers = plan.numbers
        dropped = False
        changed: dict[str, Any] | None = None
        for key, item in value.items():
            kind = type(item)
            if kind is str:
                if key not in numbers:
                    continue
                new = numbers[key](item)
            elif item is None:
                dropped = True
                continue
            elif kind is int or kind is float or kind is bool:
                continue
            elif (sub := plan.properties.get(key)) is not None:
                new = _forgive(item, sub)
            else:
                continue
            if new is not item:
                if changed is None:
                    changed = {}
                changed[key] = new
        if changed is None and not dropped:
            return value
        plain = {key: item for key, item in value.items() if item is not None}
        if changed is not None:
            plain.update(changed)  # in place: every changed key is already there
        return plain
    if isinstance(value, list):
        sub = plan.items
        if sub is None:
            return value
        copied: list[Any] | None = None
        for index, item in enumerate(value):
            kind = type(item)
            if kind is str:
                if sub.number is None:
                    continue
                new = sub.number(item)
            elif item is None or kind is int or kind is float or kind is bool:
                continue
            else:
                new = _forgive(item, sub)
            if new is not item:
                if copied is None:
                    copied = list(value)
                copied[index] = new
        return value if copied is None else copied
    if isinstance(value, str) and plan.number is not None:
        return plan.number(value)
    return value
