"""Simulators that reach the platform over the wire only: OCPP charge points and an OCPI eMSP."""

from simulators.charge_point import (
    CallErrorReceived,
    ChargePointSimulator,
    SessionRejected,
    SimTransaction,
)

__all__ = ["CallErrorReceived", "ChargePointSimulator", "SessionRejected", "SimTransaction"]
