"""OCPI ChargingProfiles (2.2.1, 2.3.0): an eMSP's limits on its own running sessions, carried
to the charger as an OCPP TxProfile, and the schedule the charger then follows told back."""
