"""A simulated OCPI 2.2.1 eMSP that a CPO registers with, pushes to, and is checked by."""

from simulators.emsp.simulator import EmspSimulator
from simulators.emsp.state import Received, Violation, make_token
from simulators.emsp.wire import OcpiError

__all__ = ["EmspSimulator", "OcpiError", "Received", "Violation", "make_token"]
