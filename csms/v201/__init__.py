"""OCPP 2.0.1: handlers, commands and the mapping to the version-neutral domain."""
