"""Loopback fakes of the external systems, speaking their documented contracts."""
