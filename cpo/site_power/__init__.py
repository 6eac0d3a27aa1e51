"""Site power limits: the operator caps a Location's power, and the platform spreads it over
the chargers charging there (ADR 029, docs/smart-charging.md)."""
