"""bookkeeper: a self-hosted, event-sourced accounting agent."""

__version__ = "0.1.0"
