"""A simulated OCPI eMSP (2.1.1, 2.2.1 or 2.3.0) that a CPO registers with, pushes to, and is checked by."""

from simulators.emsp.simulator import EmspSimulator
from simulators.emsp.state import Received, Violation, make_token
from simulators.emsp.wire import OcpiError

__all__ = ["EmspSimulator", "OcpiError", "Received", "Violation", "make_token"]
