"""The HTTP API (Litestar): routes under /api/book-keeper/v1, /health and the OpenAPI docs."""
