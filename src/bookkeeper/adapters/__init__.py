"""Adapters: the ports implemented against real technology (and in memory for tests)."""
