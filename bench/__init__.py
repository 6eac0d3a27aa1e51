"""Benchmarks of the platform against bare-library baselines (`make bench` runs them all)."""
