"""Tests of the OCPI side: eMSPs over real HTTP, pushes, pulls, pricing."""
