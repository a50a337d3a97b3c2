"""Errors of the identity adapters, translated from PyJWT's and cryptography's own.

InvalidToken: the bearer token cannot be trusted (HTTP answers 401).
SigningKeyError: the signing key file is unreadable, unwritable or not an Ed25519 key.
"""

from __future__ import annotations

from bookkeeper.application.errors import InvalidToken

__all__ = ["InvalidToken", "SigningKeyError"]


class SigningKeyError(Exception):
    """The local signing key cannot be loaded or created."""
