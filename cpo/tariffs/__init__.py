"""OCPI Tariffs: the operator's prices, the engine that applies them, served and pushed."""
