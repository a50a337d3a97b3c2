"""One Litestar Controller per resource of the API."""
