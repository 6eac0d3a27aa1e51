"""A simulated OCPI eMSP (2.1.1, 2.2.1 or 2.3.0), or a roaming hub with eMSPs behind it, that a
CPO registers with, pushes to, and is checked by."""

from simulators.emsp.hub import HubClient, HubSimulator, Routed
from simulators.emsp.simulator import EmspSimulator
from simulators.emsp.state import Received, Violation, make_token
from simulators.emsp.wire import OcpiError

__all__ = [
    "EmspSimulator",
    "HubClient",
    "HubSimulator",
    "OcpiError",
    "Received",
    "Routed",
    "Violation",
    "make_token",
]
