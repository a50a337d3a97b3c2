"""Fetching documents from URLs that users or chat messages name, safely (no SSRF)."""

from bookkeeper.adapters.fetch.safe import (
    ALLOWED_CONTENT_TYPES,
    DISCORD_CDN_HOSTS,
    FetchError,
    FetchRefused,
    FetchTooLarge,
    FetchUnsupportedType,
    Resolver,
    SafeFetcher,
    is_dns_name,
    is_public_address,
    system_resolver,
)

__all__ = [
    "ALLOWED_CONTENT_TYPES",
    "DISCORD_CDN_HOSTS",
    "FetchError",
    "FetchRefused",
    "FetchTooLarge",
    "FetchUnsupportedType",
    "Resolver",
    "SafeFetcher",
    "is_dns_name",
    "is_public_address",
    "system_resolver",
]
