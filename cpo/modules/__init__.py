"""OCPI 2.2.1 modules, one file each, plugged into the OcpiRouter."""
