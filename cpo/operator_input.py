"""The operator's data as it arrives (a file, a form, the admin API): taken whole or refused
whole, with every reason, and what each write did."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from cpo.ocpi.models import problems_of


class Conflict(Exception):
    """The thing exists already."""


class NotFound(Exception):
    """No such thing."""


class Invalid(Exception):
    """Operator data refused whole; `problems` lists every reason."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


def parse(adapter: TypeAdapter[Any], value: Any) -> Any:
    try:
        return adapter.validate_python(value)
    except ValidationError as e:
        raise Invalid(problems_of(e)) from None


@dataclass
class Upserted:
    id: str
    created: bool
    changed: bool
    # EVSEs whose imported status was not taken: only the charger says AVAILABLE, CHARGING, ...
    status_ignored: list[str] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        """What the operator is told; `status_ignored` only where a status was ignored."""
        shown = {"id": self.id, "created": self.created, "changed": self.changed}
        return shown | ({"status_ignored": self.status_ignored} if self.status_ignored else {})
