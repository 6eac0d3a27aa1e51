"""OCPI Locations: the operator's sites with live EVSE status, served and pushed to eMSPs."""
