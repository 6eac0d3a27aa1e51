"""Tests of what an operator runs: the admin API, the CLI, `cpo serve`, logs and metrics."""
