"""Errors of the identity adapters, translated from PyJWT's and cryptography's own.

InvalidToken: the bearer token cannot be trusted (HTTP answers 401).
SigningKeyError: the signing key file is unreadable, unwritable or not an Ed25519 key.
"""

from __future__ import annotations


class InvalidToken(Exception):
    """A bearer token that is malformed, forged, expired or meant for someone else.

    The message says why in words safe to show the caller; it never contains the token.
    """

    code = "invalid-token"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SigningKeyError(Exception):
    """The local signing key cannot be loaded or created."""
