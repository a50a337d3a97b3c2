"""Entrypoints: the HTTP API and the CLI. Thin: input → command → application → output."""
