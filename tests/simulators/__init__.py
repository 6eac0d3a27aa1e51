"""Tests of the bundled simulators themselves."""
