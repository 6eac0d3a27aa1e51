"""OCPP 1.6J: handlers, commands and the mapping to the version-neutral domain."""
