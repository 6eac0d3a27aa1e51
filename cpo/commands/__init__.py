"""OCPI Commands: what an eMSP asks of a charger, carried out through the command port."""
