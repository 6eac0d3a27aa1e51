"""What a console account may be: its role, and the bounds of its name and password (light to
import: the CLI builds its parser from them before it loads anything else)."""

from __future__ import annotations

import enum

NAME_MAX = 64
PASSWORD_MIN = 8
# argon2 takes any length, but hashing a megabyte on every try is work handed to a stranger.
PASSWORD_MAX = 1024


class Role(enum.StrEnum):
    ADMIN = "admin"  # everything, and what only an administrator may do
    OPERATOR = "operator"  # sees everything and sends commands
    VIEWER = "viewer"  # sees everything, changes nothing

    @property
    def can_act(self) -> bool:
        return self is not Role.VIEWER
