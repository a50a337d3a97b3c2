"""The `bookkeeper` command line: serve, migrate, token, replay."""
