"""Simulated OCPP 1.6J / 2.0.1 charge points that talk to a CSMS over WebSocket only."""

from simulators.charge_point import (
    CallErrorReceived,
    ChargePointSimulator,
    SessionRejected,
    SimTransaction,
)

__all__ = ["CallErrorReceived", "ChargePointSimulator", "SessionRejected", "SimTransaction"]
