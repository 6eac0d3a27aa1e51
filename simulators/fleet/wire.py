"""OCPP-J on the wire: the message types of its frames."""

from __future__ import annotations

CALL, CALLRESULT, CALLERROR = 2, 3, 4
