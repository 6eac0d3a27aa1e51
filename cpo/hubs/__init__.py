"""Roaming hubs: the parties behind a hub, what the hub says of them, and calling them through it."""
