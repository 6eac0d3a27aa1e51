"""Tests of the OCPP side: chargers of both versions over real WebSockets."""
