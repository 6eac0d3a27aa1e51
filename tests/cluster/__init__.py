"""Tests of several nodes on PostgreSQL and Redis, and of the read-then-write paths they share."""
