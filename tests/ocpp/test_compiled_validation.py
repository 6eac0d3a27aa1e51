"""The compiled schemas (fastjsonschema) accept exactly what the jsonschema validators accept.

The connection trusts the compiled copy of each shaped schema to accept a CALL and asks
jsonschema only about a rejected one (for the error OCPP answers), so a payload the two judged
differently would be either let through unchecked or refused with no reason to give. The
payloads are generated from the same shaped schemas, mostly valid and mutated at every level:
wrong types, integers at and beyond the 32- and 64-bit widths, values outside the enums and
lengths, required fields dropped, fields the schema does not name, nulls and numbers sent as
strings (the lenient handlers' forms).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csms.handlers import Routes
from csms.v16.handlers import ChargePoint16
from csms.v201.handlers import ChargePoint201
from csms.validation import PayloadChecker, checker

HOT = {
    "1.6": (
        ChargePoint16,
        [
            "Heartbeat",
            "StatusNotification",
            "MeterValues",
            "StartTransaction",
            "StopTransaction",
            "Authorize",
        ],
    ),
    "2.0.1": (
        ChargePoint201,
        ["Heartbeat", "StatusNotification", "MeterValues", "TransactionEvent", "Authorize"],
    ),
}
CASES = [(version, action) for version, (_, actions) in HOT.items() for action in actions]

_EDGES = [
    0,
    1,
    -1,
    2**31 - 1,
    2**31,
    -(2**31),
    -(2**31) - 1,
    2**63 - 1,
    2**63,
    -(2**63),
    -(2**63) - 1,
]
_JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)


def _mostly(
    valid: st.SearchStrategy[Any], other: st.SearchStrategy[Any], odds: int
) -> st.SearchStrategy[Any]:
    """`valid`, and one time in `odds` `other` (so that whole payloads pass often enough)."""
    return _rarely(odds).flatmap(lambda mutate: other if mutate else valid)


def _rarely(odds: int) -> st.SearchStrategy[bool]:
    """True one time in `odds` (the middle value: hypothesis favours the ends of a range)."""
    return st.integers(0, odds - 1).map(lambda n: n == odds // 2)


def _wrong() -> st.SearchStrategy[Any]:
    """A value of some other JSON kind than the one the schema names."""
    return st.one_of(
        _JSON_LEAVES,
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    )


def _integer(node: dict[str, Any], odds: int) -> st.SearchStrategy[Any]:
    low = node.get("minimum", -(2**31))
    edges = st.one_of(
        st.sampled_from(_EDGES),
        st.integers(min_value=-(2**65), max_value=2**65),
        st.floats(min_value=-(2**64), max_value=2**64),
        st.sampled_from([1.0, 2.5, -0.5, 2147483647.5, 9223372036854775807.0]),
        st.sampled_from(["1", " 12 ", "-3", "1.5", "x", "", "2147483648"]),
    )
    return _mostly(st.integers(min_value=low, max_value=low + 1000), edges, max(3, odds // 8))


def _number(odds: int) -> st.SearchStrategy[Any]:
    valid = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-1000, 1000))
    other = st.one_of(
        st.integers(min_value=-(2**64), max_value=2**64),
        st.sampled_from(["1.5", " -2 ", "1e3", ".5", "x", ""]),
    )
    return _mostly(valid, other, odds)


def _string(node: dict[str, Any], odds: int) -> st.SearchStrategy[Any]:
    if "enum" in node:
        bogus = st.sampled_from(["", "Bogus", node["enum"][0].lower()])
        return _mostly(st.sampled_from(node["enum"]), bogus, max(6, odds // 4))
    limit = node.get("maxLength")
    sizes = st.text(max_size=12) if limit is None else st.text(min_size=limit, max_size=limit + 1)
    decimals = st.sampled_from(["123.4", " 1e3 ", "+.5", "-7", "١٢"])
    other = st.one_of(sizes, st.sampled_from(["1.2.3", "abc", ""]))
    return _mostly(st.one_of(st.text(max_size=min(12, limit or 12)), decimals), other, odds)


def _value(
    node: dict[str, Any], root: dict[str, Any], depth: int, odds: int
) -> st.SearchStrategy[Any]:
    ref = node.get("$ref")
    if isinstance(ref, str):
        node = root["definitions"][ref.removeprefix("#/definitions/")]
    kind = node.get("type")
    if depth > 8 or not node:
        return _JSON_LEAVES
    if kind == "object":
        valid = _object(node, root, depth, odds)
    elif kind == "array" and isinstance(node.get("items"), dict):
        least = node.get("minItems", 0)
        items = _value(node["items"], root, depth + 1, odds)
        valid = _mostly(
            st.lists(items, min_size=least, max_size=least + 2), st.lists(items, max_size=3), odds
        )
    elif kind == "integer":
        valid = _integer(node, odds)
    elif kind == "number":
        valid = _number(odds)
    elif kind == "string":
        valid = _string(node, odds)
    elif kind == "boolean":
        valid = st.booleans()
    else:
        valid = _JSON_LEAVES
    return _mostly(valid, _wrong(), odds)


def _object(
    node: dict[str, Any], root: dict[str, Any], depth: int, odds: int
) -> st.SearchStrategy[Any]:
    properties = node.get("properties") or {}
    required = [name for name in node.get("required", []) if name in properties]
    optional = [name for name in properties if name not in required]

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        names = (
            required + draw(st.lists(st.sampled_from(optional), unique=True))
            if optional
            else required
        )
        result: dict[str, Any] = {}
        for name in names:
            if draw(_rarely(odds)):
                continue  # a required field dropped now and then
            if draw(_rarely(odds)):
                result[name] = None  # a null a lenient handler forgives
            else:
                result[name] = draw(_value(properties[name], root, depth + 1, odds))
        if draw(_rarely(odds)):
            result["vendorField"] = draw(_JSON_LEAVES)  # a field the schema does not name
        return result

    return build()


def _payloads(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Payloads with one mutation in `odds` choices, for a mutation rate drawn per payload."""
    return st.sampled_from([4, 25, 10**6]).flatmap(lambda odds: _object(schema, schema, 0, odds))


def _checker_of(version: str, action: str) -> PayloadChecker:
    cls, _ = HOT[version]
    return checker(version, action, Routes(cls.__new__(cls)).leniency(action))


@pytest.mark.parametrize(("version", "action"), CASES)
@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_compiled_schema_accepts_exactly_what_jsonschema_accepts(
    version: str, action: str, data: st.DataObject
) -> None:
    check = _checker_of(version, action)
    schema = check.schema
    payload = check.forgive(data.draw(_payloads(schema)))
    error = check.explain(payload)
    assert check.accepts(payload) == (error is None), (payload, error and error.message)


@pytest.mark.parametrize(("version", "action"), CASES)
def test_generated_payloads_include_accepted_and_rejected_ones(version: str, action: str) -> None:
    """The property above is not vacuous: the generator reaches both verdicts for each action."""
    check = _checker_of(version, action)
    schema = check.schema
    verdicts: set[bool] = set()

    @settings(
        max_examples=200, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(data=st.data())
    def sample(data: st.DataObject) -> None:
        verdicts.add(check.accepts(check.forgive(data.draw(_payloads(schema)))))

    sample()
    assert verdicts == {True, False}
