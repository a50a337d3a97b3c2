"""Intent classifiers: which read-only question a chat message asks."""
