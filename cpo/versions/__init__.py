"""OCPI Versions: how a peer finds every other endpoint of ours."""
