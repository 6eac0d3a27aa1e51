"""Firmware update campaigns: one image sent to many chargers, with each charger's progress,
retries and status history (cpo.firmware.campaigns), kept in cpo.firmware.tables."""
