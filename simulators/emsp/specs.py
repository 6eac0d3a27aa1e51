"""What changes with the OCPI version the simulator speaks: models, headers, token encoding."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any, get_args

from simulators.emsp import models, models_v211, models_v230
from simulators.emsp.wire import TokenEncoding

VERSIONS = ("2.1.1", "2.2.1", "2.3.0")
DEFAULT_VERSION = "2.2.1"
# The interface role a CPO offers each module with; 2.1.1 endpoints carry no role.
CPO_ROLES = {
    "tokens": "RECEIVER",
    "commands": "RECEIVER",
    "chargingprofiles": "RECEIVER",
    "hubclientinfo": "RECEIVER",
}


@dataclass(frozen=True)
class Spec:
    version: str
    models: ModuleType
    encoding: TokenEncoding  # how the Authorization token is sent
    routing: bool  # X-Request-ID, X-Correlation-ID and OCPI-from/to-* headers
    roles: bool  # Endpoint.role and Credentials.roles[] (2.2.1+)
    patch_needs_last_updated: bool
    tariff_patch: bool
    open_enums: bool  # unknown OpenEnum values are allowed (2.3.0)

    def is_token_type(self, value: str) -> bool:
        if self.open_enums:
            return bool(value)
        return value in get_args(self.models.Token.model_fields["type"].annotation)

    def command_problems(self, command: str, body: Any) -> list[str]:
        """What is wrong with a command the simulator is about to send, in this version."""
        from simulators.emsp.validation import problems

        model = self.models.COMMANDS.get(command)
        if model is None:
            if self.open_enums:
                return []
            return [f"{command} is not a CommandType in OCPI {self.version}"]
        return problems(model, body, command)


SPECS: dict[str, Spec] = {
    "2.1.1": Spec("2.1.1", models_v211, "raw", False, False, False, True, False),
    "2.2.1": Spec("2.2.1", models, "base64", True, True, True, False, False),
    "2.3.0": Spec("2.3.0", models_v230, "base64", True, True, True, False, True),
}


def spec(version: str) -> Spec:
    try:
        return SPECS[version]
    except KeyError:
        raise ValueError(f"OCPI version {version!r}: use one of {', '.join(VERSIONS)}") from None
