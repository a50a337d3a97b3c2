"""Use cases: command handlers, queries and the ports they need."""
