"""Pushing objects to parties without loss: the outbox and its deliverer."""
